import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SignedInUser } from "../factories.js";
import { startFaultEnv, until, type FaultEnv } from "../fault-env.js";
import { assertInvariants, summarize } from "../invariants.js";
import type { ServerProcess } from "../processes.js";

/**
 * PostgreSQL connections cut (pg_terminate_backend) every ~200 ms for a few seconds, in the middle of
 * requests and jobs: real API and worker processes, several clients sending createTask and tasks all along,
 * tasks running in the worker while their connections die.
 */
const CUT_FOR_MS = 4_000;
const CUT_EVERY_MS = 200;
const CLIENTS = 4;
/** Tasks each client creates, spread over the cutting. */
const TASKS_PER_CLIENT = 6;

let env: FaultEnv;
let api: ServerProcess;
let worker: ServerProcess;

beforeAll(async () => {
  env = await startFaultEnv({
    LOCAL_PROVIDER_STEP_MS: "60",
    WORKER_CONCURRENCY: "4",
    TASK_ATTEMPTS: "5",
    TASK_BACKOFF_MS: "50",
    RECONCILE_INTERVAL_MS: "500",
    WORKER_STALLED_INTERVAL_MS: "1000",
  });
  [api, worker] = await Promise.all([env.startApi(), env.startWorker()]);
}, 120_000);
afterAll(() => env?.close());

const CREATE = `mutation($prompt: String!) { createTask(input: { prompt: $prompt, model: "novart-sketch", width: 512, height: 512, count: 1 }) { task { id } } }`;
const TASKS = `{ tasks(first: 5) { edges { node { id status } } } }`;

interface Tally {
  ok: number;
  failed: number;
  /** Error codes (or HTTP statuses) of the failed requests. */
  codes: Record<string, number>;
}
const tally = (): Tally => ({ ok: 0, failed: 0, codes: {} });

async function request(t: Tally, query: string, variables: Record<string, unknown>, user: SignedInUser) {
  try {
    const res = await env.graphql<Record<string, unknown>>(query, variables, user.headers);
    if (res.body.data && !res.body.errors) {
      t.ok++;
      return res.body.data;
    }
    const code = res.body.errors?.[0]?.extensions?.code ?? `HTTP ${res.status}`;
    t.codes[code] = (t.codes[code] ?? 0) + 1;
  } catch (err) {
    t.codes[String(err)] = (t.codes[String(err)] ?? 0) + 1;
  }
  t.failed++;
  return null;
}

describe("PostgreSQL connections terminated mid-flight", () => {
  it("keeps serving, loses no paid task and no credit, and charges each task once", { timeout: 150_000 }, async () => {
    const users = await Promise.all(Array.from({ length: CLIENTS }, () => env.user(1000)));
    const creates = tally();
    const reads = tally();
    const ids: string[] = [];
    let cutting = true;

    // The clients: createTask every ~CUT_FOR_MS / TASKS_PER_CLIENT, tasks queries in between, all along.
    const clients = users.map(async (user, u) => {
      let created = 0;
      let nextCreate = Date.now();
      while (cutting) {
        if (created < TASKS_PER_CLIENT && Date.now() >= nextCreate) {
          created++;
          nextCreate += CUT_FOR_MS / TASKS_PER_CLIENT;
          const data = await request(creates, CREATE, { prompt: `a lantern ${u}.${created}` }, user);
          const id = (data as { createTask?: { task: { id: string } } } | null)?.createTask?.task.id;
          if (id) ids.push(id);
        }
        await request(reads, TASKS, {}, user);
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    });

    // The cutter: one connection of its own, which reads how many tasks run and cuts every other one.
    const cutter = new pg.Client({ connectionString: env.database.url });
    await cutter.connect();
    const cuts: { running: number; terminated: number }[] = [];
    await until(
      async () =>
        ((await cutter.query(`SELECT 1 FROM task WHERE status = 'RUNNING' LIMIT 1`)).rowCount ?? 0) > 0
          ? true
          : undefined,
      "a running task before the first cut",
    );
    const started = Date.now();
    try {
      while (Date.now() - started < CUT_FOR_MS) {
        const { rows } = await cutter.query<{ running: number; terminated: number }>(
          `WITH running AS (SELECT count(*)::int AS n FROM task WHERE status = 'RUNNING')
             SELECT (SELECT n FROM running) AS running,
                    (SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int
                       FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()) AS terminated`,
        );
        cuts.push(rows[0]);
        await new Promise((resolve) => setTimeout(resolve, CUT_EVERY_MS));
      }
    } finally {
      cutting = false;
      await cutter.end();
    }
    await Promise.all(clients);

    const terminated = cuts.reduce((n, c) => n + c.terminated, 0);
    const cutsWhileRunning = cuts.filter((c) => c.running > 0 && c.terminated > 0).length;
    const facts =
      `${cuts.length} cuts (${cutsWhileRunning} while a task ran), ${terminated} connections terminated; ` +
      `createTask ${JSON.stringify(creates)}, tasks ${JSON.stringify(reads)}`;
    // ~20 cuts on an idle machine; on a loaded one each round trip of the cutter takes longer.
    expect(cuts.length, facts).toBeGreaterThanOrEqual(6);
    expect(cuts.filter((c) => c.terminated > 0).length, facts).toBeGreaterThanOrEqual(4);
    expect(cutsWhileRunning, facts).toBeGreaterThan(0);
    // Requests kept being answered through the cuts (some may fail while their connection dies).
    expect(reads.ok, facts).toBeGreaterThan(0);
    expect(ids.length, facts).toBeGreaterThan(0);
    // A request whose connection died under it says so with a typed, retryable code, never a bare 500.
    const untyped = [creates, reads].flatMap((t) => Object.keys(t.codes)).filter((c) => c !== "SERVICE_UNAVAILABLE");
    expect(untyped, facts).toEqual([]);
    // Neither process died.
    expect([api.child.exitCode, worker.child.exitCode], env.logs().slice(-3000)).toEqual([null, null]);

    // The API answers again, and every task (whether its createTask was answered or not) ends.
    await until(
      async () => ((await request(tally(), TASKS, {}, users[0])) ? true : undefined),
      "the API to answer again",
      20_000,
    );
    await until(
      async () => {
        const [row] = (await env.setup.db.query(
          `SELECT count(*)::int AS n FROM task WHERE status IN ('QUEUED', 'RUNNING')`,
        )) as { n: number }[];
        return row.n === 0 ? true : undefined;
      },
      "every task to end",
      90_000,
    );
    // Each ends once; one that failed on every attempt is refunded (the invariants check both).
    const rows = await env.waitForEnd(ids, 10_000);
    const ended = rows.reduce<Record<string, number>>((n, r) => ({ ...n, [r.status]: (n[r.status] ?? 0) + 1 }), {});
    expect(ended.SUCCEEDED ?? 0, `${facts}; ended ${JSON.stringify(ended)}`).toBeGreaterThan(0);

    const report = await assertInvariants({
      databaseUrl: env.database.url,
      dataDir: env.dataDir,
      apiUrl: env.apiUrl,
      settled: true,
    });
    console.log(`postgres-terminate: ${facts}; ended ${JSON.stringify(ended)}; ${summarize(report)}`);
  });
});
