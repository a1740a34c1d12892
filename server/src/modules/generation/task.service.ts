import { parseInput } from "../../infra/validation.js";
import { createHash, randomInt, randomUUID } from "node:crypto";
import type { Queue } from "bullmq";
import type pg from "pg";
import { QueryFailedError, type DataSource, type EntityManager } from "typeorm";
import type { PostgresDriver } from "typeorm/driver/postgres/PostgresDriver.js";
import type { PostgresQueryRunner } from "typeorm/driver/postgres/PostgresQueryRunner.js";
import { z } from "zod";
import { BadUserInputError, NotFoundError } from "../../infra/errors.js";
import type { Logger } from "../../infra/logger.js";
import { pastCursorSql, decodeCursor, pageSize } from "../../infra/pagination.js";
import type { PubSubBus } from "../../infra/pubsub.js";
import { readList, wroteFor } from "../../infra/read-replica.js";
import { hydrate, queryPrepared } from "../../infra/sql.js";
import { AssetEntity } from "../assets/asset.entity.js";
import type { MessageService } from "../accounts/message.service.js";
import { AccountRestrictedError } from "../accounts/accounts.errors.js";
import { actingRole, restrictionFor, type Viewer } from "../accounts/viewer.js";
import { AccountRole } from "../accounts/account.entity.js";
import { InsufficientBalanceError } from "../credits/credits.errors.js";
import { chargeCtes, type LedgerService } from "../credits/ledger.service.js";
import { IdempotencyConflictError, TaskNotCancelableError } from "./generation.errors.js";
import { GENERATION_RUN_JOB } from "./generation.jobs.js";
import {
  accountTasksTopic,
  TASK_CANCEL_REQUESTED,
  taskTopic,
  toTaskEvent,
  type TaskEvent,
} from "./generation.topics.js";
import { modelIsCurrentSql, type ModelCatalogService } from "./model-catalog.service.js";
import type { GenerationModelEntity } from "./generation-model.entity.js";
import { TaskEntity, TaskStatus } from "./task.entity.js";

/**
 * Other modules' parts in a task's life, wired in app.ts: `admit` (risk control's limits and model
 * permissions) runs inside the creating transaction and throws to refuse; `onEvent` (webhooks) runs after
 * commit.
 */
export interface TaskHooks {
  admit?: (
    accountId: string,
    task: { model: GenerationModelEntity; cost: number },
    manager: EntityManager,
    /** The account's dispatch lock: admit runs it (with its reads, in one round trip) unless it refuses. */
    lockStatement: string,
  ) => Promise<void>;
  onEvent: ((task: TaskEntity, type: TaskEventType) => Promise<void>)[];
}

export type TaskEventType = "task.running" | "task.succeeded" | "task.failed" | "task.canceled";

export type PromptCheck = (input: {
  accountId: string;
  /** The id the task will have if it is created (a held task's moderation event points at it). */
  taskId: string;
  prompt: string;
  negativePrompt: string | null;
  /** The creating transaction: reads the check needs go on its connection, never on a second one. */
  manager?: EntityManager;
}) => Promise<{ action: "BLOCK" | "REVIEW" } | null | void>;

const inputSchema = z.object({
  prompt: z
    .string()
    .transform((s) => s.trim())
    .refine((s) => [...s].length >= 1, "Write a prompt.")
    .refine((s) => [...s].length <= 2000, "The prompt may have at most 2 000 characters."),
  negativePrompt: z
    .string()
    .transform((s) => s.trim())
    .refine((s) => [...s].length <= 2000, "The negative prompt may have at most 2 000 characters.")
    .nullable()
    .transform((s) => (s ? s : null)),
  model: z.string().min(1).max(64),
  width: z.number().int(),
  height: z.number().int(),
  count: z.number().int().min(1, "Ask for 1 to 4 images.").max(4, "Ask for 1 to 4 images."),
  seed: z.number().int().min(0).max(2_147_483_647, "The seed must be between 0 and 2147483647.").nullable(),
  referenceIds: z.array(z.uuid("Unknown reference image.")).max(4, "At most 4 reference images."),
  webhookUrl: z
    .url({ protocol: /^https?$/, message: "The webhook URL must be an http(s) URL." })
    .max(2000)
    .nullable(),
  clientReference: z.string().max(200).nullable(),
  idempotencyKey: z.string().min(1).max(200).nullable(),
});

export type CreateTaskInput = z.input<typeof inputSchema>;

export interface TaskPage {
  /** Up to `limit + 1` tasks: the extra one only tells that another page follows. */
  rows: TaskEntity[];
  limit: number;
  /** Who owns every task of the page (meaningful when `rows` is not empty). */
  owner: { id: string; displayName: string };
  /** Active assets of each listed task, by task id, when asked for. */
  assets?: Map<string, AssetEntity[]>;
}

export interface TaskListFilter {
  status?: TaskStatus | null;
  model?: string | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
}

const ENQUEUE_TIMEOUT_MS = 3000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A new task with its charge and its dispatch decision, in one statement: the charge (credits' CTEs) and
 * the task row happen together or not at all, and only while the model row is the version its price was
 * taken from. The task is handed to the queue at once (dispatched_at) when the account has a free running
 * slot and no older task waiting for one; the caller holds the account's dispatch lock, so the counts are
 * those every other dispatcher sees. One row always comes back: the task's columns (null when nothing was
 * written), whether the account had a free slot, and whether the model was current.
 *
 * $1 id, $2 account, $3 status, $4 prompt, $5 negative prompt, $6 model, $7 width, $8 height, $9 count,
 * $10 seed, $11 references, $12 webhook URL, $13 client reference, $14 idempotency key, $15 input hash,
 * $16 cost, $17 model version, $18 running limit; when charged, $19 charge reference and $20 its note.
 */
function createTaskSql(charged: boolean): string {
  const modelIsCurrent = modelIsCurrentSql("$6::uuid", "$17::text");
  const charge = chargeCtes({
    accountId: "$2::uuid",
    amount: "$16::int",
    kind: "'TASK_CHARGE'::ledger_kind",
    reference: "$19::varchar",
    note: "$20::varchar",
    when: modelIsCurrent,
  });
  return `WITH ${charged ? `${charge},` : ""}
  d AS (
    SELECT NOT EXISTS (SELECT 1 FROM task WHERE account_id = $2::uuid AND status = 'QUEUED' AND dispatched_at IS NULL)
             AS none_waiting,
           (SELECT count(*) FROM task WHERE account_id = $2::uuid AND dispatched_at IS NOT NULL
               AND status IN ('QUEUED', 'RUNNING')) AS active),
  t AS (
    INSERT INTO task (id, account_id, status, prompt, negative_prompt, model_id, width, height, count, seed,
                      reference_ids, webhook_url, client_reference, idempotency_key, input_hash, cost, dispatched_at)
    SELECT $1::uuid, $2::uuid, $3::task_status, $4::text, $5::text, $6::uuid, $7::int, $8::int, $9::int, $10::int,
           $11::uuid[], $12::varchar, $13::varchar, $14::varchar, $15::text, $16::int,
           CASE WHEN $3::task_status = 'QUEUED' AND d.none_waiting AND d.active < $18::int THEN now() END
      FROM ${charged ? "charge_entry, d" : `d WHERE ${modelIsCurrent}`}
    RETURNING *)
  SELECT t.*, d.active < $18::int AS has_free_slot, ${modelIsCurrent} AS model_is_current FROM d LEFT JOIN t ON true`;
}

const CREATE_CHARGED_SQL = createTaskSql(true);
const CREATE_FREE_SQL = createTaskSql(false);

/**
 * The account's task for an idempotency key ($1 account, $2 key) while the key is honoured (24 h); in the
 * same statement a task older than that lets go of the key, so the key is free for the new task at once
 * (not only after the hourly `forgetOldIdempotencyKeys`). Both parts read one snapshot: the old task is
 * never answered.
 */
const IDEMPOTENT_TASK_SQL = `WITH expired AS (
    UPDATE task SET idempotency_key = NULL
     WHERE account_id = $1::uuid AND idempotency_key = $2::varchar AND created_at < now() - interval '24 hours')
  SELECT * FROM task
   WHERE account_id = $1::uuid AND idempotency_key = $2::varchar AND created_at >= now() - interval '24 hours'`;

/** The model changed between its price and the task's statement: the creation is tried again. */
class StaleModelError extends Error {}

/**
 * The columns a page of tasks reads for each selected GraphQL field of `Task` (and of its `assets`): a list
 * reads only what the operation asks for, which is most of what a page costs PostgreSQL to build and pg to
 * parse. A field missing from the table (a new one, or one whose resolver needs the whole row) reads every column.
 */
const TASK_ALWAYS = ["id", "account_id", "model_id", "status", "version", "created_at"];
const TASK_FIELD_COLUMNS: Record<string, readonly string[]> = {
  __typename: [],
  id: [],
  status: [],
  createdAt: [],
  prompt: ["prompt"],
  negativePrompt: ["negative_prompt"],
  width: ["width"],
  height: ["height"],
  count: ["count"],
  seed: ["seed"],
  progress: ["progress"],
  cost: ["cost"],
  error: ["error_code", "error_message"],
  referenceIds: ["reference_ids"],
  webhookUrl: ["webhook_url"],
  clientReference: ["client_reference"],
  startedAt: ["started_at"],
  finishedAt: ["finished_at"],
  model: [],
  owner: [],
  assets: [],
  queuePosition: [],
};
const ASSET_ALWAYS = ["id", "task_id", "account_id", "status"];
const ASSET_FIELD_COLUMNS: Record<string, readonly string[]> = {
  __typename: [],
  id: [],
  taskId: [],
  status: [],
  index: ["index"],
  width: ["width"],
  height: ["height"],
  bytes: ["bytes"],
  contentType: ["content_type"],
  sha256: ["sha256"],
  favorite: ["favorite"],
  expiresAt: ["expires_at"],
  createdAt: ["created_at"],
};

/** The selected fields' columns rendered by `render`, or null when a field needs the whole row (or none are known). */
function columnsFor(
  table: Record<string, readonly string[]>,
  always: readonly string[],
  fields: ReadonlySet<string> | undefined,
  render: (columns: string[]) => string,
): string | null {
  if (!fields) return null;
  const columns = new Set(always);
  for (const field of fields) {
    const needed = table[field];
    if (!needed) return null;
    for (const column of needed) columns.add(column);
  }
  return render([...columns]);
}

/** Tasks: creation (validate, moderate, charge, insert — one transaction), cancellation, queries, fair dispatch. */
export class TaskService {
  constructor(
    private readonly db: DataSource,
    private readonly queue: Queue,
    private readonly pubsub: PubSubBus,
    private readonly catalog: ModelCatalogService,
    private readonly ledger: LedgerService,
    private readonly messages: MessageService,
    private readonly logger: Logger,
    private readonly settings: { runningLimit: number; attempts: number; backoffMs: number },
    private readonly checkPrompt: PromptCheck = async () => null,
    private readonly hooks: TaskHooks = { onEvent: [] },
  ) {}

  /** Tells the hooks a task reached a state; a failing hook is logged, never thrown into the task's flow. */
  async emit(task: TaskEntity, type: TaskEventType): Promise<void> {
    // The owner's lists show the new state, wherever it was changed (the worker's runs too).
    await wroteFor(this.db, task.accountId);
    for (const hook of this.hooks.onEvent) {
      await hook(task, type).catch((err: unknown) =>
        this.logger.error({ err: (err as Error).message, taskId: task.id, type }, "task event hook failed"),
      );
    }
  }

  private get repo() {
    return this.db.getRepository(TaskEntity);
  }

  async create(viewer: Viewer, raw: CreateTaskInput): Promise<{ task: TaskEntity; created: boolean }> {
    const valid = parseInput(inputSchema, raw);
    const input = valid;
    const accountId = viewer.accountId;
    const restricted = restrictionFor(viewer, "TASKS");
    if (restricted) throw new AccountRestrictedError(restricted);
    const inputHash = createHash("sha256")
      .update(JSON.stringify({ ...input, idempotencyKey: undefined, referenceIds: [...input.referenceIds].sort() }))
      .digest("hex");

    if (input.idempotencyKey) {
      const [row] = await queryPrepared<Record<string, unknown>>(this.db, IDEMPOTENT_TASK_SQL, [
        accountId,
        input.idempotencyKey,
      ]);
      if (row) return { task: this.sameOrConflict(hydrate(this.db, TaskEntity, row), inputHash), created: false };
    }
    if (new Set(input.referenceIds).size !== input.referenceIds.length) {
      // Checked against the model first, so an unknown model still answers NOT_FOUND.
      await this.catalog.estimateCached(input);
      throw new BadUserInputError("A reference image is listed twice.", { field: "referenceIds" });
    }
    for (let attempt = 1; ; attempt++) {
      const price = await this.catalog.estimateCached(input, attempt > 1);
      try {
        const { task, dispatchOthers } = await this.db.transaction(async (manager) => {
          // The account's dispatch lock, held to commit: the admission counts and the dispatch decision below
          // see what every other creator and dispatcher of the account sees. Admission sends it with its counts.
          const lockStatement = dispatchLockSql(accountId);
          if (this.hooks.admit) {
            await this.hooks.admit(accountId, { model: price.model, cost: price.total }, manager, lockStatement);
          } else {
            await manager.query(lockStatement);
          }
          const id = randomUUID();
          const moderation = await this.checkPrompt({
            accountId,
            taskId: id,
            prompt: input.prompt,
            negativePrompt: input.negativePrompt,
            manager,
          });
          if (input.referenceIds.length) {
            const owned = (await manager.query(
              `UPDATE upload SET used_at = coalesce(used_at, now()) WHERE id = ANY($1::uuid[]) AND account_id = $2 RETURNING id`,
              [input.referenceIds, accountId],
            )) as [unknown[], number];
            if (owned[0].length !== input.referenceIds.length) {
              throw new NotFoundError("Reference image", { field: "referenceIds" });
            }
          }
          // The transaction's own connection, for named (prepared) statements.
          const client = (await (manager.queryRunner as PostgresQueryRunner).connect()) as pg.PoolClient;
          const charged = price.total > 0;
          const [row] = await queryPrepared<Record<string, unknown>>(
            this.db,
            charged ? CREATE_CHARGED_SQL : CREATE_FREE_SQL,
            [
              id,
              accountId,
              moderation?.action === "REVIEW" ? TaskStatus.PENDING_REVIEW : TaskStatus.QUEUED,
              input.prompt,
              input.negativePrompt,
              price.model.id,
              input.width,
              input.height,
              input.count,
              input.seed ?? randomInt(0, 2_147_483_647),
              input.referenceIds,
              input.webhookUrl,
              input.clientReference,
              input.idempotencyKey,
              inputHash,
              price.total,
              price.version,
              this.settings.runningLimit,
              ...(charged ? [chargeReference(id), `Task ${id}`] : []),
            ],
            client,
          );
          if (!row.model_is_current) throw new StaleModelError();
          if (row.id === null) {
            const balance = await this.ledger.balance(accountId, manager);
            throw new InsufficientBalanceError(price.total, balance.paid + balance.bonus);
          }
          const task = hydrate(this.db, TaskEntity, row);
          // A free slot that an older waiting task should take (state left behind by a crash): dispatch().
          const dispatchOthers = task.status === TaskStatus.QUEUED && !task.dispatchedAt && Boolean(row.has_free_slot);
          return { task, dispatchOthers };
        });
        await wroteFor(this.db, accountId);
        this.publish(task);
        if (task.dispatchedAt) await this.enqueue(task.id);
        if (dispatchOthers) await this.dispatch(accountId);
        return { task, created: true };
      } catch (err) {
        if (err instanceof StaleModelError && attempt < 3) {
          this.catalog.forget(input.model);
          continue;
        }
        // The same key sent twice at the same moment: the loser answers with the winner's task.
        if ((err as { code?: string }).code === "23505" && input.idempotencyKey) {
          const existing = await this.repo.findOneByOrFail({ accountId, idempotencyKey: input.idempotencyKey });
          return { task: this.sameOrConflict(existing, inputHash), created: false };
        }
        throw err;
      }
    }
  }

  private sameOrConflict(existing: TaskEntity, inputHash: string): TaskEntity {
    if (existing.inputHash !== inputHash) throw new IdempotencyConflictError(existing.id);
    return existing;
  }

  /**
   * Hands the account's oldest queued tasks to the queue while it has fewer than `runningLimit` tasks
   * there or running. The queue therefore never holds more than a few tasks per account, so one account
   * with 200 tasks cannot stand in front of everybody else (BullMQ's open-source edition is FIFO).
   *
   * Called whenever a slot may have freed (a task ended, was canceled or approved). The account's dispatch
   * lock and the update go in one round trip (two statements of one implicit transaction, the update with
   * its own snapshot taken once the lock is held). A creating transaction holds the same lock while it
   * decides whether its new task takes a slot, so either it sees the slot this call frees, or this call
   * waits for its commit and sees its task.
   */
  async dispatch(accountId: string): Promise<string[]> {
    // Inlined into the statement text (a multi-statement query takes no parameters): a uuid and an integer.
    const limit = Math.trunc(this.settings.runningLimit);
    const pool = (this.db.driver as PostgresDriver).master as pg.Pool;
    const text = `${dispatchLockSql(accountId)};
       UPDATE task SET dispatched_at = now() WHERE id IN (
         SELECT id FROM task WHERE account_id = '${accountId}' AND status = 'QUEUED' AND dispatched_at IS NULL
          ORDER BY created_at, id
          LIMIT GREATEST(0, ${limit} - (SELECT count(*) FROM task WHERE account_id = '${accountId}'
                                          AND dispatched_at IS NOT NULL AND status IN ('QUEUED', 'RUNNING'))))
       RETURNING *`;
    let results: pg.QueryResult[];
    try {
      results = (await pool.query(text)) as unknown as pg.QueryResult[];
    } catch (err) {
      throw new QueryFailedError(text, [], err as Error);
    }
    const dispatched = (results.at(-1)!.rows as Record<string, unknown>[]).map((row) =>
      hydrate(this.db, TaskEntity, row),
    );
    // Its QUEUED event before its job: the creator publishes it only after its commit, and a dispatcher elsewhere
    // may hand the task to a worker (which publishes RUNNING) before that. Subscribers drop the second copy.
    for (const task of dispatched) this.publish(task);
    const ids = dispatched.map((task) => task.id);
    await Promise.all(ids.map((id) => this.enqueue(id)));
    return ids;
  }

  /** Jobs to add with the next `addBulk`, and what their callers wait for. */
  private pendingJobs: { taskId: string; done: () => void }[] = [];

  /**
   * Adds the task's job (job id = task id, so adding twice is harmless). A failure is left to the reconciler.
   * The jobs asked for within one turn of the event loop (concurrent creations) go to Redis together in one
   * `addBulk`: one round trip for all of them.
   */
  enqueue(taskId: string): Promise<void> {
    return new Promise<void>((done) => {
      this.pendingJobs.push({ taskId, done });
      if (this.pendingJobs.length === 1) setImmediate(() => void this.addPending());
    });
  }

  private async addPending(): Promise<void> {
    const batch = this.pendingJobs;
    this.pendingJobs = [];
    // The queue's connection waits for Redis as long as it is down; the tasks are already paid and stored,
    // so the requests do not wait with it: after a few seconds the reconciler's next pass takes over.
    let timer: NodeJS.Timeout | undefined;
    const added = this.queue.addBulk(
      batch.map(({ taskId }) => ({
        name: GENERATION_RUN_JOB,
        data: { taskId },
        opts: {
          jobId: taskId,
          attempts: this.settings.attempts,
          backoff: { type: "exponential", delay: this.settings.backoffMs },
          removeOnComplete: true,
          removeOnFail: true,
        },
      })),
    );
    try {
      await Promise.race([
        added,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("the queue did not answer in time")), ENQUEUE_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      added.catch(() => undefined);
      this.logger.warn(
        { err: (err as Error).message, taskIds: batch.map((j) => j.taskId) },
        "enqueue failed; the reconciler will retry",
      );
    } finally {
      clearTimeout(timer);
      for (const job of batch) job.done();
    }
  }

  /**
   * Makes PostgreSQL and the queue agree again: re-adds dispatched tasks whose job is gone (a Redis
   * flush or crash), and dispatches accounts that have queued tasks and free slots.
   */
  async reconcile(): Promise<{ requeued: number; dispatched: number }> {
    const dispatchedRows = (await this.db.query(
      `SELECT id FROM task WHERE status IN ('QUEUED', 'RUNNING') AND dispatched_at IS NOT NULL
        AND updated_at < now() - interval '2 seconds' ORDER BY created_at LIMIT 5000`,
    )) as { id: string }[];
    let requeued = 0;
    for (const { id } of dispatchedRows) {
      const job = await this.queue.getJob(id);
      if (!job) {
        await this.enqueue(id);
        requeued++;
      }
    }
    const accounts = (await this.db.query(
      `SELECT DISTINCT account_id FROM task WHERE status = 'QUEUED' AND dispatched_at IS NULL`,
    )) as { account_id: string }[];
    let dispatched = 0;
    for (const { account_id } of accounts) dispatched += (await this.dispatch(account_id)).length;
    if (requeued || dispatched) this.logger.info({ requeued, dispatched }, "reconciled tasks with the queue");
    return { requeued, dispatched };
  }

  async get(viewer: Viewer, id: string): Promise<TaskEntity | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    const task = await this.repo.findOneBy({ id });
    if (!task || (task.accountId !== viewer.accountId && actingRole(viewer) !== AccountRole.ADMIN)) return null;
    return task;
  }

  /**
   * A page of the account's tasks, newest first, in one prepared statement. With `assets`, each task's
   * active assets (what the `assets` field shows) come in the same statement, so a page with its images
   * costs one round trip whatever its size; the owner's display name always does.
   */
  async list(
    accountId: string,
    args: { first?: number; after?: string | null; filter?: TaskListFilter | null },
    include: { assets?: boolean; fields?: ReadonlySet<string>; assetFields?: ReadonlySet<string> } = {},
  ): Promise<TaskPage> {
    const limit = pageSize(args.first);
    const values: unknown[] = [accountId];
    const param = (value: unknown) => `$${values.push(value)}`;
    const where = ["t.account_id = $1"];
    const filter = args.filter ?? {};
    if (filter.status) where.push(`t.status = ${param(filter.status)}`);
    if (filter.model) where.push(`t.model_id = (SELECT id FROM generation_model WHERE slug = ${param(filter.model)})`);
    if (filter.createdAfter) where.push(`t.created_at > ${param(filter.createdAfter)}`);
    if (filter.createdBefore) where.push(`t.created_at < ${param(filter.createdBefore)}`);
    if (args.after) {
      const cursor = decodeCursor(args.after);
      const at = { createdAt: param(cursor.createdAt), id: param(cursor.id) };
      where.push(pastCursorSql("t", "task", at, "account_id = $1"));
    }
    const assetValue = columnsFor(
      ASSET_FIELD_COLUMNS,
      ASSET_ALWAYS,
      include.assetFields,
      (columns) => `json_build_object(${columns.map((c) => `'${c}', a.${c}`).join(", ")})`,
    );
    const assets = include.assets
      ? `, (SELECT json_agg(${assetValue ?? "a"} ORDER BY a.index) FROM asset a WHERE a.task_id = t.id AND a.status = 'ACTIVE') AS "listed_assets"`
      : "";
    const taskColumns =
      columnsFor(TASK_FIELD_COLUMNS, TASK_ALWAYS, include.fields, (columns) =>
        columns.map((c) => `t.${c}`).join(", "),
      ) ?? "t.*";
    const sql = `SELECT ${taskColumns}, (SELECT display_name FROM account WHERE id = $1) AS "listed_owner_name"${assets}
                   FROM task t WHERE ${where.join(" AND ")}
                  ORDER BY t.created_at DESC, t.id DESC LIMIT ${param(limit + 1)}`;
    // A list: read from a replica when one is configured and has this account's latest write.
    const raw = await readList(this.db, accountId, (on) =>
      queryPrepared<Record<string, unknown>>(this.db, sql, values, on.client),
    );
    const rows = raw.map((row) => hydrate(this.db, TaskEntity, row));
    return {
      rows,
      limit,
      owner: { id: accountId, displayName: String(raw[0]?.listed_owner_name ?? "") },
      assets: include.assets
        ? new Map(
            raw.map((row, i) => [
              rows[i].id,
              ((row.listed_assets ?? []) as Record<string, unknown>[]).map((a) =>
                hydrate(this.db, AssetEntity, a, "json"),
              ),
            ]),
          )
        : undefined,
    };
  }

  /**
   * Cancels a queued or running task of the viewer and refunds it, in one transaction. When staff cancel
   * someone else's task (a moderator, or a restriction that stops the account's tasks), the owner gets an
   * internal message; owners canceling their own tasks see the result in the studio and get none.
   */
  async cancel(viewer: Viewer, id: string): Promise<TaskEntity> {
    const { task, wasRunning } = await this.db.transaction(async (manager) => {
      const current = await manager
        .getRepository(TaskEntity)
        .findOne({ where: { id }, lock: { mode: "pessimistic_write" } });
      // Staff (moderators restricting an account) may cancel others' tasks; users only their own.
      if (!current || (current.accountId !== viewer.accountId && actingRole(viewer) === AccountRole.USER))
        throw new NotFoundError("Task");
      if (![TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.PENDING_REVIEW].includes(current.status)) {
        throw new TaskNotCancelableError(current.status);
      }
      await manager.query(
        `UPDATE task SET status = 'CANCELED', finished_at = now(), version = version + 1, updated_at = now() WHERE id = $1`,
        [id],
      );
      await this.refund(current, manager, "Canceled");
      return {
        task: await manager.getRepository(TaskEntity).findOneByOrFail({ id }),
        wasRunning: current.status === TaskStatus.RUNNING,
      };
    });
    this.publish(task);
    await this.emit(task, "task.canceled");
    if (wasRunning) this.pubsub.publish(TASK_CANCEL_REQUESTED, { taskId: id });
    await this.queue.remove(id).catch(() => undefined);
    await this.dispatch(task.accountId);
    if (task.accountId !== viewer.accountId) {
      await this.notifyCanceled(task).catch((err: unknown) =>
        this.logger.warn({ err: (err as Error).message, taskId: id }, "cancel message not sent"),
      );
    }
    return task;
  }

  /** Tells the owner that staff canceled (and refunded) a task. Called after commit. */
  private async notifyCanceled(task: TaskEntity): Promise<void> {
    const prompt = `${task.prompt.slice(0, 80)}${task.prompt.length > 80 ? "…" : ""}`;
    await this.messages.send(task.accountId, {
      kind: "task.canceled",
      title: task.cost > 0 ? "A task was canceled and refunded" : "A task was canceled",
      body: `“${prompt}” was canceled by the Novart Studio team.${task.cost > 0 ? ` Its ${task.cost} credits were given back.` : ""}`,
      link: "/",
    });
  }

  /** Gives the task's charge back, once whatever happens (the ledger reference is per task). */
  async refund(task: TaskEntity, manager: EntityManager, note: string): Promise<void> {
    if (task.cost > 0) await this.ledger.refund(chargeReference(task.id), `task:${task.id}:refund`, note, manager);
  }

  /** `assets`: with SUCCEEDED, the asset rows just inserted (see TaskEvent.assets). */
  publish(task: TaskEntity, assets?: Record<string, unknown>[]): void {
    const event = toTaskEvent(task);
    if (assets?.length) event.assets = assets;
    this.pubsub.publish(taskTopic(task.id), event);
    this.pubsub.publish(accountTasksTopic(task.accountId), event);
  }

  streamTask(taskId: string): AsyncIterable<TaskEvent> {
    return this.pubsub.subscribe<TaskEvent>(taskTopic(taskId));
  }

  streamAccount(accountId: string): AsyncIterable<TaskEvent> {
    return this.pubsub.subscribe<TaskEvent>(accountTasksTopic(accountId));
  }

  /** Queue positions (1 = next) of queued tasks: dispatched ones first in order, then each account's own backlog. */
  async queuePositions(ids: readonly string[]): Promise<Map<string, number>> {
    const rows = (await this.db.query(
      `WITH waiting AS (SELECT count(*)::int AS n FROM task WHERE status = 'QUEUED' AND dispatched_at IS NOT NULL)
       SELECT t.id,
              CASE WHEN t.dispatched_at IS NOT NULL THEN
                     (SELECT count(*)::int FROM task o WHERE o.status = 'QUEUED' AND o.dispatched_at IS NOT NULL
                        AND (o.dispatched_at, o.id) < (t.dispatched_at, t.id)) + 1
                   ELSE (SELECT n FROM waiting) +
                     (SELECT count(*)::int FROM task o WHERE o.account_id = t.account_id AND o.status = 'QUEUED'
                        AND o.dispatched_at IS NULL AND (o.created_at, o.id) < (t.created_at, t.id)) + 1
              END AS position
         FROM task t WHERE t.id = ANY($1::uuid[]) AND t.status = 'QUEUED'`,
      [ids],
    )) as { id: string; position: number }[];
    return new Map(rows.map((r) => [r.id, r.position]));
  }

  /** The account's tasks that have not finished, oldest first (the start of `myTaskUpdates`). */
  unfinished(accountId: string): Promise<TaskEntity[]> {
    return this.repo
      .createQueryBuilder("t")
      .where("t.account_id = :accountId AND t.status IN ('PENDING_REVIEW', 'QUEUED', 'RUNNING')", { accountId })
      .orderBy("t.created_at", "ASC")
      .take(500)
      .getMany();
  }

  async byIds(ids: readonly string[]): Promise<TaskEntity[]> {
    return this.repo.createQueryBuilder("t").where("t.id = ANY(:ids)", { ids }).getMany();
  }

  /**
   * Account deletion: unfinished tasks are canceled (refunded to the anonymised account, for the books) and
   * every prompt, reference and callback URL is erased; uploads' files go too.
   */
  async eraseAccount(accountId: string, storage: { delete(key: string): Promise<void> }): Promise<void> {
    const staff = { accountId, role: "ADMIN" } as Viewer;
    for (const task of await this.unfinished(accountId)) await this.cancel(staff, task.id).catch(() => undefined);
    await this.db.query(
      `UPDATE task SET prompt = '[deleted]', negative_prompt = NULL, webhook_url = NULL, client_reference = NULL,
              idempotency_key = NULL, reference_ids = '{}', updated_at = now()
        WHERE account_id = $1`,
      [accountId],
    );
    const uploads = (await this.db.query(`DELETE FROM upload WHERE account_id = $1 RETURNING storage_key`, [
      accountId,
    ])) as [{ storage_key: string }[], number];
    for (const { storage_key } of uploads[0]) await storage.delete(storage_key).catch(() => undefined);
  }

  /** Tasks held for review, oldest first (the moderation queue). */
  pendingReview(): Promise<TaskEntity[]> {
    return this.repo.find({ where: { status: TaskStatus.PENDING_REVIEW }, order: { createdAt: "ASC" }, take: 200 });
  }

  /** A moderator lets a held task run. */
  async approve(id: string): Promise<TaskEntity> {
    const rows = (await this.db.query(
      `UPDATE task SET status = 'QUEUED', version = version + 1, updated_at = now()
        WHERE id = $1 AND status = 'PENDING_REVIEW' RETURNING id`,
      [id],
    )) as [unknown[], number];
    if (!rows[0].length) throw new NotFoundError("Task awaiting review");
    const task = await this.repo.findOneByOrFail({ id });
    await wroteFor(this.db, task.accountId);
    this.publish(task);
    await this.dispatch(task.accountId);
    return task;
  }

  /** A moderator refuses a held task: it fails as CONTENT_REJECTED, is refunded, and its owner is told. */
  async reject(id: string, reason: string): Promise<TaskEntity> {
    const task = await this.db.transaction(async (manager) => {
      const rows = (await manager.query(
        `UPDATE task SET status = 'FAILED', error_code = 'CONTENT_REJECTED', error_message = $2, finished_at = now(),
                version = version + 1, updated_at = now()
          WHERE id = $1 AND status = 'PENDING_REVIEW' RETURNING id`,
        [id, `Rejected by a moderator: ${reason}`.slice(0, 500)],
      )) as [unknown[], number];
      if (!rows[0].length) throw new NotFoundError("Task awaiting review");
      const rejected = await manager.getRepository(TaskEntity).findOneByOrFail({ id });
      await this.refund(rejected, manager, "Refund: rejected by a moderator");
      return rejected;
    });
    this.publish(task);
    await this.emit(task, "task.failed");
    await this.notifyFailed(task);
    return task;
  }

  /** Idempotency keys are honoured for 24 h; after that the key may be used for a new task. */
  async forgetOldIdempotencyKeys(): Promise<void> {
    await this.db.query(
      `UPDATE task SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL AND created_at < now() - interval '24 hours'`,
    );
  }

  /** Tells the owner about a failed (and refunded) task. Called after commit. */
  async notifyFailed(task: TaskEntity): Promise<void> {
    await this.messages.send(task.accountId, {
      kind: "task.failed",
      title: "A task failed and was refunded",
      body: `“${task.prompt.slice(0, 80)}${task.prompt.length > 80 ? "…" : ""}” failed (${task.errorMessage ?? task.errorCode}). Its ${task.cost} credits were given back.`,
      link: "/",
    });
  }
}

export const chargeReference = (taskId: string) => `task:${taskId}:charge`;

/** The advisory lock every dispatch decision of an account is made under. */
/** The account's dispatch lock (a transaction-level advisory lock), as a statement: `accountId` must be a uuid. */
function dispatchLockSql(accountId: string): string {
  if (!UUID.test(accountId)) throw new Error(`dispatch lock: not an account id: ${accountId}`);
  return `SELECT pg_advisory_xact_lock(hashtextextended('dispatch:${accountId}', 0))`;
}
