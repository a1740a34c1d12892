import { Authorized, Ctx, Query, Resolver } from "type-graphql";
import type { Context } from "../../infra/context.js";
import type { ReferralService } from "./referral.service.js";
import { ReferralStats } from "./referral.types.js";

@Resolver()
export class ReferralResolver {
  constructor(
    private readonly referrals: ReferralService,
    private readonly publicUrl: string,
  ) {}

  @Authorized("account:read")
  @Query(() => ReferralStats, { description: "The signed-in account's referral code, link and rewards." })
  async referralStats(@Ctx() ctx: Context): Promise<ReferralStats> {
    const stats = await this.referrals.stats(ctx.viewer!.accountId);
    return { ...stats, link: `${this.publicUrl}/r/${stats.code}` };
  }
}
