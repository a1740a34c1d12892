import { Audited } from "../risk/audit.js";
import {
  Arg,
  Args,
  Authorized,
  Ctx,
  FieldResolver,
  Mutation,
  Query,
  Resolver,
  Root,
  UseMiddleware,
} from "type-graphql";
import type { Context } from "../../infra/context.js";
import { toConnection } from "../../infra/graphql/connection.js";
import { encodeCursor } from "../../infra/pagination.js";
import { Account } from "../accounts/accounts.types.js";
import { authorize } from "../accounts/authorization.js";
import type { CreditsService } from "./credits.service.js";
import {
  AdjustBalanceInput,
  AdjustBalancePayload,
  Balance,
  LedgerArgs,
  LedgerConnection,
  toBalance,
  toLedgerEntry,
} from "./credits.types.js";
import type { LedgerService } from "./ledger.service.js";

/** Balances, the ledger, and administrators' adjustments. */
@Resolver(() => Account)
export class CreditsResolver {
  constructor(
    private readonly ledgerService: LedgerService,
    private readonly credits: CreditsService,
  ) {}

  @FieldResolver(() => Balance, { description: "The account's credits." })
  async balance(@Root() account: Account, @Ctx() ctx: Context): Promise<Balance> {
    return toBalance(await ctx.loaders.balance.load(account.id));
  }

  @Authorized("account:read")
  @Query(() => LedgerConnection, {
    description: "Ledger entries of the signed-in account, newest first (admins may name another account).",
  })
  async ledger(@Args() args: LedgerArgs, @Ctx() ctx: Context): Promise<LedgerConnection> {
    const viewer = ctx.viewer!;
    const accountId = args.accountId ?? viewer.accountId;
    if (accountId !== viewer.accountId) authorize(viewer, ["ADMIN"]);
    const { rows, limit } = await this.ledgerService.list(accountId, args);
    return toConnection(rows, limit, toLedgerEntry, encodeCursor);
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => AdjustBalancePayload, {
    description: "Adds or removes credits of an account with a required reason (recorded with the admin's id).",
  })
  async adjustBalance(
    @Arg("input", { description: "Account, amounts, reason, idempotency key." }) input: AdjustBalanceInput,
    @Ctx() ctx: Context,
  ): Promise<AdjustBalancePayload> {
    const { entry, applied } = await this.credits.adjust(ctx.viewer!.accountId, input);
    return { entry: toLedgerEntry(entry), applied };
  }
}
