import { randomBytes, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { REDIS_URL } from "../../../test/harness.js";
import { PubSubBus } from "../../infra/pubsub.js";
import { createRedis } from "../../infra/redis.js";
import { WEBHOOK_ENDPOINTS_CHANGED, WebhookEndpointCache, type EnabledEndpoint } from "./webhook-endpoint-cache.js";

const clients: ReturnType<typeof createRedis>[] = [];
afterAll(() => {
  for (const client of clients) client.disconnect();
});

/** A process's bus: its own publish and subscribe connections on the shared Redis, one prefix for all. */
function bus(prefix: string): PubSubBus {
  const publisher = createRedis({ url: REDIS_URL });
  const subscriber = createRedis({ url: REDIS_URL }, { enableReadyCheck: false });
  clients.push(publisher, subscriber);
  return new PubSubBus(publisher, subscriber, prefix);
}

/** A loader that counts its reads and answers what `rows` holds at the time. */
function table(rows: EnabledEndpoint[]) {
  const state = { rows, reads: 0 };
  return { state, load: async () => (state.reads++, [...state.rows]) };
}

describe("the webhook endpoint cache", () => {
  it("reads an account's endpoints once, and again in every process after a change in one of them", async () => {
    const prefix = `endpoint-cache-${randomBytes(4).toString("hex")}`;
    const apiBus = bus(prefix);
    const workerBus = bus(prefix);
    const api = new WebhookEndpointCache(apiBus);
    const worker = new WebhookEndpointCache(workerBus);
    const accountId = randomUUID();
    const { state, load } = table([]);

    // Each process listens from its first lookup; what it reads is kept once Redis confirmed the subscription.
    expect(await worker.get(accountId, load)).toEqual([]);
    expect(await workerBus.heard(WEBHOOK_ENDPOINTS_CHANGED)).toBe(true);
    expect(await worker.get(accountId, load)).toEqual([]);
    expect(await worker.get(accountId, load)).toEqual([]);
    expect(state.reads).toBe(2);
    await api.get(randomUUID(), async () => []);
    expect(await apiBus.heard(WEBHOOK_ENDPOINTS_CHANGED)).toBe(true);

    // The API process adds an endpoint and announces it: the worker reads again at its next task event.
    state.rows = [{ id: randomUUID(), url: "https://example.com/hook", events: ["task.succeeded"] }];
    api.changed(accountId);
    const deadline = Date.now() + 5000;
    while ((await worker.get(accountId, load)).length === 0 && Date.now() < deadline) await sleep(20);
    expect(await worker.get(accountId, load)).toEqual(state.rows);
    const reads = state.reads;
    expect(await worker.get(accountId, load)).toEqual(state.rows);
    expect(state.reads).toBe(reads);
  });

  it("does not keep what a lookup read while a change was announced", async () => {
    const heardBus = bus(`endpoint-cache-${randomBytes(4).toString("hex")}`);
    const cache = new WebhookEndpointCache(heardBus);
    await cache.get(randomUUID(), async () => []);
    expect(await heardBus.heard(WEBHOOK_ENDPOINTS_CHANGED)).toBe(true);
    const accountId = randomUUID();
    let reads = 0;
    // The change lands while the first read is in flight: that read may predate it, so it is not kept.
    const first = cache.get(accountId, async () => {
      reads++;
      cache.changed(accountId);
      return [];
    });
    expect(await first).toEqual([]);
    await cache.get(accountId, async () => (reads++, []));
    expect(reads).toBe(2);
    // That second read was kept.
    await cache.get(accountId, async () => (reads++, []));
    expect(reads).toBe(2);
  });
});
