import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { LedgerKind } from "../../src/modules/credits/ledger-entry.entity.js";
import { signedInUser, type SignedInUser } from "../factories.js";
import { REDIS_URL, startTestApp, type TestApp } from "../harness.js";
import { freePort, runServer, type ServerProcess } from "../processes.js";

/**
 * The roles as separate processes sharing PostgreSQL and Redis: API #1 in this process, API #2 and two
 * workers as processes of the built server. Tasks go in through both APIs; events are followed through #1.
 */
let t: TestApp;
let api2Url: string;
const processes: ServerProcess[] = [];
const USERS = 4;
const TASKS_PER_USER = 6;

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  const common = {
    DATABASE_URL: t.database.url,
    REDIS_URL,
    REDIS_PREFIX: t.app.config.REDIS_PREFIX,
    DATA_DIR: t.app.config.DATA_DIR,
    FILES_SECRET: "x".repeat(40),
    LOCAL_PROVIDER_STEP_MS: "10",
    LOG_LEVEL: "warn",
  };
  const port = await freePort();
  api2Url = `http://127.0.0.1:${port}`;
  const api2 = runServer({ ...common, ROLE: "api", PORT: String(port), STUDIO_DIR: "/nonexistent" });
  processes.push(api2, runServer({ ...common, ROLE: "worker" }), runServer({ ...common, ROLE: "worker" }));
  const deadline = Date.now() + 90_000;
  while ((await fetch(`${api2Url}/readyz`).catch(() => null))?.status !== 200) {
    if (Date.now() > deadline) throw new Error(`API #2 did not get ready:\n${api2.stdout()}\n${api2.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await t?.close();
});

interface Update {
  myTaskUpdates: { id: string; status: string; assets: { id: string }[] };
}

describe("two API and two worker processes", () => {
  it(
    "run every task exactly once, whichever API took it, and deliver every event to the subscribers of one of them",
    { timeout: 120_000 },
    async () => {
      const users: SignedInUser[] = [];
      for (let i = 0; i < USERS; i++) {
        const u = await signedInUser(t);
        await t.app.services.ledger.credit({
          accountId: u.account.id,
          kind: LedgerKind.RECHARGE,
          paid: 1000,
          bonus: 0,
          reference: `s:${u.account.id}`,
        });
        users.push(u);
      }
      // Each user follows its tasks through API #1 before submitting anything.
      const clients: Client[] = [];
      const finished = new Map<string, Update["myTaskUpdates"]>();
      const statusesSeen = new Map<string, string[]>();
      const subscribed: Promise<void>[] = [];
      for (const u of users) {
        const client = createClient({
          url: t.url.replace("http", "ws") + "/graphql",
          webSocketImpl: WebSocket,
          connectionParams: { authorization: u.headers.authorization },
          retryAttempts: 0,
        });
        clients.push(client);
        subscribed.push(
          new Promise<void>((resolve, reject) => {
            client.on("connected", () => setTimeout(resolve, 200));
            client.subscribe<Update>(
              { query: `subscription { myTaskUpdates { id status assets { id } } }` },
              {
                next: (r) => {
                  const task = r.data!.myTaskUpdates;
                  statusesSeen.set(task.id, [...(statusesSeen.get(task.id) ?? []), task.status]);
                  if (task.status === "SUCCEEDED" || task.status === "FAILED") finished.set(task.id, task);
                },
                error: reject,
                complete: () => undefined,
              },
            );
          }),
        );
      }
      await Promise.all(subscribed);

      const ids: string[] = [];
      await Promise.all(
        users.map(async (u, ui) => {
          for (let i = 0; i < TASKS_PER_USER; i++) {
            const url = (ui + i) % 2 === 0 ? t.url : api2Url;
            const res = await fetch(`${url}/graphql`, {
              method: "POST",
              headers: { "content-type": "application/json", ...u.headers },
              body: JSON.stringify({
                query: `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`,
                variables: {
                  input: { prompt: `harbour ${ui}-${i}`, model: "novart-sketch", width: 512, height: 512, count: 1 },
                },
              }),
            });
            const body = (await res.json()) as { data?: { createTask: { task: { id: string } } }; errors?: unknown };
            expect(body.errors).toBeUndefined();
            ids.push(body.data!.createTask.task.id);
          }
        }),
      );
      try {
        await expect.poll(() => finished.size, { timeout: 60_000, interval: 100 }).toBe(USERS * TASKS_PER_USER);
      } finally {
        await Promise.all(clients.map((c) => c.dispose()));
      }

      for (const id of ids) {
        expect(finished.get(id)).toMatchObject({ status: "SUCCEEDED" });
        expect(finished.get(id)!.assets).toHaveLength(1);
        // Events arrive in order: never back to an earlier state.
        const order = ["QUEUED", "RUNNING", "SUCCEEDED"];
        const seen = statusesSeen.get(id)!.map((s) => order.indexOf(s));
        expect(seen).toEqual([...seen].sort((a, b) => a - b));
      }
      // Exactly once: one start, one charge, no refund, one asset per image.
      const rows = (await t.app.db.query(
        `SELECT t.id, t.attempts,
              (SELECT count(*)::int FROM asset a WHERE a.task_id = t.id) AS assets,
              (SELECT count(*)::int FROM ledger_entry l WHERE l.reference = 'task:' || t.id || ':charge') AS charges,
              (SELECT count(*)::int FROM ledger_entry l WHERE l.kind = 'TASK_REFUND' AND l.reference LIKE 'task:' || t.id || '%') AS refunds
         FROM task t WHERE t.id = ANY($1::uuid[])`,
        [ids],
      )) as { id: string; attempts: number; assets: number; charges: number; refunds: number }[];
      expect(rows).toHaveLength(ids.length);
      for (const row of rows) expect(row, row.id).toMatchObject({ attempts: 1, assets: 1, charges: 1, refunds: 0 });
    },
  );
});
