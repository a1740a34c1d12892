import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { accountTasksTopic } from "../../src/modules/generation/generation.topics.js";
import type { SignedInUser } from "../factories.js";
import { startFaultEnv, until, type FaultEnv } from "../fault-env.js";
import { freePort } from "../processes.js";

/**
 * The roles as separate processes of the built server sharing PostgreSQL and Redis: two APIs (ROLE=api) and
 * two workers (ROLE=worker). This process only sets up (accounts, sessions, credits) through an app that is
 * never started. Tasks go in through both APIs; every user follows its tasks through API #1 alone.
 */
let env: FaultEnv;
let api1Url: string;
let api2Url: string;
const USERS = 4;
const TASKS_PER_USER = 6;

beforeAll(async () => {
  env = await startFaultEnv({ LOCAL_PROVIDER_STEP_MS: "10" });
  api1Url = env.apiUrl;
  const port2 = await freePort();
  api2Url = `http://127.0.0.1:${port2}`;
  await Promise.all([env.startApi(), env.startApi({ PORT: String(port2) }), env.startWorker(), env.startWorker()]);
}, 120_000);
afterAll(async () => {
  await env?.close();
});

/** One frame of `myTaskUpdates`, as the subscriber received it. */
interface Frame {
  id: string;
  status: string;
  progress: number;
  startedAt: string | null;
  finishedAt: string | null;
  assets: { id: string }[];
}

const ORDER = ["QUEUED", "RUNNING", "SUCCEEDED"];

/**
 * A frame is newer than the one before it when its status is later, or, while RUNNING, its progress higher
 * (the runner writes progress only upwards). Every version of a task in a healthy run differs from the one
 * before it in one of these, so this orders frames as their versions would (Task exposes no version).
 */
const newer = (a: Frame, b: Frame) =>
  ORDER.indexOf(b.status) > ORDER.indexOf(a.status) || (a.status === b.status && b.progress > a.progress);

/** A graphql-ws client on API #1 with one `myTaskUpdates` subscription whose frames are collected in order. */
function follow(user: SignedInUser) {
  const client: Client = createClient({
    url: `${api1Url.replace("http", "ws")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: user.headers.authorization },
    retryAttempts: 0,
  });
  const frames: Frame[] = [];
  const errors: unknown[] = [];
  client.subscribe<{ myTaskUpdates: Frame }>(
    {
      query: `subscription { myTaskUpdates { id status progress startedAt finishedAt assets { id } } }`,
    },
    {
      next: (r) => {
        if (r.errors) errors.push(r.errors);
        if (r.data) frames.push(r.data.myTaskUpdates);
      },
      error: (err) => errors.push(err),
      complete: () => undefined,
    },
  );
  return { client, frames, errors };
}

describe("two API and two worker processes", () => {
  it(
    "run every task exactly once, whichever API took it, and deliver every event to the subscribers of one of them",
    { timeout: 120_000 },
    async () => {
      const users = await Promise.all(Array.from({ length: USERS }, () => env.user(1000)));
      // Each user follows its tasks through API #1 before submitting anything: its live stream is open
      // (API #1 subscribed in Redis to the account's channel) and its (empty) starting state read.
      const followers = users.map(follow);
      try {
        for (const u of users) {
          const channel = env.setup.pubsub.channel(accountTasksTopic(u.account.id));
          await until(async () => {
            const [, count] = (await env.setup.redis.call("PUBSUB", "NUMSUB", channel)) as [string, number];
            return count > 0 ? true : undefined;
          }, `API #1 subscribed to ${channel}`);
        }
        // The starting state is read once the stream is open: one query, long done after this.
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(followers.flatMap((f) => f.frames)).toEqual([]);

        const created = users.map(() => [] as { id: string; api: number }[]);
        await Promise.all(
          users.map(async (u, ui) => {
            for (let i = 0; i < TASKS_PER_USER; i++) {
              const api = (ui + i) % 2;
              const res = await fetch(`${api === 0 ? api1Url : api2Url}/graphql`, {
                method: "POST",
                headers: { "content-type": "application/json", ...u.headers },
                body: JSON.stringify({
                  query: `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id status } } }`,
                  variables: {
                    input: { prompt: `harbour ${ui}-${i}`, model: "novart-sketch", width: 512, height: 512, count: 1 },
                  },
                }),
              });
              const body = (await res.json()) as {
                data?: { createTask: { task: { id: string; status: string } } };
                errors?: unknown;
              };
              expect(body.errors).toBeUndefined();
              expect(body.data!.createTask.task.status).toBe("QUEUED");
              created[ui].push({ id: body.data!.createTask.task.id, api });
            }
          }),
        );
        const ids = created.flat().map((c) => c.id);
        expect(new Set(ids).size).toBe(USERS * TASKS_PER_USER);
        // Both APIs took tasks of every user.
        for (const tasks of created) expect(new Set(tasks.map((c) => c.api))).toEqual(new Set([0, 1]));

        const ended = (f: ReturnType<typeof follow>, id: string) =>
          f.frames.some((fr) => fr.id === id && (fr.status === "SUCCEEDED" || fr.status === "FAILED"));
        await until(
          async () => (users.every((_, ui) => created[ui].every((c) => ended(followers[ui], c.id))) ? true : undefined),
          "every task's final frame",
          60_000,
        ).catch((err: Error) => {
          throw new Error(`${err.message}\n${env.logs().slice(-20_000)}`);
        });
        // Anything sent after a final state (a duplicate, another account's task) would come in meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 500));

        const assetRows = (await env.setup.db.query(
          `SELECT task_id, id FROM asset WHERE task_id = ANY($1::uuid[]) ORDER BY task_id, index`,
          [ids],
        )) as { task_id: string; id: string }[];
        for (const [ui, f] of followers.entries()) {
          expect(f.errors).toEqual([]);
          const own = new Set(created[ui].map((c) => c.id));
          // Only its own account's tasks: none of another user's, whichever API they went through.
          const foreign = f.frames.filter((fr) => !own.has(fr.id));
          expect(foreign, `user ${ui} got frames of tasks it did not create`).toEqual([]);
          for (const { id, api } of created[ui]) {
            const frames = f.frames.filter((fr) => fr.id === id);
            const what = `user ${ui}, task ${id} (created through API #${api + 1})`;
            // QUEUED (created after the subscription started: the creation's event), RUNNING (once, then
            // any progress), SUCCEEDED last and once.
            expect(frames.map((fr) => fr.status).join(" "), `${what}: ${JSON.stringify(frames)}`).toMatch(
              /^QUEUED( RUNNING)+ SUCCEEDED$/,
            );
            for (let k = 1; k < frames.length; k++) {
              expect(newer(frames[k - 1], frames[k]), `${what}: frame ${k} is not newer than the one before`).toBe(
                true,
              );
            }
            expect(frames[0], what).toMatchObject({ progress: 0, startedAt: null, finishedAt: null, assets: [] });
            for (const fr of frames.filter((x) => x.status === "RUNNING")) {
              expect(fr.startedAt, what).not.toBeNull();
              expect(fr.finishedAt, what).toBeNull();
            }
            const last = frames.at(-1)!;
            expect(last.progress, what).toBe(1);
            expect(last.finishedAt, what).not.toBeNull();
            expect(
              last.assets.map((a) => a.id),
              what,
            ).toEqual(assetRows.filter((r) => r.task_id === id).map((r) => r.id));
            expect(last.assets, what).toHaveLength(1);
          }
        }

        // Exactly once: one start, one charge, no refund, one asset per image.
        const rows = (await env.setup.db.query(
          `SELECT t.id, t.status, t.attempts,
                (SELECT count(*)::int FROM asset a WHERE a.task_id = t.id) AS assets,
                (SELECT count(*)::int FROM ledger_entry l WHERE l.reference = 'task:' || t.id || ':charge') AS charges,
                (SELECT count(*)::int FROM ledger_entry l WHERE l.kind = 'TASK_REFUND' AND l.reference LIKE 'task:' || t.id || '%') AS refunds
           FROM task t WHERE t.id = ANY($1::uuid[])`,
          [ids],
        )) as { id: string; status: string; attempts: number; assets: number; charges: number; refunds: number }[];
        expect(rows).toHaveLength(ids.length);
        for (const row of rows) {
          expect(row, row.id).toMatchObject({ status: "SUCCEEDED", attempts: 1, assets: 1, charges: 1, refunds: 0 });
        }
      } finally {
        await Promise.all(followers.map((f) => f.client.dispose()));
      }
    },
  );
});
