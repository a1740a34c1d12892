import http from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SignedInUser } from "../factories.js";
import { startFaultEnv, type FaultEnv } from "../fault-env.js";
import { assertInvariants, summarize } from "../invariants.js";

/**
 * A misbehaving OpenAI-compatible image provider, as a real HTTP server, behind real API and worker
 * processes. What it does is chosen by the first word of the prompt, so tasks of every kind can run side by
 * side. One worker process serves all three scenarios, in this order: the garbage one opens the channel's
 * circuit breaker (kept in the worker's memory) for 30 s.
 */
const CONCURRENCY = 4;
const calls = new Map<string, number>();
let answered: { status: number }[] = [];
let png: string;
let upstream: http.Server;

function answer(prompt: string, res: http.ServerResponse) {
  const n = (calls.get(prompt) ?? 0) + 1;
  calls.set(prompt, n);
  const send = (status: number, body: string, type = "application/json") => {
    answered.push({ status });
    res.writeHead(status, { "content-type": type }).end(body);
  };
  const image = () => send(200, JSON.stringify({ created: 1, data: [{ b64_json: png }] }));
  switch (prompt.split(" ")[0]) {
    case "hang":
      return; // never answers; the worker's deadline has to end it
    case "nonjson":
      return send(200, "<html><body>upstream says oops</body></html>", "text/html");
    case "noimages":
      return send(200, JSON.stringify({ created: 1, data: [] }));
    case "notimage":
      return send(200, JSON.stringify({ data: [{ b64_json: Buffer.from("upstream says oops").toString("base64") }] }));
    case "flaky":
      // A task's first call fails with a 500 when the last WORKER_CONCURRENCY answers were all 200: however the
      // worker's parallel calls finish, it never sees two failures in a row, so the channel's breaker (open
      // after 3) stays shut. This scenario is about retries; a failing channel's breaker has tests of its own.
      if (n === 1 && answered.slice(-CONCURRENCY).every((a) => a.status === 200)) {
        return send(500, JSON.stringify({ error: { message: "upstream says oops" } }));
      }
      return image();
    default:
      return image();
  }
}

let env: FaultEnv;
let users: SignedInUser[];

beforeAll(async () => {
  png = (
    await sharp({ create: { width: 512, height: 512, channels: 3, background: "#c0ffee" } })
      .png()
      .toBuffer()
  ).toString("base64");
  upstream = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      if (req.url !== "/v1/images/generations") return res.writeHead(404).end();
      answer((JSON.parse(body) as { prompt: string }).prompt, res);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as AddressInfo).port;
  env = await startFaultEnv({
    OPENAI_CHANNELS: JSON.stringify([
      { id: "fake-upstream", baseUrl: `http://127.0.0.1:${port}`, apiKey: "sk-fault-test", timeoutMs: 60_000 },
    ]),
  });
  await env.setup.db.query(
    `INSERT INTO generation_model (slug, name, provider, provider_model, sizes, max_images, credits_per_image)
     VALUES ('upstream-image', 'Upstream Image', 'OPENAI_COMPATIBLE', 'dall-e-3', '[{"width":512,"height":512}]', 4, 5)`,
  );
  await Promise.all([
    env.startApi(),
    env.startWorker({
      WORKER_CONCURRENCY: String(CONCURRENCY),
      TASK_ATTEMPTS: "3",
      TASK_BACKOFF_MS: "50",
      TASK_TIMEOUT_MS: "4000",
      LOCAL_PROVIDER_STEP_MS: "5",
    }),
  ]);
  users = await Promise.all([env.user(), env.user(), env.user()]);
});
afterAll(async () => {
  await env?.close();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

/** Each user submits one task per prompt word, over HTTP; returns the ids by word. */
async function submit(words: string[], model = "upstream-image"): Promise<Map<string, string[]>> {
  const ids = new Map<string, string[]>();
  await Promise.all(
    users.flatMap((user, u) =>
      words.map(async (word, w) => {
        const id = await env.createTask(user, {
          prompt: `${word} ${u} ${w}`,
          model: word === "local" ? "novart-sketch" : model,
        });
        ids.set(word, [...(ids.get(word) ?? []), id]);
      }),
    ),
  );
  return ids;
}

const taskView = async (user: SignedInUser, id: string) =>
  (
    await env.graphql<{
      task: { status: string; cost: number; error: { code: string; message: string } | null; assets: unknown[] };
    }>(`query($id: ID!) { task(id: $id) { status cost error { code message } assets { id } } }`, { id }, user.headers)
  ).body.data!.task;

const balanceOf = async (user: SignedInUser) =>
  (await env.graphql<{ me: { balance: { total: number } } }>(`{ me { balance { total } } }`, undefined, user.headers))
    .body.data!.me.balance.total;

describe("a misbehaving image provider", () => {
  it(
    "answering 500 first: every task is retried and succeeds, charged once, with its image",
    { timeout: 60_000 },
    async () => {
      answered = [];
      const before = await Promise.all(users.map(balanceOf));
      const ids = (await submit(["flaky", "flaky"])).get("flaky")!;
      const rows = await env.waitForEnd(ids, 45_000);
      expect(rows.map((r) => r.status)).toEqual(ids.map(() => "SUCCEEDED"));
      const failedCalls = answered.filter((a) => a.status === 500).length;
      expect(failedCalls).toBeGreaterThan(0);
      // Every 500 cost the task one more attempt, and nothing else.
      expect(rows.reduce((n, r) => n + r.attempts, 0)).toBe(ids.length + failedCalls);
      // Two images of 5 credits each per user, paid once each.
      expect(await Promise.all(users.map(balanceOf))).toEqual(before.map((b) => b - 2 * 5));
      for (const r of rows) {
        const owner = users.find((u) => u.account.id === r.account_id)!;
        expect((await taskView(owner, r.id)).assets).toHaveLength(1);
      }
      const report = await assertInvariants({
        databaseUrl: env.database.url,
        dataDir: env.dataDir,
        apiUrl: env.apiUrl,
        settled: true,
      });
      console.log(
        `providers/500-then-success: ${ids.length} tasks, ${failedCalls} upstream 500s; ${summarize(report)}`,
      );
    },
  );

  it(
    "hanging: the task fails with TIMEOUT at TASK_TIMEOUT_MS, refunded once; other tasks run meanwhile",
    { timeout: 60_000 },
    async () => {
      const before = await Promise.all(users.map(balanceOf));
      const ids = await submit(["hang", "local"]);
      const hung = await env.waitForEnd(ids.get("hang")!, 30_000);
      expect(hung.map((r) => [r.status, r.error_code])).toEqual(hung.map(() => ["FAILED", "TIMEOUT"]));
      // A deadline is not retried: one call per hanging task, however many attempts were allowed.
      for (const [prompt, n] of calls) if (prompt.startsWith("hang")) expect(n).toBe(1);
      const local = await env.waitForEnd(ids.get("local")!, 30_000);
      expect(local.map((r) => r.status)).toEqual(local.map(() => "SUCCEEDED"));
      // The hanging calls held some of the worker's slots, not all: local images were made meanwhile.
      const [order] = (await env.setup.db.query(
        `SELECT min(finished_at) FILTER (WHERE id = ANY($1::uuid[])) < min(finished_at) FILTER (WHERE id = ANY($2::uuid[])) AS meanwhile
           FROM task`,
        [ids.get("local"), ids.get("hang")],
      )) as { meanwhile: boolean }[];
      expect(order.meanwhile).toBe(true);
      // The refund gave the upstream task's credits back; only the local image was paid for.
      const localCost = (await taskView(users[0], local.find((r) => r.account_id === users[0].account.id)!.id)).cost;
      expect(await Promise.all(users.map(balanceOf))).toEqual(before.map((b) => b - localCost));
      const report = await assertInvariants({
        databaseUrl: env.database.url,
        dataDir: env.dataDir,
        apiUrl: env.apiUrl,
        settled: true,
      });
      console.log(`providers/hang: ${hung.length} hung tasks, ${local.length} local; ${summarize(report)}`);
    },
  );

  it(
    "answering garbage (not JSON, no images, not an image): tasks fail cleanly, refunded once, no provider text shown",
    { timeout: 60_000 },
    async () => {
      const before = await Promise.all(users.map(balanceOf));
      const ids = await submit(["nonjson", "noimages", "notimage"]);
      const all = [...ids.values()].flat();
      const rows = await env.waitForEnd(all, 45_000);
      for (const r of rows) {
        expect(r.status).toBe("FAILED");
        // BAD_RESPONSE is transient; once the breaker has opened, the last attempt finds no channel instead.
        expect(["BAD_RESPONSE", "UPSTREAM_ERROR"]).toContain(r.error_code);
        const owner = users.find((u) => u.account.id === r.account_id)!;
        const view = await taskView(owner, r.id);
        expect(view.assets).toEqual([]);
        expect(view.error!.message).not.toContain("oops");
      }
      expect(await Promise.all(users.map(balanceOf))).toEqual(before);
      const report = await assertInvariants({
        databaseUrl: env.database.url,
        dataDir: env.dataDir,
        apiUrl: env.apiUrl,
        settled: true,
      });
      console.log(`providers/garbage: ${rows.length} tasks; ${summarize(report)}`);
    },
  );
});
