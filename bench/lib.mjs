import fs from "node:fs";
// What every scenario of `npm run bench` shares: starting and stopping the measured processes, the load
// generator, the in-run alternation of baseline and contender, and the round-trip counters.
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import path from "node:path";
import pg from "pg";

export const root = path.resolve(import.meta.dirname, "..");
const argv = process.argv.slice(2);
export const flag = (name) => {
  const i = argv.indexOf(name);
  return i < 0 ? undefined : (argv[i + 1] ?? "");
};
/** `--quick`: a smoke run (every scenario, shorter and smaller), under 3 minutes in all. */
export const quick = argv.includes("--quick");
/** `--profile DIR`: measured servers write a V8 CPU profile there when they stop (`node --cpu-prof`). */
export const profileDir = flag("--profile");
export const REPS = 3;
export const DURATION_S = quick ? 2 : 10;
export const CONNECTIONS = 50;
export const PG_BASE = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** The p-th percentile (0–100) of a list of numbers. */
export const percentile = (xs, p) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
};
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts a node process and resolves once `readyUrl` answers below 500 (or, without one, at once); its
 * stdout is discarded unless `stdout: "pipe"`, its stderr kept for errors.
 */
export async function startProcess(args, env, readyUrl, { stdout = "ignore" } = {}) {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", stdout, "pipe"],
  });
  let errors = "";
  child.stderr.on("data", (d) => (errors = (errors + d).slice(-4000)));
  child.errors = () => errors;
  if (!readyUrl) return child;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${args.at(-1)} exited with ${child.exitCode}: ${errors}`);
    if (
      await fetch(readyUrl).then(
        (r) => r.status < 500,
        () => false,
      )
    )
      return child;
    await sleep(100);
  }
  child.kill("SIGKILL");
  throw new Error(`${args.at(-1)} not ready: ${errors}`);
}

export function stop(child) {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null) return resolve();
    child.on("exit", resolve);
    child.kill("SIGTERM");
  });
}

/**
 * One autocannon run from its own process (bench/load.mjs): POST `body` to `url` with 50 connections for
 * DURATION_S unless `options` say otherwise (any autocannon option: method, connections, duration, …).
 */
export function load(url, body, headers = {}, options = {}) {
  const all = {
    url,
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
    connections: CONNECTIONS,
    duration: DURATION_S,
    ...options,
  };
  const result = spawnSync(process.execPath, [path.join(root, "bench/load.mjs"), JSON.stringify(all)], {
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

export async function post(url, body, headers = {}) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  return res.text();
}

/** SQL statements, Redis commands and CPU time a measured process has used so far (bench/instrument.mjs). */
/**
 * CPU time (µs) used so far by this machine's PostgreSQL (every server process, and the backends that have
 * exited, which the postmaster reaped) and Redis (every redis-server), read from /proc: what a scenario's
 * round trips cost the services, beside what they cost our processes. Null where /proc is not there.
 */
export function serviceCpuMicros() {
  if (!fs.existsSync("/proc/self/stat")) return null;
  const ticks = { postgres: 0, redis: 0 };
  for (const pid of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // ended meanwhile
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const service = comm.startsWith("postgres") ? "postgres" : comm.startsWith("redis-server") ? "redis" : null;
    if (!service) continue;
    // Fields after the command: state ppid … utime(14) stime(15) cutime(16) cstime(17), numbered from 1.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks[service] += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  const micros = 1e6 / 100; // USER_HZ
  return { postgres: ticks.postgres * micros, redis: ticks.redis * micros };
}

export const statsOf = (port) => async () => (await fetch(`http://127.0.0.1:${port}/`)).json();

/** Environment of a server process the bench measures: production mode, info logs, budgets it never hits. */
export function serverEnv(databaseUrl, extra = {}) {
  return {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    REDIS_PREFIX: `novart-bench-${randomBytes(4).toString("hex")}`,
    LOG_LEVEL: "info",
    NODE_ENV: "production",
    RATE_LIMIT_ANONYMOUS_PER_MINUTE: "1000000",
    ...extra,
  };
}

/** Starts the built server in a role (`api` by default), instrumented; `env` adds to serverEnv(). */
export async function startApi(databaseUrl, env = {}) {
  const [port, statsPort] = [await freePort(), await freePort()];
  const args = ["--import", "./bench/instrument.mjs"];
  if (profileDir) args.push("--cpu-prof", "--cpu-prof-dir", path.resolve(profileDir));
  const child = await startProcess(
    [...args, "server/dist/server/src/main.js"],
    serverEnv(databaseUrl, {
      ROLE: "api",
      PORT: String(port),
      HOST: "127.0.0.1",
      BENCH_STATS_PORT: String(statsPort),
      ...env,
    }),
    `http://127.0.0.1:${port}/healthz`,
  );
  return {
    child,
    port,
    origin: `http://127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}/graphql`,
    stats: statsOf(statsPort),
  };
}

/** Starts a hand-written baseline (a script under bench/), instrumented like the server. */
export async function startBaseline(script, databaseUrl, env = {}) {
  const [port, statsPort] = [await freePort(), await freePort()];
  const args = ["--import", "./bench/instrument.mjs"];
  // Baselines are profiled too: R2's "ours" server is started as one (bench/graphql-layer-server.mjs).
  if (profileDir) args.push("--cpu-prof", "--cpu-prof-dir", path.resolve(profileDir));
  const child = await startProcess(
    [...args, script],
    { PORT: String(port), DATABASE_URL: databaseUrl, BENCH_STATS_PORT: String(statsPort), ...env },
    `http://127.0.0.1:${port}/`,
  );
  return { child, port, url: `http://127.0.0.1:${port}/`, stats: statsOf(statsPort) };
}

/**
 * Round trips of each of `times` sequential requests (nothing else runs meanwhile): the SQL statements and
 * Redis commands the server sent for it. A first request fills the per-process caches (tier limits, which
 * refresh every few seconds) and is not counted.
 */
export async function roundTrips(api, body, headers, times = 20) {
  await post(api.url, body, headers);
  const sql = [];
  const redis = [];
  for (let i = 0; i < times; i++) {
    const before = await api.stats();
    await post(api.url, body, headers);
    const after = await api.stats();
    sql.push(after.sql - before.sql);
    redis.push(after.redis - before.redis);
  }
  return { sql: median(sql), redis: median(redis), sqlPerRequest: sql, redisPerRequest: redis };
}

/**
 * Alternates baseline and contender REPS times after a warm-up of the contender; refuses failed requests.
 * Each run also records the CPU time its server process spent per answered request: on a shared machine
 * it is steadier than requests/s, and it says where a gap comes from. `base` and `api` are { url, stats,
 * body?, headers?, options? } (a target's own body/headers/options win over the shared ones).
 */
export async function measure(base, api, body, headers = {}, options = {}) {
  const run = (target) =>
    load(target.url, target.body ?? body, target.headers ?? headers, { ...options, ...target.options });
  // Warm-up of the contender (JIT, caches, pools), shorter than a measured run.
  load(api.url, api.body ?? body, api.headers ?? headers, { ...options, ...api.options, duration: quick ? 1 : 3 });
  const measured = async (target) => {
    const before = await target.stats();
    const result = run(target);
    const after = await target.stats();
    if (result.non2xx || result.errors) throw new Error(`failed requests: ${JSON.stringify(result)}`);
    return { ...result, cpuMicrosPerRequest: Math.round((after.cpuMicros - before.cpuMicros) / result.total) };
  };
  const runs = [];
  for (let i = 0; i < REPS; i++) runs.push({ baseline: await measured(base), contender: await measured(api) });
  const ratio = (key) => median(runs.map((r) => r.contender[key] / r.baseline[key]));
  return {
    runs,
    ratio: {
      requestsPerSecond: ratio("requestsPerSecond"),
      latencyP99: ratio("latencyP99"),
      cpuPerRequest: ratio("cpuMicrosPerRequest"),
    },
  };
}

/** Median requests/s of one side of measure()'s runs. */
export const medianRps = (runs, side) => Math.round(median(runs.map((r) => r[side].requestsPerSecond)));

/** The baseline is only a baseline if it answers the same bytes. */
export async function assertSameAnswer(apiUrl, baseUrl, body, headers = {}) {
  const [ours, theirs] = [await post(apiUrl, body, headers), await post(baseUrl, body, headers)];
  if (JSON.stringify(JSON.parse(ours)) !== JSON.stringify(JSON.parse(theirs)))
    throw new Error(`answers differ:\n${ours.slice(0, 500)}\n${theirs.slice(0, 500)}`);
}

/**
 * A verified account with a session (returns its id and bearer token) and a request budget the load never
 * spends; `limits` adds tier overrides (e.g. tasks per minute).
 */
export async function createBenchAccount(db, { paid = 0, limits = {}, name = "Bench User" } = {}) {
  const token = `nvs_bench_${randomBytes(16).toString("hex")}`;
  const tokenHash = createHash("sha256").update(token).digest("hex");
  const [{ id }] = (
    await db.query(
      `INSERT INTO account (email, password_hash, display_name, referral_code, email_verified_at, accepted_terms_version)
       VALUES ($1, '!', $2, $3, now(), 1) RETURNING id`,
      [`bench-${randomBytes(6).toString("hex")}@example.com`, name, randomBytes(5).toString("hex").toUpperCase()],
    )
  ).rows;
  // Credits as an admin adjustment in the ledger, so `npm run ledger:verify` holds on the bench database.
  await db.query(
    `WITH c AS (INSERT INTO credit_account (account_id, paid, bonus) VALUES ($1, $2, 0) RETURNING account_id)
     INSERT INTO ledger_entry (account_id, kind, paid_delta, bonus_delta, paid_after, bonus_after, reference, note)
     SELECT account_id, 'ADMIN_ADJUSTMENT', $2, 0, $2, 0, 'bench:' || account_id, 'bench credits' FROM c WHERE $2 > 0`,
    [id, paid],
  );
  await db.query(
    `INSERT INTO session (account_id, token_hash, last_seen_at, expires_at) VALUES ($1, $2, now(), now() + interval '1 day')`,
    [id, tokenHash],
  );
  await db.query(`INSERT INTO account_limits (account_id, overrides) VALUES ($1, $2)`, [
    id,
    JSON.stringify({ requestsPerMinute: 100_000_000, ...limits }),
  ]);
  return { id, token };
}

/** A pg client on the bench database, for setting up data. */
export async function connect(databaseUrl) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  return db;
}
