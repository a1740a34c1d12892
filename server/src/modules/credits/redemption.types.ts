import { GraphQLDateTimeISO } from "graphql-scalars";
import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { PageInfo, PageArgs } from "../../infra/graphql/connection.js";
import { CreditKind } from "./code-batch.entity.js";
import { Balance, LedgerEntry } from "./credits.types.js";
import type { BatchStats } from "./redemption.service.js";

registerEnumType(CreditKind, {
  name: "CreditKind",
  description: "Which part of a balance credits go to.",
  valuesConfig: {
    PAID: { description: "Paid credits (recharge cards, store orders)." },
    BONUS: { description: "Bonus credits (promotions); spent before paid ones." },
  },
});

@ObjectType({
  description: "A batch of redemption codes or recharge cards, with its use so far.",
  simpleResolvers: true,
})
export class CodeBatch {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field({ description: "Label given by the admin." })
  label: string;

  @Field({ description: "Where the codes are sold or handed out." })
  channel: string;

  @Field(() => Int, { description: "Credits one redemption gives." })
  credits: number;

  @Field(() => CreditKind, { description: "Paid or bonus credits." })
  kind: CreditKind;

  @Field(() => Int, { description: "Number of codes in the batch." })
  codeCount: number;

  @Field(() => Int, { description: "How many times each code can be redeemed." })
  maxRedemptionsPerCode: number;

  @Field(() => Int, { description: "Redemptions one account may make from this batch." })
  perUserLimit: number;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When the codes stop working, if ever." })
  expiresAt: Date | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When the batch was disabled." })
  disabledAt: Date | null;

  @Field(() => GraphQLDateTimeISO, { description: "When it was issued." })
  createdAt: Date;

  @Field(() => Int, { description: "Redemptions so far." })
  redemptions: number;

  @Field(() => Int, { description: "Codes redeemed at least once." })
  codesUsed: number;

  @Field(() => Int, { description: "Codes disabled one by one." })
  disabledCodes: number;
}

export const toCodeBatch = ({ batch, redemptions, codesUsed, disabledCodes }: BatchStats): CodeBatch => ({
  id: batch.id,
  label: batch.label,
  channel: batch.channel,
  credits: batch.credits,
  kind: batch.kind,
  codeCount: batch.codeCount,
  maxRedemptionsPerCode: batch.maxRedemptionsPerCode,
  perUserLimit: batch.perUserLimit,
  expiresAt: batch.expiresAt,
  disabledAt: batch.disabledAt,
  createdAt: batch.createdAt,
  redemptions,
  codesUsed,
  disabledCodes,
});

@ObjectType({ description: "A code batch with its cursor.", simpleResolvers: true })
export class CodeBatchEdge {
  @Field(() => CodeBatch, { description: "The batch." })
  node: CodeBatch;

  @Field({ description: "Opaque cursor of this batch." })
  cursor: string;
}

@ObjectType({ description: "A page of code batches, newest first.", simpleResolvers: true })
export class CodeBatchConnection {
  @Field(() => [CodeBatchEdge], { description: "The batches of this page." })
  edges: CodeBatchEdge[];

  @Field(() => PageInfo, { description: "Where this page stands." })
  pageInfo: PageInfo;
}

@ArgsType()
export class CodeBatchesArgs extends PageArgs("batch") {}

@InputType({ description: "A new batch of codes." })
export class CreateCodeBatchInput {
  @Field(() => Int, { description: "How many codes, 1–10 000." })
  count: number;

  @Field(() => Int, { description: "Credits one redemption gives." })
  credits: number;

  @Field(() => CreditKind, { description: "Paid credits (recharge cards) or bonus credits (promotions)." })
  kind: CreditKind;

  @Field({ description: "A label for admins." })
  label: string;

  @Field({ nullable: true, description: "Where the codes are sold or handed out (for example a store's name)." })
  channel?: string;

  @Field(() => Int, { nullable: true, description: "How many times each code can be redeemed (default 1)." })
  maxRedemptionsPerCode?: number;

  @Field(() => Int, { nullable: true, description: "Redemptions one account may make from the batch (default 1)." })
  perUserLimit?: number;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When the codes stop working; never when absent." })
  expiresAt?: Date | null;
}

@ObjectType({ description: "The new batch and its codes, which are never shown again.", simpleResolvers: true })
export class CreateCodeBatchPayload {
  @Field(() => CodeBatch, { description: "The batch." })
  batch: CodeBatch;

  @Field({ description: "Every code as CSV (code, credits, kind, batch, channel, expires_at). Shown this once." })
  csv: string;
}

@ObjectType({ description: "The batch after the change.", simpleResolvers: true })
export class CodeBatchPayload {
  @Field(() => CodeBatch, { description: "The batch." })
  batch: CodeBatch;
}

@InputType({ description: "A code as printed or typed (case, spaces and dashes do not matter)." })
export class CodeInput {
  @Field({ description: "The code." })
  code: string;
}

@ObjectType({ description: "What a redemption gave.", simpleResolvers: true })
export class RedeemCodePayload {
  @Field(() => Int, { description: "Credits added." })
  credits: number;

  @Field(() => CreditKind, { description: "Paid or bonus credits." })
  kind: CreditKind;

  @Field(() => LedgerEntry, { description: "The ledger entry." })
  entry: LedgerEntry;

  @Field(() => Balance, { description: "The balance now." })
  balance: Balance;
}
