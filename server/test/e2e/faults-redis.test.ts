import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SignedInUser } from "../factories.js";
import { startFaultEnv, until, type FaultEnv } from "../fault-env.js";
import { assertInvariants, summarize } from "../invariants.js";
import type { ServerProcess } from "../processes.js";

/**
 * Redis killed for 10 s while API and worker processes have tasks in flight, then started again empty (no
 * persistence): every queue, job, schedule and rate-limit counter is gone. PostgreSQL holds the truth, so
 * the reconciler has to put the lost tasks back in the queue.
 */
const OUTAGE_MS = 10_000;

let env: FaultEnv;
let api: ServerProcess;
let worker: ServerProcess;

beforeAll(async () => {
  env = await startFaultEnv({
    LOCAL_PROVIDER_STEP_MS: "150",
    // Fewer slots than tasks: some are still waiting in the queue when Redis dies.
    WORKER_CONCURRENCY: "2",
    RECONCILE_INTERVAL_MS: "500",
    WORKER_STALLED_INTERVAL_MS: "1000",
    HEARTBEAT_INTERVAL_MS: "500",
  });
  [api, worker] = await Promise.all([env.startApi(), env.startWorker()]);
});
afterAll(() => env?.close());

async function readiness() {
  const res = await fetch(`${env.apiUrl}/readyz`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, checks: ((await res.json()) as { checks: Record<string, string> }).checks };
}

describe("Redis down for 10 s, then back empty", () => {
  it(
    "readyz is false meanwhile and recovers; every task, queued before or during the outage, still ends once",
    { timeout: 85_000 },
    async () => {
      const users: SignedInUser[] = await Promise.all([env.user(), env.user(), env.user()]);
      const ids = await Promise.all(
        users.flatMap((user, u) => [0, 1, 2].map((i) => env.createTask(user, { prompt: `a ferry ${u}.${i}` }))),
      );
      await until(async () => {
        const rows = (await env.setup.db.query(`SELECT 1 FROM task WHERE status = 'RUNNING'`)) as unknown[];
        return rows.length ? true : undefined;
      }, "a running task");

      await env.redis.stop();
      const downSince = Date.now();
      // Read after the kill: a task still QUEUED in PostgreSQL now had its job only in the Redis that died.
      const atKill = (await env.setup.db.query(
        `SELECT status, count(*)::int AS n FROM task WHERE id = ANY($1::uuid[]) GROUP BY status`,
        [ids],
      )) as { status: string; n: number }[];
      const queuedAtKill = atKill.find((r) => r.status === "QUEUED")?.n ?? 0;
      expect(queuedAtKill, `task states when Redis died: ${JSON.stringify(atKill)}`).toBeGreaterThan(0);
      const down = await until(
        async () => {
          const r = await readiness();
          return r.status === 503 ? r : undefined;
        },
        "readyz to answer 503",
        5_000,
      );
      expect(down.checks.postgres).toBe("ok");
      expect(down.checks.redis).not.toBe("ok");
      expect((await fetch(`${env.apiUrl}/healthz`)).status).toBe(200);
      // Paid work sent meanwhile is answered once Redis is back (queueing waits for it), and not lost.
      const submittedDuring = Promise.all(
        users.map((user, u) => env.createTask(user, { prompt: `a ferry ${u} in fog` })),
      );
      // The outage lasts its full length, and readyz stays false all along.
      while (Date.now() - downSince < OUTAGE_MS) {
        expect((await readiness()).status).toBe(503);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }

      // Nothing crashed meanwhile (an unhandled rejection of a Redis command would end a process).
      expect([api.child.exitCode, worker.child.exitCode]).toEqual([null, null]);

      await env.redis.start();
      await until(async () => ((await readiness()).status === 200 ? true : undefined), "readyz to recover", 15_000);
      const during = await submittedDuring;
      ids.push(...during);
      const rows = await env.waitForEnd(ids, 45_000);
      expect(rows.map((r) => r.status)).toEqual(ids.map(() => "SUCCEEDED"));
      expect([api.child.exitCode, worker.child.exitCode]).toEqual([null, null]);

      const report = await assertInvariants({
        databaseUrl: env.database.url,
        dataDir: env.dataDir,
        apiUrl: env.apiUrl,
        settled: true,
      });
      console.log(
        `redis-outage: ${ids.length} tasks (${queuedAtKill} queued when Redis died, ${during.length} created during the outage); ${summarize(report)}`,
      );
    },
  );
});
