import { GraphQLDateTimeISO } from "graphql-scalars";
import {
  Arg,
  Authorized,
  Ctx,
  Field,
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
import { Audited } from "../risk/audit.js";
import { RegistrationMode, type RegistrationPolicyEntity } from "./registration.entities.js";
import type { RegistrationPolicyService } from "./registration-policy.service.js";

registerEnumType(RegistrationMode, {
  name: "RegistrationMode",
  description: "Who may register.",
  valuesConfig: {
    OPEN: { description: "Anyone." },
    INVITE_ONLY: { description: "Only with a referral code of an account or an administrator's invite code." },
    CLOSED: { description: "Nobody." },
  },
});

@ObjectType({ description: "Who may register, set by administrators.", simpleResolvers: true })
class RegistrationPolicy {
  @Field(() => RegistrationMode, { description: "Open, invite-only or closed." })
  mode: RegistrationMode;

  @Field(() => Int, { nullable: true, description: "New accounts per IP address per day; null for no limit." })
  accountsPerIpPerDay: number | null;

  @Field({ description: "Whether addresses at known disposable-mail domains are refused." })
  blockDisposableEmail: boolean;

  @Field(() => [String], { description: "Further refused email domains." })
  blockedEmailDomains: string[];

  @Field(() => GraphQLDateTimeISO, { description: "When it last changed." })
  updatedAt: Date;
}

@ObjectType({ description: "What the sign-up page needs to know.", simpleResolvers: true })
class RegistrationInfo {
  @Field(() => RegistrationMode, { description: "Open, invite-only or closed." })
  mode: RegistrationMode;
}

@InputType({ description: "The new registration policy." })
class UpdateRegistrationPolicyInput {
  @Field(() => RegistrationMode, { description: "Open, invite-only or closed." })
  mode: RegistrationMode;

  @Field(() => Int, { nullable: true, description: "New accounts per IP address per day; absent for no limit." })
  accountsPerIpPerDay?: number | null;

  @Field({ defaultValue: false, description: "Refuse addresses at known disposable-mail domains." })
  blockDisposableEmail: boolean;

  @Field(() => [String], { defaultValue: [], description: "Further refused email domains (`example.com`)." })
  blockedEmailDomains: string[];
}

@ObjectType({ description: "The policy after the change.", simpleResolvers: true })
class RegistrationPolicyPayload {
  @Field(() => RegistrationPolicy, { description: "The policy." })
  policy: RegistrationPolicy;
}

@ObjectType({ description: "New invitations; the codes are shown only now.", simpleResolvers: true })
class CreateInviteCodesPayload {
  @Field(() => [String], { description: "Single-use codes, to give as `referralCode` at registration." })
  codes: string[];
}

const toPolicy = (p: RegistrationPolicyEntity): RegistrationPolicy => ({ ...p });

@Resolver()
export class RegistrationResolver {
  constructor(private readonly registration: RegistrationPolicyService) {}

  @Query(() => RegistrationInfo, { description: "Whether registration is open (no sign-in needed)." })
  async registrationInfo(): Promise<RegistrationInfo> {
    return { mode: (await this.registration.get()).mode };
  }

  @Authorized("ADMIN")
  @Query(() => RegistrationPolicy, { description: "The registration policy." })
  async registrationPolicy(): Promise<RegistrationPolicy> {
    return toPolicy(await this.registration.get());
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => RegistrationPolicyPayload, { description: "Sets who may register." })
  async updateRegistrationPolicy(
    @Arg("input", { description: "The policy." }) input: UpdateRegistrationPolicyInput,
  ): Promise<RegistrationPolicyPayload> {
    return {
      policy: toPolicy(
        await this.registration.update({ ...input, accountsPerIpPerDay: input.accountsPerIpPerDay ?? null }),
      ),
    };
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => CreateInviteCodesPayload, { description: "Creates single-use invite codes." })
  async createInviteCodes(
    @Arg("count", () => Int, { description: "How many (1–500)." }) count: number,
    @Arg("expiresInDays", () => Int, { defaultValue: 30, description: "Validity in days (1–365)." })
    expiresInDays: number,
    @Ctx() ctx: Context,
  ): Promise<CreateInviteCodesPayload> {
    return { codes: await this.registration.createInvites(ctx.viewer!.accountId, count, expiresInDays) };
  }
}
