import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LedgerKind } from "../../src/modules/credits/ledger-entry.entity.js";
import { ADMIN_URL } from "../database.js";
import { signedInUser } from "../factories.js";
import { startTestApp, type TestApp } from "../harness.js";
import { assertInvariants, summarize } from "../invariants.js";

/** PostgreSQL connections cut (pg_terminate_backend) while requests and jobs run. */
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    LOCAL_PROVIDER_STEP_MS: "20",
    WORKER_CONCURRENCY: "4",
    TASK_ATTEMPTS: "5",
    TASK_BACKOFF_MS: "50",
  });
});
afterAll(() => t?.close());

async function terminateBackends(database: string): Promise<number> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    const res = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [database],
    );
    return res.rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

describe("PostgreSQL connections terminated mid-flight", () => {
  it("loses no paid task and no credit, and the API answers again", { timeout: 90_000 }, async () => {
    const user = await signedInUser(t);
    await t.app.services.ledger.credit({
      accountId: user.account.id,
      kind: LedgerKind.RECHARGE,
      paid: 200,
      bonus: 0,
      reference: `s:${user.account.id}`,
    });
    const ids: string[] = [];
    let terminated = 0;
    for (let i = 0; i < 6; i++) {
      const res = await t.graphql<{ createTask: { task: { id: string } } }>(
        `mutation($seed: Int!) { createTask(input: { prompt: "a lantern", model: "novart-sketch", width: 512, height: 512, count: 1, seed: $seed }) { task { id } } }`,
        { seed: i },
        user.headers,
      );
      if (res.body.data) ids.push(res.body.data.createTask.task.id);
      if (i % 2 === 1) terminated += await terminateBackends(t.database.name);
    }
    terminated += await terminateBackends(t.database.name);
    expect(terminated).toBeGreaterThan(0);

    // The API answers again once its pool has replaced the cut connections.
    await expect
      .poll(async () => (await t.graphql<{ models: unknown[] }>(`{ models { slug } }`)).body.data?.models.length ?? 0, {
        timeout: 15_000,
      })
      .toBeGreaterThan(0);
    // Every created task ends (or is still legitimately waiting), charged once, refunded at most once.
    await t.app.services.tasks.reconcile();
    await expect
      .poll(
        async () =>
          (
            (await t.app.db.query(
              `SELECT count(*)::int AS n FROM task WHERE account_id = $1 AND status IN ('QUEUED', 'RUNNING')`,
              [user.account.id],
            )) as { n: number }[]
          )[0].n,
        { timeout: 60_000, interval: 250 },
      )
      .toBe(0);
    const charges = (await t.app.db.query(
      `SELECT reference, count(*)::int AS n FROM ledger_entry WHERE account_id = $1 AND kind IN ('TASK_CHARGE', 'TASK_REFUND') GROUP BY reference`,
      [user.account.id],
    )) as { reference: string; n: number }[];
    for (const c of charges) expect(c.n).toBe(1);
    const dupes = (await t.app.db.query(
      `SELECT task_id FROM asset GROUP BY task_id, index HAVING count(*) > 1`,
    )) as unknown[];
    expect(dupes).toEqual([]);
    expect(await t.app.services.ledger.verify()).toEqual([]);
    expect(ids.length).toBeGreaterThan(0);
    // The shared fault invariants too: images on disk, each task charged and refunded as its state says.
    const report = await assertInvariants({
      databaseUrl: t.database.url,
      dataDir: t.app.config.DATA_DIR,
      apiUrl: t.url,
      settled: true,
    });
    console.log(`postgres-terminate: ${terminated} connections cut; ${summarize(report)}`);
  });
});
