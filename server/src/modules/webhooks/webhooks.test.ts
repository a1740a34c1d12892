import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { buildSchema, getNamedType, GraphQLObjectType } from "graphql";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser, recharge } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { REPO_ROOT } from "../../infra/config.js";

interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
}

type Answer = { status: number; headers?: Record<string, string>; body?: string } | "hang";

/** A real HTTP receiver on loopback; each path can be told how to answer (also after doing something). */
let receiver: http.Server;
let base: string;
const received: Received[] = [];
const answers = new Map<string, (n: number) => Answer | Promise<Answer>>();

let t: TestApp;
let user: SignedInUser;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const path = req.url ?? "/";
      received.push({ path, headers: req.headers as Record<string, string>, body, at: Date.now() });
      const n = received.filter((r) => r.path === path).length;
      void Promise.resolve(answers.get(path)?.(n) ?? { status: 200 }).then((answer) => {
        if (answer === "hang") return; // never answers
        res.writeHead(answer.status, answer.headers).end(answer.body ?? `answer ${n} of ${path}`);
      });
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  // The receiver is on loopback: this app allows private addresses explicitly (the SSRF test below does not).
  t = await startTestApp({
    WEBHOOK_ALLOW_PRIVATE: "true",
    WEBHOOK_RETRY_SCHEDULE_MS: "0,50,50,50",
    // Long enough that a hanging receiver still holds its delivery when the task it is about has finished.
    WEBHOOK_TIMEOUT_MS: "8000",
    WEBHOOK_DISABLE_AFTER_MS: "1000",
  });
  user = await customer(t);
});

/** A signed-in user with 100 credits. */
async function customer(app: TestApp): Promise<SignedInUser> {
  const who = await signedInUser(app);
  await recharge(app, who.account.id, 100);
  return who;
}
afterAll(async () => {
  await t?.close();
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
});

const CREATE = `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { id url events } } }`;
const ALL_EVENTS = ["task.running", "task.succeeded", "task.failed", "task.canceled"];
async function endpoint(path: string, events = ALL_EVENTS, who = user, app = t) {
  const res = await app.graphql<{ createWebhookEndpoint: { secret: string; endpoint: { id: string } } }>(
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

interface Delivery {
  id: string;
  status: string;
  eventType: string;
  endpointId: string | null;
  target: string;
  taskId: string | null;
  error: string | null;
  attempts: { statusCode: number | null; error: string | null; responseSnippet: string }[];
}
const DELIVERY_FIELDS = `id status eventType endpointId target taskId error attempts { statusCode error latencyMs responseSnippet }`;

async function deliveries(who = user, args: Record<string, unknown> = {}) {
  const res = await t.graphql<{
    webhookDeliveries: { edges: { node: Delivery }[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } };
  }>(
    `query($taskId: ID, $first: Int, $after: String) {
      webhookDeliveries(taskId: $taskId, first: $first, after: $after) {
        edges { node { ${DELIVERY_FIELDS} } } pageInfo { endCursor hasNextPage } } }`,
    { first: 100, ...args },
    who.headers,
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.webhookDeliveries;
}

async function deliveryOf(id: string, who = user) {
  return (await deliveries(who)).edges.map((e) => e.node).find((d) => d.id === id);
}

const CREATE_TASK = `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`;
async function createTask(who: SignedInUser, extra: Record<string, unknown> = {}, app = t): Promise<string> {
  const res = await app.graphql<{ createTask: { task: { id: string } } }>(
    CREATE_TASK,
    { input: { prompt: "a lighthouse", model: "novart-sketch", width: 512, height: 512, count: 1, ...extra } },
    who.headers,
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.createTask.task.id;
}

async function taskStatus(id: string, who: SignedInUser, app = t): Promise<string | undefined> {
  const res = await app.graphql<{ task: { status: string } | null }>(
    `query($id: ID!) { task(id: $id) { status } }`,
    { id },
    who.headers,
  );
  return res.body.data?.task?.status;
}

/** The events a path received, verified with `standardwebhooks` (throws on a bad signature). */
const verified = (pathname: string, secret: string) =>
  forPath(pathname).map(
    (r) =>
      new Webhook(secret).verify(r.body, headersOf(r)) as {
        type: string;
        timestamp: string;
        data: Record<string, unknown>;
      },
  );

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
      .poll(async () => (await deliveryOf(hanging))?.attempts[0]?.error ?? null, { timeout: 30_000 })
      .toMatch(/no answer/);
  });

  it("does not let a receiver that never answers hold the tasks it is told about", async () => {
    const who = await customer(t);
    answers.set("/hang-tasks", () => "hang");
    const { endpoint: e } = await endpoint("/hang-tasks", ALL_EVENTS, who);
    const taskId = await createTask(who);
    await expect.poll(() => taskStatus(taskId, who), { timeout: 20_000 }).toBe("SUCCEEDED");
    // The task finished while its task.running delivery still waits for an answer (the receiver's timeout
    // is 8 s): processing never waited on the receiver.
    const running = (await deliveries(who, { taskId })).edges
      .map((edge) => edge.node)
      .find((d) => d.eventType === "task.running");
    expect(running).toMatchObject({ status: "PENDING", attempts: [] });
    expect(forPath("/hang-tasks").length).toBeGreaterThanOrEqual(1);
    await t.graphql(
      `mutation($input: IdInput!) { deleteWebhookEndpoint(input: $input) { endpoint { id } } }`,
      { input: { id: e.id } },
      who.headers,
    );
  });

  it("stops an endpoint's pending deliveries when it is deleted, and refuses to redeliver them", async () => {
    const { endpoint: e } = await endpoint("/deleted");
    // The first try is answered 500 only after the endpoint was deleted: a retry would be due next.
    answers.set("/deleted", async () => {
      const deleted = await t.graphql(
        `mutation($input: IdInput!) { deleteWebhookEndpoint(input: $input) { endpoint { id } } }`,
        { input: { id: e.id } },
        user.headers,
      );
      expect(deleted.body.errors).toBeUndefined();
      return { status: 500 };
    });
    const id = await testDelivery(e.id);
    await expect.poll(async () => (await deliveryOf(id))?.attempts.length, { timeout: 10_000 }).toBe(1);
    // The schedule is 0, 50, 50, 50 ms: give the retries ample time to (not) happen.
    await sleep(1_500);
    expect(forPath("/deleted")).toHaveLength(1);
    expect(await deliveryOf(id)).toMatchObject({
      status: "FAILED",
      error: "endpoint deleted",
      endpointId: null,
      target: "ENDPOINT",
      attempts: [{ statusCode: 500 }],
    });
    const redeliver = await t.graphql(
      `mutation($input: IdInput!) { redeliverWebhook(input: $input) { delivery { id } } }`,
      { input: { id } },
      user.headers,
    );
    expect(redeliver.body.errors?.[0].extensions?.code).toBe("WEBHOOK_ENDPOINT_DELETED");
    await sleep(500);
    expect(forPath("/deleted")).toHaveLength(1);
    expect((await deliveryOf(id))?.status).toBe("FAILED");
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

    // When the 24 h are over, only the new secret signs.
    await t.app.db.query(
      `UPDATE webhook_endpoint SET previous_secret_expires_at = now() - interval '1 minute' WHERE id = $1`,
      [e.id],
    );
    await testDelivery(e.id);
    await expect.poll(() => forPath("/rotated").length, { timeout: 5_000 }).toBe(2);
    const after = forPath("/rotated")[1];
    expect(after.headers["webhook-signature"].split(" ")).toHaveLength(1);
    expect(() => new Webhook(newSecret).verify(after.body, headersOf(after))).not.toThrow();
    expect(() => new Webhook(oldSecret).verify(after.body, headersOf(after))).toThrow();
    const listed = await t.graphql<{ webhookEndpoints: { id: string; previousSecretExpiresAt: string | null }[] }>(
      `{ webhookEndpoints { id previousSecretExpiresAt } }`,
      undefined,
      user.headers,
    );
    expect(listed.body.data!.webhookEndpoints.find((x) => x.id === e.id)?.previousSecretExpiresAt).toBeNull();
  });
});

describe("the payload", () => {
  const schema = buildSchema(fs.readFileSync(path.join(REPO_ROOT, "schema/schema.graphql"), "utf8"));

  /** A selection of exactly the payload's keys, each of which must be a field of the GraphQL type. */
  function selection(type: GraphQLObjectType, value: Record<string, unknown>): string {
    const fields = type.getFields();
    return Object.entries(value)
      .map(([key, v]) => {
        expect(Object.keys(fields), `${type.name}.${key}`).toContain(key);
        const named = getNamedType(fields[key].type);
        // The asset link is the original's download link (signed for longer than the API's links).
        if (type.name === "Asset" && key === "url") return "url(variant: ORIGINAL, download: true)";
        if (!(named instanceof GraphQLObjectType)) return key;
        const sample = (Array.isArray(v) ? v[0] : v) as Record<string, unknown> | null | undefined;
        // A null object (the error of a task that did not fail): its scalar fields, which must be null too.
        if (sample == null) {
          const scalars = Object.values(named.getFields()).filter(
            (f) => !(getNamedType(f.type) instanceof GraphQLObjectType) && f.args.length === 0,
          );
          return `${key} { ${scalars.map((f) => f.name).join(" ")} }`;
        }
        return `${key} { ${selection(named, sample)} }`;
      })
      .join(" ");
  }

  it("carries the task as the GraphQL Task names and answers its fields, with long-lived asset links", async () => {
    const who = await customer(t);
    const { secret } = await endpoint("/shape", ["task.succeeded"], who);
    const taskId = await createTask(who, { webhookUrl: `${base}/shape-own`, clientReference: "order-7" });
    await expect.poll(() => forPath("/shape").length, { timeout: 20_000 }).toBe(1);
    const [event] = verified("/shape", secret);
    const sentAt = forPath("/shape")[0].at;
    expect(event.type).toBe("task.succeeded");
    const data = event.data;
    // What the audit found missing is there.
    expect(Object.keys(data)).toEqual(
      expect.arrayContaining(["model", "referenceIds", "webhookUrl", "queuePosition", "clientReference", "assets"]),
    );

    const res = await t.graphql<{ task: Record<string, unknown> }>(
      `query($id: ID!) { task(id: $id) { ${selection(schema.getType("Task") as GraphQLObjectType, data)} } }`,
      { id: taskId },
      who.headers,
    );
    expect(res.body.errors).toBeUndefined();
    const task = res.body.data!.task;
    type WithAssets = { assets: { url: string }[] };
    const withoutUrls = (x: Record<string, unknown>) => ({
      ...x,
      assets: (x as unknown as WithAssets).assets.map(({ url: _url, ...rest }) => rest),
    });
    expect(withoutUrls(data)).toEqual(withoutUrls(task));
    expect(data).toMatchObject({
      id: taskId,
      status: "SUCCEEDED",
      webhookUrl: `${base}/shape-own`,
      clientReference: "order-7",
      model: { slug: "novart-sketch" },
      queuePosition: null,
    });

    // The link is the same file as the API's, signed to expire WEBHOOK_ASSET_URL_TTL_SECONDS after sending.
    const sent = new URL((data as unknown as WithAssets).assets[0].url);
    const api = new URL((task as unknown as WithAssets).assets[0].url, t.app.config.PUBLIC_URL);
    expect(sent.pathname).toBe(api.pathname);
    const ttl = t.app.config.WEBHOOK_ASSET_URL_TTL_SECONDS;
    expect(ttl).toBeGreaterThan(3600);
    // The expiry is rounded up to the minute.
    const expected = sentAt / 1000 + ttl;
    expect(Number(sent.searchParams.get("exp"))).toBeGreaterThanOrEqual(expected - 30);
    expect(Number(sent.searchParams.get("exp"))).toBeLessThanOrEqual(expected + 90);
    const image = await fetch(sent.href.replace(t.app.config.PUBLIC_URL, t.url));
    expect(image.status).toBe(200);
  });
});

describe("the delivery log", () => {
  it("filters by task, pages with after, and keeps the first 1 KB of an answer", async () => {
    const who = await customer(t);
    const big = "x".repeat(5 * 1024);
    answers.set("/big", () => ({ status: 200, headers: { "content-type": "text/plain" }, body: big }));
    const { endpoint: e } = await endpoint("/log", ALL_EVENTS, who);
    const { endpoint: bigEndpoint } = await endpoint("/big", ["task.failed"], who);
    const taskId = await createTask(who);
    await expect.poll(() => taskStatus(taskId, who), { timeout: 20_000 }).toBe("SUCCEEDED");
    const snippetDelivery = await testDelivery(bigEndpoint.id, who);
    await testDelivery(e.id, who);
    await expect
      .poll(async () => (await deliveryOf(snippetDelivery, who))?.status, { timeout: 10_000 })
      .toBe("SUCCEEDED");

    // The task's deliveries only: its two events, not the test deliveries.
    await expect.poll(async () => (await deliveries(who, { taskId })).edges.length, { timeout: 10_000 }).toBe(2);
    const ofTask = (await deliveries(who, { taskId })).edges.map((edge) => edge.node);
    expect(ofTask.map((d) => d.eventType).sort()).toEqual(["task.running", "task.succeeded"]);
    expect(ofTask.every((d) => d.taskId === taskId && d.endpointId === e.id)).toBe(true);
    const none = await deliveries(who, { taskId: "00000000-0000-4000-8000-000000000000" });
    expect(none.edges).toEqual([]);

    // Pages of one: the same deliveries in the same order as one page of all, each once.
    const all = (await deliveries(who)).edges.map((edge) => edge.node.id);
    expect(all).toHaveLength(4);
    const paged: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const result = await deliveries(who, { first: 1, after });
      paged.push(...result.edges.map((edge) => edge.node.id));
      if (!result.pageInfo.hasNextPage) break;
      after = result.pageInfo.endCursor;
    }
    expect(paged).toEqual(all);

    // The receiver answered 5 KB: the log keeps exactly the first 1024 bytes.
    const snippet = (await deliveryOf(snippetDelivery, who))!.attempts[0].responseSnippet;
    expect(Buffer.byteLength(snippet)).toBe(1024);
    expect(snippet).toBe(big.slice(0, 1024));
  });

  it("records an answer with a NUL byte and a character cut by the 1 KB limit", async () => {
    const who = await customer(t);
    // Bytes: 10 × "a", NUL, 1012 × "a", then "é" (2 bytes) across the 1024th byte.
    const body = `${"a".repeat(10)}\u0000${"a".repeat(1012)}é and more`;
    answers.set("/binary", () => ({ status: 200, headers: { "content-type": "application/octet-stream" }, body }));
    const { endpoint: e } = await endpoint("/binary", ["task.failed"], who);
    const id = await testDelivery(e.id, who);
    await expect.poll(async () => (await deliveryOf(id, who))?.status, { timeout: 10_000 }).toBe("SUCCEEDED");
    const snippet = (await deliveryOf(id, who))!.attempts[0].responseSnippet;
    expect(snippet).toBe(`${"a".repeat(10)}\uFFFD${"a".repeat(1012)}`);
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

describe("task.failed and task.canceled, and the usage of a failed task", () => {
  // Slow steps (about 8 s a task) and a 3 s task timeout: every task fails unless canceled first.
  let slow: TestApp;
  beforeAll(async () => {
    slow = await startTestApp({
      WEBHOOK_ALLOW_PRIVATE: "true",
      WEBHOOK_RETRY_SCHEDULE_MS: "0,50,50,50",
      LOCAL_PROVIDER_STEP_MS: "1000",
      TASK_TIMEOUT_MS: "3000",
    });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it("delivers task.canceled for a canceled task", async () => {
    const who = await customer(slow);
    const { secret } = await endpoint("/canceled", ALL_EVENTS, who, slow);
    const taskId = await createTask(who, {}, slow);
    const canceled = await slow.graphql<{ cancelTask: { task: { status: string } } }>(
      `mutation($input: IdInput!) { cancelTask(input: $input) { task { status } } }`,
      { input: { id: taskId } },
      who.headers,
    );
    expect(canceled.body.errors).toBeUndefined();
    expect(canceled.body.data!.cancelTask.task.status).toBe("CANCELED");
    await expect
      .poll(() => verified("/canceled", secret).map((e) => e.type), { timeout: 20_000 })
      .toContain("task.canceled");
    const events = verified("/canceled", secret);
    // Perhaps task.running first (when a worker had started it), then task.canceled, last.
    expect(events.at(-1)).toMatchObject({
      type: "task.canceled",
      data: { id: taskId, status: "CANCELED", error: null },
    });
    expect(events.map((e) => e.type).filter((type) => type !== "task.running")).toEqual(["task.canceled"]);
  });

  it("delivers task.failed with the error, and counts the failed task in usage with nothing spent", async () => {
    const who = await customer(slow);
    const { secret } = await endpoint("/failed", ALL_EVENTS, who, slow);
    const before = Date.now();
    const taskId = await createTask(who, {}, slow);
    await expect
      .poll(() => verified("/failed", secret).map((e) => e.type), { timeout: 30_000 })
      .toEqual(["task.running", "task.failed"]);
    const failed = verified("/failed", secret)[1];
    expect(failed.data).toMatchObject({ id: taskId, status: "FAILED", error: { code: "TIMEOUT" } });
    expect(typeof (failed.data.error as { message: string }).message).toBe("string");
    expect(await slow.app.services.ledger.balance(who.account.id)).toEqual({ paid: 100, bonus: 0 });

    // By hour: three buckets on whole hours around now; the task's hour has it, failed, and refunded.
    const hour = 3_600_000;
    const from = new Date(Math.floor(before / hour) * hour - hour);
    const to = new Date(from.getTime() + 3 * hour);
    const res = await slow.graphql<{
      usage: { start: string; tasks: number; images: number; creditsSpent: number; failures: number }[];
    }>(
      `query($from: DateTimeISO!, $to: DateTimeISO!) { usage(from: $from, to: $to, granularity: HOUR) { start tasks images creditsSpent failures } }`,
      { from: from.toISOString(), to: to.toISOString() },
      who.headers,
    );
    expect(res.body.errors).toBeUndefined();
    const buckets = res.body.data!.usage;
    expect(buckets.map((b) => Date.parse(b.start))).toEqual([0, 1, 2].map((i) => from.getTime() + i * hour));
    const created = buckets.find((b) => b.tasks > 0)!;
    expect(created).toMatchObject({ tasks: 1, images: 0, failures: 1 });
    expect(Date.parse(created.start)).toBe(Math.floor(before / hour) * hour);
    // Charged, then refunded (perhaps in the next hour): the net spend is 0.
    expect(buckets.reduce((sum, b) => sum + b.creditsSpent, 0)).toBe(0);
    expect(buckets.reduce((sum, b) => sum + b.tasks, 0)).toBe(1);
    expect(buckets.reduce((sum, b) => sum + b.failures, 0)).toBe(1);
  });
});
