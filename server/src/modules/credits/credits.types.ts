import { GraphQLDateTimeISO } from "graphql-scalars";
import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { PageInfo, PageArgs } from "../../infra/graphql/connection.js";
import { LedgerKind, type LedgerEntryEntity } from "./ledger-entry.entity.js";
import type { Balance as BalanceRow } from "./ledger.service.js";

registerEnumType(LedgerKind, {
  name: "LedgerKind",
  description: "Why a balance changed.",
  valuesConfig: {
    RECHARGE: { description: "Credits bought through an external store." },
    REDEMPTION: { description: "A redemption code or recharge card was redeemed." },
    WELCOME_BONUS: { description: "Bonus credits for a newly verified account." },
    REFERRAL_REWARD: { description: "A reward for inviting a friend." },
    TASK_CHARGE: { description: "The price of a generation task." },
    TASK_REFUND: { description: "A task's charge given back (failed or canceled task)." },
    ADMIN_ADJUSTMENT: { description: "A correction by an administrator, with its reason." },
  },
});

@ObjectType({ description: "Credits of an account: paid ones and bonus ones (spent first).", simpleResolvers: true })
export class Balance {
  @Field(() => Int, { description: "Credits that were paid for." })
  paid: number;

  @Field(() => Int, {
    description: "Credits that were given (welcome, referral, bonus codes); spent before paid ones.",
  })
  bonus: number;

  @Field(() => Int, { description: "paid + bonus." })
  total: number;
}

export const toBalance = (b: BalanceRow): Balance => ({ paid: b.paid, bonus: b.bonus, total: b.paid + b.bonus });

@ObjectType({
  description: "One change of a balance. Entries are never edited; corrections are new entries.",
  simpleResolvers: true,
})
export class LedgerEntry {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field(() => LedgerKind, { description: "Why the balance changed." })
  kind: LedgerKind;

  @Field(() => Int, { description: "Change of the paid credits (negative when spent)." })
  paidDelta: number;

  @Field(() => Int, { description: "Change of the bonus credits (negative when spent)." })
  bonusDelta: number;

  @Field(() => Balance, { description: "The balance right after this change." })
  balanceAfter: Balance;

  @Field({ description: "What it refers to: a task, code, order or admin action (`task:<id>:charge`, …)." })
  reference: string;

  @Field({ description: "A note, such as an admin's reason." })
  note: string;

  @Field(() => GraphQLDateTimeISO, { description: "When it happened." })
  createdAt: Date;
}

export const toLedgerEntry = (e: LedgerEntryEntity): LedgerEntry => ({
  id: e.id,
  kind: e.kind,
  paidDelta: e.paidDelta,
  bonusDelta: e.bonusDelta,
  balanceAfter: toBalance({ paid: e.paidAfter, bonus: e.bonusAfter }),
  reference: e.reference,
  note: e.note,
  createdAt: e.createdAt,
});

@ObjectType({ description: "A ledger entry with its cursor.", simpleResolvers: true })
export class LedgerEntryEdge {
  @Field(() => LedgerEntry, { description: "The entry." })
  node: LedgerEntry;

  @Field({ description: "Opaque cursor of this entry." })
  cursor: string;
}

@ObjectType({ description: "A page of ledger entries, newest first.", simpleResolvers: true })
export class LedgerConnection {
  @Field(() => [LedgerEntryEdge], { description: "The entries of this page." })
  edges: LedgerEntryEdge[];

  @Field(() => PageInfo, { description: "Where this page stands." })
  pageInfo: PageInfo;
}

@ArgsType()
export class LedgerArgs extends PageArgs("entry") {
  @Field(() => LedgerKind, { nullable: true, description: "Only entries of this kind." })
  kind?: LedgerKind | null;

  @Field(() => ID, { nullable: true, description: "Admins only: another account's ledger." })
  accountId?: string | null;
}

@InputType({ description: "An administrator's correction of a balance." })
export class AdjustBalanceInput {
  @Field(() => ID, { description: "The account." })
  accountId: string;

  @Field(() => Int, { description: "Change of the paid credits (negative to take away)." })
  paid: number;

  @Field(() => Int, { description: "Change of the bonus credits (negative to take away)." })
  bonus: number;

  @Field({ description: "Why: required, kept in the ledger and shown to the account." })
  reason: string;

  @Field({ description: "A key unique to this adjustment: sending it again changes nothing more." })
  idempotencyKey: string;
}

@ObjectType({ description: "The adjustment's ledger entry.", simpleResolvers: true })
export class AdjustBalancePayload {
  @Field(() => LedgerEntry, { description: "The entry (the earlier one when the key was used before)." })
  entry: LedgerEntry;

  @Field({ description: "False when the idempotency key had been used: nothing changed." })
  applied: boolean;
}
