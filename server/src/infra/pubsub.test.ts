import { afterEach, describe, expect, it } from "vitest";
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
