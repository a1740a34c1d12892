import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, wsClient, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { AccountRole } from "../accounts/account.entity.js";

let t: TestApp;
let admin: SignedInUser;
let moderator: SignedInUser;

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api", RATE_LIMIT_ANONYMOUS_PER_MINUTE: "1000000" });
  admin = await signedInUser(t, { role: AccountRole.ADMIN });
  moderator = await signedInUser(t, { role: AccountRole.MODERATOR });
});
afterAll(() => t?.close());

/** The account's internal messages, as it reads them. */
async function inbox(user: SignedInUser) {
  const res = await t.graphql<{ messages: { edges: { node: { kind: string; title: string; body: string } }[] } }>(
    `{ messages(first: 100) { edges { node { kind title body } } } }`,
    {},
    user.headers,
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.messages.edges.map((e) => e.node);
}

/** One restriction of the account, as it reads it (allowed even under ALL). */
async function myRestriction(user: SignedInUser, id: string) {
  const res = await t.graphql<{
    myRestrictions: { id: string; active: boolean; appealDecision: string | null; appealAccepted: boolean | null }[];
  }>(`{ myRestrictions { id active appealDecision appealAccepted } }`, {}, user.headers);
  expect(res.body.errors).toBeUndefined();
  const { id: _id, ...rest } = res.body.data!.myRestrictions.find((r) => r.id === id)!;
  return rest;
}

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { ok } }`;
const register = (email: string, referralCode?: string) =>
  t.graphql(REGISTER, {
    input: { email, password: "a long enough passphrase 42", acceptTermsVersion: 1, referralCode },
  });
const setPolicy = (input: Record<string, unknown>) =>
  t.graphql(
    `mutation($input: UpdateRegistrationPolicyInput!) { updateRegistrationPolicy(input: $input) { policy { mode } } }`,
    { input },
    admin.headers,
  );
/** The policy is cached per process for a few seconds; tests read it fresh. */
const fresh = () => ((t.app.services.registration as unknown as { cache: null }).cache = null);

describe("account search and detail", () => {
  it("finds accounts by part of the email, filters by role and restriction, and shows one in detail", async () => {
    const target = await signedInUser(t, { email: `zebra-${Date.now()}@example.com` });
    await t.app.services.restrictions.restrict(
      { accountId: admin.account.id, role: admin.account.role },
      {
        accountId: target.account.id,
        scopes: ["UPLOADS"],
        durationMinutes: 30,
        reason: "Spam uploads",
        revokeApiKeys: false,
      },
    );
    const search = await t.graphql<{
      adminAccounts: { edges: { node: { id: string; restricted: boolean; tierId: string; balance: number } }[] };
    }>(
      `query($f: AccountSearchInput) { adminAccounts(filter: $f) { edges { node { id restricted tierId balance } } } }`,
      { f: { search: "ZEBRA-", restricted: true } },
      moderator.headers,
    );
    expect(search.body.data!.adminAccounts.edges.map((e) => e.node)).toEqual([
      { id: target.account.id, restricted: true, tierId: "FREE", balance: 0 },
    ]);
    const byRole = await t.graphql<{ adminAccounts: { edges: { node: { id: string } }[] } }>(
      `{ adminAccounts(filter: { role: ADMIN }) { edges { node { id } } } }`,
      {},
      admin.headers,
    );
    expect(byRole.body.data!.adminAccounts.edges.map((e) => e.node.id)).toEqual([admin.account.id]);
    // LIKE wildcards in the search are literal.
    const wild = await t.graphql<{ adminAccounts: { edges: unknown[] } }>(
      `{ adminAccounts(filter: { search: "%_%" }) { edges { node { id } } } }`,
      {},
      admin.headers,
    );
    expect(wild.body.data!.adminAccounts.edges).toEqual([]);

    const detail = await t.graphql<{
      adminAccount: {
        account: { email: string; balance: { total: number } };
        limits: { tier: { id: string } };
        restrictions: { reason: string }[];
        apiKeys: unknown[];
        recentTasks: unknown[];
      };
    }>(
      `query($id: ID!) { adminAccount(id: $id) { account { email balance { total } } limits { tier { id } } restrictions { reason } apiKeys { id } recentTasks { id } } }`,
      { id: target.account.id },
      admin.headers,
    );
    expect(detail.body.data!.adminAccount).toMatchObject({
      account: { email: target.email, balance: { total: 0 } },
      limits: { tier: { id: "FREE" } },
      restrictions: [{ reason: "Spam uploads" }],
      apiKeys: [],
      recentTasks: [],
    });
    const missing = await t.graphql(
      `query($id: ID!) { adminAccount(id: $id) { signupIp } }`,
      { id: "00000000-0000-4000-8000-000000000000" },
      admin.headers,
    );
    expect(missing.body.errors?.[0].extensions?.code).toBe("NOT_FOUND");
  });

  it("shows the sign-up address, and none once the account is deleted (only its digest is kept)", async () => {
    const leaving = await signedInUser(t);
    await t.app.db.query(`UPDATE account SET signup_ip = '198.51.100.23' WHERE id = $1`, [leaving.account.id]);
    const signupIp = async () =>
      (
        await t.graphql<{ adminAccount: { signupIp: string | null; deletedAt: string | null } }>(
          `query($id: ID!) { adminAccount(id: $id) { signupIp deletedAt } }`,
          { id: leaving.account.id },
          admin.headers,
        )
      ).body.data!.adminAccount;
    expect(await signupIp()).toEqual({ signupIp: "198.51.100.23", deletedAt: null });
    const deleted = await t.graphql(
      `mutation($input: PasswordInput!) { deleteAccount(input: $input) { ok } }`,
      { input: { password: leaving.password } },
      leaving.headers,
    );
    expect(deleted.body.errors).toBeUndefined();
    const [row] = (await t.app.db.query(`SELECT signup_ip FROM account WHERE id = $1`, [leaving.account.id])) as {
      signup_ip: string;
    }[];
    expect(row.signup_ip).toMatch(/^h:/);
    expect(await signupIp()).toMatchObject({ signupIp: null, deletedAt: expect.any(String) });
  });

  it("sends announcements to everyone or to one tier", async () => {
    const pro = await signedInUser(t);
    await t.app.services.limits.setAccountLimits(pro.account.id, { tierId: "PRO", overrides: null });
    const send = (tierId?: string) =>
      t.graphql<{ sendAnnouncement: { recipients: number } }>(
        `mutation($tierId: ID) { sendAnnouncement(input: { title: "New model", body: "Try it today.", link: "/", tierId: $tierId }) { recipients } }`,
        { tierId },
        admin.headers,
      );
    expect((await send("PRO")).body.data!.sendAnnouncement.recipients).toBe(1);
    const [{ n }] = (await t.app.db.query(`SELECT count(*)::int AS n FROM account WHERE deleted_at IS NULL`)) as {
      n: number;
    }[];
    expect((await send()).body.data!.sendAnnouncement.recipients).toBe(n);
    const inbox = (await t.app.db.query(`SELECT kind, title FROM message WHERE account_id = $1`, [pro.account.id])) as {
      kind: string;
    }[];
    expect(inbox).toEqual([
      { kind: "announcement", title: "New model" },
      { kind: "announcement", title: "New model" },
    ]);
    // A link longer than the column is refused at the field, and nobody gets anything.
    const long = await t.graphql(
      `mutation($link: String) { sendAnnouncement(input: { title: "Too long", body: "x", link: $link }) { recipients } }`,
      { link: `https://example.com/${"a".repeat(500)}` },
      admin.headers,
    );
    expect(long.body.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "link" });
    expect(await t.app.db.query(`SELECT 1 FROM message WHERE title = 'Too long'`)).toEqual([]);
    expect((await send("NOPE")).body.errors?.[0].extensions?.code).toBe("NOT_FOUND");
  });

  it("lets moderators answer an appeal once; accepting lifts the restriction and tells the account", async () => {
    const target = await signedInUser(t);
    const r = await t.app.services.restrictions.restrict(
      { accountId: moderator.account.id, role: moderator.account.role },
      {
        accountId: target.account.id,
        scopes: ["ALL"],
        durationMinutes: null,
        reason: "Suspicious activity",
        revokeApiKeys: false,
      },
    );
    const appeal = await t.graphql(
      `mutation($id: ID!) { appealRestriction(input: { id: $id, message: "That was my brother, sorry about it." }) { restriction { id } } }`,
      { id: r.id },
      target.headers,
    );
    expect(appeal.body.errors).toBeUndefined();
    const pending = await t.graphql<{ pendingAppeals: { id: string }[] }>(
      `{ pendingAppeals { id } }`,
      {},
      moderator.headers,
    );
    expect(pending.body.data!.pendingAppeals.map((p) => p.id)).toContain(r.id);
    const decide = () =>
      t.graphql<{ decideAppeal: { restriction: { active: boolean; appealAccepted: boolean } } }>(
        `mutation($id: ID!) { decideAppeal(input: { id: $id, accept: true, reason: "Accepted, welcome back." }) { restriction { active appealAccepted } } }`,
        { id: r.id },
        moderator.headers,
      );
    expect((await decide()).body.data!.decideAppeal.restriction).toEqual({ active: false, appealAccepted: true });
    expect((await decide()).body.errors?.[0].extensions?.code).toBe("CONFLICT");
    const me = await t.graphql<{ me: { id: string } }>(`{ me { id } }`, {}, target.headers);
    expect(me.body.data!.me.id).toBe(target.account.id);
    // The account is told: its inbox says the restriction ended, with the moderator's reason, and its
    // restriction history shows the answer.
    expect(await inbox(target)).toContainEqual({
      kind: "restriction.ended",
      title: "A restriction of your account ended",
      body: "It was lifted: Accepted, welcome back.",
    });
    expect(await myRestriction(target, r.id)).toEqual({
      active: false,
      appealDecision: "Accepted, welcome back.",
      appealAccepted: true,
    });
  });

  it("lets moderators decline an appeal once: the restriction stays and the account is told why", async () => {
    const target = await signedInUser(t);
    const r = await t.app.services.restrictions.restrict(
      { accountId: moderator.account.id, role: moderator.account.role },
      {
        accountId: target.account.id,
        scopes: ["ALL"],
        durationMinutes: 60,
        reason: "Spam in shared prompts",
        revokeApiKeys: false,
      },
    );
    const appeal = await t.graphql(
      `mutation($id: ID!) { appealRestriction(input: { id: $id, message: "I did not send those prompts myself." }) { restriction { id } } }`,
      { id: r.id },
      target.headers,
    );
    expect(appeal.body.errors).toBeUndefined();
    const decide = () =>
      t.graphql<{ decideAppeal: { restriction: { active: boolean; appealAccepted: boolean } } }>(
        `mutation($id: ID!) { decideAppeal(input: { id: $id, accept: false, reason: "The prompts came from your key." }) { restriction { active appealAccepted } } }`,
        { id: r.id },
        moderator.headers,
      );
    expect((await decide()).body.data!.decideAppeal.restriction).toEqual({ active: true, appealAccepted: false });
    expect((await decide()).body.errors?.[0].extensions?.code).toBe("CONFLICT");
    const pending = await t.graphql<{ pendingAppeals: { id: string }[] }>(
      `{ pendingAppeals { id } }`,
      {},
      moderator.headers,
    );
    expect(pending.body.data!.pendingAppeals.map((p) => p.id)).not.toContain(r.id);
    // Still restricted: everything but its restrictions is refused, and those show the answer.
    expect((await t.graphql(`{ me { id } }`, {}, target.headers)).body.errors).toBeUndefined();
    expect(
      (await t.graphql(`{ tasks { edges { cursor } } }`, {}, target.headers)).body.errors?.[0].extensions?.code,
    ).toBe("ACCOUNT_RESTRICTED");
    expect(await myRestriction(target, r.id)).toEqual({
      active: true,
      appealDecision: "The prompts came from your key.",
      appealAccepted: false,
    });
    // The internal message waits in the inbox (read once the restriction ends).
    const messages = (await t.app.db.query(`SELECT kind, title, body FROM message WHERE account_id = $1`, [
      target.account.id,
    ])) as { kind: string; title: string; body: string }[];
    expect(messages).toContainEqual({
      kind: "restriction.appeal_refused",
      title: "Your appeal was declined",
      body: "The prompts came from your key.",
    });
    expect(messages.map((m) => m.kind)).not.toContain("restriction.ended");
  });
});

describe("roles", () => {
  it("lets an admin make a moderator, and never demotes the last administrator", async () => {
    const target = await signedInUser(t);
    const setRole = (accountId: string, role: string, headers = admin.headers) =>
      t.graphql<{ setAccountRole: { account: { role: string } } }>(
        `mutation($id: ID!, $role: AccountRole!) { setAccountRole(accountId: $id, role: $role) { account { role } } }`,
        { id: accountId, role },
        headers,
      );
    expect((await setRole(target.account.id, "MODERATOR", moderator.headers)).body.errors?.[0].extensions?.code).toBe(
      "FORBIDDEN",
    );
    const socket = wsClient(t, target.token);
    await socket.connected;
    expect((await setRole(target.account.id, "MODERATOR")).body.data!.setAccountRole.account.role).toBe("MODERATOR");
    // Its open connections end (they carry the old role); the session itself goes on.
    expect(await socket.closeCode()).toBe(4401);
    await socket.dispose();
    // The new role holds on the account's next request.
    const queue = await t.graphql(`{ moderationQueue { tasksInReview { id } } }`, {}, target.headers);
    expect(queue.body.errors).toBeUndefined();
    expect((await setRole(admin.account.id, "USER")).body.errors?.[0].extensions?.code).toBe("CONFLICT");
  });
});

describe("the registration policy", () => {
  it("closed: nobody registers, with REGISTRATION_CLOSED, whatever the address", async () => {
    await setPolicy({ mode: "CLOSED" });
    fresh();
    expect((await register(`new-${Date.now()}@example.com`)).body.errors?.[0].extensions?.code).toBe(
      "REGISTRATION_CLOSED",
    );
    expect((await register(admin.email)).body.errors?.[0].extensions?.code).toBe("REGISTRATION_CLOSED");
    const info = await t.graphql<{ registrationInfo: { mode: string } }>(`{ registrationInfo { mode } }`);
    expect(info.body.data!.registrationInfo.mode).toBe("CLOSED");
  });

  it("invite-only: a referral code or a single-use invite code is needed", async () => {
    await setPolicy({ mode: "INVITE_ONLY" });
    fresh();
    expect((await register(`a-${Date.now()}@example.com`)).body.errors?.[0].extensions?.code).toBe("INVITE_REQUIRED");
    expect((await register(`b-${Date.now()}@example.com`, "INVITE-NOTREAL")).body.errors?.[0].extensions?.code).toBe(
      "INVITE_REQUIRED",
    );
    const referrer = await t.app.services.accounts.byId(admin.account.id);
    expect((await register(`c-${Date.now()}@example.com`, referrer!.referralCode)).body.errors).toBeUndefined();
    const codes = await t.graphql<{ createInviteCodes: { codes: string[] } }>(
      `mutation { createInviteCodes(count: 1, expiresInDays: 7) { codes } }`,
      {},
      admin.headers,
    );
    const [code] = codes.body.data!.createInviteCodes.codes;
    expect(code).toMatch(/^INVITE-/);
    const invited = `d-${Date.now()}@example.com`;
    expect((await register(invited, code)).body.errors).toBeUndefined();
    expect(await t.app.db.query(`SELECT 1 FROM account WHERE email = $1`, [invited])).toHaveLength(1);
    // Single use.
    expect((await register(`e-${Date.now()}@example.com`, code)).body.errors?.[0].extensions?.code).toBe(
      "INVITE_REQUIRED",
    );
  });

  it("refuses disposable and listed domains, and limits new accounts per IP per day", async () => {
    await setPolicy({
      mode: "OPEN",
      blockDisposableEmail: true,
      blockedEmailDomains: ["blocked.example"],
      accountsPerIpPerDay: 100,
    });
    fresh();
    expect((await register("someone@mailinator.com")).body.errors?.[0].extensions?.code).toBe(
      "EMAIL_DOMAIN_NOT_ALLOWED",
    );
    expect((await register("someone@mail.blocked.example")).body.errors?.[0].extensions?.code).toBe(
      "EMAIL_DOMAIN_NOT_ALLOWED",
    );
    const [{ n }] = (await t.app.db.query(
      `SELECT count(*)::int AS n FROM account WHERE signup_ip IS NOT NULL AND created_at > now() - interval '1 day'`,
    )) as { n: number }[];
    await setPolicy({ mode: "OPEN", accountsPerIpPerDay: n + 1 });
    fresh();
    expect((await register(`f-${Date.now()}@example.com`)).body.errors).toBeUndefined();
    const refused = await register(`g-${Date.now()}@example.com`);
    expect(refused.body.errors?.[0].extensions?.code).toBe("RATE_LIMITED");
    expect(Number(refused.body.errors?.[0].extensions?.retryAfter)).toBeGreaterThan(0);
    await setPolicy({ mode: "OPEN" });
  });

  it("holds the per-IP daily limit for registrations sent together", async () => {
    await setPolicy({ mode: "OPEN", accountsPerIpPerDay: 1 });
    fresh();
    const ip = "198.51.100.61";
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) =>
        t.app.services.accounts.register(
          {
            email: `together-${i}-${Date.now()}@example.com`,
            password: "a long enough passphrase 42",
            acceptTermsVersion: 1,
          },
          { ip, userAgent: "vitest" },
        ),
      ),
    );
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    const [{ n }] = (await t.app.db.query(`SELECT count(*)::int AS n FROM account WHERE signup_ip = $1`, [ip])) as {
      n: number;
    }[];
    expect(n).toBe(1);
    await setPolicy({ mode: "OPEN" });
  });
});
