// P1: createTask over HTTP with an API key → charge → queue → worker → asset rows → SUCCEEDED → event,
// against a hand-written plain pg + BullMQ pipeline in the same run (bench/baselines/pipeline-*.mjs).
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import {
  REDIS_URL,
  REPS,
  connect,
  createBenchAccount,
  freePort,
  median,
  percentile,
  profileDir,
  quick,
  root,
  serverEnv,
  serviceCpuMicros,
  sleep,
  startApi,
  startBaseline,
  statsOf,
  stop,
} from "../lib.mjs";

const ACCOUNTS = 200;
/** Tasks per throughput run (bounded), and the time a run's creation may take at most. */
const TASKS = quick ? 400 : 6000;
const CREATE_CAP_MS = quick ? 2000 : 15000;
/** The event-lag run: a steady 200 tasks/s. */
const LAG_RATE = 200;
/** And at a rate this 2-core machine's pipeline holds, for context. */
const CALM_LAG_RATE = 50;
const LAG_MS = quick ? 1000 : 10000;
const CONCURRENCY = 50;
/** How long the pipeline may take to finish a run's tasks after the last one was created. */
const DRAIN_TIMEOUT_MS = quick ? 10000 : 60000;
const BASE_SCHEMA = "p1_baseline";
const MODEL = { slug: "bench-local-64", width: 64, height: 64, count: 1, cost: 1 };

/** A developer API key as ApiKeyService makes them (nvk_<lookup>_<secret>, stored as SHA-256). */
async function createApiKey(db, accountId) {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const lookupId = [...randomBytes(12)].map((b) => alphabet[b & 31]).join("");
  const key = `nvk_${lookupId}_${randomBytes(32).toString("base64url")}`;
  await db.query(
    `INSERT INTO api_key (account_id, name, lookup_id, secret_hash, scopes) VALUES ($1, 'bench', $2, $3, $4)`,
    [accountId, lookupId, createHash("sha256").update(key).digest("hex"), ["tasks:read", "tasks:write"]],
  );
  return key;
}

/** The zero-cost model: the built-in renderer at 64×64, one credit. */
async function createModel(db) {
  const { rows } = await db.query(
    `INSERT INTO generation_model (slug, name, description, provider, provider_model, sizes, max_images, credits_per_image, sort_order)
     VALUES ($1, 'Bench 64', 'P1 bench: the built-in renderer at 64×64', 'OFFLINE', 'gradient', $2, 4, $3, 1000)
     ON CONFLICT (slug) DO UPDATE SET enabled = true RETURNING id`,
    [MODEL.slug, JSON.stringify([{ width: MODEL.width, height: MODEL.height }]), MODEL.cost],
  );
  return rows[0].id;
}

/**
 * A worker-role server: no HTTP port, so it is ready when it logs that it runs. Instrumented (and profiled
 * with --profile) like startApi's servers.
 */
async function startWorker(databaseUrl, env) {
  const statsPort = await freePort();
  const args = ["--import", "./bench/instrument.mjs"];
  if (profileDir) args.push("--cpu-prof", "--cpu-prof-dir", path.resolve(profileDir));
  const child = spawn(process.execPath, [...args, "server/dist/server/src/main.js"], {
    cwd: root,
    env: { ...process.env, ...serverEnv(databaseUrl, { ROLE: "worker", BENCH_STATS_PORT: String(statsPort), ...env }) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let errors = "";
  child.stderr.on("data", (d) => (errors = (errors + d).slice(-4000)));
  let log = "";
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker not ready: ${errors}`)), 60_000);
    child.stdout.on("data", (d) => {
      if (log === null) return; // read on and dropped, so the pipe never fills
      log = (log + d).slice(-20_000);
      if (log.includes("Novart Studio is running")) {
        log = null;
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => reject(new Error(`worker exited with ${code}: ${errors}`)));
  });
  try {
    await ready;
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return { child, stats: statsOf(statsPort) };
}

/** Runs bench/pipeline-load.mjs in its own process and answers its result. */
function runLoad(options) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "bench/pipeline-load.mjs"), JSON.stringify(options)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err = (err + d).slice(-4000)));
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load: ${code} ${err}`))));
  });
}

const ms = (x) => Math.round(x * 10) / 10;

export default async function pipeline({ databaseUrl }) {
  const db = await connect(databaseUrl);
  const failures = [];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "novart-bench-p1-"));
  const oursPrefix = `novart-bench-p1-${randomBytes(4).toString("hex")}`;
  const basePrefix = `novart-bench-p1b-${randomBytes(4).toString("hex")}`;
  const started = [];
  try {
    const modelId = await createModel(db);
    const limits = { tasksPerMinute: 1_000_000_000, concurrentTasks: 1_000_000_000, tasksPerDay: 1_000_000_000 };
    // On 4 connections at once: 200 accounts one by one take seconds on a loaded machine.
    const setupDbs = await Promise.all([0, 1, 2, 3].map(() => connect(databaseUrl)));
    const accounts = (
      await Promise.all(
        setupDbs.map(async (c, lane) => {
          const mine = [];
          for (let i = lane; i < ACCOUNTS; i += setupDbs.length) {
            const { id } = await createBenchAccount(c, { paid: 100_000_000, limits, name: `P1 bench ${i}` });
            mine.push({ id, key: await createApiKey(c, id) });
          }
          return mine;
        }),
      )
    ).flat();
    await Promise.all(setupDbs.map((c) => c.end()));

    // The baseline's own copies of the tables it writes (same columns, defaults and indexes), so our worker's
    // reconciler never sees its tasks and our admission never counts them; its accounts' credits copied over.
    await db.query(`DROP SCHEMA IF EXISTS ${BASE_SCHEMA} CASCADE; CREATE SCHEMA ${BASE_SCHEMA}`);
    for (const table of ["credit_account", "ledger_entry", "task", "asset"])
      await db.query(`CREATE TABLE ${BASE_SCHEMA}.${table} (LIKE public.${table} INCLUDING ALL)`);
    const ids = accounts.map((a) => a.id);
    await db.query(
      `INSERT INTO ${BASE_SCHEMA}.credit_account SELECT * FROM credit_account WHERE account_id = ANY($1)`,
      [ids],
    );
    await db.query(`INSERT INTO ${BASE_SCHEMA}.ledger_entry SELECT * FROM ledger_entry WHERE account_id = ANY($1)`, [
      ids,
    ]);
    const baseUrl = new URL(databaseUrl);
    baseUrl.searchParams.set("options", `-c search_path=${BASE_SCHEMA},public`);
    const baseDatabaseUrl = baseUrl.toString();

    const serverExtra = {
      REDIS_PREFIX: oursPrefix,
      DATA_DIR: dataDir,
      LOCAL_PROVIDER_STEP_MS: "0",
      WORKER_CONCURRENCY: String(CONCURRENCY),
      FILES_SECRET: "p1-bench-files-secret-0123456789abcdef",
    };
    // Each process is stopped by `finally` from the moment it started, even if another one fails to.
    const track = async (starting) => {
      const process = await starting;
      started.push(process);
      return process;
    };
    const [subscriber, baseWorker, api, worker] = await Promise.all([
      track(
        startBaseline("bench/pipeline-subscriber.mjs", databaseUrl, {
          REDIS_URL,
          PATTERNS: `${oursPrefix}:ACCOUNT_TASKS:*,${basePrefix}:ACCOUNT_TASKS:*`,
        }),
      ),
      track(
        startBaseline("bench/baselines/pipeline-worker.mjs", baseDatabaseUrl, { REDIS_URL, REDIS_PREFIX: basePrefix }),
      ),
      track(startApi(databaseUrl, serverExtra)),
      track(startWorker(databaseUrl, serverExtra)),
    ]);
    const drain = async () => (await fetch(`${subscriber.url}drain`)).json();

    /**
     * One bounded run: creates tasks (ours over HTTP, the baseline directly), waits until every task has
     * finished, then checks it exactly and reads its stages from the task rows and the subscriber.
     */
    const run = async (
      side,
      { total = TASKS, rate, capMs = CREATE_CAP_MS, workers = [worker], graphql = false } = {},
    ) => {
      const runId = `p1-${side}-${randomBytes(4).toString("hex")}`;
      const runStarted = Date.now();
      const measured = side === "ours" ? [api, ...workers] : [baseWorker];
      const schema = side === "ours" ? "public" : BASE_SCHEMA;
      await drain();
      const cpuBefore = await Promise.all(measured.map((p) => p.stats()));
      const servicesBefore = serviceCpuMicros();
      const load = await runLoad({
        runId,
        accounts,
        total,
        rate,
        durationMs: capMs,
        concurrency: CONCURRENCY,
        ...(side === "ours"
          ? { url: api.url, model: MODEL.slug, width: MODEL.width, height: MODEL.height, count: MODEL.count }
          : {
              direct: {
                databaseUrl: baseDatabaseUrl,
                redisUrl: REDIS_URL,
                prefix: basePrefix,
                modelId,
                width: MODEL.width,
                height: MODEL.height,
                count: MODEL.count,
                cost: MODEL.cost,
                runId,
              },
            }),
      });
      if (load.failed) failures.push(`P1 ${side}: ${load.failed} createTask calls failed: ${load.errors.join(" | ")}`);
      const deadline = Date.now() + DRAIN_TIMEOUT_MS;
      let counts;
      for (;;) {
        [counts] = (
          await db.query(
            `SELECT count(*)::int AS n, count(*) FILTER (WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELED'))::int AS done
               FROM ${schema}.task WHERE client_reference = $1`,
            [runId],
          )
        ).rows;
        if ((counts.done >= counts.n && counts.n >= load.created) || Date.now() > deadline) break;
        await sleep(250);
      }
      const cpuAfter = await Promise.all(measured.map((p) => p.stats()));
      const servicesAfter = serviceCpuMicros();
      await sleep(300); // the last events' way to the subscriber
      const drained = await drain();
      const events = drained.filter(([, , source]) => source === (side === "ours" ? oursPrefix : basePrefix));
      // The lag run's events as the API's graphql-ws subscribers got them (one client per account).
      const graphqlEvents = drained.filter(([, , source]) => source === "graphql");

      const [t] = (
        await db.query(
          `SELECT count(*)::int AS n,
                  count(*) FILTER (WHERE status = 'SUCCEEDED')::int AS succeeded,
                  count(*) FILTER (WHERE attempts <> 1)::int AS rerun,
                  sum(count)::int AS images,
                  sum(cost)::int AS cost,
                  extract(epoch FROM max(finished_at)) * 1000 AS last_finished,
                  avg(extract(epoch FROM started_at - created_at) * 1000) AS queued_ms,
                  avg(extract(epoch FROM finished_at - started_at) * 1000) AS running_ms,
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at) * 1000) AS total_p99_ms
             FROM ${schema}.task WHERE client_reference = $1`,
          [runId],
        )
      ).rows;
      const [a] = (
        await db.query(
          `SELECT count(*)::int AS assets, count(DISTINCT (a.task_id, a.index))::int AS distinct_assets
             FROM ${schema}.asset a JOIN ${schema}.task t ON t.id = a.task_id WHERE t.client_reference = $1`,
          [runId],
        )
      ).rows;
      const [l] = (
        await db.query(
          `SELECT count(*)::int AS entries, coalesce(-sum(l.paid_delta + l.bonus_delta), 0)::int AS charged,
                  count(*) FILTER (WHERE l.kind <> 'TASK_CHARGE')::int AS other
             FROM ${schema}.task t JOIN ${schema}.ledger_entry l ON l.reference IN ('task:' || t.id || ':charge', 'task:' || t.id || ':refund')
            WHERE t.client_reference = $1`,
          [runId],
        )
      ).rows;
      const problems = [];
      if (t.n !== load.created) problems.push(`${t.n} task rows for ${load.created} created`);
      if (t.succeeded !== t.n) problems.push(`${t.n - t.succeeded} tasks not SUCCEEDED`);
      if (t.rerun) problems.push(`${t.rerun} tasks ran more than once`);
      if (a.assets !== t.images || a.distinct_assets !== t.images)
        problems.push(`${a.assets} asset rows for ${t.images} images`);
      if (l.entries !== t.n || l.charged !== t.cost || l.other)
        problems.push(`ledger: ${l.entries} entries charging ${l.charged} for ${t.n} tasks costing ${t.cost}`);
      // Exactly one SUCCEEDED event per task of this run (events of earlier runs arriving late are not its).
      const ids = new Set(
        (await db.query(`SELECT id FROM ${schema}.task WHERE client_reference = $1`, [runId])).rows.map((r) => r.id),
      );
      const mine = events.filter(([id]) => ids.has(id));
      const heard = new Map();
      for (const [id] of mine) heard.set(id, (heard.get(id) ?? 0) + 1);
      const twice = [...heard.values()].filter((n) => n > 1).length;
      if (heard.size !== t.succeeded || twice)
        problems.push(`SUCCEEDED events heard for ${heard.size} of ${t.succeeded} tasks, ${twice} tasks heard twice`);
      let lags = mine.map(([, lag]) => lag);
      if (graphql) {
        const overGraphql = graphqlEvents.filter(([id]) => ids.has(id));
        const heardOver = new Set(overGraphql.map(([id]) => id));
        if (heardOver.size !== t.succeeded)
          problems.push(`SUCCEEDED heard over graphql-ws for ${heardOver.size} of ${t.succeeded} tasks`);
        lags = overGraphql.map(([, lag]) => lag);
      }
      for (const p of problems) failures.push(`P1 ${side} run ${runId}: ${p}`);

      const elapsedS = (Number(t.last_finished) - load.startedAt) / 1000;
      console.error(
        `bench: pipeline ${side}${workers.length > 1 && side === "ours" ? ` (${workers.length} workers)` : ""}: ` +
          `${t.succeeded} tasks, ${Math.round(t.succeeded / elapsedS)} tasks/s (run took ${Date.now() - runStarted} ms)`,
      );
      const cpuMicros = cpuAfter.map((s, i) => s.cpuMicros - cpuBefore[i].cpuMicros);
      const perTask = (key) =>
        cpuAfter.map((s, i) => Math.round((10 * (s[key] - cpuBefore[i][key])) / Math.max(1, t.succeeded)) / 10);
      const eventMs = lags.length ? lags.reduce((x, y) => x + y, 0) / lags.length : 0;
      // From the createTask request (sent) to the event: the request (auth, validation, admission, charge, insert,
      // enqueue; its mean latency), waiting in the queue, running, and the event's way to the subscriber.
      const stages = {
        requestMs: load.latencyMean,
        queuedMs: Number(t.queued_ms),
        runningMs: Number(t.running_ms),
        eventMs,
      };
      const stageSum = Object.values(stages).reduce((sum, v) => sum + v, 0);
      return {
        side,
        runId,
        tasks: t.succeeded,
        tasksPerSecond: Math.round(t.succeeded / elapsedS),
        createdPerSecond: load.createdPerSecond,
        createLatencyP50: load.latencyP50,
        createLatencyP99: load.latencyP99,
        endToEndP99Ms: ms(Number(t.total_p99_ms)),
        eventLagP50: lags.length ? percentile(lags, 50) : null,
        eventLagP99: lags.length ? percentile(lags, 99) : null,
        stagesMs: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, ms(v)])),
        stageShare: Object.fromEntries(
          Object.entries(stages).map(([k, v]) => [k.replace(/Ms$/, ""), Math.round((100 * v) / stageSum)]),
        ),
        // CPU time per task of each measured process: the API then each worker (ours), the worker (baseline;
        // its producer shares the load generator's process).
        cpuMicrosPerTask: cpuMicros.map((c) => Math.round(c / Math.max(1, t.succeeded))),
        // What the rest of the machine spent per task meanwhile: PostgreSQL, Redis, and the load generator (for
        // the baseline that is the producer too). With the above, where a task's CPU goes.
        serviceMicrosPerTask: servicesAfter && {
          postgres: Math.round((servicesAfter.postgres - servicesBefore.postgres) / Math.max(1, t.succeeded)),
          redis: Math.round((servicesAfter.redis - servicesBefore.redis) / Math.max(1, t.succeeded)),
          load: Math.round(load.cpuMicros / Math.max(1, load.created)),
        },
        // Round trips per task of the same processes: SQL statements sent through pg, Redis commands.
        sqlPerTask: perTask("sql"),
        redisPerTask: perTask("redis"),
        problems,
      };
    };

    // Warm-up of both sides (JIT, pools, prepared statements), not counted.
    const warmUp = quick ? 30 : 100;
    await run("baseline", { total: warmUp });
    await run("ours", { total: warmUp });
    const runs = [];
    for (let i = 0; i < REPS; i++) runs.push({ baseline: await run("baseline"), contender: await run("ours") });
    const ratio = median(runs.map((r) => r.contender.tasksPerSecond / r.baseline.tasksPerSecond));
    const oursTps = median(runs.map((r) => r.contender.tasksPerSecond));
    const baseTps = median(runs.map((r) => r.baseline.tasksPerSecond));

    // The same pipeline with a second worker process.
    const worker2 = await startWorker(databaseUrl, serverExtra);
    started.push(worker2);
    const twoWorkers = await run("ours", { workers: [worker, worker2] });
    await stop(worker2.child);

    // Event lag and the time per stage at a steady 200 tasks/s, one worker (the second one is gone).
    // The subscribers are the API's own: a graphql-ws client per account, subscribed to myTaskUpdates.
    const opened = await fetch(`${subscriber.url}ws/open`, {
      method: "POST",
      body: JSON.stringify({ url: api.url.replace(/^http/, "ws"), keys: accounts.map((a) => a.key) }),
    });
    if (!opened.ok) throw new Error(`P1: graphql-ws subscribers: ${await opened.text()}`);
    const lag = await run("ours", {
      rate: LAG_RATE,
      total: Math.ceil((LAG_RATE * LAG_MS) / 1000),
      capMs: LAG_MS + 2000,
      graphql: true,
    });
    // Context: the same at a rate the pipeline holds on this machine, the event path without a backlog.
    const calmLag = await run("ours", {
      rate: CALM_LAG_RATE,
      total: Math.ceil((CALM_LAG_RATE * LAG_MS) / 1000),
      capMs: LAG_MS + 2000,
      graphql: true,
    });
    await fetch(`${subscriber.url}ws/close`, { method: "POST" });
    // The lag only counts at the rate asked for: a pipeline that cannot create 200 tasks/s did not show it.
    const lagRateHeld = lag.createdPerSecond >= LAG_RATE * 0.95;

    const verify = spawnSync(process.execPath, ["server/dist/server/src/scripts/ledger-verify.js"], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL },
      encoding: "utf8",
    });
    if (verify.status !== 0) failures.push(`P1 ledger:verify: ${(verify.stderr || verify.stdout).slice(0, 500)}`);
    const [baseLedger] = (
      await db.query(
        `SELECT count(*)::int AS off FROM ${BASE_SCHEMA}.credit_account c
          WHERE c.paid <> (SELECT coalesce(sum(paid_delta), 0) FROM ${BASE_SCHEMA}.ledger_entry l WHERE l.account_id = c.account_id)`,
      )
    ).rows;
    if (baseLedger.off) failures.push(`P1 baseline ledger: ${baseLedger.off} balances differ from their ledger`);

    const cpu = (i) => median(runs.map((r) => r.contender.cpuMicrosPerTask[i]));
    const service = (side, key) => median(runs.map((r) => r[side].serviceMicrosPerTask?.[key] ?? 0));
    const ms1 = (micros) => (micros / 1000).toFixed(1);
    const oursTotal = cpu(0) + cpu(1) + ["postgres", "redis", "load"].reduce((t, k) => t + service("contender", k), 0);
    const baseWorkerCpu = median(runs.map((r) => r.baseline.cpuMicrosPerTask[0]));
    const baseTotal = baseWorkerCpu + ["postgres", "redis", "load"].reduce((t, k) => t + service("baseline", k), 0);
    const sql = (i) => median(runs.map((r) => r.contender.sqlPerTask[i]));
    const redis = (i) => median(runs.map((r) => r.contender.redisPerTask[i]));
    const met = failures.length === 0 && ratio >= 0.5 && oursTps >= 1000 && lagRateHeld && lag.eventLagP99 < 50;
    const share = lag.stageShare;
    return {
      failures,
      title: "P1 pipeline",
      description:
        `createTask over HTTP with API keys (${ACCOUNTS} accounts, ${CONCURRENCY} connections, up to ${TASKS} tasks or ` +
        `${CREATE_CAP_MS / 1000} s of creation per run, ` +
        `local renderer at 64×64 with no delays, 1 API + 1 worker process, worker concurrency ${CONCURRENCY}) until ` +
        "every task is SUCCEEDED with its asset and its event heard by a Redis subscriber on the account channel; " +
        "vs plain pg + BullMQ with the producer called directly. Event lag and stage times at a steady 200 tasks/s.",
      runs,
      twoWorkers,
      lagRun: lag,
      calmLagRun: calmLag,
      ratio: { tasksPerSecond: ratio },
      baseline: `${baseTps} tasks/s`,
      ours: `${oursTps} tasks/s`,
      result:
        `${ratio.toFixed(2)}× tasks/s; 2 workers ${twoWorkers.tasksPerSecond} tasks/s; event lag p99 ${lag.eventLagP99} ms ` +
        `over graphql-ws at ${LAG_RATE}/s offered (${lag.createdPerSecond}/s created${lagRateHeld ? "" : ": the rate was not held"}), ` +
        `${calmLag.eventLagP99} ms at ${CALM_LAG_RATE}/s (${calmLag.createdPerSecond}/s created); ` +
        `stages request ${share.request} %, queued ${share.queued} %, running ${share.running} %, ` +
        `→event ${share.event} %; CPU/task API ${cpu(0)} µs + worker ` +
        `${cpu(1)} µs (baseline worker ${baseWorkerCpu} µs); machine CPU/task ours ${ms1(oursTotal)} ms (API ` +
        `${ms1(cpu(0))}, worker ${ms1(cpu(1))}, PostgreSQL ${ms1(service("contender", "postgres"))}, Redis ` +
        `${ms1(service("contender", "redis"))}, load ${ms1(service("contender", "load"))}) vs baseline ${ms1(baseTotal)} ms ` +
        `(worker ${ms1(baseWorkerCpu)}, PostgreSQL ${ms1(service("baseline", "postgres"))}, Redis ` +
        `${ms1(service("baseline", "redis"))}, producer and load ${ms1(service("baseline", "load"))}); ` +
        `SQL/task API ${sql(0)} + worker ${sql(1)}, Redis commands/task API ${redis(0)} + worker ${redis(1)}`,
      target: "≥ 0.50× tasks/s and ≥ 1 000 tasks/s (1 API + 1 worker); event lag p99 < 50 ms at 200 tasks/s",
      met,
    };
  } finally {
    await Promise.all(started.map((p) => stop(p.child)));
    await db.end();
    fs.rmSync(dataDir, { recursive: true, force: true });
    // The queues, schedules and counters of both prefixes.
    const redis = new Redis(REDIS_URL);
    for (const prefix of [oursPrefix, basePrefix]) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== "0");
    }
    redis.disconnect();
  }
}
