import { createClient } from "graphql-ws";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { bullPrefix } from "../../src/infra/queue.js";
import { AccountRole } from "../../src/modules/accounts/account.entity.js";
import { signedInUser, type SignedInUser, recharge } from "../factories.js";
import { REDIS_URL, startTestApp, type TestApp } from "../harness.js";
import { runServer, type ServerProcess } from "../processes.js";

/** The API in this process; workers as separate processes of the built server, sharing PostgreSQL and Redis. */
let t: TestApp;
let user: SignedInUser;
const workers: ServerProcess[] = [];

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  user = await signedInUser(t);
  await recharge(t, user.account.id, 1000);
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop("SIGKILL")));
  await t?.close();
});

function startWorker(env: Record<string, string> = {}): ServerProcess {
  const worker = runServer({
    ROLE: "worker",
    DATABASE_URL: t.database.url,
    REDIS_URL,
    REDIS_PREFIX: t.app.config.REDIS_PREFIX,
    DATA_DIR: t.app.config.DATA_DIR,
    LOCAL_PROVIDER_STEP_MS: "30",
    LOG_LEVEL: "warn",
    ...env,
  });
  workers.push(worker);
  return worker;
}

async function createTask(count = 1, seed = 1, owner: SignedInUser = user): Promise<string> {
  const res = await t.graphql<{ createTask: { task: { id: string } } }>(
    `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`,
    { input: { prompt: "a quiet harbour at dawn", model: "novart-sketch", width: 512, height: 512, count, seed } },
    owner.headers,
  );
  return res.body.data!.createTask.task.id;
}

const statusOf = async (id: string) =>
  ((await t.app.db.query(`SELECT status FROM task WHERE id = $1`, [id])) as { status: string }[])[0].status;

describe("live task status across processes", () => {
  it("delivers every state change over graphql-ws, in order, from a worker in another process", async () => {
    const worker = startWorker();
    const id = await createTask(2);
    const ws = createClient({
      url: t.url.replace("http", "ws") + "/graphql",
      webSocketImpl: WebSocket,
      connectionParams: { authorization: user.headers.authorization },
      retryAttempts: 0,
    });
    const seen: { status: string; progress: number; assets: { id: string }[] }[] = [];
    try {
      for await (const result of ws.iterate<{
        taskUpdated: { status: string; progress: number; assets: { id: string }[] };
      }>({
        query: `subscription($id: ID!) { taskUpdated(id: $id) { status progress assets { id } } }`,
        variables: { id },
      })) {
        expect(result.errors).toBeUndefined();
        seen.push(result.data!.taskUpdated);
        if (["SUCCEEDED", "FAILED"].includes(result.data!.taskUpdated.status)) break;
      }
    } finally {
      await ws.dispose();
    }
    const statuses = seen.map((s) => s.status).filter((s, i, all) => s !== all[i - 1]);
    expect(statuses).toEqual(["QUEUED", "RUNNING", "SUCCEEDED"].slice(["QUEUED", "RUNNING"].indexOf(statuses[0])));
    // The last event carries the images (a subscription's loaders must not serve the first, empty answer).
    expect(seen.at(-1)).toMatchObject({ status: "SUCCEEDED", progress: 1 });
    expect(seen.at(-1)!.assets).toHaveLength(2);
    const running = seen.filter((s) => s.status === "RUNNING").map((s) => s.progress);
    expect(running).toEqual([...running].sort((a, b) => a - b));
    expect(running.length).toBeGreaterThan(1);
    await worker.stop();
  });

  it("refuses to let another account follow a task", async () => {
    const id = await createTask(1, 99);
    const stranger = await signedInUser(t);
    const ws = createClient({
      url: t.url.replace("http", "ws") + "/graphql",
      webSocketImpl: WebSocket,
      connectionParams: { authorization: stranger.headers.authorization },
      retryAttempts: 0,
    });
    try {
      const events = ws.iterate({
        query: `subscription($id: ID!) { taskUpdated(id: $id) { status } }`,
        variables: { id },
      });
      const first = await events.next().catch((e: unknown) => ({ value: { errors: e } }));
      expect(JSON.stringify(first.value)).toContain("NOT_FOUND");
    } finally {
      await ws.dispose();
    }
  });

  it("lets an admin follow another account's task", async () => {
    const id = await createTask(1, 98);
    const admin = await signedInUser(t, { role: AccountRole.ADMIN });
    const ws = createClient({
      url: t.url.replace("http", "ws") + "/graphql",
      webSocketImpl: WebSocket,
      connectionParams: { authorization: admin.headers.authorization },
      retryAttempts: 0,
    });
    try {
      const events = ws.iterate<{ taskUpdated: { id: string; status: string } }>({
        query: `subscription($id: ID!) { taskUpdated(id: $id) { id status } }`,
        variables: { id },
      });
      // Starting with the task's current state, whatever it is by now.
      const first = await events.next();
      expect(first.value.errors).toBeUndefined();
      expect(first.value.data?.taskUpdated.id).toBe(id);
    } finally {
      await ws.dispose();
    }
  });
});

describe("recovery", () => {
  it(
    "finishes a task once after its worker is killed with SIGKILL mid-run: one charge, no duplicate images",
    { timeout: 90_000 },
    async () => {
      for (const w of workers.splice(0)) await w.stop();
      const owner = await signedInUser(t);
      await recharge(t, owner.account.id, 100);
      const slow = startWorker({ LOCAL_PROVIDER_STEP_MS: "150", WORKER_STALLED_INTERVAL_MS: "1000" });
      const id = await createTask(2, 7, owner);
      await expect.poll(() => statusOf(id), { timeout: 20_000, interval: 50 }).toBe("RUNNING");
      await slow.stop("SIGKILL");
      startWorker({ WORKER_STALLED_INTERVAL_MS: "1000", RECONCILE_INTERVAL_MS: "500" });
      await expect.poll(() => statusOf(id), { timeout: 60_000, interval: 100 }).toBe("SUCCEEDED");
      const facts = (await t.app.db.query(
        `SELECT (SELECT count(*)::int FROM asset WHERE task_id = $1) AS assets,
              (SELECT count(*)::int FROM ledger_entry WHERE reference LIKE 'task:' || $1 || ':%') AS entries`,
        [id],
      )) as { assets: number; entries: number }[];
      expect(facts[0]).toEqual({ assets: 2, entries: 1 });
      expect(await t.app.services.ledger.verify()).toEqual([]);
    },
  );

  it("re-enqueues paid tasks that Redis lost (the reconciler)", { timeout: 60_000 }, async () => {
    for (const w of workers.splice(0)) await w.stop();
    const ids = [await createTask(1, 11), await createTask(1, 12)];
    // Lose the queue: every BullMQ key of this installation goes (a Redis flush, scoped to our prefix).
    const redis = t.app.redis;
    const keys = await redis.keys(`${bullPrefix(t.app.config.REDIS_PREFIX)}:generation:*`);
    expect(keys.length).toBeGreaterThan(0);
    if (keys.length) await redis.del(...keys);
    expect(await t.app.queues.generation.getJob(ids[0])).toBeUndefined();
    startWorker({ RECONCILE_INTERVAL_MS: "300" });
    for (const id of ids) await expect.poll(() => statusOf(id), { timeout: 30_000, interval: 100 }).toBe("SUCCEEDED");
  });
});

describe("reading tasks", () => {
  it("lists tasks with their assets, owner and model in a constant number of SQL statements", async () => {
    const insertTasks = async (n: number) => {
      await t.app.db.query(
        `WITH m AS (SELECT id FROM generation_model WHERE slug = 'novart-sketch'),
              t AS (INSERT INTO task (account_id, status, prompt, model_id, width, height, count, seed, input_hash, cost, progress, finished_at)
                    SELECT $1, 'SUCCEEDED', 'bulk ' || g, m.id, 512, 512, 1, g, repeat('0', 64), 2, 1, now()
                      FROM generate_series(1, $2) g, m RETURNING id, account_id)
         INSERT INTO asset (task_id, account_id, index, width, height, bytes, content_type, sha256, storage_key, preview_key, thumbnail_key, expires_at)
         SELECT t.id, t.account_id, 0, 512, 512, 100, 'image/png', repeat('0', 64), 'k', 'p', 'th', now() + interval '30 days' FROM t`,
        [user.account.id, n],
      );
    };
    const query = `query($n: Int!) { tasks(first: $n) { edges { node {
      id status prompt cost createdAt queuePosition model { slug } owner { id displayName } assets { id width height }
    } } } }`;
    const countStatements = async (n: number) => {
      // A first request fills the per-process caches (the session, tier limits), which refresh every few
      // seconds; the fewest of three requests is the steady state (a refresh may fall into one on a busy machine).
      await t.graphql(query, { n }, user.headers);
      const original = pg.Client.prototype.query;
      let statements = 0;
      pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
        statements++;
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof original;
      const counts: number[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          statements = 0;
          const res = await t.graphql<{ tasks: { edges: unknown[] } }>(query, { n }, user.headers);
          expect(res.body.errors).toBeUndefined();
          expect(res.body.data!.tasks.edges).toHaveLength(n);
          counts.push(statements);
        }
      } finally {
        pg.Client.prototype.query = original;
      }
      return Math.min(...counts);
    };
    await insertTasks(100);
    const forTen = await countStatements(10);
    const forHundred = await countStatements(100);
    expect(forHundred).toBe(forTen);
    // The page with its owner and assets; the models (the session is cached by the process).
    expect(forHundred).toBe(2);
  });
});
