import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import type { AppError } from "../../infra/errors.js";
import { CreditKind } from "./code-batch.entity.js";
import type { RedemptionService } from "./redemption.service.js";

let t: TestApp;
let redemptions: RedemptionService;
let adminId: string;
let n = 0;

beforeAll(async () => {
  // Behind a trusted proxy, so a request can speak from an address of its own (X-Forwarded-For).
  t = await startTestApp({ ROLE: "api", DATABASE_POOL_SIZE: "25", TRUST_PROXY: "true" });
  redemptions = t.app.services.redemptions;
  adminId = (await t.app.services.accounts.ensureAdmin("codes-admin@example.com", "a fine password 1")).account.id;
});
afterAll(() => t?.close());

const user = async () =>
  (await t.app.services.accounts.createVerified(`redeemer-${++n}@example.com`, "a fine password 1")).id;

function batch(overrides: Partial<Parameters<RedemptionService["createBatch"]>[1]> = {}) {
  return redemptions.createBatch(adminId, {
    count: 3,
    credits: 50,
    kind: CreditKind.PAID,
    label: "Spring cards",
    channel: "shop.example",
    maxRedemptionsPerCode: 1,
    perUserLimit: 1,
    expiresAt: null,
    ...overrides,
  });
}

const codeOf = (err: unknown) => (err as AppError).code;

describe("redeeming under concurrency", () => {
  it("50 accounts redeeming one single-use code at once: exactly one succeeds", async () => {
    const { codes } = await batch({ count: 1 });
    const accounts = await Promise.all(Array.from({ length: 50 }, user));
    const outcomes = await Promise.allSettled(accounts.map((id, i) => redemptions.redeem(id, codes[0], `10.0.0.${i}`)));
    const won = outcomes.filter((o) => o.status === "fulfilled");
    expect(won).toHaveLength(1);
    const lost = outcomes.filter((o) => o.status === "rejected") as PromiseRejectedResult[];
    expect(new Set(lost.map((o) => codeOf(o.reason)))).toEqual(new Set(["CODE_EXHAUSTED"]));
    const credited = (await t.app.db.query(
      `SELECT count(*)::int AS n, sum(paid_delta)::int AS paid FROM ledger_entry WHERE kind = 'REDEMPTION' AND account_id = ANY($1::uuid[])`,
      [accounts],
    )) as { n: number; paid: number }[];
    expect(credited[0]).toEqual({ n: 1, paid: 50 });
  });

  it("50 accounts at once on a 10-use code: exactly ten succeed", async () => {
    const { codes } = await batch({ count: 1, maxRedemptionsPerCode: 10 });
    const accounts = await Promise.all(Array.from({ length: 50 }, user));
    const outcomes = await Promise.allSettled(accounts.map((id) => redemptions.redeem(id, codes[0], "10.1.0.1")));
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(10);
    expect(await t.app.services.ledger.verify()).toEqual([]);
  });

  it("one account racing two codes of a batch with a per-user limit of 1 gets one", async () => {
    const { codes } = await batch({ count: 2 });
    const id = await user();
    const outcomes = await Promise.allSettled(codes.map((c) => redemptions.redeem(id, c, "10.2.0.1")));
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    const failed = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
    expect(codeOf(failed.reason)).toBe("CODE_LIMIT_REACHED");
  });
});

describe("redemption rules", () => {
  it("credits paid or bonus credits and normalises how the code was typed", async () => {
    const paid = await batch({ count: 1, credits: 70 });
    const bonus = await batch({ count: 1, credits: 30, kind: CreditKind.BONUS });
    const id = await user();
    const typed = ` ${paid.codes[0].toLowerCase().replace(/-/g, " ")} `;
    await redemptions.redeem(id, typed, "10.3.0.1");
    await redemptions.redeem(id, bonus.codes[0].replace(/-/g, ""), "10.3.0.1");
    expect(await t.app.services.ledger.balance(id)).toEqual({ paid: 70, bonus: 30 });
  });

  it("answers invalid, expired, disabled, exhausted and limit cases with distinct codes", async () => {
    const id = await user();
    const ok = await batch({ count: 2 });
    await expect(redemptions.redeem(id, "NOT-A-CODE", "10.4.0.1")).rejects.toMatchObject({ code: "INVALID_CODE" });
    const real = ok.codes[0];
    const typo = real.slice(0, 3) + (real[3] === "A" ? "B" : "A") + real.slice(4);
    await expect(redemptions.redeem(id, typo, "10.4.0.1")).rejects.toMatchObject({ code: "INVALID_CODE" });

    const expiring = await batch({ count: 1, expiresAt: new Date(Date.now() + 60_000) });
    await t.app.db.query(`UPDATE code_batch SET expires_at = now() - interval '1 second' WHERE id = $1`, [
      expiring.batch.id,
    ]);
    await expect(redemptions.redeem(id, expiring.codes[0], "10.4.0.1")).rejects.toMatchObject({ code: "CODE_EXPIRED" });

    const disabled = await batch({ count: 2 });
    await redemptions.disableBatch(disabled.batch.id);
    await expect(redemptions.redeem(id, disabled.codes[0], "10.4.0.1")).rejects.toMatchObject({
      code: "CODE_DISABLED",
    });
    const single = await batch({ count: 2 });
    await redemptions.disableCode(single.codes[1].toLowerCase());
    await expect(redemptions.redeem(id, single.codes[1], "10.4.0.1")).rejects.toMatchObject({ code: "CODE_DISABLED" });

    await redemptions.redeem(id, ok.codes[0], "10.4.0.1");
    await expect(redemptions.redeem(await user(), ok.codes[0], "10.4.0.1")).rejects.toMatchObject({
      code: "CODE_EXHAUSTED",
    });
    await expect(redemptions.redeem(id, ok.codes[1], "10.4.0.1")).rejects.toMatchObject({ code: "CODE_LIMIT_REACHED" });
  });

  it("rate limits failed attempts per account (10 per hour) but not successful ones", async () => {
    const id = await user();
    for (let i = 0; i < 10; i++) {
      await expect(redemptions.redeem(id, "AAAA-AAAA-AAAA-AAAA", `10.5.0.${i}`)).rejects.toMatchObject({
        code: "INVALID_CODE",
      });
    }
    const { codes } = await batch({ count: 1 });
    const limited = await redemptions.redeem(id, codes[0], "10.5.1.1").catch((e: unknown) => e);
    expect(limited).toMatchObject({ code: "RATE_LIMITED" });
    expect((limited as AppError).details.retryAfter).toBeGreaterThan(0);
    // Another account on another address is unaffected.
    await expect(redemptions.redeem(await user(), codes[0], "10.5.2.1")).resolves.toBeTruthy();
  });
});

describe("the per-IP brute-force guard", () => {
  const REDEEM = `mutation($input: CodeInput!) { redeemCode(input: $input) { credits } }`;
  /** A fresh account with a session, redeeming over GraphQL from `ip`. */
  async function redeemAs(code: string, ip: string) {
    const { token } = await t.app.services.sessions.create(await user(), "vitest", "127.0.0.1");
    return t.graphql(REDEEM, { input: { code } }, { authorization: `Bearer ${token}`, "x-forwarded-for": ip });
  }

  it("30 failed attempts from one address (each by another account) lock that address, not others", async () => {
    const ip = "203.0.113.77";
    for (let i = 0; i < 30; i++) {
      const res = await redeemAs("AAAA-AAAA-AAAA-AAAA", ip);
      expect(res.body.errors?.[0].extensions?.code, `attempt ${i + 1}`).toBe("INVALID_CODE");
    }
    const { codes } = await batch({ count: 2 });
    // A fresh account (no failures of its own) with a valid code, from the same address: refused.
    const limited = await redeemAs(codes[0], ip);
    expect(limited.body.errors?.[0].extensions?.code).toBe("RATE_LIMITED");
    expect(limited.body.errors?.[0].extensions?.retryAfter).toBeGreaterThan(0);
    expect(limited.body.data?.redeemCode ?? null).toBeNull();
    // Another address is unaffected, and the code the locked attempt carried is still unused.
    const elsewhere = await redeemAs(codes[0], "203.0.113.78");
    expect(elsewhere.body.errors).toBeUndefined();
    expect(elsewhere.body.data).toEqual({ redeemCode: { credits: 50 } });
  });

  it("counts an IPv6 client by its /64: rotating addresses inside it shares one budget", async () => {
    for (let i = 0; i < 30; i++) {
      const res = await redeemAs("AAAA-AAAA-AAAA-AAAA", `2001:db8:77:1::${(i + 1).toString(16)}`);
      expect(res.body.errors?.[0].extensions?.code, `attempt ${i + 1}`).toBe("INVALID_CODE");
    }
    const { codes } = await batch({ count: 1 });
    const limited = await redeemAs(codes[0], "2001:db8:77:1:ffff::9");
    expect(limited.body.errors?.[0].extensions?.code).toBe("RATE_LIMITED");
    const otherNetwork = await redeemAs(codes[0], "2001:db8:77:2::1");
    expect(otherNetwork.body.errors).toBeUndefined();
  });
});

describe("batches over GraphQL", () => {
  async function signIn(email: string) {
    const res = await t.graphql<{ signIn: { token: string } }>(
      `mutation($input: SignInInput!) { signIn(input: $input) { token } }`,
      { input: { email, password: "a fine password 1" } },
    );
    return { authorization: `Bearer ${res.body.data!.signIn.token}` };
  }

  it("issues codes as a one-time CSV, stores only hashes, counts redemptions, and is admin-only", async () => {
    const admin = await signIn("codes-admin@example.com");
    const CREATE = `mutation($input: CreateCodeBatchInput!) { createCodeBatch(input: $input) { csv batch { id codeCount credits kind redemptions } } }`;
    const created = await t.graphql<{ createCodeBatch: { csv: string; batch: { id: string; codeCount: number } } }>(
      CREATE,
      { input: { count: 25, credits: 40, kind: "PAID", label: 'Store "A", cards', channel: "store-a" } },
      admin,
    );
    expect(created.body.errors).toBeUndefined();
    const { csv, batch: created_ } = created.body.data!.createCodeBatch;
    const lines = csv.trim().split("\n");
    expect(lines[0]).toBe("code,credits,kind,batch,channel,expires_at");
    expect(lines).toHaveLength(26);
    expect(lines[1]).toMatch(/^[0-9A-Y-]{19},40,PAID,"Store ""A"", cards",store-a,$/);
    const code = lines[1].split(",")[0];
    const stored = (await t.app.db.query(`SELECT code_hash FROM redemption_code WHERE batch_id = $1`, [
      created_.id,
    ])) as {
      code_hash: string;
    }[];
    expect(stored).toHaveLength(25);
    expect(JSON.stringify(stored)).not.toContain(code.replace(/-/g, ""));

    const userId = await user();
    const userHeaders = await signIn(`redeemer-${n}@example.com`);
    const redeemed = await t.graphql<{ redeemCode: { credits: number; balance: { paid: number } } }>(
      `mutation($input: CodeInput!) { redeemCode(input: $input) { credits kind balance { paid bonus total } } }`,
      { input: { code } },
      userHeaders,
    );
    expect(redeemed.body.data?.redeemCode).toEqual({
      credits: 40,
      kind: "PAID",
      balance: { paid: 40, bonus: 0, total: 40 },
    });
    expect(await t.app.services.messages.unreadCount(userId)).toBe(1);

    const list = await t.graphql<{
      codeBatches: { edges: { node: { id: string; redemptions: number; codesUsed: number } }[] };
    }>(`{ codeBatches(first: 100) { edges { node { id redemptions codesUsed } } } }`, undefined, admin);
    expect(list.body.data?.codeBatches.edges.find((e) => e.node.id === created_.id)?.node).toMatchObject({
      redemptions: 1,
      codesUsed: 1,
    });

    const denied = await t.graphql(CREATE, { input: { count: 1, credits: 1, kind: "PAID", label: "x" } }, userHeaders);
    expect(denied.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const tooMany = await t.graphql(CREATE, { input: { count: 10_001, credits: 1, kind: "PAID", label: "x" } }, admin);
    expect(tooMany.body.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "count" });
  });
});
