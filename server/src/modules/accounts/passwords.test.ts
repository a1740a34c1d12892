import argon2 from "argon2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, errorCode, newSession, signIn, signedInUser, uniqueEmail } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { startTestSmtp, type TestSmtp } from "../../../test/smtp.js";

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

/** `$argon2id$v=19$<params>$salt$hash` → the type, version and parameters (node-argon2 writes m,p,t). */
function argon2Parameters(hash: string) {
  const [, type, version, params] = hash.split("$");
  return { type, version, ...Object.fromEntries(params.split(",").map((kv) => kv.split("="))) };
}

const CURRENT = { type: "argon2id", version: "v=19", m: "19456", t: "2", p: "1" };
const ME = `{ me { id email } }`;
const REQUEST_RESET = `mutation($input: EmailInput!) { requestPasswordReset(input: $input) { ok } }`;
const RESET = `mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { ok } }`;
const CHANGE_PASSWORD = `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ok } }`;

async function storedHash(accountId: string): Promise<string> {
  const [row] = (await t.app.db.query(`SELECT password_hash FROM account WHERE id = $1`, [accountId])) as {
    password_hash: string;
  }[];
  return row.password_hash;
}

/** Asks for a reset link by mail and returns the token in it. */
async function resetToken(email: string): Promise<string> {
  const before = smtp.received.length;
  const asked = await t.graphql(REQUEST_RESET, { input: { email } });
  expect(asked.body.errors).toBeUndefined();
  const mail = await smtp.waitForMail(
    email,
    (m) => smtp.received.indexOf(m) >= before && m.links.some((l) => l.includes("/reset-password?token=")),
  );
  const link = mail.links.find((l) => l.startsWith("http://studio.test/reset-password?token="))!;
  return new URL(link).searchParams.get("token")!;
}

describe("password storage", () => {
  it("stores an argon2id hash with the current OWASP parameters, never the password", async () => {
    const { account } = await signedInUser(t);
    const hash = await storedHash(account.id);
    expect(argon2Parameters(hash)).toEqual(CURRENT);
    expect(hash).not.toContain(PASSWORD);
    expect(await argon2.verify(hash, PASSWORD)).toBe(true);
  });

  it("re-hashes a hash with old parameters at sign-in", async () => {
    const { account, email } = await signedInUser(t);
    const old = await argon2.hash(PASSWORD, { memoryCost: 4096, timeCost: 3, parallelism: 1, type: argon2.argon2id });
    expect(argon2Parameters(old)).toEqual({ ...CURRENT, m: "4096", t: "3" });
    await t.app.db.query(`UPDATE account SET password_hash = $2 WHERE id = $1`, [account.id, old]);

    const res = await signIn(t, email, PASSWORD);
    expect(res.body.errors).toBeUndefined();
    const rehashed = await storedHash(account.id);
    expect(rehashed).not.toBe(old);
    expect(argon2Parameters(rehashed)).toEqual(CURRENT);
    expect(await argon2.verify(rehashed, PASSWORD)).toBe(true);
    // And the account still signs in with the new hash.
    expect((await signIn(t, email, PASSWORD)).body.errors).toBeUndefined();
  });
});

describe("password reset", () => {
  it("sets a new password from the mailed link, once, and ends every session of the account", async () => {
    const user = await signedInUser(t);
    const other = await newSession(t, user.account.id, "second device");
    const token = await resetToken(user.email);
    const newPassword = "a brand new passphrase";

    const refusedPolicy = await t.graphql(RESET, { input: { token, newPassword: "short" } });
    expect(errorCode(refusedPolicy)).toBe("BAD_USER_INPUT");
    expect(refusedPolicy.body.errors?.[0].extensions?.field).toBe("newPassword");

    const reset = await t.graphql(RESET, { input: { token, newPassword } });
    expect(reset.body.errors).toBeUndefined();

    for (const headers of [user.headers, other.headers]) {
      expect(errorCode(await t.graphql(ME, undefined, headers))).toBe("UNAUTHENTICATED");
    }
    expect(errorCode(await signIn(t, user.email, PASSWORD))).toBe("INVALID_CREDENTIALS");
    expect((await signIn(t, user.email, newPassword)).body.errors).toBeUndefined();

    const reused = await t.graphql(RESET, { input: { token, newPassword: "yet another passphrase" } });
    expect(errorCode(reused)).toBe("INVALID_TOKEN");
    expect((await signIn(t, user.email, newPassword)).body.errors).toBeUndefined();
  });

  it("expires reset tokens after an hour and refuses unknown ones", async () => {
    const user = await signedInUser(t);
    const token = await resetToken(user.email);
    const [row] = (await t.app.db.query(
      `SELECT extract(epoch FROM expires_at - created_at)::int AS ttl FROM account_token
        WHERE account_id = $1 AND purpose = 'RESET_PASSWORD'`,
      [user.account.id],
    )) as { ttl: number }[];
    expect(row.ttl).toBe(3600);

    await t.app.db.query(
      `UPDATE account_token SET expires_at = now() - interval '1 second'
        WHERE account_id = $1 AND purpose = 'RESET_PASSWORD'`,
      [user.account.id],
    );
    const expired = await t.graphql(RESET, { input: { token, newPassword: "a brand new passphrase" } });
    expect(errorCode(expired)).toBe("INVALID_TOKEN");
    const garbage = await t.graphql(RESET, { input: { token: "not-a-token", newPassword: "a brand new passphrase" } });
    expect(errorCode(garbage)).toBe("INVALID_TOKEN");

    // Nothing changed: the old password works, the session lives.
    expect((await t.graphql(ME, undefined, user.headers)).body.errors).toBeUndefined();
    expect((await signIn(t, user.email, PASSWORD)).body.errors).toBeUndefined();
  });
});

describe("changePassword", () => {
  it("refuses a wrong current password with INVALID_CREDENTIALS and changes nothing", async () => {
    const user = await signedInUser(t);
    const res = await t.graphql(
      CHANGE_PASSWORD,
      { input: { currentPassword: "not my password", newPassword: "a brand new passphrase" } },
      user.headers,
    );
    expect(errorCode(res)).toBe("INVALID_CREDENTIALS");
    expect(res.body.errors?.[0].extensions?.field).toBe("currentPassword");
    expect((await signIn(t, user.email, PASSWORD)).body.errors).toBeUndefined();
  });

  it("refuses a new password that breaks the policy with a field error", async () => {
    const user = await signedInUser(t);
    const res = await t.graphql(
      CHANGE_PASSWORD,
      { input: { currentPassword: PASSWORD, newPassword: "password123" } },
      user.headers,
    );
    expect(errorCode(res)).toBe("BAD_USER_INPUT");
    expect(res.body.errors?.[0].extensions?.field).toBe("newPassword");
  });

  it("changes the password, ends the other sessions but keeps the current one, and tells the owner by mail", async () => {
    const user = await signedInUser(t, { email: uniqueEmail("changer") });
    const other = await newSession(t, user.account.id, "second device");
    const newPassword = "a brand new passphrase";
    const res = await t.graphql(CHANGE_PASSWORD, { input: { currentPassword: PASSWORD, newPassword } }, user.headers);
    expect(res.body.errors).toBeUndefined();

    expect((await t.graphql(ME, undefined, user.headers)).body.errors).toBeUndefined();
    expect(errorCode(await t.graphql(ME, undefined, other.headers))).toBe("UNAUTHENTICATED");
    expect(errorCode(await signIn(t, user.email, PASSWORD))).toBe("INVALID_CREDENTIALS");
    expect((await signIn(t, user.email, newPassword)).body.errors).toBeUndefined();
    await smtp.waitForMail(user.email);
  });
});
