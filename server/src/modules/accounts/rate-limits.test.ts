import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCOUNT_LIMITS } from "./account.service.js";
import { PASSWORD, errorCode, signIn, signedInUser, uniqueEmail } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { startTestSmtp, type TestSmtp } from "../../../test/smtp.js";

// Behind a trusted proxy each test speaks from an IP of its own (X-Forwarded-For), so the per-IP budgets
// of one test do not spill into another; the per-account budgets are keyed by email.
let smtp: TestSmtp;
let t: TestApp;
beforeAll(async () => {
  smtp = await startTestSmtp(); // registrations send mail; without SMTP it would be printed to stdout
  t = await startTestApp({ TRUST_PROXY: "true", SMTP_URL: smtp.url });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { ok } }`;
const from = (ip: string) => ({ "x-forwarded-for": ip });

function expectRateLimited(
  res: { body: { errors?: { extensions?: Record<string, unknown> }[] } },
  windowSeconds: number,
) {
  expect(errorCode(res)).toBe("RATE_LIMITED");
  const retryAfter = res.body.errors![0].extensions!.retryAfter as number;
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
}

describe("sign-in rate limits", () => {
  it("refuses the 11th attempt for one account within the window with a retry-after, even with the right password", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.signInAccount;
    expect(points).toBe(10);
    const email = uniqueEmail("target");
    await t.app.services.accounts.createVerified(email, PASSWORD);
    const ip = from("203.0.113.1");
    for (let i = 0; i < points; i++) {
      expect(errorCode(await signIn(t, email, `wrong password ${i}`, ip)), `attempt ${i + 1}`).toBe(
        "INVALID_CREDENTIALS",
      );
    }
    expectRateLimited(await signIn(t, email, "wrong password again", ip), windowSeconds);
    expectRateLimited(await signIn(t, email, PASSWORD, ip), windowSeconds);
    // From another IP too: the budget belongs to the account (case and spaces do not escape it).
    expectRateLimited(await signIn(t, ` ${email.toUpperCase()} `, PASSWORD, from("203.0.113.2")), windowSeconds);

    // Another account from the same IP is not affected.
    const bystander = uniqueEmail("bystander");
    await t.app.services.accounts.createVerified(bystander, PASSWORD);
    expect((await signIn(t, bystander, PASSWORD, ip)).body.errors).toBeUndefined();
  });

  it("counts unknown emails like known ones (no enumeration through the limiter)", async () => {
    const email = uniqueEmail("nobody");
    const ip = from("203.0.113.3");
    for (let i = 0; i < ACCOUNT_LIMITS.signInAccount.points; i++) {
      expect(errorCode(await signIn(t, email, "whatever password", ip))).toBe("INVALID_CREDENTIALS");
    }
    expectRateLimited(await signIn(t, email, "whatever password", ip), ACCOUNT_LIMITS.signInAccount.windowSeconds);
  });

  it("a successful sign-in clears the account's budget", async () => {
    const email = uniqueEmail("forgetful");
    await t.app.services.accounts.createVerified(email, PASSWORD);
    const ip = from("203.0.113.4");
    for (let i = 0; i < 9; i++) await signIn(t, email, "wrong password", ip);
    expect((await signIn(t, email, PASSWORD, ip)).body.errors).toBeUndefined();
    for (let i = 0; i < 9; i++) {
      expect(errorCode(await signIn(t, email, "wrong password", ip))).toBe("INVALID_CREDENTIALS");
    }
    expect((await signIn(t, email, PASSWORD, ip)).body.errors).toBeUndefined();
  });

  it("refuses the 31st attempt from one IP across accounts", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.signInIp;
    expect(points).toBe(30);
    const ip = from("203.0.113.5");
    for (let i = 0; i < points; i++) {
      // A fresh address every time: only the per-IP budget is spent.
      expect(errorCode(await signIn(t, uniqueEmail("spray"), "some password", ip))).toBe("INVALID_CREDENTIALS");
    }
    const email = uniqueEmail("victim");
    await t.app.services.accounts.createVerified(email, PASSWORD);
    expectRateLimited(await signIn(t, email, PASSWORD, ip), windowSeconds);
    expect((await signIn(t, email, PASSWORD, from("203.0.113.6"))).body.errors).toBeUndefined();
  });
});

describe("registration rate limit", () => {
  it("refuses the 11th registration from one IP within the hour", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.registerIp;
    expect(points).toBe(10);
    const ip = from("198.51.100.7");
    const register = (email: string) =>
      t.graphql(REGISTER, { input: { email, password: PASSWORD, acceptTermsVersion: 1 } }, ip);
    for (let i = 0; i < points; i++) expect((await register(uniqueEmail("reg"))).body.errors).toBeUndefined();
    const email = uniqueEmail("one-too-many");
    expectRateLimited(await register(email), windowSeconds);
    const rows = (await t.app.db.query(`SELECT 1 FROM account WHERE email = $1`, [email])) as unknown[];
    expect(rows).toHaveLength(0);
    const elsewhere = { input: { email: uniqueEmail("elsewhere"), password: PASSWORD, acceptTermsVersion: 1 } };
    expect((await t.graphql(REGISTER, elsewhere, from("198.51.100.8"))).body.errors).toBeUndefined();
  });
});

const RESEND = `mutation($input: EmailInput!) { resendVerification(input: $input) { ok } }`;
const REQUEST_RESET = `mutation($input: EmailInput!) { requestPasswordReset(input: $input) { ok } }`;

describe("mail-sending rate limits (resendVerification, requestPasswordReset)", () => {
  /** The mails to `email` so far whose links include `path`. */
  const mailsTo = (email: string, path: string) =>
    smtp.received.filter((m) => m.to.includes(email) && m.links.some((l) => l.includes(path)));

  it("refuses the 4th resendVerification for one address within the hour, from any IP, and sends no more mail", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.resendEmail;
    expect(points).toBe(3);
    const email = uniqueEmail("resend");
    await t.app.services.accounts.createVerified(email, PASSWORD);
    await t.app.db.query(`UPDATE account SET email_verified_at = NULL WHERE email = $1`, [email]);
    for (let i = 0; i < points; i++) {
      const res = await t.graphql(RESEND, { input: { email } }, from(`198.51.100.${20 + i}`));
      expect(res.body.errors, `resend ${i + 1}`).toBeUndefined();
    }
    await expect.poll(() => mailsTo(email, "/verify-email?token=").length, { timeout: 10_000 }).toBe(points);
    expectRateLimited(await t.graphql(RESEND, { input: { email } }, from("198.51.100.30")), windowSeconds);
    // The address's case does not escape it.
    expectRateLimited(
      await t.graphql(RESEND, { input: { email: email.toUpperCase() } }, from("198.51.100.31")),
      windowSeconds,
    );
    // An unknown address is limited the same way (no enumeration through the limiter).
    const unknown = uniqueEmail("resend-unknown");
    for (let i = 0; i < points; i++) await t.graphql(RESEND, { input: { email: unknown } }, from("198.51.100.32"));
    expectRateLimited(await t.graphql(RESEND, { input: { email: unknown } }, from("198.51.100.33")), windowSeconds);
    // No mail was sent for the refused requests.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailsTo(email, "/verify-email?token=")).toHaveLength(points);
  });

  it("refuses the 11th resendVerification from one IP across addresses", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.resendIp;
    const ip = from("198.51.100.40");
    for (let i = 0; i < points; i++) {
      expect((await t.graphql(RESEND, { input: { email: uniqueEmail("resend-ip") } }, ip)).body.errors).toBeUndefined();
    }
    expectRateLimited(await t.graphql(RESEND, { input: { email: uniqueEmail("resend-ip") } }, ip), windowSeconds);
  });

  it("refuses the 4th requestPasswordReset for one address within the hour, and sends no more mail", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.resetEmail;
    expect(points).toBe(3);
    const email = uniqueEmail("reset");
    await t.app.services.accounts.createVerified(email, PASSWORD);
    for (let i = 0; i < points; i++) {
      const res = await t.graphql(REQUEST_RESET, { input: { email } }, from(`198.51.100.${50 + i}`));
      expect(res.body.errors, `request ${i + 1}`).toBeUndefined();
    }
    await expect.poll(() => mailsTo(email, "/reset-password?token=").length, { timeout: 10_000 }).toBe(points);
    expectRateLimited(await t.graphql(REQUEST_RESET, { input: { email } }, from("198.51.100.60")), windowSeconds);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailsTo(email, "/reset-password?token=")).toHaveLength(points);
  });

  it("refuses the 11th requestPasswordReset from one IP across addresses", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.resetIp;
    const ip = from("198.51.100.70");
    for (let i = 0; i < points; i++) {
      const res = await t.graphql(REQUEST_RESET, { input: { email: uniqueEmail("reset-ip") } }, ip);
      expect(res.body.errors).toBeUndefined();
    }
    expectRateLimited(await t.graphql(REQUEST_RESET, { input: { email: uniqueEmail("reset-ip") } }, ip), windowSeconds);
  });
});

describe("client address behind the trusted proxy", () => {
  // The proxy appends the address it saw; whatever the client wrote stays on the left.
  const via = (clientWritten: string, seenByProxy: string) => ({
    "x-forwarded-for": `${clientWritten}, ${seenByProxy}`,
  });

  it("rotating a client-written X-Forwarded-For entry does not escape the per-IP registration limit", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.registerIp;
    const register = (email: string, i: number) =>
      t.graphql(
        REGISTER,
        { input: { email, password: PASSWORD, acceptTermsVersion: 1 } },
        via(`10.0.0.${i}`, "192.0.2.50"),
      );
    for (let i = 0; i < points; i++) expect((await register(uniqueEmail("xff-reg"), i)).body.errors).toBeUndefined();
    expectRateLimited(await register(uniqueEmail("xff-reg"), 99), windowSeconds);
  });

  it("rotating a client-written X-Forwarded-For entry does not escape the per-IP sign-in limit", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.signInIp;
    for (let i = 0; i < points; i++) {
      const res = await signIn(t, uniqueEmail("xff-spray"), "some password", via(`10.1.0.${i}`, "192.0.2.51"));
      expect(errorCode(res)).toBe("INVALID_CREDENTIALS");
    }
    expectRateLimited(
      await signIn(t, uniqueEmail("xff-spray"), "some password", via("10.1.1.1", "192.0.2.51")),
      windowSeconds,
    );
  });

  it("addresses of one IPv6 /64 share the per-IP sign-in budget", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.signInIp;
    for (let i = 0; i < points; i++) {
      const res = await signIn(
        t,
        uniqueEmail("v6-spray"),
        "some password",
        from(`2001:db8:5:6::${(i + 1).toString(16)}`),
      );
      expect(errorCode(res)).toBe("INVALID_CREDENTIALS");
    }
    expectRateLimited(
      await signIn(t, uniqueEmail("v6-spray"), "some password", from("2001:db8:5:6:ffff::9")),
      windowSeconds,
    );
    // Another /64 has its own budget.
    const res = await signIn(t, uniqueEmail("v6-other"), "some password", from("2001:db8:5:7::1"));
    expect(errorCode(res)).toBe("INVALID_CREDENTIALS");
  });

  it("a 200-character X-Forwarded-For does not break registration, and the full address is stored", async () => {
    for (const header of ["a".repeat(200), `${"b".repeat(200)}, ${"c".repeat(200)}`]) {
      const email = uniqueEmail("long-xff");
      const res = await t.graphql(
        REGISTER,
        { input: { email, password: PASSWORD, acceptTermsVersion: 1 } },
        { "x-forwarded-for": header },
      );
      expect(res.body.errors).toBeUndefined();
    }
    const email = uniqueEmail("v6-stored");
    const v6 = "2001:db8:5:8:1234:5678:9abc:def0";
    expect(
      (await t.graphql(REGISTER, { input: { email, password: PASSWORD, acceptTermsVersion: 1 } }, from(v6))).body
        .errors,
    ).toBeUndefined();
    const [row] = (await t.app.db.query(`SELECT signup_ip FROM account WHERE email = $1`, [email])) as {
      signup_ip: string;
    }[];
    expect(row.signup_ip).toBe(v6);
  });
});

const CHANGE_EMAIL = `mutation($input: ChangeEmailInput!) { changeEmail(input: $input) { pendingEmail } }`;

describe("mail-sending rate limits (register, changeEmail)", () => {
  const mailsTo = (email: string) => smtp.received.filter((m) => m.to.includes(email));
  const registerFrom = (email: string, ip: string) =>
    t.graphql(REGISTER, { input: { email, password: PASSWORD, acceptTermsVersion: 1 } }, from(ip));

  it("refuses the 4th registration of one address within the hour, from any IP, and sends no more mail", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.resendEmail;
    // A new address (verification links) and one with a verified account ("already registered" notices).
    const fresh = uniqueEmail("register-mail");
    const taken = uniqueEmail("register-taken");
    await t.app.services.accounts.createVerified(taken, PASSWORD);
    for (const [n, email] of [fresh, taken].entries()) {
      for (let i = 0; i < points; i++) {
        expect(
          (await registerFrom(email, `192.0.2.${100 + 10 * n + i}`)).body.errors,
          `register ${i + 1}`,
        ).toBeUndefined();
      }
      await expect.poll(() => mailsTo(email).length, { timeout: 10_000 }).toBe(points);
      expectRateLimited(await registerFrom(email, `192.0.2.${109 + 10 * n}`), windowSeconds);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailsTo(fresh)).toHaveLength(points);
    expect(mailsTo(taken)).toHaveLength(points);
  });

  it("refuses the 4th changeEmail to one address within the hour, and sends no more mail to it", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.resendEmail;
    const target = uniqueEmail("change-target");
    const first = await signedInUser(t);
    const second = await signedInUser(t);
    const change = (user: typeof first) =>
      t.graphql(CHANGE_EMAIL, { input: { newEmail: target, password: PASSWORD } }, user.headers);
    for (let i = 0; i < points; i++) {
      expect((await change(i < 2 ? first : second)).body.errors, `change ${i + 1}`).toBeUndefined();
    }
    await expect.poll(() => mailsTo(target).length, { timeout: 10_000 }).toBe(points);
    // The budget belongs to the address, whichever account asks.
    expectRateLimited(await change(first), windowSeconds);
    expectRateLimited(await change(second), windowSeconds);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailsTo(target)).toHaveLength(points);
  });

  it("refuses an account's 6th changeEmail within the hour, whatever the addresses", async () => {
    const { points, windowSeconds } = ACCOUNT_LIMITS.changeEmailAccount;
    expect(points).toBe(5);
    const user = await signedInUser(t);
    const change = (newEmail: string) =>
      t.graphql(CHANGE_EMAIL, { input: { newEmail, password: PASSWORD } }, user.headers);
    for (let i = 0; i < points; i++) expect((await change(uniqueEmail("spread"))).body.errors).toBeUndefined();
    const last = uniqueEmail("spread-last");
    expectRateLimited(await change(last), windowSeconds);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailsTo(last)).toHaveLength(0);
  });
});
