import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { LedgerKind } from "../credits/ledger-entry.entity.js";

interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A real HTTP receiver on loopback; each path can be told how to answer. */
let receiver: http.Server;
let base: string;
const received: Received[] = [];
const answers = new Map<string, (n: number) => { status: number; headers?: Record<string, string> } | "hang">();

let t: TestApp;
let user: SignedInUser;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const path = req.url ?? "/";
      received.push({ path, headers: req.headers as Record<string, string>, body });
      const n = received.filter((r) => r.path === path).length;
      const answer = answers.get(path)?.(n) ?? { status: 200 };
      if (answer === "hang") return; // never answers
      res.writeHead(answer.status, answer.headers).end(`answer ${n} of ${path}`);
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  // The receiver is on loopback: this app allows private addresses explicitly (the SSRF test below does not).
  t = await startTestApp({
    WEBHOOK_ALLOW_PRIVATE: "true",
    WEBHOOK_RETRY_SCHEDULE_MS: "0,50,50,50",
    WEBHOOK_TIMEOUT_MS: "1500",
    WEBHOOK_DISABLE_AFTER_MS: "1000",
  });
  user = await signedInUser(t);
  await t.app.services.ledger.credit({
    accountId: user.account.id,
    kind: LedgerKind.RECHARGE,
    paid: 100,
    bonus: 0,
    reference: `s:${user.account.id}`,
  });
});
afterAll(async () => {
  await t?.close();
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
});

const CREATE = `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { id url events } } }`;
async function endpoint(
  path: string,
  events = ["task.running", "task.succeeded", "task.failed", "task.canceled"],
  who = user,
) {
  const res = await t.graphql<{ createWebhookEndpoint: { secret: string; endpoint: { id: string } } }>(
    CREATE,
    { input: { url: base + path, events, description: path } },
    who.headers,
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.createWebhookEndpoint;
}

const forPath = (path: string) => received.filter((r) => r.path === path);
const headersOf = (r: Received) => ({
  "webhook-id": r.headers["webhook-id"],
  "webhook-timestamp": r.headers["webhook-timestamp"],
  "webhook-signature": r.headers["webhook-signature"],
});

async function deliveryOf(id: string) {
  const res = await t.graphql<{
    webhookDeliveries: {
      edges: {
        node: { id: string; status: string; attempts: { statusCode: number | null; error: string | null }[] };
      }[];
    };
  }>(
    `{ webhookDeliveries(first: 100) { edges { node { id status eventType attempts { statusCode error latencyMs responseSnippet } } } } }`,
    undefined,
    user.headers,
  );
  return res.body.data!.webhookDeliveries.edges.map((e) => e.node).find((d) => d.id === id);
}

async function testDelivery(endpointId: string, who = user) {
  const res = await t.graphql<{ sendTestWebhook: { delivery: { id: string } } }>(
    `mutation($input: IdInput!) { sendTestWebhook(input: $input) { delivery { id status } } }`,
    { input: { id: endpointId } },
    who.headers,
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.sendTestWebhook.delivery.id;
}

describe("task events to endpoints", () => {
  it("delivers task.running and task.succeeded, signed so that standardwebhooks verifies them", async () => {
    const { secret } = await endpoint("/tasks");
    const listed = await t.graphql(`{ webhookEndpoints { id url } }`, undefined, user.headers);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    const created = await t.graphql<{ createTask: { task: { id: string } } }>(
      `mutation { createTask(input: { prompt: "a kite", model: "novart-sketch", width: 512, height: 512, count: 1 }) { task { id } } }`,
      undefined,
      user.headers,
    );
    const taskId = created.body.data!.createTask.task.id;
    await expect.poll(() => forPath("/tasks").length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    const events = forPath("/tasks").map(
      (r) => new Webhook(secret).verify(r.body, headersOf(r)) as { type: string; data: Record<string, unknown> },
    );
    expect(events.map((e) => e.type)).toEqual(["task.running", "task.succeeded"]);
    const done = events[1].data as { id: string; status: string; assets: { url: string; sha256: string }[] };
    expect(done).toMatchObject({ id: taskId, status: "SUCCEEDED" });
    const image = await fetch(done.assets[0].url.replace(t.app.config.PUBLIC_URL, t.url));
    expect(image.status).toBe(200);
    expect(() =>
      new Webhook(secret).verify(forPath("/tasks")[0].body.replace("a kite", "a kit"), headersOf(forPath("/tasks")[0])),
    ).toThrow();
  });

  it("signs a task's own webhookUrl with the account's task webhook secret", async () => {
    const secretRes = await t.graphql<{ taskWebhookSecret: { secret: string } }>(
      `{ taskWebhookSecret { secret } }`,
      undefined,
      user.headers,
    );
    const secret = secretRes.body.data!.taskWebhookSecret.secret;
    await t.graphql(
      `mutation($url: String) { createTask(input: { prompt: "a boat", model: "novart-sketch", width: 512, height: 512, count: 1, webhookUrl: $url }) { task { id } } }`,
      { url: `${base}/own` },
      user.headers,
    );
    await expect.poll(() => forPath("/own").length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    for (const r of forPath("/own")) expect(() => new Webhook(secret).verify(r.body, headersOf(r))).not.toThrow();
  });
});

describe("retries and failures", () => {
  it("retries a receiver that fails twice, then succeeds; every attempt is recorded", async () => {
    answers.set("/flaky", (n) => ({ status: n <= 2 ? 500 : 204 }));
    const { endpoint: e } = await endpoint("/flaky");
    const id = await testDelivery(e.id);
    await expect.poll(async () => (await deliveryOf(id))?.status, { timeout: 10_000 }).toBe("SUCCEEDED");
    expect((await deliveryOf(id))!.attempts.map((a) => a.statusCode)).toEqual([500, 500, 204]);
  });

  it("marks a delivery FAILED after the schedule, disables an endpoint failing too long and tells its owner, and redelivers", async () => {
    answers.set("/down", () => ({ status: 503 }));
    const { endpoint: e } = await endpoint("/down");
    await t.app.db.query(`UPDATE webhook_endpoint SET failing_since = now() - interval '1 hour' WHERE id = $1`, [e.id]);
    const id = await testDelivery(e.id);
    await expect.poll(async () => (await deliveryOf(id))?.status, { timeout: 10_000 }).toBe("FAILED");
    expect((await deliveryOf(id))!.attempts).toHaveLength(4);
    const row = (
      (await t.app.db.query(`SELECT enabled FROM webhook_endpoint WHERE id = $1`, [e.id])) as { enabled: boolean }[]
    )[0];
    expect(row.enabled).toBe(false);
    expect(
      (
        (await t.app.db.query(`SELECT kind FROM message WHERE account_id = $1 AND kind = 'webhook.disabled'`, [
          user.account.id,
        ])) as unknown[]
      ).length,
    ).toBe(1);

    answers.set("/down", () => ({ status: 200 }));
    // Only `enabled` is given: the other fields must stay as they were.
    const enabled = await t.graphql(
      `mutation($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) { endpoint { enabled url events description } } }`,
      { input: { id: e.id, enabled: true } },
      user.headers,
    );
    expect(enabled.body.errors).toBeUndefined();
    expect(enabled.body.data).toMatchObject({
      updateWebhookEndpoint: { endpoint: { enabled: true, url: `${base}/down` } },
    });
    await t.graphql(
      `mutation($input: IdInput!) { redeliverWebhook(input: $input) { delivery { status } } }`,
      { input: { id } },
      user.headers,
    );
    await expect.poll(async () => (await deliveryOf(id))?.status, { timeout: 10_000 }).toBe("SUCCEEDED");
  });

  it("does not let a hanging receiver delay other deliveries", async () => {
    answers.set("/hang", () => "hang");
    const slow = await endpoint("/hang");
    const fast = await endpoint("/fast");
    const started = Date.now();
    const hanging = await testDelivery(slow.endpoint.id);
    const quick = await testDelivery(fast.endpoint.id);
    await expect
      .poll(async () => (await deliveryOf(quick))?.status, { timeout: 5_000, interval: 20 })
      .toBe("SUCCEEDED");
    expect(Date.now() - started).toBeLessThan(1500);
    await expect
      .poll(async () => (await deliveryOf(hanging))?.attempts[0]?.error ?? null, { timeout: 10_000 })
      .toMatch(/no answer/);
  });
});

describe("secret rotation", () => {
  it("signs with both secrets for a day after a rotation", async () => {
    const { secret: oldSecret, endpoint: e } = await endpoint("/rotated");
    const rotated = await t.graphql<{ rotateWebhookSecret: { secret: string } }>(
      `mutation($input: IdInput!) { rotateWebhookSecret(input: $input) { secret endpoint { previousSecretExpiresAt } } }`,
      { input: { id: e.id } },
      user.headers,
    );
    const newSecret = rotated.body.data!.rotateWebhookSecret.secret;
    expect(newSecret).not.toBe(oldSecret);
    await testDelivery(e.id);
    await expect.poll(() => forPath("/rotated").length, { timeout: 5_000 }).toBe(1);
    const r = forPath("/rotated")[0];
    expect(r.headers["webhook-signature"].split(" ")).toHaveLength(2);
    expect(() => new Webhook(newSecret).verify(r.body, headersOf(r))).not.toThrow();
    expect(() => new Webhook(oldSecret).verify(r.body, headersOf(r))).not.toThrow();
  });
});

describe("authorization", () => {
  it("keeps endpoints and deliveries to their account, and away from API keys", async () => {
    const { endpoint: e } = await endpoint("/mine");
    const id = await testDelivery(e.id);
    const other = await signedInUser(t);
    const update = await t.graphql(
      `mutation($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) { endpoint { id } } }`,
      { input: { id: e.id, url: "http://example.com" } },
      other.headers,
    );
    expect(update.body.errors?.[0].extensions?.code).toBe("NOT_FOUND");
    const redeliver = await t.graphql(
      `mutation($input: IdInput!) { redeliverWebhook(input: $input) { delivery { id } } }`,
      { input: { id } },
      other.headers,
    );
    expect(redeliver.body.errors?.[0].extensions?.code).toBe("NOT_FOUND");
    const theirs = await t.graphql<{ webhookDeliveries: { edges: unknown[] } }>(
      `{ webhookDeliveries { edges { cursor } } }`,
      undefined,
      other.headers,
    );
    expect(theirs.body.data?.webhookDeliveries.edges).toEqual([]);
    const { secret } = await t.app.services.apiKeys.create(user.account.id, {
      name: "k",
      scopes: ["tasks:read", "tasks:write", "account:read", "assets:read"],
    });
    const byKey = await t.graphql(
      CREATE,
      { input: { url: `${base}/x`, events: ["task.failed"] } },
      { authorization: `Bearer ${secret}` },
    );
    expect(byKey.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const badUrl = await t.graphql(
      CREATE,
      { input: { url: "ftp://example.com/x", events: ["task.failed"] } },
      user.headers,
    );
    expect(badUrl.body.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "url" });
    const badEvent = await t.graphql(CREATE, { input: { url: `${base}/x`, events: ["task.exploded"] } }, user.headers);
    expect(badEvent.body.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "events" });
  });
});

describe("usage", () => {
  it("counts tasks, images and credits spent per day", async () => {
    const from = new Date(Date.now() - 86_400_000).toISOString();
    const to = new Date(Date.now() + 86_400_000).toISOString();
    const res = await t.graphql<{ usage: { tasks: number; images: number; creditsSpent: number }[] }>(
      `query($from: DateTimeISO!, $to: DateTimeISO!) { usage(from: $from, to: $to, granularity: DAY) { start tasks images creditsSpent failures } }`,
      { from, to },
      user.headers,
    );
    expect(res.body.errors).toBeUndefined();
    const total = res.body.data!.usage.reduce(
      (s, b) => ({
        tasks: s.tasks + b.tasks,
        images: s.images + b.images,
        creditsSpent: s.creditsSpent + b.creditsSpent,
      }),
      { tasks: 0, images: 0, creditsSpent: 0 },
    );
    expect(total).toEqual({ tasks: 2, images: 2, creditsSpent: 4 });
  });
});
