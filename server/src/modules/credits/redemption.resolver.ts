import { Audited } from "../risk/audit.js";
import { Arg, Args, Authorized, Ctx, Mutation, Query, Resolver, UseMiddleware } from "type-graphql";
import type { Context } from "../../infra/context.js";
import { IdInput } from "../accounts/accounts.types.js";
import { toConnection } from "../../infra/graphql/connection.js";
import { encodeCursor } from "../../infra/pagination.js";
import { toBalance, toLedgerEntry } from "./credits.types.js";
import { RedemptionService } from "./redemption.service.js";
import {
  CodeBatchConnection,
  CodeBatchesArgs,
  CodeBatchPayload,
  CodeInput,
  CreateCodeBatchInput,
  CreateCodeBatchPayload,
  RedeemCodePayload,
  toCodeBatch,
} from "./redemption.types.js";

/** Redemption codes: users redeem, admins issue and disable. */
@Resolver()
export class RedemptionResolver {
  constructor(private readonly redemptions: RedemptionService) {}

  @Authorized("SESSION")
  @Mutation(() => RedeemCodePayload, {
    description: "Redeems a code or recharge card. Failed attempts are rate limited per account and per IP.",
  })
  async redeemCode(
    @Arg("input", { description: "The code." }) input: CodeInput,
    @Ctx() ctx: Context,
  ): Promise<RedeemCodePayload> {
    const { result, batch } = await this.redemptions.redeem(ctx.viewer!.accountId, input.code, ctx.ip);
    return {
      credits: batch.credits,
      kind: batch.kind,
      entry: toLedgerEntry(result.entry),
      balance: toBalance({ paid: result.entry.paidAfter, bonus: result.entry.bonusAfter }),
    };
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => CreateCodeBatchPayload, {
    description: "Issues a batch of codes; the answer's CSV is the only copy of them.",
  })
  async createCodeBatch(
    @Arg("input", { description: "The batch." }) input: CreateCodeBatchInput,
    @Ctx() ctx: Context,
  ): Promise<CreateCodeBatchPayload> {
    const { batch, codes } = await this.redemptions.createBatch(ctx.viewer!.accountId, {
      count: input.count,
      credits: input.credits,
      kind: input.kind,
      label: input.label,
      channel: input.channel ?? "",
      maxRedemptionsPerCode: input.maxRedemptionsPerCode ?? 1,
      perUserLimit: input.perUserLimit ?? 1,
      expiresAt: input.expiresAt ?? null,
    });
    return {
      batch: toCodeBatch({ batch, redemptions: 0, codesUsed: 0, disabledCodes: 0 }),
      csv: RedemptionService.csv(batch, codes),
    };
  }

  @Authorized("ADMIN")
  @Query(() => CodeBatchConnection, { description: "Code batches with their redemption counts, newest first." })
  async codeBatches(@Args() args: CodeBatchesArgs): Promise<CodeBatchConnection> {
    const { rows, limit } = await this.redemptions.listBatches(args);
    return toConnection(
      rows.map((r) => ({ ...r, id: r.batch.id, createdAt: r.batch.createdAt })),
      limit,
      toCodeBatch,
      encodeCursor,
    );
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => CodeBatchPayload, { description: "Disables every code of a batch." })
  async disableCodeBatch(@Arg("input", { description: "The batch." }) input: IdInput): Promise<CodeBatchPayload> {
    return { batch: toCodeBatch(await this.redemptions.disableBatch(input.id)) };
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => CodeBatchPayload, { description: "Disables one code (given as printed)." })
  async disableCode(@Arg("input", { description: "The code." }) input: CodeInput): Promise<CodeBatchPayload> {
    return { batch: toCodeBatch(await this.redemptions.disableCode(input.code)) };
  }
}
