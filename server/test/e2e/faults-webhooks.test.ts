import http from "node:http";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SignedInUser } from "../factories.js";
import { startFaultEnv, until, type FaultEnv } from "../fault-env.js";
import { assertInvariants, summarize } from "../invariants.js";
import { freePort } from "../processes.js";

/**
 * A webhook receiver that is down (nothing listens on its port: connection refused) while tasks run and
 * their events are due, then comes up. Real API and worker processes; the retry schedule is compressed.
 */
const SCHEDULE = [0, 300, 600, 1000, 1500, 2000, 3000, 4000, 6000, 8000];

interface Receipt {
  path: string;
  headers: Record<string, string>;
  body: string;
}

let env: FaultEnv;
let receiverPort: number;
let receiver: http.Server | undefined;
const receipts: Receipt[] = [];

beforeAll(async () => {
  receiverPort = await freePort();
  env = await startFaultEnv({
    WEBHOOK_ALLOW_PRIVATE: "true",
    WEBHOOK_RETRY_SCHEDULE_MS: SCHEDULE.join(","),
    WEBHOOK_TIMEOUT_MS: "2000",
    LOCAL_PROVIDER_STEP_MS: "5",
  });
  await Promise.all([env.startApi(), env.startWorker()]);
});
afterAll(async () => {
  await env?.close();
  receiver?.closeAllConnections();
  await new Promise((r) => (receiver ? receiver.close(r) : r(undefined)));
});

async function startReceiver(): Promise<void> {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      receipts.push({ path: req.url ?? "/", headers: req.headers as Record<string, string>, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver!.listen(receiverPort, "127.0.0.1", r));
}

const deliveryRows = () =>
  env.setup.db.query(
    `SELECT d.id, d.account_id, d.endpoint_id, d.event_type, d.status,
            coalesce(array_agg((extract(epoch FROM a.attempted_at) * 1000)::float8 ORDER BY a.attempted_at)
                     FILTER (WHERE a.id IS NOT NULL), '{}') AS times,
            count(a.id) FILTER (WHERE a.error IS NOT NULL)::int AS failures
       FROM webhook_delivery d LEFT JOIN webhook_attempt a ON a.delivery_id = d.id
      GROUP BY d.id`,
  ) as Promise<
    {
      id: string;
      account_id: string;
      endpoint_id: string | null;
      event_type: string;
      status: string;
      times: number[];
      failures: number;
    }[]
  >;

describe("a webhook receiver that is down for a while", () => {
  it(
    "does not hold tasks back; deliveries retry on the schedule and then arrive exactly once each, verified",
    { timeout: 80_000 },
    async () => {
      const users: SignedInUser[] = await Promise.all([env.user(), env.user(), env.user()]);
      const secrets = new Map<string, string>(); // receiver path → secret
      for (const [u, user] of users.entries()) {
        const created = await env.graphql<{ createWebhookEndpoint: { secret: string } }>(
          `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret } }`,
          {
            input: {
              url: `http://127.0.0.1:${receiverPort}/endpoint/${u}`,
              events: ["task.running", "task.succeeded", "task.failed"],
            },
          },
          user.headers,
        );
        expect(created.body.errors).toBeUndefined();
        secrets.set(`/endpoint/${u}`, created.body.data!.createWebhookEndpoint.secret);
        const own = await env.graphql<{ taskWebhookSecret: { secret: string } }>(
          `{ taskWebhookSecret { secret } }`,
          undefined,
          user.headers,
        );
        secrets.set(`/task/${u}`, own.body.data!.taskWebhookSecret.secret);
      }

      // Two tasks per account: one reported to the account's endpoint only, one to its own webhookUrl too.
      const ids = (
        await Promise.all(
          users.flatMap((user, u) => [
            env.createTask(user, { prompt: `a lighthouse ${u}`, seed: u }),
            env.createTask(user, {
              prompt: `a lighthouse ${u} again`,
              seed: u,
              webhookUrl: `http://127.0.0.1:${receiverPort}/task/${u}`,
            }),
          ]),
        )
      ).flat();

      // Tasks end on time although every delivery fails: the receiver has no say in them.
      const tasks = await env.waitForEnd(ids, 30_000);
      expect(tasks.map((t) => t.status)).toEqual(ids.map(() => "SUCCEEDED"));
      // running + succeeded to 3 endpoints for 6 tasks, and to the 3 tasks' own URLs.
      const expected = 2 * ids.length + 2 * users.length;
      await until(
        async () => {
          const rows = await deliveryRows();
          return rows.length === expected && rows.every((r) => r.failures >= 2) ? rows : undefined;
        },
        "every delivery to have failed twice",
        30_000,
      );
      expect(receipts).toEqual([]);
      const errors = (await env.setup.db.query(
        `SELECT DISTINCT error FROM webhook_attempt WHERE error IS NOT NULL`,
      )) as { error: string }[];
      expect(errors.map((e) => e.error)).toEqual([expect.stringContaining("ECONNREFUSED")]);

      await startReceiver();
      const rows = await until(
        async () => {
          const all = await deliveryRows();
          return all.every((r) => r.status === "SUCCEEDED") ? all : undefined;
        },
        "every delivery to succeed",
        40_000,
      );
      // Attempts followed the schedule: attempt n+1 came no sooner than SCHEDULE[n] after attempt n.
      for (const r of rows) {
        expect(r.times.length).toBe(r.failures + 1);
        r.times.slice(1).forEach((at, i) => expect(at - r.times[i]).toBeGreaterThanOrEqual(SCHEDULE[i + 1] - 5));
      }

      // Exactly one receipt per event id, each signed so that standardwebhooks verifies it.
      const byId = new Map<string, Receipt[]>();
      for (const r of receipts) byId.set(r.headers["webhook-id"], [...(byId.get(r.headers["webhook-id"]) ?? []), r]);
      expect(byId.size).toBe(expected);
      expect([...byId.values()].filter((list) => list.length !== 1)).toEqual([]);
      expect(new Set(rows.map((r) => `msg_${r.id.replace(/-/g, "")}`))).toEqual(new Set(byId.keys()));
      const links: string[] = [];
      const events = receipts.map((r) => {
        const verified = new Webhook(secrets.get(r.path)!).verify(r.body, {
          "webhook-id": r.headers["webhook-id"],
          "webhook-timestamp": r.headers["webhook-timestamp"],
          "webhook-signature": r.headers["webhook-signature"],
        }) as { type: string; data: { id: string; status: string; assets: { url: string }[] } };
        links.push(...verified.data.assets.map((a) => a.url));
        return `${verified.data.id} ${verified.type} ${verified.data.status}`;
      });
      for (const id of ids) {
        expect(events).toContain(`${id} task.running RUNNING`);
        expect(events).toContain(`${id} task.succeeded SUCCEEDED`);
      }

      // The image links of late deliveries, signed by the worker, are served by the API.
      expect(links).toHaveLength(ids.length + users.length);
      for (const link of links) {
        const image = await fetch(new URL(new URL(link).pathname + new URL(link).search, env.apiUrl));
        expect(image.status).toBe(200);
        expect(image.headers.get("content-type")).toBe("image/png");
      }

      const report = await assertInvariants({
        databaseUrl: env.database.url,
        dataDir: env.dataDir,
        apiUrl: env.apiUrl,
        settled: true,
      });
      const attempts = rows.reduce((n, r) => n + r.times.length, 0);
      console.log(
        `webhooks/receiver-down: ${expected} deliveries, ${attempts} attempts, ${receipts.length} receipts; ${summarize(report)}`,
      );
    },
  );
});
