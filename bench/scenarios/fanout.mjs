// S1 fan-out: N graphql-ws clients on the studio's live task subscription, 100 task events, vs a bare `ws`
// server broadcasting the same bytes. Delivery latency per client and event, server RSS per connection.
//
// Who is subscribed: the studio's own subscription (StudioTaskUpdates: myTaskUpdates with the task card's
// fields, from client/src/lib/generation/tasks.graphql), from studio tabs of ACCOUNTS accounts, each signed
// in on SESSIONS sessions (devices; the tabs of one browser share its session), N / ACCOUNTS tabs per
// account. Each account has one RUNNING task; an event round changes every account's task once, published to
// the account's Redis channel the way the worker does (TaskService.publish → ACCOUNT_TASKS:<account>), so
// every client receives each of the 100 events, and only its own account's. Viewers of one account share a
// visibility group; different accounts never do (each client checks every frame names its own task).
import { fork } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import {
  REDIS_URL,
  REPS,
  connect,
  createBenchAccount,
  median,
  quick,
  root,
  sleep,
  startApi,
  startBaseline,
  stop,
} from "../lib.mjs";

const require = createRequire(path.join(root, "server/package.json"));
const { Redis } = require("ioredis");

const EVENTS = 100;
/** Between event rounds (quick: shorter, so the smoke run stays under ~40 s). */
const INTERVAL_MS = Number(process.env.BENCH_FANOUT_INTERVAL_MS ?? (quick ? 40 : 100));
/** BENCH_FANOUT_SIZES=2000,10000 (and BENCH_FANOUT_REPS) to iterate on one size; the full run uses all three. */
const SIZES = process.env.BENCH_FANOUT_SIZES?.split(",").map(Number) ?? (quick ? [1_000] : [1_000, 5_000, 10_000]);
const RUNS = Number(process.env.BENCH_FANOUT_REPS ?? REPS);
const ACCOUNTS = 10;
const SESSIONS = 20;
/** Processes holding the client sockets (each holds N / LOAD_PROCESSES per side). */
const LOAD_PROCESSES = 2;
const TARGET_P99_MS = 100;
const TARGET_KB_PER_CONNECTION = 30;
const BUCKET_MS = 0.1; // the clients' histogram resolution (bench/fanout-clients.mjs)
const now = () => performance.timeOrigin + performance.now();

/** The studio's subscription document: the StudioTask fragment and StudioTaskUpdates. */
function studioDocument() {
  const text = fs.readFileSync(path.join(root, "client/src/lib/generation/tasks.graphql"), "utf8");
  const block = (head) => {
    const start = text.indexOf(head);
    if (start < 0) throw new Error(`tasks.graphql: no ${head}`);
    let depth = 0;
    for (let i = text.indexOf("{", start); i < text.length; i++) {
      if (text[i] === "{") depth++;
      else if (text[i] === "}" && --depth === 0) return text.slice(start, i + 1);
    }
    throw new Error(`tasks.graphql: unbalanced ${head}`);
  };
  return `${block("subscription StudioTaskUpdates")}\n\n${block("fragment StudioTask on Task")}`;
}

/** Accounts with SESSIONS sessions each and one RUNNING task. */
async function seed(databaseUrl) {
  const db = await connect(databaseUrl);
  const accounts = [];
  for (let a = 0; a < ACCOUNTS; a++) {
    const { id, token } = await createBenchAccount(db, { name: `Fan-out ${a}` });
    const tokens = [token];
    for (let s = 1; s < SESSIONS; s++) {
      const extra = `nvs_bench_${randomBytes(16).toString("hex")}`;
      await db.query(
        `INSERT INTO session (account_id, token_hash, last_seen_at, expires_at) VALUES ($1, $2, now(), now() + interval '1 day')`,
        [id, createHash("sha256").update(extra).digest("hex")],
      );
      tokens.push(extra);
    }
    const [task] = (
      await db.query(
        `INSERT INTO task (account_id, status, prompt, model_id, width, height, count, seed, input_hash, cost, progress, started_at)
         SELECT $1, 'RUNNING', 'a lighthouse at dusk, fan-out ' || $2::text, id, 512, 512, 2, 7, repeat('0', 64), 4, 0, date_trunc('second', now())
           FROM generation_model WHERE slug = 'novart-sketch'
         RETURNING id, version, started_at`,
        [id, String(a)],
      )
    ).rows;
    accounts.push({ id, tokens, taskId: task.id, startedAt: task.started_at.toISOString() });
  }
  await db.end();
  return accounts;
}

/** The first frame (the starting state) one client of `token` gets from `url`, from "payload" on. */
function firstFrame(url, token, document) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, "graphql-transport-ws");
    const timer = setTimeout(() => (ws.terminate(), reject(new Error("no first frame"))), 15_000);
    ws.on("open", () =>
      ws.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token}` } })),
    );
    ws.on("error", reject);
    ws.on("message", (data) => {
      const text = String(data);
      const message = JSON.parse(text);
      if (message.type === "connection_ack")
        return ws.send(JSON.stringify({ id: "probe", type: "subscribe", payload: { query: document } }));
      clearTimeout(timer);
      ws.close();
      if (message.type !== "next") return reject(new Error(`first frame: ${text.slice(0, 300)}`));
      resolve(text.slice(text.indexOf('"payload":') + '"payload":'.length, -1));
    });
  });
}

/** The load processes' health reports as one: counts summed, load figures per process. */
function mergeHealth(healths) {
  const merged = { closes: {}, samples: [], load: healths.map((h) => h.load) };
  for (const h of healths)
    for (const [key, value] of Object.entries(h)) {
      if (typeof value === "number") merged[key] = (merged[key] ?? 0) + value;
      else if (key === "samples" || key === "straySamples") (merged[key] ??= []).push(...value.slice(0, 3));
      else if (key === "closes")
        for (const [code, c] of Object.entries(value)) {
          const entry = (merged.closes[code] ??= { before: 0, during: 0 });
          entry.before += c.before;
          entry.during += c.during;
        }
    }
  return merged;
}

const rssKB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]);

/** One request to a load process, answered in order. */
function ask(child, message) {
  return new Promise((resolve, reject) => {
    const onMessage = (answer) => {
      if (answer.done !== message.cmd) return;
      child.off("message", onMessage);
      child.off("exit", onExit);
      resolve(answer);
    };
    const onExit = (code) => reject(new Error(`fan-out load process exited with ${code}`));
    child.on("message", onMessage);
    child.once("exit", onExit);
    child.send(message);
  });
}
const askAll = (loads, message) => Promise.all(loads.map((child) => ask(child, message)));

/**
 * The p-th percentile of merged sparse histograms ([bucket, count] pairs), in ms (bucket upper bound), over
 * `expected` deliveries: missing ones count as later than any (null when the percentile falls among them).
 */
function histogramPercentile(histograms, p, expected) {
  const counts = new Map();
  let total = 0;
  for (const histogram of histograms)
    for (const [bucket, count] of histogram) {
      counts.set(bucket, (counts.get(bucket) ?? 0) + count);
      total += count;
    }
  const rank = Math.ceil((p / 100) * Math.max(total, expected));
  let seen = 0;
  for (const bucket of [...counts.keys()].sort((a, b) => a - b)) {
    seen += counts.get(bucket);
    if (seen >= rank) return Math.round((bucket + 1) * BUCKET_MS * 10) / 10;
  }
  return null;
}

export default async function fanout({ databaseUrl }) {
  const document = studioDocument();
  const accounts = await seed(databaseUrl);
  const taskIds = accounts.map((a) => a.taskId);
  const oursPrefix = `novart-bench-${randomBytes(4).toString("hex")}`;
  const basePrefix = `novart-bench-${randomBytes(4).toString("hex")}`;
  const setupFile = path.join(os.tmpdir(), `fanout-${randomBytes(4).toString("hex")}.json`);
  const redis = new Redis(REDIS_URL);
  const loads = Array.from({ length: LOAD_PROCESSES }, () =>
    fork(path.join(root, "bench/fanout-clients.mjs"), [], { stdio: ["ignore", "ignore", "inherit", "ipc"] }),
  );
  const failures = [];
  const sizes = [];
  let version = 1_000;
  let stopping = false;
  let template;
  try {
    /** 100 event rounds to one side's channels; answers the send time of each event. */
    const inject = async (prefix) => {
      const sentAt = [];
      const start = now() + 20;
      for (let i = 0; i < EVENTS; i++) {
        const wait = start + i * INTERVAL_MS - now();
        if (wait > 1) await sleep(wait);
        version++;
        const pipeline = redis.pipeline();
        for (const a of accounts)
          pipeline.publish(
            `${prefix}:ACCOUNT_TASKS:${a.id}`,
            JSON.stringify({
              id: a.taskId,
              accountId: a.id,
              version,
              status: "RUNNING",
              progress: (i + 1) / 128,
              errorCode: null,
              errorMessage: null,
              startedAt: a.startedAt,
              finishedAt: null,
            }),
          );
        sentAt.push(now());
        await pipeline.exec();
      }
      return sentAt;
    };
    /** One run of 100 events on one side: delivery latency percentiles over every client and event. */
    const run = async (side, prefix, n, server) => {
      await askAll(loads, { cmd: "reset", side });
      const cpuBefore = (await server.stats()).cpuMicros;
      const started = now();
      const sentAt = await inject(prefix);
      // Until every delivery arrived (or 20 s past the last event: what is later counts as missing).
      const deadline = Date.now() + 20_000;
      for (;;) {
        const counts = await askAll(loads, { cmd: "count", side });
        const received = counts.reduce((sum, c) => sum + c.received, 0);
        if (received >= n * EVENTS || Date.now() > deadline) {
          console.error(
            `fanout N=${n} ${side}: ${received} of ${n * EVENTS} received, ${Math.round(now() - sentAt.at(-1))} ms after the last event`,
          );
          break;
        }
        await sleep(100);
      }
      const reports = await askAll(loads, { cmd: "report", side, sentAt });
      const serverCpuShare =
        Math.round((((await server.stats()).cpuMicros - cpuBefore) / 1e3 / (now() - started)) * 100) / 100;
      const histograms = reports.map((r) => r.histogram);
      const health = mergeHealth(reports.map((r) => r.health));
      health.serverCpuShare = serverCpuShare;
      console.error(`fanout N=${n} ${side}: ${JSON.stringify(health)}`);
      return {
        // null: more than 1 % (50 %) of the deliveries did not arrive within 20 s of the last event.
        p50: histogramPercentile(histograms, 50, n * EVENTS),
        p99: histogramPercentile(histograms, 99, n * EVENTS),
        max: Math.round(Math.max(...reports.map((r) => r.max))),
        missing: reports.reduce((sum, r) => sum + r.missing, 0),
        foreign: reports.reduce((sum, r) => sum + r.foreign, 0),
        duplicates: reports.reduce((sum, r) => sum + r.duplicates, 0),
        samples: Object.assign({}, ...reports.map((r) => r.samples)),
        health,
      };
    };

    for (const n of SIZES) {
      const api = await startApi(databaseUrl, { REDIS_PREFIX: oursPrefix });
      // A server that dies under the load says why (its stderr), rather than the next read of its RSS.
      api.child.once("exit", (code, signal) => {
        if (!stopping) console.error(`fanout N=${n}: the API exited (${code ?? signal}): ${api.child.errors()}`);
      });
      let baseline;
      try {
        const wsUrl = `${api.origin.replace("http", "ws")}/graphql`;
        if (!template) {
          // The bytes the baseline broadcasts: each account's frame as the API sends it, progress left open.
          template = await Promise.all(
            accounts.map(async (a) => {
              const payload = await firstFrame(wsUrl, a.tokens[0], document);
              if (payload.split('"progress":0,').length !== 2) throw new Error(`unexpected frame: ${payload}`);
              return payload.replace('"progress":0,', '"progress":__PROGRESS__,');
            }),
          );
          const tokens = {};
          accounts.forEach((a, index) => a.tokens.forEach((token) => (tokens[token] = index)));
          fs.writeFileSync(
            setupFile,
            JSON.stringify({ tokens, accounts: accounts.map((a, i) => ({ id: a.id, template: template[i] })) }),
          );
        } else await firstFrame(wsUrl, accounts[0].tokens[0], document); // warm, as the first size was
        baseline = await startBaseline("bench/baselines/fanout-ws.mjs", databaseUrl, {
          REDIS_URL,
          REDIS_PREFIX: basePrefix,
          FANOUT_SETUP: setupFile,
        });
        const baseWsUrl = baseline.url.replace("http", "ws") + "graphql";
        // Client i: account i % ACCOUNTS, session (i / ACCOUNTS) % SESSIONS; spread over the load processes.
        const clients = Array.from({ length: n }, (_, i) => {
          const account = i % ACCOUNTS;
          return { account, token: accounts[account].tokens[Math.floor(i / ACCOUNTS) % SESSIONS] };
        });
        const share = (p) => clients.filter((_, i) => i % LOAD_PROCESSES === p);
        const open = async (side, url, pid) => {
          await sleep(500);
          const before = rssKB(pid);
          const started = Date.now();
          const answers = await Promise.all(
            loads.map((child, p) =>
              ask(child, { cmd: "connect", side, url, document, events: EVENTS, taskIds, clients: share(p) }),
            ),
          );
          const seconds = (Date.now() - started) / 1000;
          console.error(`fanout N=${n} ${side}: connected in ${seconds} s`);
          await sleep(1_000);
          const failed = answers.reduce((sum, a) => sum + a.failed, 0);
          if (failed) failures.push(`S1 N=${n} ${side}: ${failed} clients failed to subscribe`);
          return {
            connectSeconds: Math.round(seconds * 10) / 10,
            failed,
            rssBeforeKB: before,
            rssAfterKB: rssKB(pid),
            kbPerConnection: Math.round(((rssKB(pid) - before) / n) * 10) / 10,
          };
        };
        const connections = {
          baseline: await open("baseline", baseWsUrl, baseline.child.pid),
          ours: await open("ours", wsUrl, api.child.pid),
        };
        const runs = [];
        for (let rep = 0; rep < RUNS; rep++)
          runs.push({
            baseline: await run("baseline", basePrefix, n, baseline),
            ours: await run("ours", oursPrefix, n, api),
          });
        for (const [i, r] of runs.entries())
          for (const side of ["baseline", "ours"]) {
            const { missing, foreign, duplicates } = r[side];
            if (duplicates) failures.push(`S1 N=${n} run ${i + 1} ${side}: ${duplicates} deliveries came twice`);
            if (missing)
              failures.push(`S1 N=${n} run ${i + 1} ${side}: ${missing} of ${n * EVENTS} deliveries missing`);
            if (foreign) failures.push(`S1 N=${n} run ${i + 1} ${side}: ${foreign} frames of another account's task`);
            const { errorPayloads, errorFrames } = r[side].health;
            if (errorPayloads || errorFrames)
              failures.push(
                `S1 N=${n} run ${i + 1} ${side}: ${errorPayloads} error results, ${errorFrames} error messages (${r[side].health.samples[0] ?? ""})`,
              );
          }
        // The baseline is only a baseline if it sends the same bytes.
        const [first] = runs;
        for (const index of accounts.keys())
          if (first.ours.samples[index] !== first.baseline.samples[index])
            failures.push(
              `S1 N=${n}: frames differ for account ${index}:\n${first.ours.samples[index]?.slice(0, 300)}\n${first.baseline.samples[index]?.slice(0, 300)}`,
            );
        for (const r of runs) for (const side of ["baseline", "ours"]) delete r[side].samples;
        // A run whose p99 never arrived (null) ranks above every measured one.
        const late = (x) => x ?? Infinity;
        const p99 = (side) => {
          const value = median(runs.map((r) => late(r[side].p99)));
          return value === Infinity ? null : value;
        };
        sizes.push({
          n,
          connections,
          runs,
          p99Ms: { baseline: p99("baseline"), ours: p99("ours") },
          p50Ms: {
            baseline: median(runs.map((r) => late(r.baseline.p50))),
            ours: median(runs.map((r) => late(r.ours.p50))),
          },
          // null when either side's p99 is missing in most runs.
          p99Ratio: (() => {
            const ratio = median(runs.map((r) => late(r.ours.p99) / late(r.baseline.p99)));
            return Number.isFinite(ratio) ? Math.round(ratio * 100) / 100 : null;
          })(),
        });
        await askAll(loads, { cmd: "close", side: "ours" });
        await askAll(loads, { cmd: "close", side: "baseline" });
      } finally {
        stopping = true;
        await Promise.all([stop(api.child), stop(baseline?.child)]);
        stopping = false;
      }
    }
  } finally {
    for (const child of loads) child.kill();
    redis.disconnect();
    fs.rmSync(setupFile, { force: true });
  }

  const largest = sizes.at(-1);
  const ms = (value) => (value === null ? "> 20 s (deliveries missing)" : `${value} ms`);
  const at = (s, side) => `N=${s.n}: p99 ${ms(s.p99Ms[side])}, ${s.connections[side].kbPerConnection} KB/conn`;
  return {
    title: "S1 fan-out",
    description:
      `StudioTaskUpdates (myTaskUpdates { ...StudioTask }) from N graphql-ws clients of ${ACCOUNTS} accounts ` +
      `(${SESSIONS} sessions each), ${EVENTS} events ${INTERVAL_MS} ms apart published to the accounts' Redis ` +
      `channels, every client getting each event; vs a bare ws server broadcasting the same bytes`,
    events: EVENTS,
    intervalMs: INTERVAL_MS,
    accounts: ACCOUNTS,
    sessionsPerAccount: SESSIONS,
    loadProcesses: LOAD_PROCESSES,
    sizes,
    failures,
    baseline: sizes.map((s) => at(s, "baseline")).join("; "),
    ours: sizes.map((s) => at(s, "ours")).join("; "),
    result: sizes
      .map(
        (s) =>
          `N=${s.n}: p99 ${ms(s.p99Ms.ours)} (${s.p99Ratio ?? "–"}× ws), ${s.connections.ours.kbPerConnection} KB/conn`,
      )
      .join("; "),
    target: `at N = 10 000: p99 < ${TARGET_P99_MS} ms and < ${TARGET_KB_PER_CONNECTION} KB RSS per connection${quick ? " (quick: N = 1 000 only)" : ""}`,
    // A quick run measures N = 1 000 only: it cannot say whether the N = 10 000 target is met.
    met: quick
      ? null
      : failures.length === 0 &&
        largest.n === 10_000 &&
        largest.p99Ms.ours !== null &&
        largest.p99Ms.ours < TARGET_P99_MS &&
        largest.connections.ours.kbPerConnection < TARGET_KB_PER_CONNECTION,
  };
}
