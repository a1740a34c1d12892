// The P1 baseline's producer: what the API does for createTask, hand-written with plain pg and BullMQ and
// called directly (no HTTP, no auth, no validation): the charge, its ledger entry and the task in one
// prepared statement, then `queue.add` with job id = task id. bench/pipeline-load.mjs runs it in its own
// process (`--direct`); bench/baselines/pipeline-worker.mjs runs the jobs.
import { randomInt, randomUUID } from "node:crypto";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";

const CREATE = `WITH c AS (
    UPDATE credit_account SET paid = paid - $2, updated_at = now()
     WHERE account_id = $1 AND paid >= $2 RETURNING account_id, paid, bonus),
  l AS (
    INSERT INTO ledger_entry (account_id, kind, paid_delta, bonus_delta, paid_after, bonus_after, reference, note, created_at)
    SELECT account_id, 'TASK_CHARGE', -$2, 0, paid, bonus, 'task:' || $3::text || ':charge', 'Task ' || $3::text, clock_timestamp()
      FROM c RETURNING account_id)
  INSERT INTO task (id, account_id, status, prompt, model_id, width, height, count, seed, input_hash, cost,
                    client_reference, dispatched_at)
  SELECT $3::uuid, account_id, 'QUEUED', $4, $5, $6, $7, $8, $9, repeat('0', 64), $2, $10, now() FROM l RETURNING id`;

/** A producer on its own pool and queue connection; `create(accountId)` makes one task and queues it. */
export function createProducer({ databaseUrl, redisUrl, prefix, modelId, width, height, count, cost, runId }) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue("generation", { connection, prefix: `${prefix}:{bull}` });
  return {
    async create(accountId, prompt) {
      const id = randomUUID();
      const { rows } = await pool.query({
        name: "create-task",
        text: CREATE,
        values: [accountId, cost, id, prompt, modelId, width, height, count, randomInt(0, 2_147_483_647), runId],
      });
      if (!rows.length) throw new Error(`insufficient credits on ${accountId}`);
      await queue.add("generation.run", { taskId: id }, { jobId: id, removeOnComplete: true, removeOnFail: true });
    },
    async close() {
      await queue.close();
      connection.disconnect();
      await pool.end();
    },
  };
}
