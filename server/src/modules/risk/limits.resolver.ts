import { GraphQLDateTimeISO } from "graphql-scalars";
import {
  Arg,
  Args,
  ArgsType,
  Authorized,
  Ctx,
  Field,
  FieldResolver,
  ID,
  InputType,
  Int,
  Mutation,
  ObjectType,
  Query,
  Resolver,
  Root,
  UseMiddleware,
  registerEnumType,
} from "type-graphql";
import { connectionType, toConnection, PageArgs } from "../../infra/graphql/connection.js";
import type { Context } from "../../infra/context.js";
import { encodeCursor } from "../../infra/pagination.js";
import { GenerationModel } from "../generation/generation.types.js";
import { Audited } from "./audit.js";
import { LimitRequestStatus, type LimitRequestEntity, type LimitValues, type TierEntity } from "./limits.entities.js";
import type { EffectiveLimits, LimitsService, LimitUsage } from "./limits.service.js";

registerEnumType(LimitRequestStatus, {
  name: "LimitRequestStatus",
  description: "Where a limit-increase request stands.",
  valuesConfig: {
    PENDING: { description: "Waiting for an administrator." },
    APPROVED: { description: "Approved: the account's limits were changed." },
    REFUSED: { description: "Refused, with a reason." },
  },
});

@ObjectType({ description: "A set of limits.", simpleResolvers: true })
export class Limits implements LimitValues {
  @Field(() => Int, { description: "GraphQL requests per minute." })
  requestsPerMinute: number;

  @Field(() => Int, { description: "Task submissions per minute." })
  tasksPerMinute: number;

  @Field(() => Int, { description: "Unfinished tasks (in review, queued or running) at once." })
  concurrentTasks: number;

  @Field(() => Int, { description: "Tasks per day (UTC)." })
  tasksPerDay: number;

  @Field(() => Int, { description: "Reference-image uploads per day (UTC)." })
  uploadsPerDay: number;

  @Field(() => Int, { nullable: true, description: "Credits that tasks may cost per day (UTC); null for no cap." })
  dailySpendCap: number | null;
}

/** Some limit values: asked for by an account (output) or given by an admin or account (input). */
@ObjectType({ description: "Limit values asked for; only the named ones are set.", simpleResolvers: true })
@InputType("LimitValuesInput", { description: "Limit values; absent ones are not set." })
export class RequestedLimits implements Partial<LimitValues> {
  @Field(() => Int, { nullable: true, description: "GraphQL requests per minute." })
  requestsPerMinute?: number;

  @Field(() => Int, { nullable: true, description: "Task submissions per minute." })
  tasksPerMinute?: number;

  @Field(() => Int, { nullable: true, description: "Unfinished tasks at once." })
  concurrentTasks?: number;

  @Field(() => Int, { nullable: true, description: "Tasks per day." })
  tasksPerDay?: number;

  @Field(() => Int, { nullable: true, description: "Uploads per day." })
  uploadsPerDay?: number;

  @Field(() => Int, { nullable: true, description: "Daily credit-spend cap." })
  dailySpendCap?: number | null;

  @Field(() => Boolean, { nullable: true, description: "No daily spend cap at all (overrides `dailySpendCap`)." })
  noDailySpendCap?: boolean;
}

@ObjectType({ description: "A tier of accounts: a named set of limits.", simpleResolvers: true })
export class Tier extends Limits {
  @Field(() => ID, { description: "Stable name (`FREE`)." })
  id: string;

  @Field({ description: "Name shown to people." })
  name: string;

  @Field({ description: "What the tier is for." })
  description: string;

  @Field({ description: "Whether accounts without another tier are on this one." })
  isDefault: boolean;

  @Field(() => Int, { description: "Position in lists (lower first)." })
  sortOrder: number;
}

@ObjectType({ description: "What an account used of its limits (today is the UTC day).", simpleResolvers: true })
export class LimitUsageInfo implements LimitUsage {
  @Field(() => Int, { description: "GraphQL requests in the current minute." })
  requestsThisMinute: number;

  @Field(() => Int, { description: "Tasks submitted in the current minute." })
  tasksThisMinute: number;

  @Field(() => Int, { description: "Tasks in review, queued or running now." })
  unfinishedTasks: number;

  @Field(() => Int, { description: "Tasks submitted today." })
  tasksToday: number;

  @Field(() => Int, { description: "Reference images uploaded today." })
  uploadsToday: number;

  @Field(() => Int, { description: "Credits spent on tasks today (refunded tasks excluded)." })
  spentToday: number;
}

@ObjectType({ description: "An account's limits: its tier, the overrides an admin set, and the result." })
export class AccountLimits {
  @Field(() => ID, { description: "The account." })
  accountId: string;

  @Field(() => Tier, { description: "The account's tier." })
  tier: Tier;

  @Field(() => Limits, { description: "The limits in force (tier with overrides applied)." })
  limits: Limits;

  @Field(() => [String], { description: "Which limits are overridden for this account." })
  overridden: string[];

  @Field(() => LimitUsageInfo, { description: "Current use." })
  usage: LimitUsageInfo;
}

@ObjectType({ description: "A request for higher limits.", simpleResolvers: true })
export class LimitRequest {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field(() => ID, { description: "The account that asked." })
  accountId: string;

  @Field({ description: "Why the account needs more." })
  reason: string;

  @Field(() => String, { nullable: true, description: "The tier asked for." })
  desiredTierId: string | null;

  @Field(() => RequestedLimits, { nullable: true, description: "Values asked for." })
  desiredValues: RequestedLimits | null;

  @Field(() => LimitRequestStatus, { description: "Where it stands." })
  status: LimitRequestStatus;

  @Field(() => String, { nullable: true, description: "The administrator's reason." })
  decisionReason: string | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When it was decided." })
  decidedAt: Date | null;

  @Field(() => GraphQLDateTimeISO, { description: "When it was made." })
  createdAt: Date;
}

/** GraphQL cannot tell "absent" from "null" in lists of optional fields: `noDailySpendCap` says null. */
function toValues(input: RequestedLimits | null | undefined): Partial<LimitValues> | null {
  if (!input) return null;
  const { noDailySpendCap, ...rest } = input;
  const values: Partial<LimitValues> = Object.fromEntries(
    Object.entries(rest).filter(([, v]) => v !== undefined && v !== null),
  );
  if (noDailySpendCap) values.dailySpendCap = null;
  return values;
}

@InputType({ description: "A tier to create or replace." })
class SaveTierInput {
  @Field(() => Int, { description: "GraphQL requests per minute." })
  requestsPerMinute: number;

  @Field(() => Int, { description: "Task submissions per minute." })
  tasksPerMinute: number;

  @Field(() => Int, { description: "Unfinished tasks at once." })
  concurrentTasks: number;

  @Field(() => Int, { description: "Tasks per day (UTC)." })
  tasksPerDay: number;

  @Field(() => Int, { description: "Uploads per day (UTC)." })
  uploadsPerDay: number;

  @Field(() => Int, { nullable: true, description: "Daily credit-spend cap; absent for none." })
  dailySpendCap?: number | null;

  @Field(() => ID, { description: "Stable upper-case name (`FREE`, `PRO_2`)." })
  id: string;

  @Field({ description: "Name shown to people." })
  name: string;

  @Field({ defaultValue: "", description: "What the tier is for." })
  description: string;

  @Field({ defaultValue: false, description: "Make it the tier of accounts without another one." })
  isDefault: boolean;

  @Field(() => Int, { defaultValue: 0, description: "Position in lists." })
  sortOrder: number;
}

@InputType({ description: "An account's tier and overrides." })
class SetAccountLimitsInput {
  @Field(() => ID, { description: "The account." })
  accountId: string;

  @Field(() => ID, { nullable: true, description: "Its tier; absent for the default tier." })
  tierId?: string | null;

  @Field(() => RequestedLimits, {
    nullable: true,
    description: "Overrides for this account alone (they replace earlier overrides).",
  })
  overrides?: RequestedLimits | null;
}

@InputType({ description: "A request for higher limits." })
class RequestLimitIncreaseInput {
  @Field({ description: "What you need and why (10–2 000 characters)." })
  reason: string;

  @Field(() => ID, { nullable: true, description: "The tier you would like." })
  desiredTierId?: string | null;

  @Field(() => RequestedLimits, { nullable: true, description: "Or the values you would like." })
  desiredValues?: RequestedLimits | null;
}

@InputType({ description: "An administrator's decision on a limit request." })
class DecideLimitRequestInput {
  @Field(() => ID, { description: "The request." })
  id: string;

  @Field({ description: "Approve (apply) or refuse." })
  approve: boolean;

  @Field({ description: "The reason the account reads." })
  reason: string;

  @Field(() => ID, { nullable: true, description: "Approve with this tier instead of the one asked." })
  tierId?: string | null;

  @Field(() => RequestedLimits, { nullable: true, description: "Approve with these values instead." })
  values?: RequestedLimits | null;
}

@ArgsType()
class LimitRequestsArgs extends PageArgs("request") {
  @Field(() => LimitRequestStatus, { nullable: true, description: "Only requests in this state." })
  status?: LimitRequestStatus | null;
}

const LimitRequestConnection = connectionType(LimitRequest, "LimitRequest", "limit requests");
type LimitRequestConnection = InstanceType<typeof LimitRequestConnection>;

@ObjectType({ description: "A tier after the change.", simpleResolvers: true })
class TierPayload {
  @Field(() => Tier, { description: "The tier." })
  tier: Tier;
}

@ObjectType({ description: "The account's limits after the change.", simpleResolvers: true })
class AccountLimitsPayload {
  @Field(() => AccountLimits, { description: "The limits." })
  limits: AccountLimits;
}

@ObjectType({ description: "The request after the change.", simpleResolvers: true })
class LimitRequestPayload {
  @Field(() => LimitRequest, { description: "The request." })
  request: LimitRequest;
}

const toTier = (t: TierEntity): Tier => ({ ...t });
const toRequest = (r: LimitRequestEntity): LimitRequest => ({
  ...r,
  desiredValues: r.desiredValues
    ? {
        ...r.desiredValues,
        noDailySpendCap: "dailySpendCap" in r.desiredValues && r.desiredValues.dailySpendCap === null,
      }
    : null,
});

export async function toAccountLimits(limits: LimitsService, effective: EffectiveLimits): Promise<AccountLimits> {
  return {
    accountId: effective.accountId,
    tier: toTier(effective.tier),
    limits: effective.values,
    overridden: Object.keys(effective.overrides),
    usage: await limits.usage(effective.accountId),
  };
}

@Resolver(() => GenerationModel)
export class LimitsResolver {
  constructor(private readonly limits: LimitsService) {}

  @FieldResolver(() => Boolean, {
    description: "Whether your tier may not use this model (`createTask` answers MODEL_NOT_ALLOWED).",
  })
  async locked(@Root() model: GenerationModel, @Ctx() ctx: Context): Promise<boolean> {
    const entity = await ctx.loaders.model.load(model.id);
    const open = !entity.allowedTiers.length && !entity.allowedAccountIds.length;
    if (open) return false;
    if (!ctx.viewer) return true;
    return !this.limits.modelAllowed(await this.limits.effective(ctx.viewer.accountId), entity);
  }

  @Query(() => [Tier], { description: "Every tier with its limits (to compare plans)." })
  async tiers(): Promise<Tier[]> {
    return (await this.limits.tiers()).map(toTier);
  }

  @Authorized("account:read")
  @Query(() => AccountLimits, { description: "Your limits and what you used of them." })
  async myLimits(@Ctx() ctx: Context): Promise<AccountLimits> {
    return toAccountLimits(this.limits, await this.limits.effective(ctx.viewer!.accountId));
  }

  @Authorized("SESSION")
  @Query(() => [LimitRequest], { description: "Your limit-increase requests, newest first." })
  async myLimitRequests(@Ctx() ctx: Context): Promise<LimitRequest[]> {
    return (await this.limits.myRequests(ctx.viewer!.accountId)).map(toRequest);
  }

  @Authorized("SESSION")
  @Mutation(() => LimitRequestPayload, { description: "Asks the administrators for a higher tier or limits." })
  async requestLimitIncrease(
    @Arg("input", { description: "What you would like and why." }) input: RequestLimitIncreaseInput,
    @Ctx() ctx: Context,
  ): Promise<LimitRequestPayload> {
    const request = await this.limits.requestIncrease(ctx.viewer!.accountId, {
      reason: input.reason,
      desiredTierId: input.desiredTierId,
      desiredValues: toValues(input.desiredValues),
    });
    return { request: toRequest(request) };
  }

  @Authorized("ADMIN")
  @Query(() => AccountLimits, { description: "One account's limits and use." })
  async accountLimits(@Arg("accountId", () => ID, { description: "The account." }) accountId: string) {
    return toAccountLimits(this.limits, await this.limits.effective(accountId));
  }

  @Authorized("ADMIN")
  @Query(() => LimitRequestConnection, { description: "Limit-increase requests, newest first." })
  async limitRequests(@Args() args: LimitRequestsArgs): Promise<LimitRequestConnection> {
    const { rows, limit } = await this.limits.listRequests(args);
    return toConnection(rows, limit, toRequest, encodeCursor);
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => TierPayload, { description: "Creates or replaces a tier." })
  async saveTier(@Arg("input", { description: "The tier." }) input: SaveTierInput): Promise<TierPayload> {
    return { tier: toTier(await this.limits.saveTier({ ...input, dailySpendCap: input.dailySpendCap ?? null })) };
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => TierPayload, { description: "Deletes a tier no account is on (never the default)." })
  async deleteTier(@Arg("id", () => ID, { description: "The tier." }) id: string): Promise<TierPayload> {
    return { tier: toTier(await this.limits.deleteTier(id)) };
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => AccountLimitsPayload, { description: "Sets an account's tier and its own overrides." })
  async setAccountLimits(
    @Arg("input", { description: "Tier and overrides." }) input: SetAccountLimitsInput,
  ): Promise<AccountLimitsPayload> {
    const effective = await this.limits.setAccountLimits(input.accountId, {
      tierId: input.tierId ?? null,
      overrides: toValues(input.overrides),
    });
    return { limits: await toAccountLimits(this.limits, effective) };
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => LimitRequestPayload, { description: "Approves or refuses a limit request; the account is told." })
  async decideLimitRequest(
    @Arg("input", { description: "The decision." }) input: DecideLimitRequestInput,
    @Ctx() ctx: Context,
  ): Promise<LimitRequestPayload> {
    const request = await this.limits.decide(ctx.viewer!.accountId, {
      id: input.id,
      approve: input.approve,
      reason: input.reason,
      tierId: input.tierId,
      values: toValues(input.values),
    });
    return { request: toRequest(request) };
  }
}
