// The P1 pipeline's event subscriber, its own process. It hears task events two ways:
//   - Redis: a subscriber to the account task channels (`<prefix>:ACCOUNT_TASKS:<account>`, the channel behind
//     `myTaskUpdates`) of the prefixes in PATTERNS, for both pipelines (the baseline publishes there too);
//   - GraphQL (ours only, opened for the event-lag run): one graphql-ws client per account on the API, with
//     its API key, subscribed to `myTaskUpdates`, the way an application follows its tasks.
// For every SUCCEEDED event it records when it arrived and the task's finishedAt (PostgreSQL's now() of the
// SUCCEEDED update), so the bench gets the SUCCEEDED-in-the-database → event lag per task.
// Usage: PORT=… REDIS_URL=… PATTERNS='p1:ACCOUNT_TASKS:*,p2:ACCOUNT_TASKS:*' node bench/pipeline-subscriber.mjs
//   GET /           answers once subscribed to Redis
//   GET /drain      returns (and forgets) [[taskId, lagMs, source], …]; source: the Redis prefix, or "graphql"
//   POST /ws/open   {url, keys: [apiKey…]}: opens the GraphQL clients, answers {opened} once each is subscribed
//   POST /ws/close  closes them
import { createRequire } from "node:module";
import http from "node:http";
import path from "node:path";
import { Redis } from "ioredis";

const require = createRequire(path.join(import.meta.dirname, "../server/package.json"));
const WebSocket = require("ws");

const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableReadyCheck: false });
let events = [];
redis.on("pmessage", (_pattern, channel, message) => {
  const receivedAt = Date.now();
  // A cheap test first: most events of a run are RUNNING/QUEUED ones.
  if (!message.includes('"SUCCEEDED"')) return;
  const event = JSON.parse(message);
  if (event.status !== "SUCCEEDED") return;
  events.push([event.id, receivedAt - Date.parse(event.finishedAt), channel.slice(0, channel.indexOf(":"))]);
});
await redis.psubscribe(...process.env.PATTERNS.split(","));

const SUBSCRIPTION = "subscription { myTaskUpdates { id status finishedAt } }";
let sockets = [];

/** One graphql-transport-ws client: resolves once subscribed (its first frame, the starting state, arrived). */
function openClient(url, key) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, "graphql-transport-ws");
    let subscribed = false;
    const timer = setTimeout(() => reject(new Error("graphql-ws client: not subscribed within 30 s")), 30_000);
    socket.on("open", () =>
      socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${key}` } })),
    );
    socket.on("message", (data) => {
      const receivedAt = Date.now();
      const text = data.toString();
      const frame = JSON.parse(text);
      if (frame.type === "connection_ack") {
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: SUBSCRIPTION } }));
        // An account without unfinished tasks gets no starting frame: subscribed once the server had it.
        setTimeout(() => {
          if (!subscribed) {
            subscribed = true;
            clearTimeout(timer);
            resolve(socket);
          }
        }, 200);
        return;
      }
      if (frame.type !== "next") {
        if (frame.type === "error" || frame.type === "complete") reject(new Error(`graphql-ws client: ${text}`));
        return;
      }
      const task = frame.payload?.data?.myTaskUpdates;
      if (task?.status === "SUCCEEDED") events.push([task.id, receivedAt - Date.parse(task.finishedAt), "graphql"]);
    });
    socket.on("close", (code, reason) => {
      if (!subscribed) reject(new Error(`graphql-ws client closed ${code} ${reason}`));
    });
    socket.on("error", reject);
  });
}

const body = (req) =>
  new Promise((resolve) => {
    let text = "";
    req.on("data", (d) => (text += d));
    req.on("end", () => resolve(text ? JSON.parse(text) : {}));
  });

const server = http.createServer(async (req, res) => {
  const answer = (value, status = 200) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  };
  try {
    if (req.url === "/drain") {
      const drained = events;
      events = [];
      return answer(drained);
    }
    if (req.url === "/ws/open") {
      const { url, keys } = await body(req);
      // 50 handshakes at a time: the API authenticates each key once.
      for (let i = 0; i < keys.length; i += 50) {
        sockets.push(...(await Promise.all(keys.slice(i, i + 50).map((key) => openClient(url, key)))));
      }
      return answer({ opened: sockets.length });
    }
    if (req.url === "/ws/close") {
      for (const socket of sockets) socket.close();
      sockets = [];
      return answer({ closed: true });
    }
    answer("ok");
  } catch (err) {
    answer({ error: String(err.message ?? err) }, 500);
  }
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => {
  server.close();
  for (const socket of sockets) socket.terminate();
  redis.disconnect();
  process.exit(0);
});
