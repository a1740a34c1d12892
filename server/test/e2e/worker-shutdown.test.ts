import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerProcess } from "../processes.js";
import type { SignedInUser } from "../factories.js";
import { startFaultEnv, until, type FaultEnv } from "../fault-env.js";
import { assertInvariants, summarize } from "../invariants.js";

/**
 * Graceful shutdown of a worker in the middle of a job (and, last, of the API in the middle of a request): SIGTERM (a deploy, `docker stop`) must end the
 * process cleanly within 10 s, and the task must still end once, charged once, with its images stored once —
 * finished by that worker while it drains, or given up and run again by the next one.
 */
let env: FaultEnv;
let user: SignedInUser;
let api: ServerProcess;

// Quick stalled-job recovery for the next worker; a job's lock lasts 5 s (worker.ts).
const WORKER_ENV = { WORKER_STALLED_INTERVAL_MS: "1000", RECONCILE_INTERVAL_MS: "500", WORKER_CONCURRENCY: "2" };

beforeAll(async () => {
  // A worker waits SHUTDOWN_TIMEOUT_MS for its running jobs on SIGTERM; each test sets it for its worker.
  env = await startFaultEnv();
  api = await env.startApi();
  user = await env.user();
});
afterAll(() => env?.close());

async function status(id: string): Promise<string> {
  const [row] = (await env.setup.db.query(`SELECT status FROM task WHERE id = $1`, [id])) as { status: string }[];
  return row.status;
}

/**
 * Starts a worker whose local provider takes `stepMs` per step (two images of 8 steps), creates a task,
 * SIGTERMs the worker once the task runs, and checks the exit; resolves with the task's status right after.
 */
async function stopMidTask(
  stepMs: number,
  shutdownTimeoutMs: number,
  prompt: string,
): Promise<{ id: string; ms: number; after: string }> {
  const worker = await env.startWorker({
    ...WORKER_ENV,
    LOCAL_PROVIDER_STEP_MS: String(stepMs),
    SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
  });
  const id = await env.createTask(user, { prompt, count: 2 });
  await until(async () => ((await status(id)) === "RUNNING" ? true : undefined), "the task to be RUNNING");

  const signalled = Date.now();
  worker.child.kill("SIGTERM");
  const { code, signal } = await worker.exited;
  const ms = Date.now() - signalled;
  expect({ code, signal }, env.logs()).toEqual({ code: 0, signal: null });
  expect(ms).toBeLessThan(10_000);
  expect(worker.stdout() + worker.stderr()).not.toMatch(/shutdown took too long|shutdown failed/);
  return { id, ms, after: await status(id) };
}

/** The task succeeded, with exactly one charge, no refund, and one image per index. */
async function expectDeliveredOnce(id: string) {
  const [row] = await env.waitForEnd([id], 60_000);
  expect(row.status, env.logs()).toBe("SUCCEEDED");
  const [facts] = (await env.setup.db.query(
    `SELECT (SELECT count(*)::int FROM ledger_entry WHERE kind = 'TASK_CHARGE' AND reference = $2) AS charges,
            (SELECT count(*)::int FROM ledger_entry WHERE kind = 'TASK_REFUND' AND reference LIKE $3) AS refunds,
            (SELECT count(*)::int FROM asset WHERE task_id = $1) AS assets,
            (SELECT count(DISTINCT index)::int FROM asset WHERE task_id = $1) AS indexes`,
    [id, `task:${id}:charge`, `task:${id}:%`],
  )) as { charges: number; refunds: number; assets: number; indexes: number }[];
  expect(facts).toEqual({ charges: 1, refunds: 0, assets: 2, indexes: 2 });
}

describe("a worker stopped with SIGTERM mid-task", () => {
  it("finishes a short task while it drains, then exits 0", { timeout: 90_000 }, async () => {
    // About 1 s of work, and the worker waits up to 8 s (the default) for it: room for a loaded machine.
    const { id, ms, after } = await stopMidTask(60, 8000, "a lighthouse at dawn");
    expect(after).toBe("SUCCEEDED");
    await expectDeliveredOnce(id);
    console.log(`worker-sigterm (short task): exited in ${ms} ms, the task finished`);
  });

  it(
    "gives up a long task within 10 s, and the next worker runs it: succeeded once, charged once",
    { timeout: 120_000 },
    async () => {
      // About 16 s of work: the worker stops waiting after 3 s and exits, giving the job back to the queue.
      const { id, ms, after } = await stopMidTask(1000, 3000, "a lighthouse at dusk");
      expect(after).not.toBe("SUCCEEDED");
      await env.startWorker({ ...WORKER_ENV, LOCAL_PROVIDER_STEP_MS: "20" });
      await expectDeliveredOnce(id);

      const report = await assertInvariants({
        databaseUrl: env.database.url,
        dataDir: env.dataDir,
        apiUrl: env.apiUrl,
        settled: true,
      });
      console.log(`worker-sigterm (long task): exited in ${ms} ms, run again by the next worker; ${summarize(report)}`);
    },
  );
});

describe("an API stopped with SIGTERM mid-request", () => {
  it("answers the request it is reading, then exits 0", { timeout: 60_000 }, async () => {
    // A request whose body arrives in two parts, with the SIGTERM between them: the server stops accepting
    // connections but reads and answers this one before it exits.
    const body = JSON.stringify({ query: "{ me { email } }" });
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${env.apiUrl}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          ...user.headers,
        },
      });
      req.on("response", (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on("error", reject);
      req.write(body.slice(0, 10));
      // Give the server time to take the headers, then stop it and send the rest.
      setTimeout(() => {
        api.child.kill("SIGTERM");
        setTimeout(() => req.end(body.slice(10)), 500);
      }, 300);
    });
    const { status, text } = await answer;
    expect(status, text).toBe(200);
    expect(JSON.parse(text)).toEqual({ data: { me: { email: expect.stringContaining("@") } } });
    const { code, signal } = await api.exited;
    expect({ code, signal }, env.logs()).toEqual({ code: 0, signal: null });
  });
});
