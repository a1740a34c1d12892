import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { startTestSmtp, type TestSmtp } from "../../../test/smtp.js";
import { LedgerKind } from "./ledger-entry.entity.js";
import { canonicalMailbox } from "./referral.service.js";

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
    // Registrations may speak from an address of their own (X-Forwarded-For): the self-referral guard.
    TRUST_PROXY: "true",
  });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

/** Registers through GraphQL and follows the emailed link, as a person would. */
async function joinWith(email: string, referralCode: string | null, ip?: string) {
  const res = await t.graphql(
    `mutation($input: RegisterInput!) { register(input: $input) { ok } }`,
    { input: { email, password: "a fine password 1", acceptTermsVersion: 1, referralCode } },
    ip ? { "x-forwarded-for": ip } : {},
  );
  expect(res.body.errors).toBeUndefined();
  return followVerifyLink(email);
}

/** Follows the newest verification link mailed to `email`. */
async function followVerifyLink(email: string) {
  const mail = await smtp.waitForMail(email);
  const token = new URL(mail.links.find((l) => l.includes("/verify-email?"))!).searchParams.get("token")!;
  const verified = await t.graphql<{ verifyEmail: { account: { id: string } } }>(
    `mutation($input: TokenInput!) { verifyEmail(input: $input) { account { id } } }`,
    { input: { token } },
  );
  expect(verified.body.errors).toBeUndefined();
  return verified.body.data!.verifyEmail.account.id;
}

async function rewardsOf(inviterId: string) {
  const rows = (await t.app.db.query(
    `SELECT count(*)::int AS n FROM ledger_entry WHERE account_id = $1 AND kind = $2`,
    [inviterId, LedgerKind.REFERRAL_REWARD],
  )) as { n: number }[];
  return rows[0].n;
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

  it("confirms a friend of an inviter at the balance limit, rewarding nobody past it", async () => {
    const inviter = await t.app.services.accounts.createVerified("full-inviter@example.com", "a fine password 1");
    const ledger = t.app.services.ledger;
    for (let i = 0; i < 10; i++) {
      await ledger.credit({
        accountId: inviter.id,
        kind: LedgerKind.RECHARGE,
        paid: 100_000_000,
        bonus: 0,
        reference: `full:${inviter.id}:${i}`,
      });
    }
    const friend = await joinWith("full-friend@example.com", inviter.referralCode);
    expect(await ledger.balance(friend)).toEqual({ paid: 0, bonus: 120 });
    expect(await ledger.balance(inviter.id)).toEqual({ paid: 1_000_000_000, bonus: 0 });
    expect(await rewardsOf(inviter.id)).toBe(0);
  });

  it("ignores an unknown referral code and rewards nobody", async () => {
    const id = await joinWith("loner@example.com", "NOSUCHCODE");
    expect(await t.app.services.ledger.balance(id)).toEqual({ paid: 0, bonus: 100 });
  });

  it("rewards each referred account once: a later email change and its verification reward nobody again", async () => {
    const inviter = await t.app.services.accounts.createVerified("changer-inviter@example.com", "a fine password 1");
    const ledger = t.app.services.ledger;
    const friend = await joinWith("changer-friend@example.com", inviter.referralCode, "198.51.100.10");
    expect(await ledger.balance(inviter.id)).toEqual({ paid: 0, bonus: 50 });
    expect(await ledger.balance(friend)).toEqual({ paid: 0, bonus: 120 });

    const { token } = await t.app.services.sessions.create(friend, "vitest", "127.0.0.1");
    const changed = await t.graphql(
      `mutation($input: ChangeEmailInput!) { changeEmail(input: $input) { pendingEmail } }`,
      { input: { newEmail: "changer-friend-new@example.com", password: "a fine password 1" } },
      { authorization: `Bearer ${token}` },
    );
    expect(changed.body.errors).toBeUndefined();
    expect(await followVerifyLink("changer-friend-new@example.com")).toBe(friend);
    expect((await t.app.services.accounts.byId(friend))?.email).toBe("changer-friend-new@example.com");

    expect(await ledger.balance(inviter.id)).toEqual({ paid: 0, bonus: 50 });
    expect(await ledger.balance(friend)).toEqual({ paid: 0, bonus: 120 });
    expect(await rewardsOf(inviter.id)).toBe(1);
    expect(await ledger.verify()).toEqual([]);
  });

  it("rewards nobody for a self-referral: the inviter's sign-up address, or the inviter's mailbox spelt otherwise", async () => {
    const ledger = t.app.services.ledger;
    // The inviter signed up from 198.51.100.20; a "friend" signing up from there is most likely the inviter.
    const inviter = await joinWith("home-inviter@example.com", null, "198.51.100.20");
    const { referralCode } = (await t.app.services.accounts.byId(inviter))!;
    const sameIp = await joinWith("home-second@example.com", referralCode, "198.51.100.20");
    expect(await ledger.balance(sameIp)).toEqual({ paid: 0, bonus: 100 });
    expect(await ledger.balance(inviter)).toEqual({ paid: 0, bonus: 100 });

    // The same Gmail mailbox: dots, case, plus-addressing and googlemail.com make no other person.
    const gmail = await t.app.services.accounts.createVerified("john.doe@gmail.com", "a fine password 1");
    const alias = await joinWith("JohnDoe+promo@googlemail.com", gmail.referralCode, "198.51.100.30");
    expect(await ledger.balance(alias)).toEqual({ paid: 0, bonus: 100 });
    // Plus-addressing at any provider.
    const work = await t.app.services.accounts.createVerified("ann@corp.example", "a fine password 1");
    const tagged = await joinWith("ann+second@corp.example", work.referralCode, "198.51.100.31");
    expect(await ledger.balance(tagged)).toEqual({ paid: 0, bonus: 100 });
    for (const id of [inviter, gmail.id, work.id]) expect(await rewardsOf(id)).toBe(0);

    // A real friend, from elsewhere and with another mailbox, still rewards the inviter.
    const friend = await joinWith("john.doe@corp.example", gmail.referralCode, "198.51.100.32");
    expect(await ledger.balance(friend)).toEqual({ paid: 0, bonus: 120 });
    expect(await ledger.balance(gmail.id)).toEqual({ paid: 0, bonus: 50 });
  });
});

describe("canonicalMailbox", () => {
  it("folds case, plus tags, and Gmail's dots and googlemail.com; other providers keep their dots", () => {
    expect(canonicalMailbox(" J.Doe+x@GMail.com ")).toBe("jdoe@gmail.com");
    expect(canonicalMailbox("jdoe@googlemail.com")).toBe("jdoe@gmail.com");
    expect(canonicalMailbox("j.doe+news@example.com")).toBe("j.doe@example.com");
    expect(canonicalMailbox("jdoe@example.com")).not.toBe(canonicalMailbox("j.doe@example.com"));
  });
});
