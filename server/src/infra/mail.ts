import nodemailer, { type Transporter } from "nodemailer";
import type { Logger } from "./logger.js";

export interface Mail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * Sends mail over SMTP (`SMTP_URL`). Without SMTP (local use) each mail is printed to the log under a
 * banner, links included, so a local install stays usable with no mail server.
 */
export class MailService {
  private readonly transport: Transporter | null;

  constructor(
    smtpUrl: string | undefined,
    private readonly from: string,
    private readonly logger: Logger,
  ) {
    this.transport = smtpUrl ? nodemailer.createTransport(smtpUrl) : null;
  }

  async send(mail: Mail): Promise<void> {
    if (!this.transport) {
      const banner = "=".repeat(72);
      // Deliberately to stdout, not the structured log: the operator reads the link from the terminal.
      process.stdout.write(
        `\n${banner}\nMAIL (no SMTP_URL set, printed instead of sent)\nTo: ${mail.to}\nSubject: ${mail.subject}\n\n${mail.text}\n${banner}\n\n`,
      );
      return;
    }
    try {
      await this.transport.sendMail({ from: this.from, ...mail });
    } catch (err) {
      // Mail is best effort for the request that triggers it; the user can ask for it again.
      this.logger.error({ err: (err as Error).message, subject: mail.subject }, "sending mail failed");
    }
  }

  close(): void {
    this.transport?.close();
  }
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** A plain-text mail and its simple HTML twin, with an optional call-to-action link. */
export function composeMail(
  to: string,
  subject: string,
  paragraphs: string[],
  action?: { label: string; url: string },
): Mail {
  const text = [...paragraphs, ...(action ? [`${action.label}: ${action.url}`] : []), "— Novart Studio"].join("\n\n");
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#1a1a2e;max-width:560px">
${paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join("\n")}
${action ? `<p><a href="${escapeHtml(action.url)}" style="display:inline-block;padding:10px 18px;background:#5b5bd6;color:#fff;border-radius:8px;text-decoration:none">${escapeHtml(action.label)}</a></p><p style="font-size:13px;color:#555">Or paste this link into your browser: ${escapeHtml(action.url)}</p>` : ""}
<p style="font-size:13px;color:#555">— Novart Studio</p>
</body></html>`;
  return { to, subject, text, html };
}
