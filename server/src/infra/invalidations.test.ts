import { randomBytes } from "node:crypto";
import net, { type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { REDIS_URL } from "../../test/harness.js";
import { freePort } from "../../test/processes.js";
import { Invalidations } from "./invalidations.js";
import { PubSubBus } from "./pubsub.js";
import { createRedis } from "./redis.js";

const clients: ReturnType<typeof createRedis>[] = [];
const servers: net.Server[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
  for (const server of servers.splice(0)) server.close();
});

/** A TCP relay to Redis that holds what the client sends for `delayMs` (its SUBSCRIBE is confirmed late). */
async function slowRelay(delayMs: number): Promise<string> {
  const target = new URL(REDIS_URL);
  const relay = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    client.on("data", (chunk) => setTimeout(() => upstream.write(chunk), delayMs));
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => undefined);
    upstream.on("error", () => undefined);
  });
  servers.push(relay);
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  return `redis://127.0.0.1:${(relay.address() as AddressInfo).port}`;
}

function busOver(subscriberUrl: string, options: Parameters<typeof createRedis>[1] = {}) {
  const publisher = createRedis({ url: REDIS_URL });
  const subscriber = createRedis({ url: subscriberUrl }, { enableReadyCheck: false, ...options });
  subscriber.on("error", () => undefined);
  clients.push(publisher, subscriber);
  return { bus: new PubSubBus(publisher, subscriber, `invalidations-${randomBytes(4).toString("hex")}`), publisher };
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("Invalidations", () => {
  it("lets a cache keep reads only once Redis confirmed the subscription, and not across an invalidation", async () => {
    const { bus, publisher } = busOver(await slowRelay(300));
    const heard: string[] = [];
    const invalidations = new Invalidations<{ id: string }>(
      bus,
      "CHANGED",
      (event) => heard.push(event.id),
      () => undefined,
    );
    // The first read starts listening; until Redis confirmed it, a change announced now could be missed.
    const early = invalidations.beginRead();
    expect(invalidations.mayKeep(early)).toBe(false);
    expect(await bus.heard("CHANGED")).toBe(true);
    // A read begun before the subscription was in place is not kept even now; a read begun after it is.
    expect(invalidations.mayKeep(early)).toBe(false);
    const read = invalidations.beginRead();
    expect(invalidations.mayKeep(read)).toBe(true);

    // A change announced by another process (straight to Redis) reaches the cache and spoils the read.
    await publisher.publish(bus.channel("CHANGED"), JSON.stringify({ id: "a" }));
    await until(() => heard.length === 1);
    expect(heard).toEqual(["a"]);
    expect(invalidations.mayKeep(read)).toBe(false);
    // A change in this process does the same.
    const next = invalidations.beginRead();
    invalidations.invalidate();
    expect(invalidations.mayKeep(next)).toBe(false);
    expect(invalidations.mayKeep(invalidations.beginRead())).toBe(true);
  });

  it("keeps nothing while Redis is down, and subscribes again at a later read", async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const { bus } = busOver(url, { maxRetriesPerRequest: 1, retryStrategy: () => 10 });
    let lost = 0;
    const invalidations = new Invalidations(
      bus,
      "CHANGED",
      () => undefined,
      () => lost++,
    );
    const read = invalidations.beginRead();
    expect(await bus.heard("CHANGED")).toBe(false);
    await until(() => lost === 1);
    expect(invalidations.mayKeep(read)).toBe(false);
    // The next read tries again (and fails again: nothing listens there).
    invalidations.beginRead();
    expect(await bus.heard("CHANGED")).toBe(false);
    await until(() => lost === 2);
    expect(invalidations.mayKeep(invalidations.beginRead())).toBe(false);
  });
});
