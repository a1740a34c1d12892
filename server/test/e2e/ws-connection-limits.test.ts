import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { MAX_OPERATIONS_PER_CONNECTION, MAX_OPERATIONS_PER_CONNECTION_MINUTE } from "../../src/api.js";
import { messageTopic } from "../../src/modules/accounts/accounts.topics.js";
import { signedInUser, type SignedInUser } from "../factories.js";
import { startTestApp, type TestApp } from "../harness.js";

/**
 * One graphql-ws connection cannot take the server's memory: it runs a bounded number of operations at once,
 * starts a bounded number per minute, and a client that stops reading is dropped instead of buffered for.
 */
let t: TestApp;
let user: SignedInUser;

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  user = await signedInUser(t);
});
afterAll(() => t?.close());

interface Frame {
  id?: string;
  type: string;
  payload?: unknown;
}

/** A raw graphql-transport-ws client: every frame it got, by operation id. */
async function connect(token?: string) {
  const ws = new WebSocket(`${t.url.replace("http", "ws")}/graphql`, "graphql-transport-ws");
  const frames: Frame[] = [];
  ws.on("message", (data) => frames.push(JSON.parse(String(data)) as Frame));
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  ws.send(JSON.stringify({ type: "connection_init", payload: token ? { authorization: `Bearer ${token}` } : {} }));
  await expect.poll(() => frames.some((f) => f.type === "connection_ack")).toBe(true);
  const subscribe = (id: string, query: string) =>
    ws.send(JSON.stringify({ id, type: "subscribe", payload: { query } }));
  const complete = (id: string) => ws.send(JSON.stringify({ id, type: "complete" }));
  const errorOf = (id: string) =>
    frames.find((f) => f.id === id && f.type === "error")?.payload as { extensions?: { code?: string } }[] | undefined;
  return { ws, frames, subscribe, complete, errorOf };
}

const HEARTBEAT = "subscription { heartbeat { at } }";

describe("a graphql-ws connection's limits", () => {
  it(`runs at most ${MAX_OPERATIONS_PER_CONNECTION} operations at once`, async () => {
    const client = await connect();
    try {
      for (let i = 0; i <= MAX_OPERATIONS_PER_CONNECTION; i++) client.subscribe(`h${i}`, HEARTBEAT);
      const last = `h${MAX_OPERATIONS_PER_CONNECTION}`;
      await expect.poll(() => client.errorOf(last)?.[0]?.extensions?.code).toBe("RATE_LIMITED");
      expect(client.frames.filter((f) => f.type === "error")).toHaveLength(1);
      // One ended, one more may start.
      client.complete("h0");
      client.subscribe("again", HEARTBEAT);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(client.errorOf("again")).toBeUndefined();
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      client.ws.terminate();
    }
  });

  it(`starts at most ${MAX_OPERATIONS_PER_CONNECTION_MINUTE} operations a minute`, async () => {
    const client = await connect();
    try {
      for (let i = 0; i < MAX_OPERATIONS_PER_CONNECTION_MINUTE; i++) {
        client.subscribe(`s${i}`, HEARTBEAT);
        client.complete(`s${i}`);
      }
      client.subscribe("over", HEARTBEAT);
      await expect.poll(() => client.errorOf("over")?.[0]?.extensions?.code, { timeout: 10_000 }).toBe("RATE_LIMITED");
      expect(client.frames.filter((f) => f.type === "error")).toHaveLength(1);
    } finally {
      client.ws.terminate();
    }
  });

  it("drops a client that stopped reading instead of buffering its frames without bound", async () => {
    const client = await connect(user.token);
    const closed = new Promise<void>((resolve) => client.ws.once("close", () => resolve()));
    client.subscribe("inbox", "subscription { messageReceived { id body } }");
    const listening = async () =>
      Number(
        (
          (await t.app.redis.pubsub("NUMSUB", `${t.app.config.REDIS_PREFIX}:${messageTopic(user.account.id)}`)) as [
            string,
            number,
          ]
        )[1],
      );
    await expect.poll(listening).toBeGreaterThan(0);
    // The client reads nothing more; 32 MB of messages are published for it, paced so that Redis's own
    // limit for a subscriber's output (32 MB) is not what ends it.
    (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const body = "x".repeat(64 * 1024);
    for (let i = 0; i < 512 && (await listening()) > 0; i++) {
      t.app.pubsub.publish(messageTopic(user.account.id), {
        id: randomUUID(),
        kind: "test",
        title: "Flood",
        body,
        link: null,
        readAt: null,
        createdAt: new Date().toISOString(),
      });
      if (i % 16 === 15) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await expect.poll(listening, { timeout: 20_000 }).toBe(0);
    (client.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    // Dropped by the server (terminated: no close frame to wait behind the unread ones).
    await closed;
  });
});
