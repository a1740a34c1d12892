import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { MAIN_JS } from "../../../test/processes.js";
import { AppError } from "../../infra/errors.js";
import { LedgerKind } from "./ledger-entry.entity.js";
import { LedgerService, MAX_BALANCE } from "./ledger.service.js";

let t: TestApp;
let ledger: LedgerService;
let n = 0;

beforeAll(async () => {
  // A pool as large as the concurrency, so the charges really race in PostgreSQL.
  t = await startTestApp({ ROLE: "api", DATABASE_POOL_SIZE: "25" });
  ledger = t.app.services.ledger;
});
afterAll(() => t?.close());

async function account(paid = 0, bonus = 0): Promise<string> {
  const a = await t.app.services.accounts.createVerified(`ledger-${++n}@example.com`, "a fine password 1");
  if (paid || bonus) {
    await ledger.credit({ accountId: a.id, kind: LedgerKind.RECHARGE, paid, bonus, reference: `seed:${a.id}` });
  }
  return a.id;
}

async function ledgerSum(accountId: string) {
  const rows = (await t.app.db.query(
    `SELECT coalesce(sum(paid_delta),0)::int AS paid, coalesce(sum(bonus_delta),0)::int AS bonus,
            coalesce(min(least(paid_after, bonus_after)), 0)::int AS lowest, count(*)::int AS entries
       FROM ledger_entry WHERE account_id = $1`,
    [accountId],
  )) as { paid: number; bonus: number; lowest: number; entries: number }[];
  return rows[0];
}

describe("charges under concurrency", () => {
  it("100 concurrent charges of c on a balance of 50·c: exactly 50 succeed and the books add up", async () => {
    const c = 7;
    const id = await account(30 * c, 20 * c);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => ledger.charge({ accountId: id, amount: c, reference: `task:${id}:${i}` })),
    );
    const ok = outcomes.filter((o) => o.status === "fulfilled");
    const refused = outcomes.filter((o) => o.status === "rejected") as PromiseRejectedResult[];
    expect(ok).toHaveLength(50);
    expect(refused).toHaveLength(50);
    for (const r of refused) expect((r.reason as AppError).code).toBe("INSUFFICIENT_BALANCE");
    expect(await ledger.balance(id)).toEqual({ paid: 0, bonus: 0 });
    const sums = await ledgerSum(id);
    expect(sums).toMatchObject({ paid: 0, bonus: 0, entries: 51 });
    expect(sums.lowest).toBeGreaterThanOrEqual(0);
    expect(await ledger.verify()).toEqual([]);
  });

  it("applies a charge once however often and however concurrently it is retried", async () => {
    const id = await account(100);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => ledger.charge({ accountId: id, amount: 10, reference: `task:${id}:once` })),
    );
    expect(results.filter((r) => r.applied)).toHaveLength(1);
    expect(new Set(results.map((r) => r.entry.id)).size).toBe(1);
    expect(await ledger.balance(id)).toEqual({ paid: 90, bonus: 0 });
  });
});

describe("charges racing in PostgreSQL (as from several API replicas)", () => {
  // Each LedgerService combines the charges of one account in its own process only: charges through
  // separate instances, or inside separate transactions, are separate statements that race for the row
  // lock, as charges from two API processes do. The guards are the FOR UPDATE and the unique reference.
  it("100 concurrent charges of c through 100 instances on a balance of 50·c: exactly 50 succeed", async () => {
    const c = 7;
    const id = await account(30 * c, 20 * c);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) =>
        new LedgerService(t.app.db).charge({ accountId: id, amount: c, reference: `task:${id}:p${i}` }),
      ),
    );
    const ok = outcomes.filter((o) => o.status === "fulfilled");
    const refused = outcomes.filter((o) => o.status === "rejected") as PromiseRejectedResult[];
    expect(ok).toHaveLength(50);
    expect(refused).toHaveLength(50);
    for (const r of refused) expect((r.reason as AppError).code).toBe("INSUFFICIENT_BALANCE");
    expect(await ledger.balance(id)).toEqual({ paid: 0, bonus: 0 });
    const sums = await ledgerSum(id);
    expect(sums).toMatchObject({ paid: 0, bonus: 0, entries: 51 });
    expect(sums.lowest).toBeGreaterThanOrEqual(0);
    expect(await ledger.verify()).toEqual([]);
  });

  it("100 concurrent charges of c, each in its own transaction, on a balance of 50·c: exactly 50 succeed", async () => {
    const c = 3;
    const id = await account(25 * c, 25 * c);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) =>
        t.app.db.transaction((manager) =>
          ledger.charge({ accountId: id, amount: c, reference: `task:${id}:x${i}` }, manager),
        ),
      ),
    );
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(50);
    const refused = outcomes.filter((o) => o.status === "rejected") as PromiseRejectedResult[];
    expect(refused).toHaveLength(50);
    for (const r of refused) expect((r.reason as AppError).code).toBe("INSUFFICIENT_BALANCE");
    expect(await ledger.balance(id)).toEqual({ paid: 0, bonus: 0 });
    const sums = await ledgerSum(id);
    expect(sums).toMatchObject({ paid: 0, bonus: 0, entries: 51 });
    expect(sums.lowest).toBeGreaterThanOrEqual(0);
    expect(await ledger.verify()).toEqual([]);
  });

  it("one reference retried 20 times at once through separate instances is applied once", async () => {
    const id = await account(100);
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        new LedgerService(t.app.db).charge({ accountId: id, amount: 10, reference: `task:${id}:once-p` }),
      ),
    );
    expect(results.filter((r) => r.applied)).toHaveLength(1);
    expect(new Set(results.map((r) => r.entry.id)).size).toBe(1);
    expect(await ledger.balance(id)).toEqual({ paid: 90, bonus: 0 });
    expect((await ledgerSum(id)).entries).toBe(2);
  });
});

describe("charges combined per account", () => {
  it("a burst of concurrent charges goes in few statements, bonus first across the batch, entries in order", async () => {
    const id = await account(50, 8);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => ledger.charge({ accountId: id, amount: 3, reference: `task:${id}:b${i}` })),
    );
    expect(results.every((r) => r.applied)).toBe(true);
    expect(await ledger.balance(id)).toEqual({ paid: 28, bonus: 0 });
    const entries = (await t.app.db.query(
      `SELECT paid_delta, bonus_delta, paid_after, bonus_after FROM ledger_entry
        WHERE account_id = $1 AND kind = 'TASK_CHARGE' ORDER BY created_at, id`,
      [id],
    )) as { paid_delta: number; bonus_delta: number; paid_after: number; bonus_after: number }[];
    // 8 bonus credits: two charges from bonus alone, one split 2 + 1, the rest from paid.
    expect(entries.map((e) => [e.bonus_delta, e.paid_delta])).toEqual([
      [-3, 0],
      [-3, 0],
      [-2, -1],
      ...Array.from({ length: 7 }, () => [0, -3]),
    ]);
    expect(entries.at(-1)).toMatchObject({ paid_after: 28, bonus_after: 0 });
    expect(await ledger.verify()).toEqual([]);
  });

  it("a retried reference inside a burst answers its first entry; the fresh ones are charged once each", async () => {
    const id = await account(100);
    const first = await ledger.charge({ accountId: id, amount: 10, reference: `task:${id}:r0` });
    const refs = [`task:${id}:r0`, `task:${id}:r1`, `task:${id}:r1`, `task:${id}:r2`, `task:${id}:r0`];
    const results = await Promise.all(refs.map((reference) => ledger.charge({ accountId: id, amount: 10, reference })));
    expect(results.map((r) => r.applied)).toEqual([false, true, false, true, false]);
    expect(results[0].entry.id).toBe(first.entry.id);
    expect(results[4].entry.id).toBe(first.entry.id);
    expect(results[2].entry.id).toBe(results[1].entry.id);
    expect(await ledger.balance(id)).toEqual({ paid: 70, bonus: 0 });
  });

  it("charges of different amounts near the end of the balance: exactly those that fit, in order", async () => {
    const id = await account(10, 2);
    const amounts = [5, 5, 5, 1, 1, 1];
    const outcomes = await Promise.allSettled(
      amounts.map((amount, i) => ledger.charge({ accountId: id, amount, reference: `task:${id}:e${i}` })),
    );
    const taken = outcomes.reduce((sum, o, i) => sum + (o.status === "fulfilled" ? amounts[i] : 0), 0);
    for (const o of outcomes)
      if (o.status === "rejected") expect(o.reason).toMatchObject({ code: "INSUFFICIENT_BALANCE" });
    const balance = await ledger.balance(id);
    expect(balance.paid + balance.bonus).toBe(12 - taken);
    expect(balance.paid + balance.bonus).toBeLessThan(1); // greedy in order: 5, 5, then 1 + 1 fill the rest
    expect(await ledger.verify()).toEqual([]);
  });
});

describe("charge and refund", () => {
  it("spends bonus credits first, then paid, and a refund restores each part exactly, once", async () => {
    const id = await account(50, 8);
    const { entry } = await ledger.charge({ accountId: id, amount: 20, reference: `task:${id}:a:charge` });
    expect(entry).toMatchObject({ bonusDelta: -8, paidDelta: -12, paidAfter: 38, bonusAfter: 0 });

    const refunds = await Promise.all(
      Array.from({ length: 5 }, () => ledger.refund(`task:${id}:a:charge`, `task:${id}:a:refund`)),
    );
    expect(refunds.filter((r) => r.applied)).toHaveLength(1);
    expect(refunds[0].entry).toMatchObject({ kind: LedgerKind.TASK_REFUND, bonusDelta: 8, paidDelta: 12 });
    expect(await ledger.balance(id)).toEqual({ paid: 50, bonus: 8 });
  });

  it("refuses a charge over the balance with the amount missing, and changes nothing", async () => {
    const id = await account(3, 2);
    const error = await ledger
      .charge({ accountId: id, amount: 9, reference: `task:${id}:big` })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: "INSUFFICIENT_BALANCE", details: { required: 9, available: 5, missing: 4 } });
    expect(await ledger.balance(id)).toEqual({ paid: 3, bonus: 2 });
    expect((await ledgerSum(id)).entries).toBe(1);
  });

  it("never lets a removal take a part below zero", async () => {
    const id = await account(5, 0);
    await expect(
      ledger.credit({ accountId: id, kind: LedgerKind.ADMIN_ADJUSTMENT, paid: -6, bonus: 0, reference: `adj:${id}` }),
    ).rejects.toMatchObject({ code: "INSUFFICIENT_BALANCE" });
    expect(await ledger.balance(id)).toEqual({ paid: 5, bonus: 0 });
  });

  it("gives no account more than MAX_BALANCE credits, but always refunds what was charged", async () => {
    // 9 × 100 M paid + 99.999 990 M bonus: 10 credits below the limit.
    const id = await account();
    for (let i = 0; i < 9; i++) {
      await ledger.credit({
        accountId: id,
        kind: LedgerKind.RECHARGE,
        paid: 1e8,
        bonus: 0,
        reference: `cap:${id}:${i}`,
      });
    }
    await ledger.credit({
      accountId: id,
      kind: LedgerKind.RECHARGE,
      paid: 0,
      bonus: 1e8 - 10,
      reference: `cap:${id}:b`,
    });
    expect(await ledger.balance(id)).toEqual({ paid: 9e8, bonus: 1e8 - 10 });
    const refused = await ledger
      .credit({ accountId: id, kind: LedgerKind.REDEMPTION, paid: 11, bonus: 0, reference: `cap:${id}:over` })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: "BALANCE_LIMIT_REACHED",
      details: { limit: MAX_BALANCE, balance: 1e9 - 10 },
    });
    // Exactly to the limit is fine; a removal at the limit too.
    await ledger.credit({ accountId: id, kind: LedgerKind.RECHARGE, paid: 10, bonus: 0, reference: `cap:${id}:to` });
    expect(await ledger.balance(id)).toEqual({ paid: 9e8 + 10, bonus: 1e8 - 10 });
    await expect(
      ledger.credit({ accountId: id, kind: LedgerKind.WELCOME_BONUS, paid: 0, bonus: 1, reference: `cap:${id}:w` }),
    ).rejects.toMatchObject({ code: "BALANCE_LIMIT_REACHED" });

    // A charge taken at the limit, the balance filled again, then the refund: it goes past the limit, exactly.
    await ledger.charge({ accountId: id, amount: 500, reference: `task:${id}:cap:charge` });
    await ledger.credit({
      accountId: id,
      kind: LedgerKind.RECHARGE,
      paid: 500,
      bonus: 0,
      reference: `cap:${id}:refill`,
    });
    const refund = await ledger.refund(`task:${id}:cap:charge`, `task:${id}:cap:refund`);
    expect(refund.applied).toBe(true);
    const after = await ledger.balance(id);
    expect(after.paid + after.bonus).toBe(MAX_BALANCE + 500);
    // Tasks still charge (the sum is computed without overflow), and the books add up.
    await ledger.charge({ accountId: id, amount: 7, reference: `task:${id}:cap:again` });
    expect((await ledgerSum(id)).entries).toBe(15);
    expect((await ledger.verify()).filter((p) => p.accountId === id)).toEqual([]);
  });
});

describe("the books", () => {
  it("keeps ledger entries append-only in the database itself", async () => {
    const id = await account(10);
    await expect(
      t.app.db.query(`UPDATE ledger_entry SET paid_delta = 999 WHERE account_id = $1`, [id]),
    ).rejects.toThrow(/append-only/);
    await expect(t.app.db.query(`DELETE FROM ledger_entry WHERE account_id = $1`, [id])).rejects.toThrow(/append-only/);
  });

  it("npm run ledger:verify passes on correct books and fails on a mismatch planted by hand", async () => {
    const run = () =>
      spawnSync(process.execPath, [MAIN_JS.replace(/main\.js$/, "scripts/ledger-verify.js")], {
        env: { PATH: process.env.PATH ?? "", DATABASE_URL: t.database.url },
        encoding: "utf8",
      });
    const clean = run();
    expect(clean.stdout).toContain("every balance equals its ledger");
    expect(clean.status).toBe(0);

    const id = await account(40);
    await t.app.db.query(`UPDATE credit_account SET paid = paid + 1 WHERE account_id = $1`, [id]);
    const dirty = run();
    expect(dirty.status).toBe(1);
    expect(dirty.stderr).toContain(`account ${id}: balance paid=41 bonus=0 but ledger sums paid=40 bonus=0`);
    await t.app.db.query(`UPDATE credit_account SET paid = paid - 1 WHERE account_id = $1`, [id]);
  });
});
