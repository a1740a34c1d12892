// S1's load: graphql-ws clients (the graphql-transport-ws protocol spoken over bare `ws`, so the clients
// cost as little as possible on the shared cores), run as a child of the scenario and driven over IPC.
// Loopback only; at most the clients the scenario asks for, closed when it says so or when it exits.
//
//   { cmd: "connect", side, url, document, events, taskIds, clients: [{ token, account }] }
//     → { done: "connect", failed }
//     opens the clients 100 at a time: connection_init with the bearer token, then one subscription each;
//     a client counts as subscribed once its first frame (the starting state) arrives.
//     clients[i].account indexes taskIds: every frame a client gets must name its own account's task.
//   { cmd: "reset", side } → { done: "reset" }           forgets what arrived so far
//   { cmd: "count", side } → { done: "count", received } deliveries so far
//   { cmd: "report", side, sentAt } → { done: "report", histogram, missing, max, foreign, duplicates, samples }
//     per delivery: receive time − the injector's send time of that event (same machine clock)
//   { cmd: "close", side } → { done: "close" }
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

/** Latency histogram: 0.1 ms buckets up to 60 s. */
export const BUCKET_MS = 0.1;
const BUCKETS = 600_000;
const CONCURRENT_HANDSHAKES = 100;
const now = () => performance.timeOrigin + performance.now();
const PROGRESS = Buffer.from('"progress":');

/** Per side (baseline, ours): its clients and what they received. */
const sides = new Map();

function progressOf(data) {
  const at = data.indexOf(PROGRESS);
  if (at < 0) return -1;
  let end = at + PROGRESS.length;
  while (end < data.length && data[end] !== 0x2c && data[end] !== 0x7d) end++;
  return Number(data.toString("latin1", at + PROGRESS.length, end));
}

async function connect({ side, url, document, clients, events, taskIds }) {
  const state = {
    sockets: [],
    count: clients.length,
    received: null,
    events,
    samples: new Map(),
    foreign: 0,
    duplicates: 0,
  };
  const ownTask = taskIds.map((id) => Buffer.from(`"id":"${id}"`));
  sides.set(side, state);
  state.received = new Float64Array(clients.length * events);
  let failed = 0;
  let next = 0;
  const open = (index) =>
    new Promise((resolve) => {
      const { token, account } = clients[index];
      const ws = new WebSocket(url, "graphql-transport-ws", { perMessageDeflate: false });
      state.sockets.push(ws);
      let subscribed = false;
      const timer = setTimeout(() => {
        failed++;
        ws.terminate();
        resolve();
      }, 60_000);
      ws.on("open", () =>
        ws.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token}` } })),
      );
      ws.on("error", () => undefined);
      ws.on("close", () => {
        if (!subscribed) {
          clearTimeout(timer);
          failed++;
          resolve();
        }
      });
      ws.on("message", (data) => {
        if (!subscribed) {
          const message = JSON.parse(String(data));
          if (message.type === "connection_ack") {
            ws.send(JSON.stringify({ id: randomUUID(), type: "subscribe", payload: { query: document } }));
            return;
          }
          if (message.type !== "next") {
            clearTimeout(timer);
            failed++;
            ws.close();
            return resolve();
          }
          subscribed = true;
          clearTimeout(timer);
          return resolve();
        }
        const at = now();
        // Event i carries progress (i + 1) / 128; the starting state carries 0.
        const event = Math.round(progressOf(data) * 128) - 1;
        if (event < 0 || event >= events) return;
        // Visibility: a client only ever gets its own account's task.
        if (data.indexOf(ownTask[account]) < 0) state.foreign++;
        if (state.received[index * events + event]) state.duplicates++;
        state.received[index * events + event] = at;
        if (event === 0 && !state.samples.has(account)) {
          // The frame from its payload on (the id is the client's own), to compare the two sides' bytes.
          const text = String(data);
          state.samples.set(account, text.slice(text.indexOf('"payload":')));
        }
      });
      ws.account = account;
    });
  const workers = Array.from({ length: CONCURRENT_HANDSHAKES }, async () => {
    while (next < clients.length) await open(next++);
  });
  await Promise.all(workers);
  return { failed };
}

function report({ side, sentAt }) {
  const state = sides.get(side);
  const histogram = new Uint32Array(BUCKETS);
  let missing = 0;
  let max = 0;
  const { events, received } = state;
  for (let client = 0; client < state.count; client++) {
    for (let event = 0; event < events; event++) {
      const at = received[client * events + event];
      if (!at) {
        missing++;
        continue;
      }
      const latency = Math.max(0, at - sentAt[event]);
      if (latency > max) max = latency;
      histogram[Math.min(BUCKETS - 1, Math.floor(latency / BUCKET_MS))]++;
    }
  }
  const sparse = [];
  for (let i = 0; i < BUCKETS; i++) if (histogram[i]) sparse.push([i, histogram[i]]);
  return {
    histogram: sparse,
    missing,
    max,
    foreign: state.foreign,
    duplicates: state.duplicates,
    samples: Object.fromEntries(state.samples),
  };
}

process.on("message", async (message) => {
  const state = sides.get(message.side);
  let answer = {};
  if (message.cmd === "connect") answer = await connect(message);
  else if (message.cmd === "reset") {
    state.received.fill(0);
    state.samples.clear();
    state.foreign = 0;
    state.duplicates = 0;
  } else if (message.cmd === "count") {
    let received = 0;
    for (const at of state.received) if (at) received++;
    answer = { received };
  } else if (message.cmd === "report") answer = report(message);
  else if (message.cmd === "close") {
    await Promise.all(
      state.sockets.map(
        (ws) =>
          new Promise((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) return resolve();
            ws.once("close", resolve);
            ws.close();
            setTimeout(() => (ws.terminate(), resolve()), 5_000).unref();
          }),
      ),
    );
    sides.delete(message.side);
  }
  process.send({ done: message.cmd, ...answer });
});
process.on("disconnect", () => process.exit(0));
