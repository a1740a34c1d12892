import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { SignedInUser } from "../factories.js";
import { startFaultEnv, until, type FaultEnv } from "../fault-env.js";
import { assertInvariants, summarize } from "../invariants.js";
import type { ServerProcess } from "../processes.js";

/**
 * The API process restarted (SIGTERM, then started again on the same port) while graphql-ws subscribers are
 * connected and a worker process keeps running tasks. The clients are configured like the studio's: retry
 * forever, whatever the close code.
 */
let env: FaultEnv;
let api: ServerProcess;
let worker: ServerProcess;
const clients: Client[] = [];

beforeAll(async () => {
  // 8 steps of 1 s: a task outlives the API's shutdown, so it ends while no API process is running.
  env = await startFaultEnv({ LOCAL_PROVIDER_STEP_MS: "1000" });
  [api, worker] = await Promise.all([env.startApi(), env.startWorker()]);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await env?.close();
});

interface TaskEvent {
  id: string;
  status: string;
  assets: { id: string }[];
}

/** A graphql-ws client that reconnects by itself, and one subscription on it whose events are collected. */
function subscriber(user: SignedInUser, query: string, variables: Record<string, unknown> = {}) {
  let connections = 0;
  const client = createClient({
    url: `${env.apiUrl.replace("http", "ws")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: user.headers.authorization },
    retryAttempts: 1000,
    shouldRetry: () => true,
    retryWait: () => new Promise((resolve) => setTimeout(resolve, 200)),
    on: { connected: () => void connections++ },
  });
  clients.push(client);
  const events: TaskEvent[] = [];
  const errors: unknown[] = [];
  let completed = false;
  client.subscribe<Record<string, TaskEvent>>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) errors.push(result.errors);
        if (result.data) events.push(Object.values(result.data)[0]);
      },
      error: (err) => errors.push(err),
      complete: () => void (completed = true),
    },
  );
  return { events, errors, connections: () => connections, completed: () => completed };
}

const statusOf = async (id: string) =>
  ((await env.setup.db.query(`SELECT status FROM task WHERE id = $1`, [id])) as { status: string }[])[0].status;

describe("the API restarted under connected subscribers", () => {
  it(
    "clients reconnect by themselves and get the current state: a task that ended meanwhile is SUCCEEDED",
    { timeout: 85_000 },
    async () => {
      const [alice, bob] = await Promise.all([env.user(), env.user()]);
      const [aliceTask, bobTask] = await Promise.all([
        env.createTask(alice, { prompt: "a tide pool" }),
        env.createTask(bob, { prompt: "a salt marsh" }),
      ]);
      const one = subscriber(alice, `subscription($id: ID!) { taskUpdated(id: $id) { id status assets { id } } }`, {
        id: aliceTask,
      });
      const mine = subscriber(bob, `subscription { myTaskUpdates { id status assets { id } } }`);
      await until(async () => (one.events.some((e) => e.status === "RUNNING") ? true : undefined), "Alice's RUNNING");
      await until(async () => (mine.events.some((e) => e.id === bobTask) ? true : undefined), "Bob's task event");

      await api.stop("SIGTERM");
      expect((await api.exited).code).toBe(0);
      // Both tasks are still running, with nobody to tell: only the worker process is up.
      expect([await statusOf(aliceTask), await statusOf(bobTask)]).toEqual(["RUNNING", "RUNNING"]);
      const seenBeforeRestart = one.events.length;
      await env.waitForEnd([aliceTask, bobTask], 40_000);
      expect(worker.child.exitCode).toBeNull();
      expect(one.events.some((e) => e.status === "SUCCEEDED")).toBe(false);

      api = await env.startApi();
      // taskUpdated re-subscribes on the new connection, and starts with the task as it is now.
      await until(
        async () => (one.events.length > seenBeforeRestart ? true : undefined),
        "Alice's event after the restart",
        20_000,
      );
      expect(one.events[seenBeforeRestart]).toMatchObject({ id: aliceTask, status: "SUCCEEDED" });
      expect(one.events[seenBeforeRestart].assets).toHaveLength(1);
      expect(one.connections()).toBe(2);

      // myTaskUpdates is live again: it relays a task created after the restart through to its end...
      await until(async () => (mine.connections() >= 2 ? true : undefined), "Bob's reconnection", 20_000);
      const later = await env.createTask(bob, { prompt: "a salt marsh at dusk" });
      await until(
        async () => (mine.events.some((e) => e.id === later && e.status === "SUCCEEDED") ? true : undefined),
        "Bob's new task to succeed, live",
        30_000,
      );
      // ...and the task that ended during the restart reads as SUCCEEDED, with its image.
      const read = await env.graphql<{ task: TaskEvent }>(
        `query($id: ID!) { task(id: $id) { id status assets { id } } }`,
        { id: bobTask },
        bob.headers,
      );
      expect(read.body.data!.task).toMatchObject({ status: "SUCCEEDED", assets: [{ id: expect.any(String) }] });

      for (const s of [one, mine]) {
        expect(s.errors).toEqual([]);
        expect(s.completed()).toBe(false);
      }
      const report = await assertInvariants({
        databaseUrl: env.database.url,
        dataDir: env.dataDir,
        apiUrl: env.apiUrl,
        settled: true,
      });
      console.log(
        `api-restart: 2 subscribers reconnected (${one.connections()} and ${mine.connections()} connections); ${summarize(report)}`,
      );
    },
  );
});
