import type { RedisClient } from "../../infra/redis.js";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type pg from "pg";
import type { DataSource, EntityManager } from "typeorm";
import type { PostgresQueryRunner } from "typeorm/driver/postgres/PostgresQueryRunner.js";
import { z } from "zod";
import { AppError, BadUserInputError, NotFoundError } from "../../infra/errors.js";
import { pastCursorSql, CURSOR_PARAMS, decodeCursor, pageSize } from "../../infra/pagination.js";
import { RateLimitedError } from "../../infra/rate-limit.js";
import { parseInput } from "../../infra/validation.js";
import type { MessageService } from "../accounts/message.service.js";
import {
  AccountLimitsEntity,
  LIMIT_KEYS,
  LimitRequestEntity,
  LimitRequestStatus,
  TierEntity,
  type LimitValues,
} from "./limits.entities.js";
import { lockForTransaction } from "../../infra/sql.js";

export class ConcurrencyLimitError extends AppError {
  constructor(limit: number) {
    super("CONCURRENCY_LIMIT", `You already have ${limit} unfinished tasks: wait for one to finish.`, {
      limit,
      retryAfter: 5,
    });
  }
}

export class DailyLimitError extends AppError {
  constructor(which: "TASKS_PER_DAY" | "UPLOADS_PER_DAY" | "DAILY_SPEND_CAP", limit: number) {
    const what = {
      TASKS_PER_DAY: `${limit} tasks`,
      UPLOADS_PER_DAY: `${limit} uploads`,
      DAILY_SPEND_CAP: `${limit} credits of tasks`,
    }[which];
    super("DAILY_LIMIT", `Your daily limit of ${what} is reached; it resets at 00:00 UTC.`, {
      limit: which,
      value: limit,
      retryAfter: secondsUntilUtcMidnight(),
    });
  }
}

export class ModelNotAllowedError extends AppError {
  constructor(slug: string) {
    super("MODEL_NOT_ALLOWED", `Your plan does not include the model ${slug}.`, { model: slug });
  }
}

export function startOfUtcDay(now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

function secondsUntilUtcMidnight(now = new Date()): number {
  return Math.max(1, Math.ceil((startOfUtcDay(now).getTime() + 86_400_000 - now.getTime()) / 1000));
}

const limitValue = z.number().int().min(0).max(1_000_000_000);
const valuesSchema = z
  .object({
    requestsPerMinute: limitValue.min(1),
    tasksPerMinute: limitValue,
    concurrentTasks: limitValue,
    tasksPerDay: limitValue,
    uploadsPerDay: limitValue,
    dailySpendCap: limitValue.nullable(),
  })
  .strict();
const partialValuesSchema = valuesSchema.partial();

const tierSchema = valuesSchema.extend({
  id: z
    .string()
    .trim()
    .regex(/^[A-Z][A-Z0-9_]{1,31}$/, "Use 2–32 capital letters, digits or underscores (FREE, PRO_2)."),
  name: z.string().trim().min(1).max(80),
  description: z.string().trim().max(2000),
  isDefault: z.boolean(),
  sortOrder: z.number().int().min(0).max(10_000),
});

const requestSchema = z
  .object({
    reason: z.string().trim().min(10, "Tell us in 10–2 000 characters what you need.").max(2000),
    desiredTierId: z.string().trim().max(32).nullable(),
    desiredValues: partialValuesSchema.nullable(),
  })
  .refine((r) => r.desiredTierId || (r.desiredValues && Object.keys(r.desiredValues).length), {
    message: "Name the tier or the limits you would like.",
    path: ["desiredTierId"],
  });

/** What an account may do: its tier, the admin's overrides, and the result. */
export interface EffectiveLimits {
  accountId: string;
  tier: TierEntity;
  overrides: Partial<LimitValues>;
  values: LimitValues;
}

export interface LimitUsage {
  requestsThisMinute: number;
  tasksThisMinute: number;
  unfinishedTasks: number;
  tasksToday: number;
  uploadsToday: number;
  spentToday: number;
}

/** A model's permission lists (the generation catalogue's columns). */
export interface ModelPermissions {
  slug: string;
  allowedTiers: string[];
  allowedAccountIds: string[];
}

const CACHE_MS = 5000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CACHE_MAX = 20_000;

/**
 * Per-tier limits and their enforcement. Per-minute budgets are rate-limiter-flexible counters in Redis
 * (shared by every API process); running, daily and spend limits are counted in PostgreSQL, under an
 * advisory lock per account inside the task's own transaction, so two processes cannot both admit the
 * last allowed task. An account's limits are cached per process for a few seconds.
 */
export class LimitsService {
  private readonly cache = new Map<string, { at: number; limits: EffectiveLimits }>();
  private tierCache: { at: number; tiers: TierEntity[] } | null = null;
  private readonly limiters = new Map<string, RateLimiterRedis>();

  constructor(
    private readonly db: DataSource,
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly messages: MessageService,
  ) {}

  /** A counter per budget name; the same Redis key whatever the points, so a tier change keeps the count. */
  private limiter(name: "requests" | "tasks", points: number): RateLimiterRedis {
    const id = `${name}:${points}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: `${this.prefix}:rl:tier-${name}`,
        points,
        duration: 60,
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory({ points, duration: 60 }),
      });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }

  /**
   * `runner`: inside a transaction, its manager, so a cache miss reads on the transaction's own connection (a
   * second connection from the pool, while every connection is held by such transactions, would never come).
   */
  async tiers(runner: DataSource | EntityManager = this.db): Promise<TierEntity[]> {
    if (this.tierCache && Date.now() - this.tierCache.at < CACHE_MS) return this.tierCache.tiers;
    const tiers = await runner.getRepository(TierEntity).find({ order: { sortOrder: "ASC", id: "ASC" } });
    this.tierCache = { at: Date.now(), tiers };
    return tiers;
  }

  /** `runner`: see tiers(). */
  async effective(accountId: string, runner: DataSource | EntityManager = this.db): Promise<EffectiveLimits> {
    const cached = this.cache.get(accountId);
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.limits;
    const row = await runner.getRepository(AccountLimitsEntity).findOneBy({ accountId });
    const tiers = await this.tiers(runner);
    const tier = tiers.find((t) => t.id === row?.tierId) ?? tiers.find((t) => t.isDefault) ?? tiers[0];
    if (!tier) throw new Error("No tier exists: the Limits migration seeds them");
    const overrides = row?.overrides ?? {};
    const values = Object.fromEntries(
      LIMIT_KEYS.map((key) => [key, key in overrides ? overrides[key] : tier[key]]),
    ) as unknown as LimitValues;
    const limits = { accountId, tier, overrides, values };
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(accountId, { at: Date.now(), limits });
    return limits;
  }

  private forget(accountId?: string): void {
    if (accountId) this.cache.delete(accountId);
    else this.cache.clear();
    this.tierCache = null;
  }

  /** Spends one request of the account's per-minute budget; throws RATE_LIMITED when none is left. */
  async takeRequest(accountId: string): Promise<{ limit: number; remaining: number; resetSeconds: number }> {
    const { values } = await this.effective(accountId);
    const limiter = this.limiter("requests", values.requestsPerMinute);
    try {
      const res = await limiter.consume(accountId);
      return {
        limit: values.requestsPerMinute,
        remaining: res.remainingPoints,
        resetSeconds: Math.ceil(res.msBeforeNext / 1000),
      };
    } catch (err) {
      if (err instanceof RateLimiterRes) throw new RateLimitedError(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
      throw err;
    }
  }

  modelAllowed(limits: EffectiveLimits, model: ModelPermissions): boolean {
    if (!model.allowedTiers.length && !model.allowedAccountIds.length) return true;
    return model.allowedTiers.includes(limits.tier.id) || model.allowedAccountIds.includes(limits.accountId);
  }

  /**
   * Admission of a new task, inside the transaction that inserts it: model permission, submissions per
   * minute, unfinished tasks, tasks per day and the daily spend cap. `lockStatement` is the caller's lock on
   * the account (the same one its dispatch decision needs): it is sent together with the counts, in one round
   * trip of two statements, so the counts are read with a snapshot taken once the lock is held and two
   * processes cannot both admit the last allowed task.
   */
  async admitTask(
    accountId: string,
    task: { model: ModelPermissions; cost: number },
    manager: EntityManager,
    lockStatement: string,
  ): Promise<void> {
    const limits = await this.effective(accountId, manager);
    const { values } = limits;
    if (
      !this.modelAllowed(limits, task.model) &&
      !this.modelAllowed(limits, await this.permissionsNow(task.model, manager))
    ) {
      throw new ModelNotAllowedError(task.model.slug);
    }
    // Inlined into the statement text (a two-statement query takes no parameters): a uuid and our own date.
    if (!UUID.test(accountId)) throw new Error(`admitTask: not an account id: ${accountId}`);
    const since = startOfUtcDay().toISOString();
    const client = (await (manager.queryRunner as PostgresQueryRunner).connect()) as pg.PoolClient;
    const results = (await client.query(
      `${lockStatement};
       SELECT
         (SELECT count(*)::int FROM task WHERE account_id = '${accountId}'
             AND status IN ('QUEUED', 'RUNNING', 'PENDING_REVIEW')) AS unfinished,
         (SELECT count(*)::int FROM task WHERE account_id = '${accountId}' AND created_at >= '${since}') AS today,
         (SELECT coalesce(sum(cost), 0)::int FROM task
           WHERE account_id = '${accountId}' AND created_at >= '${since}' AND status NOT IN ('FAILED', 'CANCELED'))
           AS spent`,
    )) as unknown as pg.QueryResult<{ unfinished: number; today: number; spent: number }>[];
    const counts = results[1].rows[0];
    if (counts.unfinished >= values.concurrentTasks) throw new ConcurrencyLimitError(values.concurrentTasks);
    if (counts.today >= values.tasksPerDay) throw new DailyLimitError("TASKS_PER_DAY", values.tasksPerDay);
    if (values.dailySpendCap !== null && counts.spent + task.cost > values.dailySpendCap) {
      throw new DailyLimitError("DAILY_SPEND_CAP", values.dailySpendCap);
    }
    // Last, so a refusal above spends no submission.
    if (values.tasksPerMinute === 0) throw new RateLimitedError(60);
    try {
      await this.limiter("tasks", values.tasksPerMinute).consume(accountId, 1);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw new RateLimitedError(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
      throw err;
    }
  }

  /**
   * A model's permission lists as the database has them now. The caller's copy of the model may be one this
   * process cached before an admin opened the model: a refusal is only answered after this fresh read (an
   * allowed task then meets the caller's row-version check, which reloads the model).
   */
  private async permissionsNow(model: ModelPermissions, manager: EntityManager): Promise<ModelPermissions> {
    const [row] = (await manager.query(
      `SELECT allowed_tiers AS "allowedTiers", allowed_account_ids AS "allowedAccountIds" FROM generation_model WHERE slug = $1`,
      [model.slug],
    )) as { allowedTiers: string[]; allowedAccountIds: string[] }[];
    return row ? { slug: model.slug, ...row } : model;
  }

  /**
   * Admission of an upload: uploads per day. Given a transaction, it first takes the account's upload lock,
   * so uploads arriving together are counted one after the other (the caller inserts in that transaction).
   */
  async admitUpload(accountId: string, manager?: EntityManager): Promise<void> {
    const runner = manager ?? this.db;
    if (manager) await lockForTransaction(manager, `uploads:${accountId}`);
    const { values } = await this.effective(accountId);
    const [row] = (await runner.query(
      `SELECT count(*)::int AS n FROM upload WHERE account_id = $1 AND created_at >= $2`,
      [accountId, startOfUtcDay()],
    )) as { n: number }[];
    if (row.n >= values.uploadsPerDay) throw new DailyLimitError("UPLOADS_PER_DAY", values.uploadsPerDay);
  }

  async usage(accountId: string): Promise<LimitUsage> {
    const { values } = await this.effective(accountId);
    const [requests, tasks, [counts]] = await Promise.all([
      this.limiter("requests", values.requestsPerMinute).get(accountId),
      this.limiter("tasks", Math.max(1, values.tasksPerMinute)).get(accountId),
      this.db.query(
        `SELECT
           (SELECT count(*)::int FROM task WHERE account_id = $1 AND status IN ('QUEUED', 'RUNNING', 'PENDING_REVIEW'))
             AS unfinished,
           (SELECT count(*)::int FROM task WHERE account_id = $1 AND created_at >= $2) AS today,
           (SELECT coalesce(sum(cost), 0)::int FROM task
             WHERE account_id = $1 AND created_at >= $2 AND status NOT IN ('FAILED', 'CANCELED')) AS spent,
           (SELECT count(*)::int FROM upload WHERE account_id = $1 AND created_at >= $2) AS uploads`,
        [accountId, startOfUtcDay()],
      ) as Promise<{ unfinished: number; today: number; spent: number; uploads: number }[]>,
    ]);
    return {
      requestsThisMinute: requests?.consumedPoints ?? 0,
      tasksThisMinute: tasks?.consumedPoints ?? 0,
      unfinishedTasks: counts.unfinished,
      tasksToday: counts.today,
      uploadsToday: counts.uploads,
      spentToday: counts.spent,
    };
  }

  // ---- administration ----

  async saveTier(input: z.input<typeof tierSchema>): Promise<TierEntity> {
    const valid = parseInput(tierSchema, input);
    const tier = await this.db.transaction(async (manager) => {
      if (valid.isDefault) await manager.query(`UPDATE tier SET is_default = false WHERE id <> $1`, [valid.id]);
      else {
        const [current] = (await manager.query(`SELECT is_default FROM tier WHERE id = $1`, [valid.id])) as {
          is_default: boolean;
        }[];
        if (current?.is_default) {
          throw new BadUserInputError("Make another tier the default first.", { field: "isDefault" });
        }
      }
      const repo = manager.getRepository(TierEntity);
      await repo.save(repo.create(valid));
      return repo.findOneByOrFail({ id: valid.id });
    });
    this.forget();
    return tier;
  }

  async deleteTier(id: string): Promise<TierEntity> {
    const tier = await this.db.getRepository(TierEntity).findOneBy({ id });
    if (!tier) throw new NotFoundError("Tier");
    if (tier.isDefault) throw new AppError("CONFLICT", "The default tier cannot be deleted.");
    const [use] = (await this.db.query(`SELECT count(*)::int AS n FROM account_limits WHERE tier_id = $1`, [id])) as {
      n: number;
    }[];
    if (use.n > 0) throw new AppError("CONFLICT", `${use.n} accounts are on this tier: move them first.`);
    await this.db.getRepository(TierEntity).delete({ id });
    this.forget();
    return tier;
  }

  /** Sets an account's tier (null: the default) and its overrides (replacing the previous ones). */
  async setAccountLimits(
    accountId: string,
    input: { tierId: string | null; overrides: Partial<LimitValues> | null },
    manager: EntityManager = this.db.manager,
  ): Promise<EffectiveLimits> {
    const overrides = parseInput(partialValuesSchema, input.overrides ?? {});
    const [account] = (await manager.query(`SELECT id FROM account WHERE id = $1 AND deleted_at IS NULL`, [
      accountId,
    ])) as unknown[];
    if (!account) throw new NotFoundError("Account");
    if (input.tierId && !(await manager.getRepository(TierEntity).existsBy({ id: input.tierId }))) {
      throw new NotFoundError("Tier", { field: "tierId" });
    }
    await manager.query(
      `INSERT INTO account_limits (account_id, tier_id, overrides) VALUES ($1, $2, $3)
       ON CONFLICT (account_id) DO UPDATE SET tier_id = $2, overrides = $3, updated_at = now()`,
      [accountId, input.tierId, JSON.stringify(overrides)],
    );
    this.forget(accountId);
    return this.effective(accountId);
  }

  async requestIncrease(
    accountId: string,
    input: { reason: string; desiredTierId?: string | null; desiredValues?: Partial<LimitValues> | null },
  ): Promise<LimitRequestEntity> {
    const valid = parseInput(requestSchema, {
      reason: input.reason,
      desiredTierId: input.desiredTierId ?? null,
      desiredValues: input.desiredValues ?? null,
    });
    if (valid.desiredTierId && !(await this.db.getRepository(TierEntity).existsBy({ id: valid.desiredTierId }))) {
      throw new NotFoundError("Tier", { field: "desiredTierId" });
    }
    const repo = this.db.getRepository(LimitRequestEntity);
    return this.db.transaction(async (manager) => {
      await lockForTransaction(manager, `limit-request:${accountId}`);
      const pending = await manager.getRepository(LimitRequestEntity).existsBy({
        accountId,
        status: LimitRequestStatus.PENDING,
      });
      if (pending) throw new AppError("CONFLICT", "You already have a request waiting for an answer.");
      return manager.getRepository(LimitRequestEntity).save(
        repo.create({
          accountId,
          reason: valid.reason,
          desiredTierId: valid.desiredTierId,
          desiredValues: valid.desiredValues,
        }),
      );
    });
  }

  myRequests(accountId: string): Promise<LimitRequestEntity[]> {
    return this.db
      .getRepository(LimitRequestEntity)
      .find({ where: { accountId }, order: { createdAt: "DESC" }, take: 20 });
  }

  async listRequests(args: { status?: LimitRequestStatus | null; first?: number; after?: string | null }) {
    const limit = pageSize(args.first);
    const qb = this.db
      .getRepository(LimitRequestEntity)
      .createQueryBuilder("r")
      .orderBy("r.created_at", "DESC")
      .addOrderBy("r.id", "DESC")
      .take(limit + 1);
    if (args.status) qb.andWhere("r.status = :status", { status: args.status });
    if (args.after) qb.andWhere(pastCursorSql("r", "limit_request", CURSOR_PARAMS), decodeCursor(args.after));
    return { rows: await qb.getMany(), limit };
  }

  /**
   * Approves (applying the asked tier and values, or the admin's own) or refuses a request, with a reason
   * the account reads in its messages.
   */
  async decide(
    actorId: string,
    input: {
      id: string;
      approve: boolean;
      reason: string;
      tierId?: string | null;
      values?: Partial<LimitValues> | null;
    },
  ): Promise<LimitRequestEntity> {
    const reason = input.reason.trim();
    if (reason.length < 3 || reason.length > 500) {
      throw new BadUserInputError("Give a reason of 3–500 characters.", { field: "reason" });
    }
    const { request, message } = await this.db.transaction(async (manager) => {
      const repo = manager.getRepository(LimitRequestEntity);
      const request = await repo.findOne({ where: { id: input.id }, lock: { mode: "pessimistic_write" } });
      if (!request) throw new NotFoundError("Limit request");
      if (request.status !== LimitRequestStatus.PENDING) {
        throw new AppError("CONFLICT", "This request was already decided.");
      }
      if (input.approve) {
        // The account's settings as they are now (not a cached copy), on the transaction's connection.
        this.forget(request.accountId);
        const current = await this.effective(request.accountId, manager);
        // The admin's own values if given, else those asked for; they join the account's other overrides.
        const values = input.values && Object.keys(input.values).length ? input.values : request.desiredValues;
        await this.setAccountLimits(
          request.accountId,
          {
            tierId: input.tierId ?? request.desiredTierId ?? current.tier.id,
            overrides: { ...current.overrides, ...(values ?? {}) },
          },
          manager,
        );
      }
      Object.assign(request, {
        status: input.approve ? LimitRequestStatus.APPROVED : LimitRequestStatus.REFUSED,
        decidedById: actorId,
        decisionReason: reason,
        decidedAt: new Date(),
      });
      await repo.save(request);
      const message = await this.messages.send(
        request.accountId,
        {
          kind: input.approve ? "limits.approved" : "limits.refused",
          title: input.approve ? "Your limits were raised" : "Your limit request was declined",
          body: reason,
          link: "/limits",
        },
        manager,
      );
      return { request, message };
    });
    this.forget(request.accountId);
    this.messages.publish(message);
    return request;
  }
}
