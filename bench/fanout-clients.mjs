// S1's load: graphql-ws clients (the graphql-transport-ws protocol spoken over bare `ws`, so the clients
// cost as little as possible on the shared cores), run as a child of the scenario and driven over IPC.
// Loopback only; at most the clients the scenario asks for, closed when it says so or when it exits.
//
//   { cmd: "connect", side, url, document, events, taskIds, clients: [{ token, account }] }
//     → { done: "connect", failed }
//     opens the clients 100 at a time: connection_init with the bearer token, then one subscription each;
//     a client counts as subscribed once its first frame (the starting state, a data result) arrives.
//     clients[i].account indexes taskIds: every frame a client gets must name its own account's task.
//   { cmd: "reset", side } → { done: "reset" }           forgets what arrived so far
//   { cmd: "count", side } → { done: "count", received } deliveries so far
//   { cmd: "report", side, sentAt } → { done: "report", histogram, missing, max, foreign, duplicates, samples }
//     per delivery: receive time − the injector's send time of that event (same machine clock)
//   { cmd: "close", side } → { done: "close" }
//   Every answer also carries `health`: per side, what the protocol said besides deliveries (acks, next /
//   error / complete frames, close codes and when they came) and how busy this process was since the last
//   reset (CPU, event-loop delay), so a missing delivery can be told apart from a refused, closed or failed
//   client or a saturated load process.
import { randomUUID } from "node:crypto";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import WebSocket from "ws";

/** Latency histogram: 0.1 ms buckets up to 60 s. */
export const BUCKET_MS = 0.1;
const BUCKETS = 600_000;
const CONCURRENT_HANDSHAKES = 100;
const now = () => performance.timeOrigin + performance.now();
const PROGRESS = Buffer.from('"progress":');
const NEXT = Buffer.from('"type":"next"');
/** From `"type":"next"` to the first letter of the payload's first key (`,"payload":{"` in between). */
const PAYLOAD_OFFSET = NEXT.length + ',"payload":{"'.length;

/** Per side (baseline, ours): its clients and what they received. */
const sides = new Map();

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
let cpuAtReset = process.cpuUsage();
let timeAtReset = now();

/** Protocol events of one side, counted per kind (the first few error frames and close reasons kept whole). */
function newHealth() {
  return {
    acked: 0,
    subscribed: 0,
    nextFrames: 0,
    errorFrames: 0,
    /** next frames whose payload is an error result */
    errorPayloads: 0,
    completeFrames: 0,
    otherFrames: 0,
    strayFrames: 0,
    straySamples: [],
    samples: [],
    /** close code → { before: while connecting, during: after subscribing } */
    closes: {},
  };
}

function sample(health, text) {
  if (health.samples.length < 5) health.samples.push(text.slice(0, 300));
}

function healthOf(state) {
  const cpu = process.cpuUsage(cpuAtReset);
  const seconds = (now() - timeAtReset) / 1000;
  return {
    ...state.health,
    open: state.sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length,
    load: {
      cpuShare: Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 100) / 100,
      loopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e4) / 100,
      loopDelayMaxMs: Math.round(loopDelay.max / 1e4) / 100,
    },
  };
}

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
    health: newHealth(),
  };
  const { health } = state;
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
      ws.on("close", (code, reason) => {
        const entry = (health.closes[code] ??= { before: 0, during: 0 });
        if (subscribed) entry.during++;
        else entry.before++;
        if (code !== 1000 && code !== 1005) sample(health, `close ${code} ${String(reason)}`);
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
            health.acked++;
            ws.send(JSON.stringify({ id: randomUUID(), type: "subscribe", payload: { query: document } }));
            return;
          }
          if (message.type !== "next" || message.payload?.errors || !message.payload?.data) {
            // Refused, failed, or a starting state that is an error result: not subscribed.
            if (message.type === "error") health.errorFrames++;
            else if (message.type === "next") health.errorPayloads++;
            else health.otherFrames++;
            sample(health, String(data));
            clearTimeout(timer);
            failed++;
            ws.close();
            return resolve();
          }
          subscribed = true;
          health.subscribed++;
          clearTimeout(timer);
          return resolve();
        }
        const at = now();
        const next = data.indexOf(NEXT);
        if (next < 0) {
          // Not a next frame: error, complete or anything else after subscribing.
          const text = String(data);
          if (text.includes('"type":"error"')) health.errorFrames++;
          else if (text.includes('"type":"complete"')) health.completeFrames++;
          else health.otherFrames++;
          sample(health, text);
          return;
        }
        health.nextFrames++;
        // `"type":"next","payload":{"errors"…` (an error result) or `{"data"…`: one byte tells, no scan.
        if (data[next + PAYLOAD_OFFSET] === 0x65) {
          // A next frame whose payload is an error result (no task in it): counted, not delivered.
          health.errorPayloads++;
          sample(health, String(data));
          return;
        }
        // Event i carries progress (i + 1) / 128; the starting state carries 0.
        const event = Math.round(progressOf(data) * 128) - 1;
        if (event < 0 || event >= events) {
          // A next frame that is none of this run's events (a late one of a run before, or a wrong payload).
          health.strayFrames++;
          if (health.straySamples.length < 3) health.straySamples.push(String(data).slice(0, 600));
          return;
        }
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
    loopDelay.reset();
    cpuAtReset = process.cpuUsage();
    timeAtReset = now();
    state.received.fill(0);
    // Frame counts are per run; acks, subscriptions and closes count since the clients connected.
    Object.assign(state.health, { nextFrames: 0, errorFrames: 0, errorPayloads: 0, completeFrames: 0, otherFrames: 0 });
    Object.assign(state.health, { strayFrames: 0, straySamples: [] });
    state.samples.clear();
    state.foreign = 0;
    state.duplicates = 0;
  } else if (message.cmd === "count") {
    let received = 0;
    for (const at of state.received) if (at) received++;
    answer = { received, health: healthOf(state) };
  } else if (message.cmd === "report") answer = { ...report(message), health: healthOf(state) };
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
