import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountRole } from "./account.entity.js";
import { PASSWORD, bearer, errorCode, signIn, uniqueEmail } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { startTestSmtp, type TestSmtp } from "../../../test/smtp.js";

// Budgets (fresh per file, one Redis prefix each): this file registers 10 times through `register`
// (registerIp allows 10 an hour) and stays far below the 30 sign-ins per IP.

let smtp: TestSmtp;
let t: TestApp;
beforeAll(async () => {
  smtp = await startTestSmtp();
  t = await startTestApp({ SMTP_URL: smtp.url, PUBLIC_URL: "http://studio.test" });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { ok message } }`;
const VERIFY = `mutation($input: TokenInput!) { verifyEmail(input: $input) { account { email emailVerified } } }`;
const RESEND = `mutation($input: EmailInput!) { resendVerification(input: $input) { ok message } }`;
const REQUEST_RESET = `mutation($input: EmailInput!) { requestPasswordReset(input: $input) { ok message } }`;

function register(email: string, password = PASSWORD, acceptTermsVersion = 1, displayName?: string) {
  return t.graphql(REGISTER, { input: { email, password, displayName, acceptTermsVersion } });
}

/** The token of the newest verification link mailed to `email`. */
async function verificationToken(email: string): Promise<string> {
  const mail = await smtp.waitForMail(email, (m) => m.links.some((l) => l.includes("/verify-email?token=")));
  const link = mail.links.find((l) => l.startsWith("http://studio.test/verify-email?token="));
  expect(link).toBeTruthy();
  return new URL(link!).searchParams.get("token")!;
}

describe("registration with email verification", () => {
  it("registers, refuses sign-in until the emailed link is used, then signs in and answers me", async () => {
    const email = "ada@example.com";
    const password = "correct horse battery";
    const registered = await register(email, password, 1, "Ada");
    expect(registered.body.errors).toBeUndefined();

    const early = await signIn(t, email, password);
    expect(errorCode(early)).toBe("EMAIL_NOT_VERIFIED");

    const token = await verificationToken(email);
    const verified = await t.graphql<{ verifyEmail: { account: { emailVerified: boolean } } }>(VERIFY, {
      input: { token },
    });
    expect(verified.body.data?.verifyEmail.account.emailVerified).toBe(true);

    const reused = await t.graphql(VERIFY, { input: { token } });
    expect(errorCode(reused)).toBe("INVALID_TOKEN");

    const signedIn = await signIn(t, email, password);
    expect(signedIn.body.errors).toBeUndefined();
    const headers = bearer(signedIn.body.data!.signIn.token);
    const me = await t.graphql<{ me: { email: string; displayName: string } }>(
      `{ me { email displayName } }`,
      undefined,
      headers,
    );
    expect(me.body.data?.me).toEqual({ email, displayName: "Ada" });

    // Verification sent the welcome message, unread.
    const inbox = await t.graphql<{
      unreadMessageCount: number;
      messages: { edges: { node: { kind: string; readAt: string | null } }[] };
    }>(`{ unreadMessageCount messages { edges { node { kind readAt } } } }`, undefined, headers);
    expect(inbox.body.data?.messages.edges.map((e) => e.node)).toEqual([{ kind: "account.welcome", readAt: null }]);
    expect(inbox.body.data?.unreadMessageCount).toBe(1);
  });

  it("answers register, resendVerification and requestPasswordReset identically for known and unknown emails", async () => {
    const verified = uniqueEmail("known-verified");
    await t.app.services.accounts.createVerified(verified, PASSWORD);
    const unverified = uniqueEmail("known-unverified");
    await t.app.services.accounts.createVerified(unverified, PASSWORD);
    await t.app.db.query(`UPDATE account SET email_verified_at = NULL WHERE email = $1`, [unverified]);
    const unknown = uniqueEmail("unknown");

    const registerKnown = await register(verified);
    const registerUnknown = await register(unknown);
    expect(registerKnown.body.errors).toBeUndefined();
    expect({ status: registerKnown.status, body: registerKnown.body }).toEqual({
      status: registerUnknown.status,
      body: registerUnknown.body,
    });
    // The known address really was recognised: its owner is told, privately, by mail.
    const notice = await smtp.waitForMail(verified);
    expect(notice.links.some((l) => l.includes("/forgot-password"))).toBe(true);

    const resend = [
      await t.graphql(RESEND, { input: { email: verified } }),
      await t.graphql(RESEND, { input: { email: unverified } }),
      await t.graphql(RESEND, { input: { email: uniqueEmail("nobody") } }),
    ];
    expect(resend[0].body.errors).toBeUndefined();
    for (const answer of resend) {
      expect({ status: answer.status, body: answer.body }).toEqual({ status: resend[0].status, body: resend[0].body });
    }
    await verificationToken(unverified); // the known, unverified address got a new link

    const reset = [
      await t.graphql(REQUEST_RESET, { input: { email: verified } }),
      await t.graphql(REQUEST_RESET, { input: { email: uniqueEmail("nobody") } }),
    ];
    expect(reset[0].body.errors).toBeUndefined();
    expect({ status: reset[0].status, body: reset[0].body }).toEqual({ status: reset[1].status, body: reset[1].body });
    await smtp.waitForMail(verified, (m) => m.links.some((l) => l.includes("/reset-password?token=")));
  });

  it("refuses an expired verification token", async () => {
    const email = uniqueEmail("late");
    expect((await register(email)).body.errors).toBeUndefined();
    const token = await verificationToken(email);
    await t.app.db.query(
      `UPDATE account_token SET expires_at = now() - interval '1 second'
        WHERE account_id = (SELECT id FROM account WHERE email = $1)`,
      [email],
    );
    expect(errorCode(await t.graphql(VERIFY, { input: { token } }))).toBe("INVALID_TOKEN");
    expect(errorCode(await signIn(t, email, PASSWORD))).toBe("EMAIL_NOT_VERIFIED");
  });

  it("refuses terms other than the current version", async () => {
    const email = uniqueEmail("terms");
    const res = await register(email, PASSWORD, 2);
    expect(errorCode(res)).toBe("TERMS_NOT_ACCEPTED");
    expect(res.body.errors?.[0].extensions?.currentVersion).toBe(1);
    const rows = (await t.app.db.query(`SELECT 1 FROM account WHERE email = $1`, [email])) as unknown[];
    expect(rows).toHaveLength(0);
  });

  it("enforces the password policy with a field error: length in characters and bytes, common passwords", async () => {
    const refused = [
      "7chars!", // 7 characters
      "é".repeat(64) + "a", // 65 characters but 129 bytes: refused, not truncated
      "password123", // on the common list
    ];
    for (const password of refused) {
      const email = uniqueEmail("policy");
      const res = await register(email, password);
      expect(errorCode(res), password).toBe("BAD_USER_INPUT");
      expect(res.body.errors?.[0].extensions?.field).toBe("password");
      const rows = (await t.app.db.query(`SELECT 1 FROM account WHERE email = $1`, [email])) as unknown[];
      expect(rows).toHaveLength(0);
    }
  });

  it("accepts a 128-byte password and compares all of it (its 127-byte prefix does not sign in)", async () => {
    const email = uniqueEmail("long");
    const password = Array.from({ length: 128 }, (_, i) => "abcdefghijklmnopqrstuvwxyz0123456789"[i % 36]).join("");
    expect(Buffer.byteLength(password)).toBe(128);
    const registered = await register(email, password);
    expect(registered.body.errors).toBeUndefined();
    const token = await verificationToken(email);
    expect((await t.graphql(VERIFY, { input: { token } })).body.errors).toBeUndefined();

    expect(errorCode(await signIn(t, email, password.slice(0, 127)))).toBe("INVALID_CREDENTIALS");
    expect(errorCode(await signIn(t, email, password + "x"))).toBe("INVALID_CREDENTIALS");
    const ok = await signIn(t, email, password);
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data?.signIn.account.email).toBe(email);
  });
});

describe("what registration stores", () => {
  // Last in the file: it publishes a second version of the terms.
  it("keeps the emailed token only as its SHA-256, valid 24 h, and records the accepted terms version", async () => {
    const admin = await t.app.services.accounts.createVerified(uniqueEmail("terms-admin"), PASSWORD, AccountRole.ADMIN);
    const published = await t.app.services.terms.publish(admin.id, {
      title: "Terms of use, second edition",
      body: "The second edition of the terms: be kind to the machines.",
    });
    expect(published.version).toBe(2);

    const email = uniqueEmail("stored");
    expect((await register(email, PASSWORD, 2)).body.errors).toBeUndefined();
    const token = await verificationToken(email);

    const rows = (await t.app.db.query(
      `SELECT t.*, extract(epoch FROM t.expires_at - t.created_at)::int AS ttl_seconds
         FROM account_token t JOIN account a ON a.id = t.account_id
        WHERE a.email = $1 AND t.purpose = 'VERIFY_EMAIL'`,
      [email],
    )) as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row.ttl_seconds).toBe(24 * 3600);
    expect(row.token_hash).toBe(createHash("sha256").update(token).digest("hex"));
    expect(row.used_at).toBeNull();
    // Nowhere in the row: neither the token nor any long piece of it.
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(token);
    expect(stored).not.toContain(token.slice(0, 16));
    expect(stored).not.toContain(token.slice(-16));

    expect((await t.graphql(VERIFY, { input: { token } })).body.errors).toBeUndefined();
    const signedIn = await signIn(t, email, PASSWORD);
    expect(signedIn.body.errors).toBeUndefined();
    const me = await t.graphql<{ me: { acceptedTermsVersion: number | null } }>(
      `{ me { acceptedTermsVersion } }`,
      undefined,
      bearer(signedIn.body.data!.signIn.token),
    );
    expect(me.body.data?.me.acceptedTermsVersion).toBe(2);
    const [used] = (await t.app.db.query(`SELECT used_at FROM account_token WHERE id = $1`, [row.id])) as {
      used_at: Date | null;
    }[];
    expect(used.used_at).not.toBeNull();
  });
});
