import type { AddressInfo } from "node:net";
import {
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  specifiedRules,
  type ExecutionResult,
} from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { shareLive, SubscriptionFanout } from "./subscription-fanout.js";

interface Ctx {
  viewer: string;
}

/** A topic hub that hands every listener the same event object, as the Redis event target does. */
function createHub() {
  const listeners = new Map<string, Set<(event: object) => void>>();
  return {
    listeners,
    publish(topic: string, event: object) {
      for (const listener of listeners.get(topic) ?? []) listener(event);
    },
    subscribe(topic: string): AsyncIterable<object> {
      return {
        [Symbol.asyncIterator]() {
          const queue: object[] = [];
          const waiting: ((r: IteratorResult<object>) => void)[] = [];
          const listener = (event: object) => {
            const w = waiting.shift();
            if (w) w({ value: event, done: false });
            else queue.push(event);
          };
          const set = listeners.get(topic) ?? new Set();
          listeners.set(topic, set.add(listener));
          return {
            next: () =>
              queue.length
                ? Promise.resolve({ value: queue.shift()!, done: false })
                : new Promise<IteratorResult<object>>((resolve) => waiting.push(resolve)),
            return: () => {
              set.delete(listener);
              if (!set.size) listeners.delete(topic);
              for (const w of waiting.splice(0)) w({ value: undefined, done: true });
              return Promise.resolve({ value: undefined, done: true as const });
            },
          };
        },
      };
    },
  };
}

/**
 * A schema whose subscription field answers differently per viewer (`secret` reads the context), starts
 * each subscriber with an event of its own, and fails for the topic "forbidden".
 */
function createSchema(hub: ReturnType<typeof createHub>, executions: { count: number }, reads = { count: 0 }) {
  const Item = new GraphQLObjectType<{ id: string; owner?: string }, Ctx>({
    name: "Item",
    fields: {
      id: { type: new GraphQLNonNull(GraphQLString) },
      secret: {
        type: GraphQLString,
        resolve: (item, _args, ctx) => {
          executions.count++;
          if (item.id === "boom") throw new Error("resolver failed");
          return item.owner && item.owner !== ctx.viewer ? null : `${ctx.viewer}:${item.id}`;
        },
      },
    },
  });
  return new GraphQLSchema({
    query: new GraphQLObjectType({ name: "Query", fields: { ok: { type: GraphQLString, resolve: () => "ok" } } }),
    subscription: new GraphQLObjectType<unknown, Ctx>({
      name: "Subscription",
      fields: {
        feed: {
          type: Item,
          args: { topic: { type: new GraphQLNonNull(GraphQLString) } },
          subscribe: async function* (_root, { topic }: { topic: string }, ctx: Ctx) {
            if (topic === "forbidden") throw new Error(`not for ${ctx.viewer}`);
            const events = hub.subscribe(topic)[Symbol.asyncIterator]();
            try {
              yield { id: `start-${ctx.viewer}` }; // the subscriber's own starting state
              for (let next = await events.next(); !next.done; next = await events.next()) yield next.value;
            } finally {
              await events.return?.();
            }
          },
          resolve: (event: unknown) => event,
        },
        // The same, declared shareable: a start of its own, then the topic filtered per subscriber (events
        // with `skip` naming the viewer are not for it).
        live: {
          type: Item,
          args: { topic: { type: new GraphQLNonNull(GraphQLString) } },
          subscribe: (_root, { topic }: { topic: string }, ctx: Ctx) => {
            const start = async () => {
              if (topic === "forbidden") throw new Error(`not for ${ctx.viewer}`);
              return {
                initial: [{ id: `start-${ctx.viewer}` }],
                accept: (event: object) => (event as { skip?: string }).skip !== ctx.viewer,
              };
            };
            const source = (async function* () {
              const { initial, accept } = await start();
              yield* initial;
              for await (const event of hub.subscribe(topic)) if (accept(event)) yield event;
            })();
            return shareLive(source, { key: topic, open: () => hub.subscribe(topic), start });
          },
          resolve: (event: unknown) => event,
        },
        // Shareable with a snapshot: subscribers start from the topic's current state, read (slowly) by the
        // stream for them all.
        state: {
          type: Item,
          args: { topic: { type: new GraphQLNonNull(GraphQLString) } },
          subscribe: (_root, { topic }: { topic: string }) => {
            const snapshot = async () => {
              const read = ++reads.count;
              await new Promise((resolve) => setTimeout(resolve, 150));
              return [{ id: `state-${read}` }];
            };
            const source = (async function* () {
              yield* await snapshot();
              for await (const event of hub.subscribe(topic)) yield event;
            })();
            return shareLive(source, {
              key: topic,
              open: () => hub.subscribe(topic),
              snapshot,
              start: async (read: () => Promise<readonly object[]>) => ({ initial: await read(), accept: () => true }),
            });
          },
          resolve: (event: unknown) => event,
        },
      },
    }),
  });
}

const maskErrors = (result: ExecutionResult) =>
  result.errors ? { ...result, errors: result.errors.map((e) => ({ message: `masked: ${e.message}` })) } : result;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A graphql-ws server on a free port: with the fan-out, or graphql-ws on its own (for reference frames). */
async function startServer(withFanout: boolean) {
  const hub = createHub();
  const executions = { count: 0 };
  const reads = { count: 0 };
  const schema = createSchema(hub, executions, reads);
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((resolve) => wss.once("listening", resolve));
  const fanout = new SubscriptionFanout<Ctx>({
    schema,
    rules: specifiedRules,
    maxTokens: 1000,
    visibilityKey: (ctx) => ctx.viewer,
    formatResult: maskErrors,
  });
  const server = useServer<Record<string, unknown> | undefined>(
    {
      schema,
      ...(withFanout ? { onSubscribe: fanout.onSubscribe, subscribe: fanout.subscribe } : {}),
      context: (ctx) => ({ viewer: String(ctx.connectionParams?.viewer) }),
      onNext: (_ctx, _id, _payload, _args, result) => maskErrors(result as ExecutionResult),
    },
    wss,
  );
  closers.push(async () => void (await server.dispose()));
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, hub, fanout, executions, reads };
}

/** A raw graphql-transport-ws client: every frame it receives, as text. */
async function connectClient(url: string, viewer: string) {
  const ws = new WebSocket(url, "graphql-transport-ws");
  const frames: string[] = [];
  const waiters: (() => void)[] = [];
  ws.on("message", (data) => {
    frames.push(String(data));
    for (const w of waiters.splice(0)) w();
  });
  await new Promise((resolve) => ws.once("open", resolve));
  ws.send(JSON.stringify({ type: "connection_init", payload: { viewer } }));
  const client = {
    ws,
    frames,
    /** Resolves once `count` frames have arrived (fails after 5 s). */
    async frameCount(count: number) {
      const deadline = Date.now() + 5_000;
      while (frames.length < count) {
        if (Date.now() > deadline) throw new Error(`${viewer}: ${frames.length} of ${count} frames: ${frames}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return frames;
    },
    subscribe(id: string, topic: string, field = "feed") {
      ws.send(
        JSON.stringify({
          id,
          type: "subscribe",
          payload: {
            query: `subscription($topic: String!) { ${field}(topic: $topic) { id secret } }`,
            variables: { topic },
          },
        }),
      );
    },
    close: () => new Promise<void>((resolve) => (ws.once("close", () => resolve()), ws.close())),
  };
  closers.push(async () => void (ws.readyState === WebSocket.OPEN && (await client.close())));
  await client.frameCount(1); // connection_ack
  return client;
}

const parsed = (frame: string) => JSON.parse(frame) as { id?: string; type: string; payload?: unknown };

describe("SubscriptionFanout", () => {
  it("executes an event once per group and writes every member the same frame graphql-ws would", async () => {
    const ours = await startServer(true);
    const plain = await startServer(false);
    const [a1, a2, plainA] = await Promise.all([
      connectClient(ours.url, "alice"),
      connectClient(ours.url, "alice"),
      connectClient(plain.url, "alice"),
    ]);
    for (const client of [a1, a2, plainA]) client.subscribe("sub-1", "news");
    await Promise.all([a1, a2, plainA].map((c) => c.frameCount(2))); // the starting state
    expect(ours.fanout.stats()).toEqual({ groups: 1, members: 2 });
    const before = ours.executions.count;
    const event = { id: "e1" };
    ours.hub.publish("news", event);
    plain.hub.publish("news", { id: "e1" });
    const [f1, f2, reference] = await Promise.all([a1, a2, plainA].map((c) => c.frameCount(3)));
    expect(ours.executions.count - before).toBe(1);
    expect(f1[2]).toBe(f2[2]);
    expect(f1[2]).toBe(reference[2]); // byte for byte
    expect(parsed(f1[2])).toEqual({
      id: "sub-1",
      type: "next",
      payload: { data: { feed: { id: "e1", secret: "alice:e1" } } },
    });
    // Errors in the shared execution reach every member, masked as onNext would.
    ours.hub.publish("news", { id: "boom" });
    plain.hub.publish("news", { id: "boom" });
    const [g1, , plainErrors] = await Promise.all([a1, a2, plainA].map((c) => c.frameCount(4)));
    expect(g1[3]).toBe(plainErrors[3]);
    expect(g1[3]).toContain("masked: resolver failed");
    // Frames of every length class (7-bit, 16-bit and 64-bit lengths) and non-ASCII text.
    for (const id of ["é".repeat(100), "x".repeat(70_000)]) {
      ours.hub.publish("news", { id });
      plain.hub.publish("news", { id });
    }
    const [h1, h2, plainLong] = await Promise.all([a1, a2, plainA].map((c) => c.frameCount(6)));
    expect(h1.slice(4)).toEqual(plainLong.slice(4));
    expect(h2.slice(4)).toEqual(plainLong.slice(4));
  });

  it("never lets two viewers on the same document see each other's data", async () => {
    const ours = await startServer(true);
    const [alice, bob] = await Promise.all([connectClient(ours.url, "alice"), connectClient(ours.url, "bob")]);
    alice.subscribe("s", "news");
    bob.subscribe("s", "news");
    await Promise.all([alice.frameCount(2), bob.frameCount(2)]);
    expect(ours.fanout.stats()).toEqual({ groups: 2, members: 2 });
    ours.hub.publish("news", { id: "e1" });
    ours.hub.publish("news", { id: "e2", owner: "bob" });
    const [fa, fb] = await Promise.all([alice.frameCount(4), bob.frameCount(4)]);
    const secrets = (frames: string[]) =>
      frames.slice(1).map((f) => (parsed(f).payload as { data: { feed: { secret: string | null } } }).data.feed.secret);
    expect(secrets(fa)).toEqual(["alice:start-alice", "alice:e1", null]);
    expect(secrets(fb)).toEqual(["bob:start-bob", "bob:e1", "bob:e2"]);
    expect(fa.join("")).not.toContain("bob");
    expect(fb.join("")).not.toContain("alice");
  });

  it("leaves no group or listener behind after complete, disconnect or a failed subscriber", async () => {
    const ours = await startServer(true);
    const [a1, a2, b] = await Promise.all([
      connectClient(ours.url, "alice"),
      connectClient(ours.url, "alice"),
      connectClient(ours.url, "bob"),
    ]);
    a1.subscribe("x", "news");
    a2.subscribe("x", "news");
    b.subscribe("x", "news");
    // A subscriber whose source fails gets graphql-ws's error message; the others go on.
    b.subscribe("bad", "forbidden");
    const failed = await b.frameCount(3);
    expect(failed.map(parsed).find((f) => f.id === "bad")).toMatchObject({ type: "error" });
    await Promise.all([a1.frameCount(2), a2.frameCount(2)]);
    expect(ours.fanout.stats()).toEqual({ groups: 2, members: 3 });

    a1.ws.send(JSON.stringify({ id: "x", type: "complete" }));
    await b.close();
    const deadline = Date.now() + 5_000;
    while (ours.fanout.stats().members !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(ours.fanout.stats()).toEqual({ groups: 1, members: 1 });
    ours.hub.publish("news", { id: "e1" });
    await a2.frameCount(3);
    expect(a1.frames).toHaveLength(2); // nothing after its complete

    await a2.close();
    while (ours.fanout.stats().members !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(ours.fanout.stats()).toEqual({ groups: 0, members: 0 });
    // The subscribers' sources end too (a generator waiting for its next event ends when that event comes,
    // as under graphql-ws's own iteration): then the hub has no listener left.
    ours.hub.publish("news", { id: "e2" });
    while (ours.hub.listeners.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(ours.hub.listeners.size).toBe(0);
  });

  it("shares one stream per group for sources marked shareLive, filtered per subscriber, closed with the last", async () => {
    const ours = await startServer(true);
    const [a1, a2, b] = await Promise.all([
      connectClient(ours.url, "alice"),
      connectClient(ours.url, "alice"),
      connectClient(ours.url, "bob"),
    ]);
    for (const client of [a1, a2, b]) client.subscribe("l", "news", "live");
    b.subscribe("bad", "forbidden", "live");
    await Promise.all([a1.frameCount(2), a2.frameCount(2), b.frameCount(3)]);
    expect(b.frames.map(parsed).find((f) => f.id === "bad")).toMatchObject({ type: "error" });
    expect(ours.fanout.stats()).toEqual({ groups: 2, members: 3 });
    // One listener per group (alice's, bob's), not per subscriber.
    expect(ours.hub.listeners.get("news")?.size).toBe(2);
    const before = ours.executions.count;
    ours.hub.publish("news", { id: "e1" });
    ours.hub.publish("news", { id: "e2", skip: "bob" });
    const [fa1, fa2, fb] = await Promise.all([a1.frameCount(4), a2.frameCount(4), b.frameCount(4)]);
    expect(ours.executions.count - before).toBe(4); // e1 and e2 once for alice's group, once each for bob's
    expect(fa1.slice(2)).toEqual(fa2.slice(2));
    expect(parsed(fa1[3]).payload).toEqual({ data: { live: { id: "e2", secret: "alice:e2" } } });
    const secrets = fb
      .map(parsed)
      .filter((f) => f.id === "l")
      .map((f) => (f.payload as { data: { live: { secret: string } } }).data.live.secret);
    expect(secrets).toEqual(["bob:start-bob", "bob:e1"]);
    await Promise.all([a1.close(), a2.close(), b.close()]);
    const deadline = Date.now() + 5_000;
    while ((ours.fanout.stats().members || ours.hub.listeners.size) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    // Closed at once: no event needed to end a waiting generator.
    expect(ours.fanout.stats()).toEqual({ groups: 0, members: 0 });
    expect(ours.hub.listeners.size).toBe(0);
  });

  it("reads a stream's starting state once for the subscribers that join while a read is under way", async () => {
    const ours = await startServer(true);
    const clients = await Promise.all(Array.from({ length: 6 }, () => connectClient(ours.url, "alice")));
    clients[0].subscribe("s", "news", "state");
    // The first read is under way: the other five join meanwhile and share the read after it.
    await new Promise((resolve) => setTimeout(resolve, 10));
    for (const client of clients.slice(1)) client.subscribe("s", "news", "state");
    const deadline = Date.now() + 5_000;
    while (ours.fanout.stats().members < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await new Promise((resolve) => setTimeout(resolve, 10));
    // An event published before their read ends is kept for them (they joined the stream first).
    ours.hub.publish("news", { id: "e1" });
    const frames = await Promise.all(clients.map((c) => c.frameCount(3)));
    expect(ours.reads.count).toBe(2);
    const ids = (list: string[]) =>
      list.slice(1).map((f) => (parsed(f).payload as { data: { state: { id: string } } }).data.state.id);
    expect(ids(frames[0]).sort()).toEqual(["e1", "state-1"]);
    for (const list of frames.slice(1)) expect(ids(list).sort()).toEqual(["e1", "state-2"]);
    // The shared starting state is executed once for the group, like any event.
    expect(ours.executions.count).toBe(3);
    // A subscriber that comes later reads again (the state may have changed since).
    const late = await connectClient(ours.url, "alice");
    late.subscribe("s", "news", "state");
    expect(ids(await late.frameCount(2))).toEqual(["state-3"]);
  });
});
