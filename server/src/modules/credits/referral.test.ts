import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { startTestSmtp, type TestSmtp } from "../../../test/smtp.js";

let t: TestApp;
let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
  t = await startTestApp({
    SMTP_URL: smtp.url,
    PUBLIC_URL: "http://studio.test",
    WELCOME_BONUS_CREDITS: "100",
    REFERRAL_REWARD_CREDITS: "50",
    REFERRAL_WELCOME_CREDITS: "20",
    REFERRAL_MONTHLY_CAP: "2",
  });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

/** Registers through GraphQL and follows the emailed link, as a person would. */
async function joinWith(email: string, referralCode: string | null) {
  const res = await t.graphql(`mutation($input: RegisterInput!) { register(input: $input) { ok } }`, {
    input: { email, password: "a fine password 1", acceptTermsVersion: 1, referralCode },
  });
  expect(res.body.errors).toBeUndefined();
  const mail = await smtp.waitForMail(email);
  const token = new URL(mail.links.find((l) => l.includes("/verify-email?"))!).searchParams.get("token")!;
  const verified = await t.graphql<{ verifyEmail: { account: { id: string } } }>(
    `mutation($input: TokenInput!) { verifyEmail(input: $input) { account { id } } }`,
    { input: { token } },
  );
  return verified.body.data!.verifyEmail.account.id;
}

describe("referral rewards", () => {
  it("rewards the inviter and gives the newcomer an extra when the invitee confirms, within a monthly cap", async () => {
    const inviter = await t.app.services.accounts.createVerified("inviter@example.com", "a fine password 1");
    const ledger = t.app.services.ledger;

    const first = await joinWith("friend1@example.com", inviter.referralCode.toLowerCase());
    expect(await ledger.balance(inviter.id)).toEqual({ paid: 0, bonus: 50 });
    expect(await ledger.balance(first)).toEqual({ paid: 0, bonus: 120 });

    await joinWith("friend2@example.com", inviter.referralCode);
    const third = await joinWith("friend3@example.com", inviter.referralCode);
    // The cap is 2 rewarded referrals a month: the third friend still gets the extra, the inviter nothing more.
    expect(await ledger.balance(inviter.id)).toEqual({ paid: 0, bonus: 100 });
    expect(await ledger.balance(third)).toEqual({ paid: 0, bonus: 120 });

    const signIn = await t.graphql<{ signIn: { token: string } }>(
      `mutation { signIn(input: { email: "inviter@example.com", password: "a fine password 1" }) { token } }`,
    );
    const stats = await t.graphql<{ referralStats: Record<string, unknown> }>(
      `{ referralStats { code link invited rewarded creditsEarned } }`,
      undefined,
      { authorization: `Bearer ${signIn.body.data!.signIn.token}` },
    );
    expect(stats.body.data?.referralStats).toEqual({
      code: inviter.referralCode,
      link: `http://studio.test/r/${inviter.referralCode}`,
      invited: 3,
      rewarded: 2,
      creditsEarned: 100,
    });
    expect(await t.app.services.messages.unreadCount(inviter.id)).toBe(2);
    expect(await ledger.verify()).toEqual([]);
  });

  it("ignores an unknown referral code and rewards nobody", async () => {
    const id = await joinWith("loner@example.com", "NOSUCHCODE");
    expect(await t.app.services.ledger.balance(id)).toEqual({ paid: 0, bonus: 100 });
  });
});
