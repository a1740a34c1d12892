import type { Job } from "bullmq";
import type { DataSource } from "typeorm";
import type { Logger } from "../../infra/logger.js";
import type { PubSubBus } from "../../infra/pubsub.js";
import { hydrate, queryPrepared } from "../../infra/sql.js";
import { insertTaskFilesSql, taskFilesParams, type AssetService } from "../assets/asset.service.js";
import { GenerationModelEntity } from "./generation-model.entity.js";
import { TASK_CANCEL_REQUESTED } from "./generation.topics.js";
import type { ProviderRegistry } from "./provider-registry.js";
import { ProviderError, toProviderError } from "./providers/provider.js";
import { TaskEntity } from "./task.entity.js";
import type { TaskService } from "./task.service.js";

/** RUNNING (again, for a retried job) and the task with its model as they are after the update. */
const START_SQL = `WITH t AS (
    UPDATE task SET status = 'RUNNING', started_at = coalesce(started_at, now()), progress = 0,
           attempts = attempts + 1, version = version + 1, updated_at = now()
     WHERE id = $1 AND status IN ('QUEUED', 'RUNNING') AND attempts < $2 RETURNING *)
  SELECT t.*, (SELECT row_to_json(m) FROM generation_model m WHERE m.id = t.model_id) AS runner_model FROM t`;

/**
 * SUCCEEDED and the images' asset rows in one statement (one round trip, one commit): the rows go in only
 * with the task's own change, and their files were written before. The rows come back for the event.
 */
const SUCCEEDED_SQL = `WITH t AS (
    UPDATE task SET status = 'SUCCEEDED', progress = 1, finished_at = now(), version = version + 1, updated_at = now()
     WHERE id = $1 AND status = 'RUNNING' RETURNING *),
  a AS (${insertTaskFilesSql("t", 2)} RETURNING *)
  SELECT t.*, (SELECT json_agg(a ORDER BY a.index) FROM a) AS runner_assets FROM t`;

/** Progress is written and published at most this often per task. */
const PROGRESS_INTERVAL_MS = 250;

export interface RunnerSettings {
  timeoutMs: number;
  /**
   * Starts a task may have in all: its attempts, plus the restarts of runs whose worker died (a stalled job
   * is run again). A task that keeps killing its worker (an image that exhausts its memory) ends FAILED and
   * refunded instead of being picked up for ever.
   */
  maxStarts: number;
}

/**
 * Runs `generation.run` jobs in worker processes. Every state change is a conditional UPDATE on the
 * task's current state, so a job that runs twice (stalled-job recovery after kill -9) or races a cancel
 * still ends the task once, charges nothing more and stores no duplicate image.
 */
export class TaskRunner {
  /** Running tasks of this process, so a cancel request can abort the provider call. */
  private readonly running = new Map<string, AbortController>();
  private cancelListener: AsyncIterator<{ taskId: string }> | undefined;

  constructor(
    private readonly db: DataSource,
    private readonly tasks: TaskService,
    private readonly providers: ProviderRegistry,
    private readonly assets: AssetService,
    private readonly pubsub: PubSubBus,
    private readonly logger: Logger,
    private readonly settings: RunnerSettings,
  ) {}

  /** Listens for cancel requests from any API process. */
  start(): void {
    this.cancelListener = this.pubsub.subscribe<{ taskId: string }>(TASK_CANCEL_REQUESTED)[Symbol.asyncIterator]();
    const listener = this.cancelListener;
    void (async () => {
      for (let next = await listener.next(); !next.done; next = await listener.next()) {
        this.running.get(next.value.taskId)?.abort(new Error("canceled"));
      }
    })().catch((err: unknown) => this.logger.error({ err }, "cancel listener stopped"));
  }

  async stop(): Promise<void> {
    await this.cancelListener?.return?.();
  }

  async run(job: Job<{ taskId: string }>): Promise<void> {
    const { taskId } = job.data;
    // RUNNING, the task as it is now and its model in one round trip (a prepared statement): the task row
    // and model row are what a re-read after the update would answer.
    const [started] = await queryPrepared<Record<string, unknown>>(this.db, START_SQL, [
      taskId,
      this.settings.maxStarts,
    ]);
    if (!started) return this.giveUpIfWorn(taskId); // canceled or already finished: nothing to do
    let task = hydrate(this.db, TaskEntity, started);
    // Registered before anything is awaited: a cancel sent as soon as the task shows RUNNING aborts it.
    const cancel = new AbortController();
    this.running.set(taskId, cancel);
    this.tasks.publish(task);
    try {
      await this.tasks.emit(task, "task.running");
    } catch (err) {
      this.running.delete(taskId);
      throw err;
    }

    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    const signal = AbortSignal.any([cancel.signal, timeout]);
    // Progress writes in flight. Each publishes the task as it re-reads it, so one still running when the task
    // ends would publish the final state a second time: the final update waits for them.
    const progressWrites: Promise<void>[] = [];
    // Files of this task may be in the store (an earlier attempt, or this one from `writeTaskFiles` on):
    // if the task then ends without its rows, they are deleted.
    let mayHaveFiles = task.attempts > 1;
    try {
      const model = started.runner_model
        ? hydrate(this.db, GenerationModelEntity, started.runner_model as Record<string, unknown>, "json")
        : await this.db.getRepository(GenerationModelEntity).findOneByOrFail({ id: task.modelId });
      const references = await this.loadReferences(task);
      // The first progress write comes an interval after the start (the RUNNING event said 0 already).
      let lastWrite = Date.now();
      const images = await this.providers.generate(
        model,
        {
          prompt: task.prompt,
          negativePrompt: task.negativePrompt,
          width: task.width,
          height: task.height,
          count: task.count,
          seed: task.seed,
          references,
        },
        signal,
        (fraction) => {
          const now = Date.now();
          if (now - lastWrite < PROGRESS_INTERVAL_MS || fraction >= 1) return;
          lastWrite = now;
          // Best effort: a lost progress write (a dropped connection) must not become an unhandled rejection.
          progressWrites.push(
            this.saveProgress(taskId, fraction).catch((err: unknown) =>
              this.logger.warn({ err: (err as Error).message, taskId }, "progress not saved"),
            ),
          );
        },
      );
      // A provider that finished anyway: a cancel (or the timeout) meanwhile still wins.
      signal.throwIfAborted();
      if (images.length !== task.count)
        throw new ProviderError("BAD_RESPONSE", "The provider returned too few images", true);
      mayHaveFiles = true;
      const files = await this.assets.writeTaskFiles(task, images);
      await Promise.all(progressWrites);
      const [done] = await queryPrepared<Record<string, unknown>>(this.db, SUCCEEDED_SQL, [
        taskId,
        ...taskFilesParams(files),
      ]);
      if (done) {
        task = hydrate(this.db, TaskEntity, done);
        // The event carries the new asset rows (none when a rerun found them there already).
        this.tasks.publish(task, (done.runner_assets as Record<string, unknown>[] | null) ?? undefined);
        await this.tasks.emit(task, "task.succeeded");
      } else {
        // Canceled (or failed elsewhere) while the files were written: no row will ever point at them.
        await this.discardFiles(task);
      }
    } catch (raw) {
      await Promise.all(progressWrites);
      if (cancel.signal.aborted) {
        // The cancel path already refunded and published.
        if (mayHaveFiles) await this.discardFiles(task);
        return;
      }
      const error = timeout.aborted
        ? new ProviderError("TIMEOUT", "The generation took too long", false)
        : toProviderError(raw);
      const attemptsLeft = (job.opts.attempts ?? 1) - (job.attemptsMade + 1);
      if (error.transient && attemptsLeft > 0) {
        // Back to QUEUED while BullMQ waits out the backoff; the job is retried with the same id.
        await this.db.query(
          `UPDATE task SET status = 'QUEUED', progress = 0, version = version + 1, updated_at = now()
            WHERE id = $1 AND status = 'RUNNING'`,
          [taskId],
        );
        this.tasks.publish(await this.db.getRepository(TaskEntity).findOneByOrFail({ id: taskId }));
        throw error;
      }
      await this.fail(taskId, error.code, error.message);
      if (mayHaveFiles) await this.discardFiles(task);
      if (!(raw instanceof ProviderError)) this.logger.error({ err: raw, taskId }, "task failed unexpectedly");
    } finally {
      this.running.delete(taskId);
      // The slot this task held is free: the account's next waiting task goes to the queue. Not in the
      // SUCCEEDED round trip: the dispatch lock may be held by a creation of the account, and the event waits
      // for no lock (sent together, the event lag p99 at 200 tasks/s was three times as long).
      await this.tasks.dispatch(task.accountId);
    }
  }

  /** A task that is still to run but has had all its starts (its runs died with their worker) fails, refunded. */
  private async giveUpIfWorn(taskId: string): Promise<void> {
    const [row] = (await this.db.query(`SELECT status, attempts FROM task WHERE id = $1`, [taskId])) as {
      status: string;
      attempts: number;
    }[];
    if (!row || (row.status !== "QUEUED" && row.status !== "RUNNING") || row.attempts < this.settings.maxStarts) return;
    this.logger.warn({ taskId, attempts: row.attempts }, "task given up: its runs kept ending with their worker");
    await this.fail(
      taskId,
      "WORKER_LOST",
      `The task stopped the worker running it ${row.attempts} times, so it was given up.`,
    );
    const task = await this.db.getRepository(TaskEntity).findOneByOrFail({ id: taskId });
    await this.discardFiles(task);
    await this.tasks.dispatch(task.accountId);
  }

  /**
   * Deletes the task's files when it ended canceled or failed (a task that succeeded, maybe in another run of
   * the same job, keeps them: its rows point at them). Never throws: the task's end is already recorded.
   */
  private async discardFiles(task: TaskEntity): Promise<void> {
    try {
      const [row] = (await this.db.query(`SELECT status FROM task WHERE id = $1`, [task.id])) as { status: string }[];
      if (row?.status !== "CANCELED" && row?.status !== "FAILED") return;
      await this.assets.deleteTaskFiles(task, task.count);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, taskId: task.id }, "files of an ended task not deleted");
    }
  }

  private async saveProgress(taskId: string, fraction: number): Promise<void> {
    const rows = (await this.db.query(
      `UPDATE task SET progress = $2, version = version + 1, updated_at = now()
        WHERE id = $1 AND status = 'RUNNING' AND progress < $2 RETURNING id`,
      [taskId, Math.round(fraction * 1000) / 1000],
    )) as [unknown[], number];
    if (rows[0].length) this.tasks.publish(await this.db.getRepository(TaskEntity).findOneByOrFail({ id: taskId }));
  }

  /** FAILED and refunded in one transaction; the owner is told after commit. */
  async fail(taskId: string, code: string, message: string): Promise<void> {
    const task = await this.db.transaction(async (manager) => {
      const rows = (await manager.query(
        `UPDATE task SET status = 'FAILED', error_code = $2, error_message = $3, finished_at = now(),
                version = version + 1, updated_at = now()
          WHERE id = $1 AND status IN ('QUEUED', 'RUNNING') RETURNING id`,
        // Whatever a provider said: no NUL (a text column refuses it), no other control character.
        [taskId, code, message.replace(/\p{Cc}+/gu, " ").slice(0, 500)],
      )) as [unknown[], number];
      if (!rows[0].length) return null;
      const failed = await manager.getRepository(TaskEntity).findOneByOrFail({ id: taskId });
      await this.tasks.refund(failed, manager, `Refund: ${code}`);
      return failed;
    });
    if (!task) return;
    // Images stored before the failure (a storage error on the third of four) go with the task.
    await this.assets.discardTask(taskId);
    this.tasks.publish(task);
    await this.tasks.emit(task, "task.failed");
    await this.tasks.notifyFailed(task);
  }

  private async loadReferences(task: TaskEntity): Promise<Buffer[]> {
    if (!task.referenceIds.length) return [];
    const rows = (await this.db.query(`SELECT id, storage_key FROM upload WHERE id = ANY($1::uuid[])`, [
      task.referenceIds,
    ])) as { id: string; storage_key: string }[];
    const byId = new Map(rows.map((r) => [r.id, r.storage_key]));
    return Promise.all(
      task.referenceIds.filter((id) => byId.has(id)).map((id) => this.assets.storage.get(byId.get(id)!)),
    );
  }
}
