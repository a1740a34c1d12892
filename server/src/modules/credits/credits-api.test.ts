import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { startTestSmtp, type TestSmtp } from "../../../test/smtp.js";
import { LedgerKind } from "./ledger-entry.entity.js";

let t: TestApp;
let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
  t = await startTestApp({ SMTP_URL: smtp.url, WELCOME_BONUS_CREDITS: "120" });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

async function signIn(email: string, password = "a fine password 1") {
  const res = await t.graphql<{ signIn: { token: string } }>(
    `mutation($input: SignInInput!) { signIn(input: $input) { token } }`,
    { input: { email, password } },
  );
  return { authorization: `Bearer ${res.body.data!.signIn.token}` };
}

const BALANCE = `{ me { balance { paid bonus total } } }`;

describe("balances over GraphQL", () => {
  it("gives a newly verified account the welcome bonus, once", async () => {
    const email = "newcomer@example.com";
    await t.graphql(`mutation($input: RegisterInput!) { register(input: $input) { ok } }`, {
      input: { email, password: "a fine password 1", acceptTermsVersion: 1 },
    });
    const mail = await smtp.waitForMail(email);
    const token = new URL(mail.links[0]).searchParams.get("token")!;
    await t.graphql(`mutation($input: TokenInput!) { verifyEmail(input: $input) { account { id } } }`, {
      input: { token },
    });

    const headers = await signIn(email);
    const me = await t.graphql<{ me: { balance: unknown } }>(BALANCE, undefined, headers);
    expect(me.body.data?.me.balance).toEqual({ paid: 0, bonus: 120, total: 120 });
    const ledger = await t.graphql<{ ledger: { edges: { node: { kind: string; bonusDelta: number } }[] } }>(
      `{ ledger(first: 10) { edges { node { kind bonusDelta balanceAfter { total } } } } }`,
      undefined,
      headers,
    );
    expect(ledger.body.data?.ledger.edges.map((e) => e.node)).toEqual([
      { kind: "WELCOME_BONUS", bonusDelta: 120, balanceAfter: { total: 120 } },
    ]);
  });

  it("pages the ledger with a cursor and filters by kind", async () => {
    const a = await t.app.services.accounts.createVerified("pager@example.com", "a fine password 1");
    for (let i = 0; i < 5; i++) {
      await t.app.services.ledger.credit({
        accountId: a.id,
        kind: LedgerKind.RECHARGE,
        paid: 10,
        bonus: 0,
        reference: `r${i}:${a.id}`,
      });
    }
    await t.app.services.ledger.charge({ accountId: a.id, amount: 5, reference: `c:${a.id}` });
    const headers = await signIn("pager@example.com");
    type Page = {
      ledger: {
        edges: { cursor: string; node: { kind: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string };
      };
    };
    const first = await t.graphql<Page>(
      `{ ledger(first: 4) { edges { cursor node { kind } } pageInfo { hasNextPage endCursor } } }`,
      undefined,
      headers,
    );
    expect(first.body.data!.ledger.edges[0].node.kind).toBe("TASK_CHARGE");
    expect(first.body.data!.ledger.pageInfo.hasNextPage).toBe(true);
    const second = await t.graphql<Page>(
      `query($after: String) { ledger(first: 4, after: $after) { edges { cursor node { kind } } pageInfo { hasNextPage endCursor } } }`,
      { after: first.body.data!.ledger.pageInfo.endCursor },
      headers,
    );
    expect(second.body.data!.ledger.edges).toHaveLength(2);
    expect(second.body.data!.ledger.pageInfo.hasNextPage).toBe(false);
    const charges = await t.graphql<Page>(
      `{ ledger(kind: TASK_CHARGE) { edges { node { kind } } } }`,
      undefined,
      headers,
    );
    expect(charges.body.data!.ledger.edges).toHaveLength(1);
    const bad = await t.graphql(`{ ledger(first: 1000) { edges { cursor } } }`, undefined, headers);
    expect(bad.body.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
    const badCursor = await t.graphql(`{ ledger(after: "nonsense") { edges { cursor } } }`, undefined, headers);
    expect(badCursor.body.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
  });
});

describe("administrators' adjustments", () => {
  it("lets an admin adjust with a reason, once per idempotency key, and tells the account", async () => {
    const admin = await t.app.services.accounts.ensureAdmin("boss@example.com", "a fine password 1");
    const user = await t.app.services.accounts.createVerified("adjusted@example.com", "a fine password 1");
    const adminHeaders = await signIn(admin.account.email);
    const ADJUST = `mutation($input: AdjustBalanceInput!) { adjustBalance(input: $input) { applied entry { kind paidDelta note } } }`;
    const input = {
      accountId: user.id,
      paid: 25,
      bonus: 5,
      reason: "Goodwill for an outage",
      idempotencyKey: "ticket-42",
    };
    const first = await t.graphql<{ adjustBalance: { applied: boolean } }>(ADJUST, { input }, adminHeaders);
    expect(first.body.data?.adjustBalance).toEqual({
      applied: true,
      entry: { kind: "ADMIN_ADJUSTMENT", paidDelta: 25, note: "Goodwill for an outage" },
    });
    const again = await t.graphql<{ adjustBalance: { applied: boolean } }>(ADJUST, { input }, adminHeaders);
    expect(again.body.data?.adjustBalance.applied).toBe(false);
    expect(await t.app.services.ledger.balance(user.id)).toEqual({ paid: 25, bonus: 5 });
    expect(await t.app.services.messages.unreadCount(user.id)).toBe(1);
    // The same key for other amounts, or for another account, is refused: nothing changes silently.
    const other = await t.app.services.accounts.createVerified("other.adjusted@example.com", "a fine password 1");
    for (const reused of [
      { ...input, paid: 40 },
      { ...input, bonus: 0 },
      { ...input, accountId: other.id, paid: -1, bonus: 0 },
    ]) {
      const refused = await t.graphql(ADJUST, { input: reused }, adminHeaders);
      expect(refused.body.errors?.[0].extensions).toMatchObject({ code: "IDEMPOTENCY_CONFLICT" });
    }
    expect(await t.app.services.ledger.balance(user.id)).toEqual({ paid: 25, bonus: 5 });
    expect(await t.app.services.ledger.balance(other.id)).toEqual({ paid: 0, bonus: 0 });

    const noReason = await t.graphql(ADJUST, { input: { ...input, reason: " ", idempotencyKey: "x" } }, adminHeaders);
    expect(noReason.body.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "reason" });

    const userHeaders = await signIn("adjusted@example.com");
    const denied = await t.graphql(ADJUST, { input: { ...input, idempotencyKey: "self" } }, userHeaders);
    expect(denied.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect(await t.app.services.ledger.balance(user.id)).toEqual({ paid: 25, bonus: 5 });

    // A user cannot read someone else's ledger; an admin can.
    const peek = await t.graphql(
      `query($id: ID) { ledger(accountId: $id) { edges { cursor } } }`,
      { id: admin.account.id },
      userHeaders,
    );
    expect(peek.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const audit = await t.graphql<{ ledger: { edges: unknown[] } }>(
      `query($id: ID) { ledger(accountId: $id) { edges { cursor } } }`,
      { id: user.id },
      adminHeaders,
    );
    expect(audit.body.data?.ledger.edges).toHaveLength(1);
  });
});
