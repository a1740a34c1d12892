import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLOSE_CREDENTIAL_REVOKED } from "../../api.js";
import {
  PASSWORD,
  createApiKey,
  errorCode,
  newSession,
  signIn,
  signedInUser,
  uniqueEmail,
  wsClient,
} from "../../../test/factories.js";
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

const ME = `{ me { id email displayName } }`;
const UPDATE_PROFILE = `mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { account { displayName } } }`;
const CHANGE_EMAIL = `mutation($input: ChangeEmailInput!) { changeEmail(input: $input) { pendingEmail } }`;
const VERIFY = `mutation($input: TokenInput!) { verifyEmail(input: $input) { account { id email } } }`;
const DELETE = `mutation($input: PasswordInput!) { deleteAccount(input: $input) { ok } }`;

describe("updateProfile", () => {
  it("changes the display name, normalising spaces", async () => {
    const user = await signedInUser(t);
    const res = await t.graphql<{ updateProfile: { account: { displayName: string } } }>(
      UPDATE_PROFILE,
      { input: { displayName: "  Grace   Hopper " } },
      user.headers,
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.updateProfile.account.displayName).toBe("Grace Hopper");
    const me = await t.graphql<{ me: { displayName: string } }>(ME, undefined, user.headers);
    expect(me.body.data?.me.displayName).toBe("Grace Hopper");
  });

  it("refuses a name over 80 characters with a field error", async () => {
    const user = await signedInUser(t);
    const res = await t.graphql(UPDATE_PROFILE, { input: { displayName: "x".repeat(81) } }, user.headers);
    expect(errorCode(res)).toBe("BAD_USER_INPUT");
    expect(res.body.errors?.[0].extensions?.field).toBe("displayName");
  });
});

describe("changeEmail", () => {
  it("takes effect only when the link sent to the new address is followed", async () => {
    const user = await signedInUser(t);
    const newEmail = uniqueEmail("moved");

    const wrong = await t.graphql(CHANGE_EMAIL, { input: { newEmail, password: "not my password" } }, user.headers);
    expect(errorCode(wrong)).toBe("INVALID_CREDENTIALS");
    expect(wrong.body.errors?.[0].extensions?.field).toBe("password");

    const res = await t.graphql<{ changeEmail: { pendingEmail: string } }>(
      CHANGE_EMAIL,
      { input: { newEmail: newEmail.toUpperCase(), password: PASSWORD } },
      user.headers,
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.changeEmail.pendingEmail).toBe(newEmail);

    // Before confirmation: nothing changed.
    const before = await t.graphql<{ me: { email: string } }>(ME, undefined, user.headers);
    expect(before.body.data?.me.email).toBe(user.email);
    expect((await signIn(t, user.email, PASSWORD)).body.errors).toBeUndefined();
    expect(errorCode(await signIn(t, newEmail, PASSWORD))).toBe("INVALID_CREDENTIALS");

    // The old address is told; the link goes to the new one only.
    await smtp.waitForMail(user.email, (m) => m.text.includes(newEmail));
    const mail = await smtp.waitForMail(newEmail, (m) => m.links.some((l) => l.includes("/verify-email?token=")));
    expect(
      smtp.received.some((m) => m.to.includes(user.email) && m.links.some((l) => l.includes("/verify-email?token="))),
    ).toBe(false);
    const token = new URL(
      mail.links.find((l) => l.startsWith("http://studio.test/verify-email?token="))!,
    ).searchParams.get("token")!;
    const verified = await t.graphql<{ verifyEmail: { account: { id: string; email: string } } }>(VERIFY, {
      input: { token },
    });
    expect(verified.body.errors).toBeUndefined();
    expect(verified.body.data?.verifyEmail.account).toEqual({ id: user.account.id, email: newEmail });

    const after = await t.graphql<{ me: { email: string } }>(ME, undefined, user.headers);
    expect(after.body.data?.me.email).toBe(newEmail);
    expect(errorCode(await signIn(t, user.email, PASSWORD))).toBe("INVALID_CREDENTIALS");
    expect((await signIn(t, newEmail, PASSWORD)).body.errors).toBeUndefined();
    expect(errorCode(await t.graphql(VERIFY, { input: { token } }))).toBe("INVALID_TOKEN");
  });

  it("does not take an address that another account got in the meantime (CONFLICT)", async () => {
    const user = await signedInUser(t);
    const newEmail = uniqueEmail("contested");
    const res = await t.graphql(CHANGE_EMAIL, { input: { newEmail, password: PASSWORD } }, user.headers);
    expect(res.body.errors).toBeUndefined();
    const mail = await smtp.waitForMail(newEmail, (m) => m.links.some((l) => l.includes("/verify-email?token=")));
    await t.app.services.accounts.createVerified(newEmail, PASSWORD);
    const token = new URL(mail.links.find((l) => l.includes("/verify-email?token="))!).searchParams.get("token")!;
    expect(errorCode(await t.graphql(VERIFY, { input: { token } }))).toBe("CONFLICT");
    const me = await t.graphql<{ me: { email: string } }>(ME, undefined, user.headers);
    expect(me.body.data?.me.email).toBe(user.email);
  });

  it("gives an address confirmed by two accounts at the same moment to one of them; the other gets CONFLICT", async () => {
    const [first, second] = await Promise.all([signedInUser(t), signedInUser(t)]);
    const newEmail = uniqueEmail("raced");
    const tokens: string[] = [];
    for (const user of [first, second]) {
      const res = await t.graphql(CHANGE_EMAIL, { input: { newEmail, password: PASSWORD } }, user.headers);
      expect(res.body.errors).toBeUndefined();
      const mail = await smtp.waitForMail(
        newEmail,
        (m) => m.links.some((l) => l.includes("/verify-email?token=")) && !tokens.some((t) => m.text.includes(t)),
      );
      tokens.push(new URL(mail.links.find((l) => l.includes("/verify-email?token="))!).searchParams.get("token")!);
    }
    const answers = await Promise.all(tokens.map((token) => t.graphql(VERIFY, { input: { token } })));
    expect(answers.map((a) => errorCode(a) ?? "ok").sort()).toEqual(["CONFLICT", "ok"]);
    const owners = (await t.app.db.query(`SELECT id FROM account WHERE email = $1`, [newEmail])) as unknown[];
    expect(owners).toHaveLength(1);
  });
});

describe("deleteAccount", () => {
  it("refuses a wrong password and deletes nothing", async () => {
    const user = await signedInUser(t);
    const res = await t.graphql(DELETE, { input: { password: "not my password" } }, user.headers);
    expect(errorCode(res)).toBe("INVALID_CREDENTIALS");
    expect((await t.graphql(ME, undefined, user.headers)).body.errors).toBeUndefined();
  });

  it("ends sessions and keys, anonymises the account, erases its messages and keeps the row", async () => {
    const user = await signedInUser(t, { email: uniqueEmail("leaving") });
    await t.graphql(UPDATE_PROFILE, { input: { displayName: "Leaving Person" } }, user.headers);
    const other = await newSession(t, user.account.id, "Other Device");
    const key = await createApiKey(t, user, ["ACCOUNT_READ"]);
    await t.app.services.messages.send(user.account.id, { kind: "test", title: "Hello", body: "A message" });
    const keySocket = wsClient(t, key.secret);
    try {
      await keySocket.connected;
      const res = await t.graphql(DELETE, { input: { password: PASSWORD } }, user.headers);
      expect(res.body.errors).toBeUndefined();
      expect(res.headers.getSetCookie().some((c) => c.startsWith("novart_session=;") && c.includes("Max-Age=0"))).toBe(
        true,
      );

      for (const headers of [user.headers, other.headers, key.headers]) {
        expect(errorCode(await t.graphql(ME, undefined, headers))).toBe("UNAUTHENTICATED");
      }
      expect(await keySocket.closeCode()).toBe(CLOSE_CREDENTIAL_REVOKED);
      expect(errorCode(await signIn(t, user.email, PASSWORD))).toBe("INVALID_CREDENTIALS");
    } finally {
      await keySocket.dispose();
    }

    const [row] = (await t.app.db.query(
      `SELECT email, display_name, password_hash, deleted_at FROM account WHERE id = $1`,
      [user.account.id],
    )) as { email: string; display_name: string; password_hash: string; deleted_at: Date | null }[];
    expect(row.deleted_at).toBeInstanceOf(Date);
    expect(row.email).toBe(`deleted-${user.account.id}@deleted.invalid`);
    expect(row.display_name).toBe("Deleted account");
    expect(row.password_hash.startsWith("$argon2")).toBe(false);
    const leftovers = (await t.app.db.query(
      `SELECT (SELECT count(*) FROM message WHERE account_id = $1)::int AS messages,
              (SELECT count(*) FROM account_token WHERE account_id = $1)::int AS tokens,
              (SELECT count(*) FROM session WHERE account_id = $1 AND revoked_at IS NULL)::int AS sessions,
              (SELECT count(*) FROM api_key WHERE account_id = $1 AND revoked_at IS NULL)::int AS keys`,
      [user.account.id],
    )) as { messages: number; tokens: number; sessions: number; keys: number }[];
    expect(leftovers[0]).toEqual({ messages: 0, tokens: 0, sessions: 0, keys: 0 });
    const mentions = (await t.app.db.query(`SELECT id FROM account WHERE email = $1 OR display_name = $2`, [
      user.email,
      "Leaving Person",
    ])) as unknown[];
    expect(mentions).toHaveLength(0);

    // The address is free again.
    const again = await t.app.services.accounts.createVerified(user.email, PASSWORD);
    expect(again.id).not.toBe(user.account.id);
  });

  it("forgets where the account signed up and signed in from, yet still counts it against its address for a day", async () => {
    const user = await signedInUser(t, { userAgent: "Leaving Browser/1.0" });
    const ended = await newSession(t, user.account.id, "Ended Browser/1.0");
    await t.graphql(`mutation { signOut { ok } }`, undefined, ended.headers);
    const ip = "192.0.2.77";
    await t.app.db.query(`UPDATE account SET signup_ip = $2 WHERE id = $1`, [user.account.id, ip]);
    // A second account that signed up from another address long ago.
    const old = await signedInUser(t);
    await t.app.db.query(
      `UPDATE account SET signup_ip = '192.0.2.88', created_at = now() - interval '3 days' WHERE id = $1`,
      [old.account.id],
    );

    const registration = t.app.services.registration;
    const policy = await registration.get();
    const { mode, blockDisposableEmail, blockedEmailDomains, accountsPerIpPerDay } = policy;
    await registration.update({ mode, blockDisposableEmail, blockedEmailDomains, accountsPerIpPerDay: 1 });
    const check = (from: string) =>
      registration.check({ email: uniqueEmail("next"), ip: from, code: null, hasReferrer: false });
    try {
      await expect(check(ip)).rejects.toMatchObject({ code: "RATE_LIMITED" });

      for (const leaving of [user, old]) {
        const res = await t.graphql(DELETE, { input: { password: PASSWORD } }, leaving.headers);
        expect(res.body.errors).toBeUndefined();
      }

      const accounts = (await t.app.db.query(`SELECT id, signup_ip FROM account WHERE id = ANY($1::uuid[])`, [
        [user.account.id, old.account.id],
      ])) as { id: string; signup_ip: string | null }[];
      const signupIp = Object.fromEntries(accounts.map((a) => [a.id, a.signup_ip]));
      // The recent one keeps a digest (not the address), the old one nothing.
      expect(signupIp[user.account.id]).toMatch(/^h:[A-Za-z0-9_-]{43}$/);
      expect(signupIp[user.account.id]).not.toContain(ip);
      expect(signupIp[old.account.id]).toBeNull();
      const sessions = (await t.app.db.query(
        `SELECT ip, user_agent, revoked_at FROM session WHERE account_id = ANY($1::uuid[])`,
        [[user.account.id, old.account.id]],
      )) as { ip: string; user_agent: string; revoked_at: Date | null }[];
      expect(sessions.length).toBe(3);
      for (const session of sessions) {
        expect(session).toEqual({ ip: "", user_agent: "", revoked_at: expect.any(Date) as unknown as Date });
      }

      // Deleting the account did not free its address's sign-up slot; another address is not affected.
      await expect(check(ip)).rejects.toMatchObject({ code: "RATE_LIMITED" });
      await expect(check("192.0.2.78")).resolves.toBe(false);

      // Once its first day is over, the digest goes with the next deletion.
      await t.app.db.query(`UPDATE account SET created_at = now() - interval '25 hours' WHERE id = $1`, [
        user.account.id,
      ]);
      await expect(check(ip)).resolves.toBe(false);
      const next = await signedInUser(t);
      expect((await t.graphql(DELETE, { input: { password: PASSWORD } }, next.headers)).body.errors).toBeUndefined();
      const [after] = (await t.app.db.query(`SELECT signup_ip FROM account WHERE id = $1`, [user.account.id])) as {
        signup_ip: string | null;
      }[];
      expect(after.signup_ip).toBeNull();
    } finally {
      await registration.update({ mode, blockDisposableEmail, blockedEmailDomains, accountsPerIpPerDay });
    }
  });
});
