import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SignedInUser } from "../factories.js";
import { startFaultEnv, until, type FaultEnv } from "../fault-env.js";
import { assertInvariants, summarize } from "../invariants.js";

/**
 * The only worker process killed with SIGKILL while it is in the middle of several tasks (images half
 * written, jobs locked in Redis); a new worker takes over. Tasks keep arriving over HTTP meanwhile.
 */
let env: FaultEnv;

const WORKER_ENV = { WORKER_STALLED_INTERVAL_MS: "1000", RECONCILE_INTERVAL_MS: "500", WORKER_CONCURRENCY: "4" };

beforeAll(async () => {
  // Two images of 8 steps of 150 ms per task: long enough to be caught in the middle.
  env = await startFaultEnv({ LOCAL_PROVIDER_STEP_MS: "150" });
  await env.startApi();
});
afterAll(() => env?.close());

describe("a worker killed with SIGKILL mid-task", () => {
  it(
    "loses no task: each ends once, charged once, with no duplicate and no missing image",
    { timeout: 85_000 },
    async () => {
      const users: SignedInUser[] = await Promise.all([env.user(), env.user(), env.user()]);
      const first = await env.startWorker(WORKER_ENV);
      const ids = await Promise.all(
        users.flatMap((user, u) => [0, 1].map((i) => env.createTask(user, { prompt: `a kiln ${u}.${i}`, count: 2 }))),
      );
      // Caught mid-task: several tasks running, at least one of them well into its images. (A task's asset
      // rows go in with its SUCCEEDED, so a running task has files at most, never rows.)
      await until(async () => {
        const [row] = (await env.setup.db.query(
          `SELECT count(*) FILTER (WHERE status = 'RUNNING')::int AS running,
                  count(*) FILTER (WHERE status = 'RUNNING' AND progress >= 0.25)::int AS advanced
             FROM task`,
        )) as { running: number; advanced: number }[];
        return row.running >= 2 && row.advanced >= 1 ? true : undefined;
      }, "tasks in the middle of their images");
      first.child.kill("SIGKILL");
      expect((await first.exited).signal).toBe("SIGKILL");

      // Work keeps arriving while no worker runs.
      ids.push(...(await Promise.all(users.map((user, u) => env.createTask(user, { prompt: `a kiln ${u} cooling` })))));
      await env.startWorker(WORKER_ENV);
      const rows = await env.waitForEnd(ids, 60_000);
      expect(rows.map((r) => r.status)).toEqual(ids.map(() => "SUCCEEDED"));
      const retried = rows.filter((r) => r.attempts > 1).length;
      expect(retried).toBeGreaterThan(0);

      const report = await assertInvariants({
        databaseUrl: env.database.url,
        dataDir: env.dataDir,
        apiUrl: env.apiUrl,
        settled: true,
      });
      console.log(`worker-sigkill: ${ids.length} tasks, ${retried} run again after the kill; ${summarize(report)}`);
    },
  );
});
