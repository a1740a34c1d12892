import http from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recharge, signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";

/**
 * Image URLs an OpenAI-compatible upstream answers: the configured server (its own origin) is trusted; any
 * other address is checked at connect time, so an answer cannot make the worker fetch from its own network.
 */
let answer: () => unknown;
let upstream: http.Server;
let upstreamUrl: string;
/** Another origin on loopback, standing for a host on the worker's network; it counts what reaches it. */
let storage: http.Server;
let storageUrl: string;
let storageHits = 0;
/** Image requests the upstream answered. */
let calls = 0;
let image: Buffer;

beforeAll(async () => {
  image = await sharp({ create: { width: 512, height: 512, channels: 3, background: "#336699" } })
    .png()
    .toBuffer();
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.method === "GET") return res.writeHead(200, { "content-type": "image/png" }).end(image);
      calls++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer()));
    });
  });
  storage = http.createServer((_req, res) => {
    storageHits++;
    res.writeHead(200, { "content-type": "image/png" }).end(image);
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  await new Promise<void>((r) => storage.listen(0, "127.0.0.1", r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  storageUrl = `http://127.0.0.1:${(storage.address() as AddressInfo).port}`;
});
afterAll(async () => {
  upstream.closeAllConnections();
  storage.closeAllConnections();
  await new Promise((r) => upstream.close(r));
  await new Promise((r) => storage.close(r));
});

async function appWith(channel: Record<string, unknown>): Promise<{ t: TestApp; user: SignedInUser }> {
  const t = await startTestApp({
    TASK_ATTEMPTS: "2",
    TASK_BACKOFF_MS: "50",
    OPENAI_CHANNELS: JSON.stringify([
      { id: "upstream-a", baseUrl: upstreamUrl, apiKey: "sk-test", timeoutMs: 5000, ...channel },
    ]),
  });
  await t.app.db.query(
    `INSERT INTO generation_model (slug, name, provider, provider_model, sizes, max_images, credits_per_image)
     VALUES ('upstream-image', 'Upstream Image', 'OPENAI_COMPATIBLE', 'dall-e-3', '[{"width":512,"height":512}]', 4, 5)`,
  );
  const user = await signedInUser(t);
  await recharge(t, user.account.id, 100);
  return { t, user };
}

async function run(t: TestApp, user: SignedInUser) {
  const res = await t.graphql<{ createTask: { task: { id: string } } }>(
    `mutation { createTask(input: { prompt: "a harbour", model: "upstream-image", width: 512, height: 512, count: 1 }) { task { id } } }`,
    undefined,
    user.headers,
  );
  const id = res.body.data!.createTask.task.id;
  let row = { status: "", error_code: null as string | null };
  await expect
    .poll(
      async () => {
        row = ((await t.app.db.query(`SELECT status, error_code FROM task WHERE id = $1`, [id])) as (typeof row)[])[0];
        return row.status;
      },
      { timeout: 15_000, interval: 50 },
    )
    .toMatch(/SUCCEEDED|FAILED/);
  const [refund] = (await t.app.db.query(`SELECT count(*)::int AS n FROM ledger_entry WHERE reference = $1`, [
    `task:${id}:refund`,
  ])) as { n: number }[];
  return { ...row, refunds: refund.n };
}

describe("image URLs from an upstream (default: private addresses refused)", () => {
  let t: TestApp;
  let user: SignedInUser;
  beforeAll(async () => ({ t, user } = await appWith({})));
  afterAll(() => t?.close());

  // First: three refused answers in a row open the channel's circuit breaker.
  it("downloads from the configured server's own origin", async () => {
    answer = () => ({ data: [{ url: `${upstreamUrl}/files/x.png` }] });
    expect(await run(t, user)).toEqual({ status: "SUCCEEDED", error_code: null, refunds: 0 });
  });

  it.each([
    ["the cloud metadata address", () => "http://169.254.169.254/latest/meta-data/x.png"],
    ["a private network", () => "http://10.0.0.1/x.png"],
    ["loopback on another origin", () => `${storageUrl}/x.png`],
  ])("fails the task on %s without connecting, refunded once", async (_label, url) => {
    const [hitsBefore, callsBefore] = [storageHits, calls];
    answer = () => ({ data: [{ url: url() }] });
    const task = await run(t, user);
    expect(task).toEqual({ status: "FAILED", error_code: "BAD_RESPONSE", refunds: 1 });
    expect(storageHits).toBe(hitsBefore);
    // Final, not retried: asking again would name the same address.
    expect(calls).toBe(callsBefore + 1);
    expect(await t.app.services.ledger.verify()).toEqual([]);
  });
});

describe("image URLs from an upstream with allowPrivateImageUrls", () => {
  let t: TestApp;
  let user: SignedInUser;
  beforeAll(async () => ({ t, user } = await appWith({ allowPrivateImageUrls: true })));
  afterAll(() => t?.close());

  it("downloads from a host on the network", async () => {
    const before = storageHits;
    answer = () => ({ data: [{ url: `${storageUrl}/x.png` }] });
    expect(await run(t, user)).toEqual({ status: "SUCCEEDED", error_code: null, refunds: 0 });
    expect(storageHits).toBe(before + 1);
  });
});
