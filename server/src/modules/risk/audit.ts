import { GraphQLDateTimeISO, GraphQLJSON } from "graphql-scalars";
import { Args, ArgsType, Authorized, Field, ID, ObjectType, Query, Resolver, type MiddlewareFn } from "type-graphql";
import type { DataSource } from "typeorm";
import type { Context } from "../../infra/context.js";
import { PageInfo, toConnection, PageArgs } from "../../infra/graphql/connection.js";
import { pastCursorSql, CURSOR_PARAMS, decodeCursor, encodeCursor, pageSize } from "../../infra/pagination.js";
import { RegistrationPolicyEntity } from "../accounts/registration.entities.js";
import { GenerationModelEntity } from "../generation/generation-model.entity.js";
import { AuditEntryEntity } from "./audit.entity.js";
import { ModerationRuleEntity } from "./moderation.entities.js";
import { RestrictionEntity } from "./restriction.entity.js";
import { LimitRequestEntity, TierEntity } from "./limits.entities.js";

/** Input keys whose values never go into the log (redemption and invite codes included). */
const SECRET_KEYS = /password|secret|token|csv|^codes?$/i;
/** An error code (`TIMEOUT`, `CONTENT_REJECTED`) is no secret, unlike a redemption or invite code. */
const ERROR_CODE = /^[A-Z][A-Z0-9_]*$/;

const isSecret = (key: string, value: unknown) =>
  SECRET_KEYS.test(key) && !(/^code$/i.test(key) && typeof value === "string" && ERROR_CODE.test(value));

function scrub(value: unknown): unknown {
  if (Array.isArray(value)) return value.slice(0, 100).map(scrub);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, isSecret(k, v) ? "[redacted]" : scrub(v)]),
    );
  }
  return value;
}

type Args = Record<string, unknown>;
/** Reads the state an action is about to change, from the database (no process cache). */
type BeforeLoader = (args: Args, db: DataSource) => Promise<unknown>;

const inputOf = (args: Args) => (args.input ?? {}) as Args;
const str = (v: unknown) => (typeof v === "string" ? v : "");

/** An account's own limit settings: its tier (null: the default tier) and its overrides. */
async function accountLimits(db: DataSource, accountId: string) {
  const [row] = (await db.query(`SELECT tier_id, overrides FROM account_limits WHERE account_id = $1`, [
    accountId,
  ])) as { tier_id: string | null; overrides: Record<string, unknown> }[];
  return { tierId: row?.tier_id ?? null, overrides: row?.overrides ?? {} };
}

/**
 * The "before" values of the admin and moderator mutations that change existing state, by operation name.
 * A mutation without an entry (one that only creates, such as createCodeBatch) records no before.
 */
const BEFORE: Record<string, BeforeLoader> = {
  adjustBalance: async (args, db) => {
    const [row] = (await db.query(`SELECT paid, bonus FROM credit_account WHERE account_id = $1`, [
      str(inputOf(args).accountId),
    ])) as { paid: number; bonus: number }[];
    return { paid: Number(row?.paid ?? 0), bonus: Number(row?.bonus ?? 0) };
  },
  setAccountLimits: (args, db) => accountLimits(db, str(inputOf(args).accountId)),
  decideLimitRequest: async (args, db) => {
    const request = await db.getRepository(LimitRequestEntity).findOneBy({ id: str(inputOf(args).id) });
    return request && { status: request.status, limits: await accountLimits(db, request.accountId) };
  },
  updateModel: async (args, db) => {
    const { id, ...changes } = inputOf(args);
    const model = await db.getRepository(GenerationModelEntity).findOneBy({ id: str(id) });
    if (!model) return null;
    // The fields the change names, as they were.
    return Object.fromEntries(
      ["id", "slug", ...Object.keys(changes)].map((key) => [key, (model as unknown as Args)[key] ?? null]),
    );
  },
  setAccountRole: async (args, db) => {
    const [row] = (await db.query(`SELECT role FROM account WHERE id = $1`, [str(args.accountId)])) as {
      role: string;
    }[];
    return row ? { role: row.role } : null;
  },
  restrictAccount: async (args, db) => ({
    // The restrictions in force on the account just before.
    restrictions: await db
      .getRepository(RestrictionEntity)
      .createQueryBuilder("r")
      .select(["r.id", "r.scopes", "r.endsAt", "r.reason"])
      .where("r.account_id = :id AND r.lifted_at IS NULL AND (r.ends_at IS NULL OR r.ends_at > now())", {
        id: str(inputOf(args).accountId),
      })
      .getMany(),
  }),
  liftRestriction: (args, db) => restriction(db, str(inputOf(args).id)),
  decideAppeal: (args, db) => restriction(db, str(inputOf(args).id)),
  saveTier: (args, db) => db.getRepository(TierEntity).findOneBy({ id: str(inputOf(args).id) }),
  deleteTier: (args, db) => db.getRepository(TierEntity).findOneBy({ id: str(args.id) }),
  saveModerationRule: async (args, db) => {
    const id = str(inputOf(args).id);
    return id ? db.getRepository(ModerationRuleEntity).findOneBy({ id }) : null;
  },
  deleteModerationRule: (args, db) => db.getRepository(ModerationRuleEntity).findOneBy({ id: str(inputOf(args).id) }),
  updateRegistrationPolicy: (_args, db) => db.getRepository(RegistrationPolicyEntity).findOneBy({ id: 1 }),
};

async function restriction(db: DataSource, id: string) {
  const r = await db.getRepository(RestrictionEntity).findOneBy({ id });
  return (
    r && {
      scopes: r.scopes,
      endsAt: r.endsAt,
      liftedAt: r.liftedAt,
      appealAccepted: r.appealAccepted,
      appealDecision: r.appealDecision,
    }
  );
}

/** The audit log of admin and moderator actions. */
export class AuditService {
  constructor(private readonly db: DataSource) {}

  /**
   * The state an action is about to change (see BEFORE), read just before it runs; undefined when the
   * operation has no loader. A failing read does not stop the action: the entry then says null.
   */
  async before(action: string, args: Args): Promise<unknown> {
    const load = BEFORE[action];
    if (!load) return undefined;
    try {
      return (await load(args, this.db)) ?? null;
    } catch {
      return null;
    }
  }

  async record(entry: {
    actorId: string;
    action: string;
    input: Record<string, unknown>;
    /** The values before the action (undefined: the operation records none). */
    before?: unknown;
    result: unknown;
    ip: string;
  }) {
    const input = scrub(entry.input) as Record<string, unknown>;
    const inner = (input.input ?? input) as Record<string, unknown>;
    const target =
      [inner.id, inner.accountId, inner.code ? "[code]" : undefined].find((v) => typeof v === "string") ?? null;
    await this.db.getRepository(AuditEntryEntity).insert({
      actorId: entry.actorId,
      action: entry.action,
      target: target as string | null,
      reason: typeof inner.reason === "string" ? inner.reason.slice(0, 500) : null,
      input: input as never,
      before: (entry.before === undefined ? null : scrub(JSON.parse(JSON.stringify(entry.before)))) as never,
      result: scrub(JSON.parse(JSON.stringify(entry.result ?? null))) as never,
      ip: entry.ip.slice(0, 64),
    });
  }

  async list(args: {
    first?: number;
    after?: string | null;
    actorId?: string | null;
    action?: string | null;
    targetId?: string | null;
  }) {
    const limit = pageSize(args.first, 50);
    const qb = this.db
      .getRepository(AuditEntryEntity)
      .createQueryBuilder("a")
      .orderBy("a.created_at", "DESC")
      .addOrderBy("a.id", "DESC")
      .take(limit + 1);
    if (args.actorId) qb.andWhere("a.actor_id = :actorId", { actorId: args.actorId });
    if (args.action) qb.andWhere("a.action = :action", { action: args.action });
    if (args.targetId) qb.andWhere("a.target = :targetId", { targetId: args.targetId });
    if (args.after) qb.andWhere(pastCursorSql("a", "audit_entry", CURSOR_PARAMS), decodeCursor(args.after));
    return { rows: await qb.getMany(), limit };
  }
}

/**
 * Put on every admin and moderator mutation (`@UseMiddleware(Audited)`): the state it changes is read
 * before it runs (BEFORE above), and after the operation succeeds its input (secrets removed), that before
 * state and its answer are appended to the audit log. A test enumerates those mutations from the schema, so
 * a new one without it fails.
 */
export const Audited: MiddlewareFn<Context> = async ({ args, context, info }, next) => {
  const before = await context.services.audit.before(info.fieldName, args as Args);
  const result: unknown = await next();
  await context.services.audit.record({
    actorId: context.viewer!.accountId,
    action: info.fieldName,
    input: args as Record<string, unknown>,
    before,
    result,
    ip: context.ip,
  });
  return result;
};

@ObjectType({ description: "One admin or moderator action.", simpleResolvers: true })
export class AuditEntry {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field(() => ID, { description: "Who did it." })
  actorId: string;

  @Field({ description: "The operation." })
  action: string;

  @Field(() => String, { nullable: true, description: "What it acted on." })
  target: string | null;

  @Field(() => String, { nullable: true, description: "The reason given." })
  reason: string | null;

  @Field(() => GraphQLJSON, { description: "The input (secrets removed): the values asked for." })
  input: unknown;

  @Field(() => GraphQLJSON, {
    nullable: true,
    description:
      "The values before the action (balance, limits, model fields, role…); null when it changed nothing that existed.",
  })
  before: unknown;

  @Field(() => GraphQLJSON, { nullable: true, description: "The answer: the values after the action." })
  result: unknown;

  @Field({ description: "The actor's IP address." })
  ip: string;

  @Field(() => GraphQLDateTimeISO, { description: "When." })
  createdAt: Date;
}

@ObjectType({ description: "An audit entry with its cursor.", simpleResolvers: true })
export class AuditEntryEdge {
  @Field(() => AuditEntry, { description: "The entry." })
  node: AuditEntry;

  @Field({ description: "Opaque cursor." })
  cursor: string;
}

@ObjectType({ description: "A page of the audit log, newest first.", simpleResolvers: true })
export class AuditConnection {
  @Field(() => [AuditEntryEdge], { description: "The entries." })
  edges: AuditEntryEdge[];

  @Field(() => PageInfo, { description: "Where this page stands." })
  pageInfo: PageInfo;
}

@ArgsType()
class AuditLogArgs extends PageArgs("entry", 50) {
  @Field(() => ID, { nullable: true, description: "Only this actor's actions." })
  actorId?: string | null;

  @Field(() => String, { nullable: true, description: "Only this operation." })
  action?: string | null;

  @Field(() => String, { nullable: true, description: "Only actions on this target (an account, model, rule… id)." })
  targetId?: string | null;
}

@Resolver()
export class AuditResolver {
  constructor(private readonly audit: AuditService) {}

  @Authorized("ADMIN")
  @Query(() => AuditConnection, { description: "Every admin and moderator action, newest first." })
  async auditLog(@Args() args: AuditLogArgs): Promise<AuditConnection> {
    const { rows, limit } = await this.audit.list(args);
    return toConnection(rows, limit, (e) => ({ ...e }), encodeCursor);
  }
}
