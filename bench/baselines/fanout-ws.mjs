// S1's baseline: a bare `ws` server that speaks just enough graphql-transport-ws (connection_init → ack,
// subscribe → the starting state) and broadcasts each task event from the same Redis pub/sub channels as the
// API, as the very bytes the API sends: the frame of each account's task (captured from the API by the
// scenario, progress left as a placeholder) with the event's progress in it. No GraphQL, no database.
//
// Env: PORT, REDIS_URL, REDIS_PREFIX, FANOUT_SETUP (a JSON file: tokens { bearer token → account index },
// accounts [{ id, template }] where the template holds __PROGRESS__).
import fs from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { WebSocketServer } from "ws";

const require = createRequire(path.resolve(import.meta.dirname, "../../server/package.json"));
const { Redis } = require("ioredis");

const setup = JSON.parse(fs.readFileSync(process.env.FANOUT_SETUP, "utf8"));
const channelOf = (accountId) => `${process.env.REDIS_PREFIX}:ACCOUNT_TASKS:${accountId}`;
/** Per account: its channel's template and the open subscriptions (socket → frame prefix). */
const accounts = new Map(
  setup.accounts.map((a) => [channelOf(a.id), { template: a.template.split("__PROGRESS__"), members: new Map() }]),
);
const byIndex = [...accounts.values()];

const server = http.createServer((_req, res) => res.end("ok"));
const wss = new WebSocketServer({ server, path: "/graphql", perMessageDeflate: false });
wss.on("connection", (socket) => {
  let account;
  socket.on("message", (data) => {
    const message = JSON.parse(String(data));
    if (message.type === "connection_init") {
      const token = String(message.payload?.authorization ?? "").replace(/^Bearer /, "");
      account = byIndex[setup.tokens[token]];
      if (!account) return socket.close(4403, "Forbidden");
      socket.send('{"type":"connection_ack"}');
    } else if (message.type === "subscribe" && account) {
      const prefix = `{"id":${JSON.stringify(message.id)},"type":"next","payload":`;
      account.members.set(socket, prefix);
      socket.send(prefix + account.template.join("0") + "}");
    } else if (message.type === "complete" && account) account.members.delete(socket);
  });
  socket.on("close", () => account?.members.delete(socket));
});

const redis = new Redis(process.env.REDIS_URL);
await redis.subscribe(...accounts.keys());
redis.on("message", (channel, message) => {
  const account = accounts.get(channel);
  if (!account) return;
  const payload = account.template.join(JSON.stringify(JSON.parse(message).progress));
  for (const [socket, prefix] of account.members)
    if (socket.readyState === socket.OPEN) socket.send(prefix + payload + "}");
});

server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => {
  for (const socket of wss.clients) socket.terminate();
  redis.disconnect();
  server.close(() => process.exit(0));
});
