import { GraphQLDateTimeISO } from "graphql-scalars";
import {
  Arg,
  Authorized,
  Ctx,
  Field,
  ID,
  InputType,
  Int,
  Mutation,
  ObjectType,
  Query,
  Resolver,
  UseMiddleware,
  registerEnumType,
} from "type-graphql";
import type { Context } from "../../infra/context.js";
import type { TaskService } from "../generation/task.service.js";
import { Audited } from "./audit.js";
import { RestrictionScope, type RestrictionEntity } from "./restriction.entity.js";
import type { RestrictionService } from "./restriction.service.js";

registerEnumType(RestrictionScope, {
  name: "RestrictionScope",
  description: "What a restriction stops.",
  valuesConfig: {
    ALL: {
      description:
        "Everything but reading the account, its restrictions and its messages (moderators write there) and appealing.",
    },
    SIGN_IN: { description: "Signing in." },
    TASKS: { description: "Creating tasks." },
    API: { description: "Every request made with an API key." },
    UPLOADS: { description: "Uploading reference images." },
  },
});

@ObjectType({ description: "A restriction of an account.", simpleResolvers: true })
export class Restriction {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field(() => ID, { description: "The account." })
  accountId: string;

  @Field(() => [RestrictionScope], { description: "What it stops." })
  scopes: RestrictionScope[];

  @Field({ description: "Why (the user sees it)." })
  reason: string;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When it ends by itself; null for permanent." })
  endsAt: Date | null;

  @Field({ description: "Whether it is in force now." })
  active: boolean;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When it was lifted by a moderator." })
  liftedAt: Date | null;

  @Field(() => String, { nullable: true, description: "The user's appeal, if any." })
  appealMessage: string | null;

  @Field(() => String, { nullable: true, description: "The moderator's answer to the appeal." })
  appealDecision: string | null;

  @Field(() => Boolean, { nullable: true, description: "Whether the appeal was accepted (which lifted it)." })
  appealAccepted: boolean | null;

  @Field({ description: "Whether the escalation rule started it (no moderator)." })
  automatic: boolean;

  @Field(() => GraphQLDateTimeISO, { description: "When it started." })
  createdAt: Date;
}

export const toRestriction = (r: RestrictionEntity): Restriction => ({
  id: r.id,
  accountId: r.accountId,
  scopes: r.scopes,
  reason: r.reason,
  endsAt: r.endsAt,
  active: !r.liftedAt && (!r.endsAt || r.endsAt > new Date()),
  liftedAt: r.liftedAt,
  appealMessage: r.appealMessage,
  appealDecision: r.appealDecision,
  appealAccepted: r.appealAccepted,
  automatic: r.createdById === null,
  createdAt: r.createdAt,
});

@InputType({ description: "A new restriction." })
class RestrictAccountInput {
  @Field(() => ID, { description: "The account." })
  accountId: string;

  @Field(() => [RestrictionScope], { description: "What to stop." })
  scopes: RestrictionScope[];

  @Field(() => Int, { nullable: true, description: "For how many minutes; permanent when absent." })
  durationMinutes?: number | null;

  @Field({ description: "Why; the user sees it." })
  reason: string;

  @Field({ defaultValue: false, description: "Revoke every API key of the account too." })
  revokeApiKeys: boolean;

  @Field({ defaultValue: false, description: "Cancel (and refund) its queued and running tasks." })
  cancelRunningTasks: boolean;
}

@InputType({ description: "Ending a restriction early." })
class LiftRestrictionInput {
  @Field(() => ID, { description: "The restriction." })
  id: string;

  @Field({ description: "Why; the user sees it." })
  reason: string;
}

@InputType({ description: "An appeal against a restriction." })
class AppealRestrictionInput {
  @Field(() => ID, { description: "The restriction." })
  id: string;

  @Field({ description: "What you want the moderators to know (10–2 000 characters)." })
  message: string;
}

@InputType({ description: "A moderator's answer to an appeal." })
class DecideAppealInput {
  @Field(() => ID, { description: "The restriction." })
  id: string;

  @Field({ description: "Accept (lifts the restriction) or decline." })
  accept: boolean;

  @Field({ description: "Why; the user reads it." })
  reason: string;
}

@ObjectType({ description: "The restriction after the change.", simpleResolvers: true })
class RestrictionPayload {
  @Field(() => Restriction, { description: "The restriction." })
  restriction: Restriction;
}

@Resolver()
export class RestrictionResolver {
  constructor(
    private readonly restrictions: RestrictionService,
    private readonly tasks: TaskService,
  ) {}

  @UseMiddleware(Audited)
  @Authorized("MODERATOR")
  @Mutation(() => RestrictionPayload, {
    description: "Restricts an account; takes effect on its next request, open connections included.",
  })
  async restrictAccount(
    @Arg("input", { description: "The restriction." }) input: RestrictAccountInput,
    @Ctx() ctx: Context,
  ) {
    const restriction = await this.restrictions.restrict(ctx.viewer!, {
      ...input,
      durationMinutes: input.durationMinutes ?? null,
    });
    if (input.cancelRunningTasks) {
      for (const task of await this.tasks.unfinished(input.accountId)) {
        await this.tasks.cancel(ctx.viewer!, task.id).catch(() => undefined); // already finished meanwhile
      }
    }
    return { restriction: toRestriction(restriction) };
  }

  @UseMiddleware(Audited)
  @Authorized("MODERATOR")
  @Mutation(() => RestrictionPayload, { description: "Lifts a restriction early (the history stays)." })
  async liftRestriction(
    @Arg("input", { description: "Restriction and reason." }) input: LiftRestrictionInput,
    @Ctx() ctx: Context,
  ) {
    return { restriction: toRestriction(await this.restrictions.lift(ctx.viewer!, input.id, input.reason)) };
  }

  @UseMiddleware(Audited)
  @Authorized("MODERATOR")
  @Mutation(() => RestrictionPayload, { description: "Answers an appeal once; accepting lifts the restriction." })
  async decideAppeal(@Arg("input", { description: "The decision." }) input: DecideAppealInput, @Ctx() ctx: Context) {
    const { id, accept, reason } = input;
    return { restriction: toRestriction(await this.restrictions.decideAppeal(ctx.viewer!, id, accept, reason)) };
  }

  @Authorized("MODERATOR")
  @Query(() => [Restriction], { description: "Restrictions with an appeal waiting for an answer, oldest first." })
  async pendingAppeals(): Promise<Restriction[]> {
    return (await this.restrictions.pendingAppeals()).map(toRestriction);
  }

  @Authorized("MODERATOR")
  @Query(() => [Restriction], { description: "An account's restrictions, newest first." })
  async accountRestrictions(@Arg("accountId", () => ID, { description: "The account." }) accountId: string) {
    return (await this.restrictions.history(accountId)).map(toRestriction);
  }

  @Authorized("SESSION", "RESTRICTED_OK")
  @Query(() => [Restriction], { description: "Your restrictions (readable even while restricted)." })
  async myRestrictions(@Ctx() ctx: Context): Promise<Restriction[]> {
    return (await this.restrictions.history(ctx.viewer!.accountId)).map(toRestriction);
  }

  @Authorized("SESSION", "RESTRICTED_OK")
  @Mutation(() => RestrictionPayload, { description: "Appeals a restriction, once (allowed even under ALL)." })
  async appealRestriction(
    @Arg("input", { description: "Restriction and message." }) input: AppealRestrictionInput,
    @Ctx() ctx: Context,
  ) {
    return {
      restriction: toRestriction(await this.restrictions.appeal(ctx.viewer!.accountId, input.id, input.message)),
    };
  }
}
