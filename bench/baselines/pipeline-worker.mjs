// The P1 baseline's worker: BullMQ (concurrency 50) and plain pg. Per job, as the issue defines the baseline:
// one statement for the asset row and SUCCEEDED (from QUEUED: no separate RUNNING step, started_at and
// finished_at in the same statement), then the task event published on the account's channel (the same
// channel and JSON the server publishes, so one subscriber hears both). It renders no image: this is the floor
// the queue and the database allow.
// Usage: PORT=… DATABASE_URL=… REDIS_URL=… REDIS_PREFIX=… node bench/baselines/pipeline-worker.mjs
import http from "node:http";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";

const prefix = process.env.REDIS_PREFIX;
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const publisher = new Redis(process.env.REDIS_URL);
const connection = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null });

const SUCCEEDED = `WITH t AS (
    UPDATE task SET status = 'SUCCEEDED', progress = 1, started_at = now(), finished_at = now(),
                    attempts = attempts + 1, version = version + 1, updated_at = now()
     WHERE id = $1 AND status = 'QUEUED'
     RETURNING id, account_id, version, status, progress, error_code, error_message, started_at, finished_at, width, height),
  a AS (
    INSERT INTO asset (task_id, account_id, index, width, height, bytes, content_type, sha256, storage_key,
                       preview_key, thumbnail_key, expires_at)
    SELECT t.id, t.account_id, 0, t.width, t.height, 0, 'image/png', repeat('0', 64), 'bench/' || t.id,
           'bench/' || t.id, 'bench/' || t.id, now() + interval '30 days' FROM t
    ON CONFLICT (task_id, index) DO NOTHING)
  SELECT * FROM t`;

const worker = new Worker(
  "generation",
  async (job) => {
    const { taskId } = job.data;
    const { rows } = await pool.query({ name: "succeeded", text: SUCCEEDED, values: [taskId] });
    const t = rows[0];
    if (!t) return;
    const event = {
      id: t.id,
      accountId: t.account_id,
      version: t.version,
      status: t.status,
      progress: t.progress,
      errorCode: t.error_code,
      errorMessage: t.error_message,
      startedAt: t.started_at?.toISOString() ?? null,
      finishedAt: t.finished_at?.toISOString() ?? null,
    };
    await publisher.publish(`${prefix}:ACCOUNT_TASKS:${t.account_id}`, JSON.stringify(event));
  },
  { connection, prefix: `${prefix}:{bull}`, concurrency: 50 },
);
await worker.waitUntilReady();

const server = http.createServer((_req, res) => res.end("ok"));
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", async () => {
  server.close();
  await worker.close();
  connection.disconnect();
  publisher.disconnect();
  await pool.end();
  process.exit(0);
});
