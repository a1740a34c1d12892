import { GraphQLDateTimeISO, GraphQLJSON } from "graphql-scalars";
import { Args, ArgsType, Authorized, Field, ID, ObjectType, Query, Resolver, type MiddlewareFn } from "type-graphql";
import type { DataSource } from "typeorm";
import type { Context } from "../../infra/context.js";
import { PageInfo, toConnection, PageArgs } from "../../infra/graphql/connection.js";
import { decodeCursor, encodeCursor, pageSize } from "../../infra/pagination.js";
import { AuditEntryEntity } from "./audit.entity.js";

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

/** The audit log of admin and moderator actions. */
export class AuditService {
  constructor(private readonly db: DataSource) {}

  async record(entry: {
    actorId: string;
    action: string;
    input: Record<string, unknown>;
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
      result: scrub(JSON.parse(JSON.stringify(entry.result ?? null))) as never,
      ip: entry.ip.slice(0, 64),
    });
  }

  async list(args: { first?: number; after?: string | null; actorId?: string | null; action?: string | null }) {
    const limit = pageSize(args.first, 50);
    const qb = this.db
      .getRepository(AuditEntryEntity)
      .createQueryBuilder("a")
      .orderBy("a.created_at", "DESC")
      .addOrderBy("a.id", "DESC")
      .take(limit + 1);
    if (args.actorId) qb.andWhere("a.actor_id = :actorId", { actorId: args.actorId });
    if (args.action) qb.andWhere("a.action = :action", { action: args.action });
    if (args.after) qb.andWhere("(a.created_at, a.id) < (:createdAt, :id)", decodeCursor(args.after));
    return { rows: await qb.getMany(), limit };
  }
}

/**
 * Put on every admin and moderator mutation (`@UseMiddleware(Audited)`): after the operation succeeds, its
 * input (secrets removed) and answer are appended to the audit log. A test enumerates those mutations from
 * the schema, so a new one without it fails.
 */
export const Audited: MiddlewareFn<Context> = async ({ args, context, info }, next) => {
  const result: unknown = await next();
  await context.services.audit.record({
    actorId: context.viewer!.accountId,
    action: info.fieldName,
    input: args as Record<string, unknown>,
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
