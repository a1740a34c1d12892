import { randomBytes } from "node:crypto";
import net, { type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { REDIS_URL } from "../../test/harness.js";
import { freePort } from "../../test/processes.js";
import { PubSubBus } from "./pubsub.js";
import { createRedis } from "./redis.js";

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
const clients: ReturnType<typeof createRedis>[] = [];
afterEach(() => {
  process.off("unhandledRejection", onUnhandled);
  for (const client of clients.splice(0)) client.disconnect();
});

describe("PubSubBus while Redis is down", () => {
  it("does not turn a failed PUBLISH, SUBSCRIBE or UNSUBSCRIBE into an unhandled rejection", async () => {
    // Nothing listens there; each command gives up after one reconnection attempt, as the real clients do
    // after twenty (a Redis outage of about half a minute).
    const url = `redis://127.0.0.1:${await freePort()}`;
    const publisher = createRedis({ url }, { maxRetriesPerRequest: 1, retryStrategy: () => 10 });
    const subscriber = createRedis(
      { url },
      { maxRetriesPerRequest: 1, retryStrategy: () => 10, enableReadyCheck: false },
    );
    clients.push(publisher, subscriber);
    for (const client of clients) client.on("error", () => undefined);
    process.on("unhandledRejection", onUnhandled);

    const bus = new PubSubBus(publisher, subscriber, "pubsub-test");
    bus.publish("TOPIC", { hello: "world" });
    const events = bus.subscribe("TOPIC")[Symbol.asyncIterator]();
    // The iterator subscribes on its first pull; ending it unsubscribes.
    void events.next();
    await events.return?.();
    // Queued commands fail together and in order: once these have, the bus's commands have too.
    await expect(publisher.ping()).rejects.toThrow(/max retries/i);
    await expect(subscriber.ping()).rejects.toThrow(/max retries/i);
    // Node reports unhandled rejections after the microtask queue drains.
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  });
});

describe("PubSubBus.subscribed", () => {
  it("resolves only once Redis confirmed the subscription: an event published after it is heard", async () => {
    // The subscriber reaches Redis through a relay that holds what it sends for 300 ms, so SUBSCRIBE is late.
    const target = new URL(REDIS_URL);
    const relay = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 6379), target.hostname);
      client.on("data", (chunk) => setTimeout(() => upstream.write(chunk), 300));
      upstream.pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
      client.on("error", () => undefined);
      upstream.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
    const publisher = createRedis({ url: REDIS_URL });
    const subscriber = createRedis(
      { url: `redis://127.0.0.1:${(relay.address() as AddressInfo).port}` },
      { enableReadyCheck: false },
    );
    clients.push(publisher, subscriber);
    try {
      const bus = new PubSubBus(publisher, subscriber, `subscribed-${randomBytes(4).toString("hex")}`);
      const events = bus.subscribe<{ n: number }>("TOPIC")[Symbol.asyncIterator]();
      const first = events.next(); // subscribes
      const started = Date.now();
      await bus.subscribed("TOPIC");
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      // Straight to Redis, not through the relay: heard only if the subscription is in place already.
      await publisher.publish(bus.channel("TOPIC"), JSON.stringify({ n: 1 }));
      const heard = await Promise.race([first, new Promise((resolve) => setTimeout(() => resolve("lost"), 2000))]);
      expect(heard).toEqual({ value: { n: 1 }, done: false });
      await events.return?.();
      // A topic nobody listens to has nothing to wait for.
      await bus.subscribed("NOBODY");
    } finally {
      relay.close();
    }
  });
});
