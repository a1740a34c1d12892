import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestApp, type TestApp } from "../../../test/harness.js";

let t: TestApp;
let ws: Client;
beforeAll(async () => {
  t = await startTestApp();
  ws = createClient({ url: t.url.replace("http", "ws") + "/graphql", webSocketImpl: WebSocket, retryAttempts: 0 });
});
afterAll(async () => {
  await ws?.dispose();
  await t?.close();
});

type HeartbeatResult = { data?: { heartbeat: { at: string; source: string } }; errors?: unknown[] };

describe("heartbeat subscription over graphql-ws", () => {
  it("answers at once from the API, then relays worker heartbeats from the queue through Redis", async () => {
    const events = ws.iterate<HeartbeatResult["data"]>({ query: "subscription { heartbeat { at source } }" });
    const sources: string[] = [];
    for await (const result of events) {
      expect(result.errors).toBeUndefined();
      const beat = result.data!.heartbeat;
      expect(Number.isNaN(Date.parse(beat.at))).toBe(false);
      sources.push(beat.source);
      if (sources.includes("WORKER") && sources.includes("API") && sources.length >= 3) break;
    }
    expect(sources[0]).toBe("API");
    expect(sources).toContain("WORKER");
  });

  it("does not hear another installation's heartbeats (topics are namespaced by the Redis prefix)", async () => {
    const other = await startTestApp({ ROLE: "api", HEARTBEAT_INTERVAL_MS: "100000" });
    const client = createClient({
      url: other.url.replace("http", "ws") + "/graphql",
      webSocketImpl: WebSocket,
      retryAttempts: 0,
    });
    try {
      const events = client.iterate<HeartbeatResult["data"]>({ query: "subscription { heartbeat { source } }" });
      const first = await events.next();
      expect(first.value?.data?.heartbeat.source).toBe("API");
      // This app has no worker and a long interval: within a second nothing else may arrive, although the
      // first app publishes every 200 ms on the same Redis server.
      const next = await Promise.race([events.next(), new Promise((r) => setTimeout(() => r("quiet"), 1000))]);
      expect(next).toBe("quiet");
      await events.return?.();
    } finally {
      await client.dispose();
      await other.close();
    }
  });

  it("answers validation errors of subscriptions with typed codes", async () => {
    const events = ws.iterate({ query: "subscription { heartbeat { nope } }" });
    await expect(events.next()).rejects.toSatisfy((errors: unknown) =>
      JSON.stringify(errors).includes("GRAPHQL_VALIDATION_FAILED"),
    );
  });
});
