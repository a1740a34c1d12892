// The P1 pipeline's event subscriber, its own process: a Redis subscriber to the account task channels
// (`<prefix>:ACCOUNT_TASKS:<account>`, the channel behind `myTaskUpdates`) of the prefixes in PATTERNS. For
// every SUCCEEDED event it records when it arrived and the task's finishedAt (PostgreSQL's now() of the
// SUCCEEDED update), so the bench gets the SUCCEEDED-in-the-database → event lag per task.
// Usage: PORT=… REDIS_URL=… PATTERNS='p1:ACCOUNT_TASKS:*,p2:ACCOUNT_TASKS:*' node bench/pipeline-subscriber.mjs
// GET / answers once subscribed; GET /drain returns (and forgets) [[taskId, lagMs, channel], …].
import http from "node:http";
import { Redis } from "ioredis";

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

const server = http.createServer((req, res) => {
  if (req.url === "/drain") {
    const body = JSON.stringify(events);
    events = [];
    res.writeHead(200, { "content-type": "application/json" });
    res.end(body);
    return;
  }
  res.end("ok");
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => {
  server.close();
  redis.disconnect();
  process.exit(0);
});
