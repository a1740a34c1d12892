import "reflect-metadata";
import fs from "node:fs/promises";
import path from "node:path";
import { createDataSource } from "../src/infra/db.js";
import { LedgerService } from "../src/modules/credits/ledger.service.js";

/**
 * The invariants every fault test ends with: whatever broke, no paid task and no credit is lost and the
 * platform serves again. Reads the database (and the local storage folder) directly, not through the API,
 * so a bug in the API cannot hide a broken row.
 */
export interface InvariantOptions {
  databaseUrl: string;
  /** The local storage root (`DATA_DIR`): every live asset's files must be there. Skipped when absent. */
  dataDir?: string;
  /** The API to probe: `/readyz` answers 200 and a GraphQL query answers data (polled until `apiTimeoutMs`). */
  apiUrl?: string;
  apiTimeoutMs?: number;
  /** Every task must have ended (PENDING_REVIEW, which waits for a person, excepted). */
  settled?: boolean;
}

export interface InvariantReport {
  tasks: Record<string, number>;
  /** Tasks with a charge, and refunds, both as found in the ledger. */
  charges: number;
  refunds: number;
  ledgerEntries: number;
  accounts: number;
  /** Asset rows, and files found for the live ones (original, preview, thumbnail each). */
  assets: number;
  files: number;
  problems: string[];
}

const TERMINAL = ["SUCCEEDED", "FAILED", "CANCELED"];
const WAITING = ["QUEUED", "RUNNING", "PENDING_REVIEW"];

interface TaskFacts {
  id: string;
  status: string;
  cost: number;
  count: number;
  finished: boolean;
  charges: number;
  charged: number;
  refunds: number;
  refunded: number;
  assets: number;
  live_assets: number;
}

export async function checkInvariants(options: InvariantOptions): Promise<InvariantReport> {
  const db = await createDataSource(options.databaseUrl, 2);
  await db.initialize();
  const problems: string[] = [];
  try {
    // One row per task with its ledger entries (by the task's references) and its asset rows.
    const tasks = (await db.query(
      `WITH entries AS (
         SELECT split_part(reference, ':', 2) AS task_id, kind, paid_delta + bonus_delta AS amount
           FROM ledger_entry WHERE kind IN ('TASK_CHARGE', 'TASK_REFUND'))
       SELECT t.id, t.status, t.cost, t.count, t.finished_at IS NOT NULL AS finished,
              (SELECT count(*)::int FROM entries e WHERE e.task_id = t.id::text AND e.kind = 'TASK_CHARGE') AS charges,
              (SELECT coalesce(sum(-e.amount), 0)::int FROM entries e WHERE e.task_id = t.id::text AND e.kind = 'TASK_CHARGE') AS charged,
              (SELECT count(*)::int FROM entries e WHERE e.task_id = t.id::text AND e.kind = 'TASK_REFUND') AS refunds,
              (SELECT coalesce(sum(e.amount), 0)::int FROM entries e WHERE e.task_id = t.id::text AND e.kind = 'TASK_REFUND') AS refunded,
              (SELECT count(*)::int FROM asset a WHERE a.task_id = t.id) AS assets,
              (SELECT count(*)::int FROM asset a WHERE a.task_id = t.id AND a.status = 'ACTIVE') AS live_assets
         FROM task t`,
    )) as TaskFacts[];
    const byStatus: Record<string, number> = {};
    for (const t of tasks) {
      byStatus[t.status] = (byStatus[t.status] ?? 0) + 1;
      const name = `task ${t.id} (${t.status})`;
      if (![...TERMINAL, ...WAITING].includes(t.status)) problems.push(`${name}: unknown status`);
      if (options.settled && ["QUEUED", "RUNNING"].includes(t.status)) problems.push(`${name}: has not ended`);
      if (TERMINAL.includes(t.status) && !t.finished) problems.push(`${name}: ended without finished_at`);
      // Charged exactly once, at creation, for exactly its cost.
      const expectedCharges = t.cost > 0 ? 1 : 0;
      if (t.charges !== expectedCharges) problems.push(`${name}: charged ${t.charges} times`);
      else if (t.charged !== t.cost) problems.push(`${name}: charged ${t.charged} for a cost of ${t.cost}`);
      // Refunded exactly once when it did not deliver, never otherwise, and exactly what was charged.
      const expectedRefunds = ["FAILED", "CANCELED"].includes(t.status) && t.cost > 0 ? 1 : 0;
      if (t.refunds !== expectedRefunds) problems.push(`${name}: refunded ${t.refunds} times`);
      else if (t.refunds && t.refunded !== t.charged) problems.push(`${name}: refunded ${t.refunded} of ${t.charged}`);
      if (t.status === "SUCCEEDED" && t.assets !== t.count) problems.push(`${name}: ${t.assets} images of ${t.count}`);
      if (t.status !== "SUCCEEDED" && t.live_assets > 0) problems.push(`${name}: ${t.live_assets} live images`);
    }

    // Task entries whose task does not exist, and entries no task reference explains.
    const orphans = (await db.query(
      `SELECT l.reference FROM ledger_entry l
        WHERE l.kind IN ('TASK_CHARGE', 'TASK_REFUND')
          AND (l.reference !~ '^task:[0-9a-f-]{36}:(charge|refund)$'
               OR NOT EXISTS (SELECT 1 FROM task t WHERE t.id::text = split_part(l.reference, ':', 2)))`,
    )) as { reference: string }[];
    for (const o of orphans) problems.push(`ledger entry ${o.reference}: no such task`);

    // Balances equal the sum of the ledger, entries follow from each other, nothing negative (ledger:verify).
    for (const m of await new LedgerService(db).verify()) problems.push(`account ${m.accountId}: ${m.problem}`);

    const duplicates = (await db.query(
      `SELECT task_id, index, count(*)::int AS n FROM asset GROUP BY task_id, index HAVING count(*) > 1`,
    )) as { task_id: string; index: number; n: number }[];
    for (const d of duplicates) problems.push(`task ${d.task_id}: ${d.n} assets at index ${d.index}`);

    const assets = (await db.query(
      `SELECT id, storage_key, preview_key, thumbnail_key, bytes FROM asset WHERE status = 'ACTIVE'`,
    )) as { id: string; storage_key: string; preview_key: string; thumbnail_key: string; bytes: number }[];
    let files = 0;
    if (options.dataDir) {
      for (const a of assets) {
        for (const key of [a.storage_key, a.preview_key, a.thumbnail_key]) {
          const stat = await fs.stat(path.join(options.dataDir, key)).catch(() => null);
          if (!stat) problems.push(`asset ${a.id}: file ${key} is missing`);
          else if (key === a.storage_key && stat.size !== a.bytes) {
            problems.push(`asset ${a.id}: ${key} has ${stat.size} bytes, the row says ${a.bytes}`);
          } else files++;
        }
      }
    }

    if (options.apiUrl) {
      const answer = await apiAnswers(options.apiUrl, options.apiTimeoutMs ?? 20_000);
      if (answer) problems.push(`the API at ${options.apiUrl} does not answer: ${answer}`);
    }

    const counts = (await db.query(
      `SELECT (SELECT count(*)::int FROM ledger_entry) AS entries, (SELECT count(*)::int FROM credit_account) AS accounts,
              (SELECT count(*)::int FROM asset) AS assets`,
    )) as { entries: number; accounts: number; assets: number }[];
    return {
      tasks: byStatus,
      charges: tasks.reduce((n, t) => n + t.charges, 0),
      refunds: tasks.reduce((n, t) => n + t.refunds, 0),
      ledgerEntries: counts[0].entries,
      accounts: counts[0].accounts,
      assets: counts[0].assets,
      files,
      problems,
    };
  } finally {
    await db.destroy();
  }
}

/** Checks the invariants and throws one error listing every problem; returns the report otherwise. */
export async function assertInvariants(options: InvariantOptions): Promise<InvariantReport> {
  const report = await checkInvariants(options);
  if (report.problems.length) {
    throw new Error(`${report.problems.length} invariant(s) broken:\n  ${report.problems.join("\n  ")}`);
  }
  return report;
}

/** Undefined once `/readyz` is 200 and a GraphQL query answers data; else the last failure, at the deadline. */
async function apiAnswers(url: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
      const res = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ models { slug } }" }),
        signal: AbortSignal.timeout(5_000),
      });
      const body = (await res.json()) as { data?: { models: unknown[] } };
      if (ready.status === 200 && body.data?.models.length) return undefined;
      last = `readyz ${ready.status}, graphql ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** "12 SUCCEEDED, 4 FAILED; 16 charges, 4 refunds; 22 ledger entries; 24 assets, 72 files" for logs and the README. */
export function summarize(report: InvariantReport): string {
  const tasks = Object.entries(report.tasks)
    .map(([status, n]) => `${n} ${status}`)
    .join(", ");
  return `${tasks || "no tasks"}; ${report.charges} charges, ${report.refunds} refunds; ${report.ledgerEntries} ledger entries over ${report.accounts} accounts; ${report.assets} assets, ${report.files} files`;
}
