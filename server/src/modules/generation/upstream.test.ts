import http from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser, recharge } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";

/** A real HTTP server speaking the OpenAI images API; each test decides how it answers. */
let behaviour: (call: number) => { status: number; body: unknown };
let calls = 0;
let upstream: http.Server;
let t: TestApp;
let user: SignedInUser;
let png: string;

beforeAll(async () => {
  png = (
    await sharp({ create: { width: 512, height: 512, channels: 3, background: "#3366cc" } })
      .png()
      .toBuffer()
  ).toString("base64");
  upstream = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      calls++;
      const { status, body: answer } = behaviour(calls);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as AddressInfo).port;
  t = await startTestApp({
    TASK_ATTEMPTS: "3",
    TASK_BACKOFF_MS: "50",
    OPENAI_CHANNELS: JSON.stringify([
      { id: "upstream-a", baseUrl: `http://127.0.0.1:${port}`, apiKey: "sk-test", timeoutMs: 5000 },
    ]),
  });
  await t.app.db.query(
    `INSERT INTO generation_model (slug, name, provider, provider_model, sizes, max_images, credits_per_image)
     VALUES ('upstream-image', 'Upstream Image', 'OPENAI_COMPATIBLE', 'gpt-image-1', '[{"width":512,"height":512}]', 4, 5)`,
  );
  user = await signedInUser(t);
  await recharge(t, user.account.id, 100);
});
afterAll(async () => {
  await t?.close();
  await new Promise((r) => upstream?.close(r));
});

async function run(): Promise<{ status: string; error_code: string | null; id: string }> {
  const res = await t.graphql<{ createTask: { task: { id: string } } }>(
    `mutation { createTask(input: { prompt: "a harbour", model: "upstream-image", width: 512, height: 512, count: 1 }) { task { id } } }`,
    undefined,
    user.headers,
  );
  const id = res.body.data!.createTask.task.id;
  let row: { status: string; error_code: string | null } = { status: "", error_code: null };
  await expect
    .poll(
      async () => {
        row = ((await t.app.db.query(`SELECT status, error_code FROM task WHERE id = $1`, [id])) as (typeof row)[])[0];
        return row.status;
      },
      { timeout: 15_000, interval: 50 },
    )
    .toMatch(/SUCCEEDED|FAILED/);
  return { ...row, id };
}

const refunds = async (id: string) =>
  (
    (await t.app.db.query(`SELECT count(*)::int AS n FROM ledger_entry WHERE reference = $1`, [
      `task:${id}:refund`,
    ])) as { n: number }[]
  )[0].n;

describe("an OpenAI-compatible upstream", () => {
  it("retries transient 5xx answers with backoff and succeeds", async () => {
    calls = 0;
    behaviour = (n) =>
      n <= 2
        ? { status: 500, body: { error: { message: "busy" } } }
        : { status: 200, body: { data: [{ b64_json: png }] } };
    const task = await run();
    expect(task.status).toBe("SUCCEEDED");
    expect(calls).toBe(3);
    expect(await refunds(task.id)).toBe(0);
  });

  it("fails a content-policy refusal at once with CONTENT_REJECTED, refunded exactly once", async () => {
    calls = 0;
    behaviour = () => ({ status: 400, body: { error: { code: "content_policy_violation", message: "refused" } } });
    const task = await run();
    expect(task).toMatchObject({ status: "FAILED", error_code: "CONTENT_REJECTED" });
    expect(calls).toBe(1);
    expect(await refunds(task.id)).toBe(1);
  });

  it("fails a task whose upstream error text holds control characters (NUL), refunded, with a clean message", async () => {
    calls = 0;
    behaviour = () => ({ status: 400, body: { error: { message: "bad\u0000input\u0007here" } } });
    const task = await run();
    expect(task).toMatchObject({ status: "FAILED", error_code: "UPSTREAM_ERROR" });
    expect(await refunds(task.id)).toBe(1);
    const [row] = (await t.app.db.query(`SELECT error_message FROM task WHERE id = $1`, [task.id])) as {
      error_message: string;
    }[];
    expect(row.error_message).toContain("bad input here");
  });

  it("fails after the configured attempts when the upstream keeps failing, refunded exactly once", async () => {
    calls = 0;
    behaviour = () => ({ status: 503, body: { error: { message: "down" } } });
    const task = await run();
    expect(task.status).toBe("FAILED");
    expect(["UPSTREAM_ERROR"]).toContain(task.error_code);
    expect(calls).toBeLessThanOrEqual(3);
    expect(await refunds(task.id)).toBe(1);
    expect(await t.app.services.ledger.verify()).toEqual([]);
  });
});
