import http from "node:http";
import https from "node:https";
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from "request-filtering-agent";

export interface SendResult {
  statusCode: number | null;
  latencyMs: number;
  /** The first 1 KB of the answer. */
  snippet: string;
  error: string | null;
}

const SNIPPET_BYTES = 1024;

/**
 * The first bytes of an answer as text that PostgreSQL stores: a character cut by the 1 KB limit is left out
 * (not turned into a replacement character), and NUL, which a text column refuses, becomes U+FFFD.
 */
export function snippetOf(bytes: Uint8Array): string {
  return new TextDecoder("utf-8").decode(bytes, { stream: true }).replaceAll("\u0000", "\uFFFD");
}

/**
 * POSTs a signed webhook. The filtering agents check the address actually connected to (after DNS), so a
 * name that resolves to a private, loopback, link-local or metadata address is refused at connect time;
 * redirects are never followed.
 */
export class WebhookSender {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(
    private readonly timeoutMs: number,
    allowPrivate: boolean,
  ) {
    const options = { allowPrivateIPAddress: allowPrivate, allowMetaIPAddress: allowPrivate, keepAlive: false };
    this.httpAgent = new RequestFilteringHttpAgent(options);
    this.httpsAgent = new RequestFilteringHttpsAgent(options);
  }

  send(url: string, body: string, headers: Record<string, string>): Promise<SendResult> {
    const started = Date.now();
    const done = (statusCode: number | null, snippet: string, error: string | null): SendResult => ({
      statusCode,
      latencyMs: Date.now() - started,
      snippet,
      error,
    });
    return new Promise((resolve) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        return resolve(done(null, "", "invalid URL"));
      }
      const isHttps = target.protocol === "https:";
      if (!isHttps && target.protocol !== "http:") return resolve(done(null, "", "only http and https are allowed"));
      const request = (isHttps ? https : http).request(
        target,
        {
          method: "POST",
          agent: isHttps ? this.httpsAgent : this.httpAgent,
          headers: {
            "content-type": "application/json",
            "user-agent": "NovartStudio-Webhooks/1",
            ...headers,
            "content-length": String(Buffer.byteLength(body)),
          },
          timeout: this.timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on("data", (chunk: Buffer) => {
            if (size < SNIPPET_BYTES) chunks.push(chunk);
            size += chunk.length;
          });
          response.on("end", () => {
            const snippet = snippetOf(Buffer.concat(chunks).subarray(0, SNIPPET_BYTES));
            const status = response.statusCode ?? 0;
            const error =
              status >= 300 && status < 400
                ? "redirects are not followed"
                : status >= 200 && status < 300
                  ? null
                  : `HTTP ${status}`;
            resolve(done(status, snippet, error));
          });
          response.on("error", (err) => resolve(done(response.statusCode ?? null, "", err.message.slice(0, 300))));
        },
      );
      // A deadline for the whole exchange, not only for idle sockets.
      const deadline = setTimeout(
        () => request.destroy(new Error(`no answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      request.on("timeout", () => request.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      request.on("error", (err) => {
        clearTimeout(deadline);
        resolve(done(null, "", err.message.slice(0, 300)));
      });
      request.on("close", () => clearTimeout(deadline));
      request.end(body);
    });
  }
}
