import { GraphQLDateTimeISO } from "graphql-scalars";
import { Field, ID, InputType, ObjectType, registerEnumType } from "type-graphql";
import { Task } from "../generation/generation.types.js";
import {
  MatchType,
  ModerationAction,
  ModerationCategory,
  type ModerationEventEntity,
  type ModerationRuleEntity,
} from "./moderation.entities.js";

registerEnumType(ModerationCategory, {
  name: "ModerationCategory",
  description: "What a moderation rule protects against (the terms of use's prohibited content).",
  valuesConfig: {
    IDENTITY_DOCUMENTS: { description: "ID photos, passports, identity cards, licences." },
    CERTIFICATES_AND_SEALS: { description: "Certificates, diplomas, official seals and stamps." },
    SEXUAL_CONTENT: { description: "Pornographic or sexually explicit content." },
    MINORS: { description: "Sexualised depictions of minors." },
    VIOLENCE: { description: "Graphic violence and gore." },
    HATE: { description: "Hateful content." },
    CUSTOM: { description: "Anything else an operator adds." },
  },
});
registerEnumType(MatchType, {
  name: "ModerationMatchType",
  description: "How a rule's pattern matches (always after normalisation: case, look-alikes, leetspeak).",
  valuesConfig: {
    TERM: { description: "A word or word start; separators inside it are ignored." },
    PHRASE: { description: "Words in order, whatever separates them." },
    REGEX: { description: "A regular expression." },
  },
});
registerEnumType(ModerationAction, {
  name: "ModerationAction",
  description: "What a matching rule does.",
  valuesConfig: {
    BLOCK: { description: "Refuse the task (CONTENT_REJECTED), nothing charged." },
    REVIEW: { description: "Hold the task in PENDING_REVIEW until a moderator decides." },
  },
});

@ObjectType({ description: "A moderation rule.", simpleResolvers: true })
export class ModerationRule {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field(() => ModerationCategory, { description: "Category." })
  category: ModerationCategory;

  @Field(() => MatchType, { description: "How the pattern matches." })
  matchType: MatchType;

  @Field({ description: "The term, phrase or regular expression." })
  pattern: string;

  @Field(() => ModerationAction, { description: "What a match does." })
  action: ModerationAction;

  @Field({ description: "Whether the rule is in use." })
  enabled: boolean;
}

export const toRule = (r: ModerationRuleEntity): ModerationRule => ({
  id: r.id,
  category: r.category,
  matchType: r.matchType,
  pattern: r.pattern,
  action: r.action,
  enabled: r.enabled,
});

@InputType({ description: "A moderation rule to create or change." })
export class ModerationRuleInput {
  @Field(() => ID, { nullable: true, description: "The rule to change; a new rule when absent." })
  id?: string | null;

  @Field(() => ModerationCategory, { description: "Category." })
  category: ModerationCategory;

  @Field(() => MatchType, { description: "How the pattern matches." })
  matchType: MatchType;

  @Field({ description: "The term, phrase or regular expression." })
  pattern: string;

  @Field(() => ModerationAction, { description: "What a match does." })
  action: ModerationAction;

  @Field({ defaultValue: true, description: "Whether the rule is in use." })
  enabled: boolean;
}

@ObjectType({ description: "What the rules decide for a text.", simpleResolvers: true })
export class ModerationDecision {
  @Field(() => ModerationAction, { nullable: true, description: "BLOCK, REVIEW, or null when allowed." })
  action: ModerationAction | null;

  @Field(() => ModerationCategory, { nullable: true, description: "The matching rule's category." })
  category: ModerationCategory | null;

  @Field(() => ID, { nullable: true, description: "The matching rule." })
  ruleId: string | null;
}

@ObjectType({ description: "A prompt a rule blocked or held.", simpleResolvers: true })
export class ModerationEvent {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field(() => ID, { description: "The account." })
  accountId: string;

  @Field(() => ModerationAction, { description: "What happened." })
  action: ModerationAction;

  @Field(() => ModerationCategory, { description: "Category of the rule." })
  category: ModerationCategory;

  @Field(() => ID, { nullable: true, description: "The held task (REVIEW); null for a blocked prompt." })
  taskId: string | null;

  @Field(() => ID, { nullable: true, description: "The rule that matched; null when the external classifier decided." })
  ruleId: string | null;

  @Field({ description: "The start of the prompt." })
  excerpt: string;

  @Field(() => GraphQLDateTimeISO, { description: "When." })
  createdAt: Date;
}

export const toEvent = (e: ModerationEventEntity): ModerationEvent => ({
  id: e.id,
  accountId: e.accountId,
  action: e.action,
  category: e.category,
  taskId: e.taskId,
  ruleId: e.ruleId,
  excerpt: e.excerpt,
  createdAt: e.createdAt,
});

@ObjectType({ description: "What waits for moderators.", simpleResolvers: true })
export class ModerationQueue {
  @Field(() => [Task], { description: "Tasks held for review, oldest first." })
  tasksInReview: Task[];

  @Field(() => [ModerationEvent], { description: "Recent blocked and held prompts, newest first." })
  recentEvents: ModerationEvent[];
}

@InputType({ description: "A moderator's refusal." })
export class RejectTaskInput {
  @Field(() => ID, { description: "The task." })
  id: string;

  @Field({ description: "Why; the owner is told." })
  reason: string;
}

@ObjectType({ description: "The rule after the change.", simpleResolvers: true })
export class ModerationRulePayload {
  @Field(() => ModerationRule, { description: "The rule." })
  rule: ModerationRule;
}

@ObjectType({ description: "The task after the decision.", simpleResolvers: true })
export class ModerationTaskPayload {
  @Field(() => Task, { description: "The task." })
  task: Task;
}
