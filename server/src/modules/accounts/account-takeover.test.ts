import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, createApiKey, errorCode, signIn, signedInUser, uniqueEmail } from "../../../test/factories.js";
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

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { ok } }`;
const VERIFY = `mutation($input: TokenInput!) { verifyEmail(input: $input) { account { email emailVerified } } }`;
const REQUEST_RESET = `mutation($input: EmailInput!) { requestPasswordReset(input: $input) { ok } }`;
const RESET = `mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { ok } }`;
const ME = `{ me { id } }`;

/** The tokens of the `/verify-email` links mailed to `email`, oldest first, once `count` have arrived. */
async function verificationTokens(email: string, count: number): Promise<string[]> {
  const links = () =>
    smtp.received
      .filter((m) => m.to.includes(email))
      .flatMap((m) => m.links.filter((l) => l.startsWith("http://studio.test/verify-email?token=")));
  await expect.poll(() => links().length, { timeout: 10_000 }).toBe(count);
  return links().map((l) => new URL(l).searchParams.get("token")!);
}

describe("registering an address that already has an unverified account", () => {
  it("takes the latest registrant's password, and only the latest link verifies", async () => {
    const victim = uniqueEmail("victim");
    const attackerPassword = "attacker knows this one";
    const ownerPassword = "owner chose this passphrase";
    const register = (password: string, displayName: string) =>
      t.graphql(REGISTER, { input: { email: victim, password, displayName, acceptTermsVersion: 1 } });

    expect((await register(attackerPassword, "Attacker")).body.errors).toBeUndefined();
    expect((await register(ownerPassword, "Owner")).body.errors).toBeUndefined();
    const [attackerLink, ownerLink] = await verificationTokens(victim, 2);

    // The first registration's link (in the owner's mailbox too) no longer verifies.
    expect(errorCode(await t.graphql(VERIFY, { input: { token: attackerLink } }))).toBe("INVALID_TOKEN");
    const verified = await t.graphql(VERIFY, { input: { token: ownerLink } });
    expect(verified.body.errors).toBeUndefined();

    expect(errorCode(await signIn(t, victim, attackerPassword))).toBe("INVALID_CREDENTIALS");
    const owner = await signIn(t, victim, ownerPassword);
    expect(owner.body.errors).toBeUndefined();
    const [row] = (await t.app.db.query(`SELECT display_name FROM account WHERE email = $1`, [victim])) as {
      display_name: string;
    }[];
    expect(row.display_name).toBe("Owner");
  });

  it("keeps a verified account's password (the owner is told by mail instead)", async () => {
    const user = await signedInUser(t);
    const res = await t.graphql(REGISTER, {
      input: { email: user.email, password: "someone else entirely", acceptTermsVersion: 1 },
    });
    expect(res.body.errors).toBeUndefined();
    await smtp.waitForMail(user.email, (m) => m.links.some((l) => l.includes("/forgot-password")));
    expect(errorCode(await signIn(t, user.email, "someone else entirely"))).toBe("INVALID_CREDENTIALS");
    expect((await signIn(t, user.email, PASSWORD)).body.errors).toBeUndefined();
  });
});

describe("password reset", () => {
  it("revokes the account's API keys as well as its sessions", async () => {
    const user = await signedInUser(t);
    const key = await createApiKey(t, user);
    expect((await t.graphql(ME, undefined, key.headers)).body.errors).toBeUndefined();

    expect((await t.graphql(REQUEST_RESET, { input: { email: user.email } })).body.errors).toBeUndefined();
    const mail = await smtp.waitForMail(user.email, (m) => m.links.some((l) => l.includes("/reset-password?token=")));
    const link = mail.links.find((l) => l.startsWith("http://studio.test/reset-password?token="))!;
    const token = new URL(link).searchParams.get("token")!;
    const reset = await t.graphql(RESET, { input: { token, newPassword: "a brand new passphrase" } });
    expect(reset.body.errors).toBeUndefined();

    expect(errorCode(await t.graphql(ME, undefined, key.headers))).toBe("UNAUTHENTICATED");
    expect(errorCode(await t.graphql(ME, undefined, user.headers))).toBe("UNAUTHENTICATED");
    const [row] = (await t.app.db.query(`SELECT revoked_at FROM api_key WHERE id = $1`, [key.id])) as {
      revoked_at: Date | null;
    }[];
    expect(row.revoked_at).not.toBeNull();
  });
});
