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
} from "type-graphql";
import { connectionType, toConnection, PageArgs } from "../../infra/graphql/connection.js";
import { encodeCursor } from "../../infra/pagination.js";
import { AccountRole } from "../accounts/account.entity.js";
import { Account, ApiKey, toAccount, toApiKey } from "../accounts/accounts.types.js";
import type { AccountService } from "../accounts/account.service.js";
import type { ApiKeyService } from "../accounts/api-key.service.js";
import type { TermsService } from "../accounts/terms.service.js";
import { Task, toTask } from "../generation/generation.types.js";
import type { TaskService } from "../generation/task.service.js";
import type { AccountSummaryRow, AdminAccountService } from "./admin-accounts.service.js";
import type { Context } from "../../infra/context.js";
import { Audited } from "./audit.js";
import { AccountLimits, toAccountLimits } from "./limits.resolver.js";
import type { LimitsService } from "./limits.service.js";
import { Restriction, toRestriction } from "./restriction.resolver.js";
import type { RestrictionService } from "./restriction.service.js";

@ObjectType({ description: "An account in the administrators' list.", simpleResolvers: true })
class AccountSummary implements AccountSummaryRow {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field({ description: "Email address." })
  email: string;

  @Field({ description: "Display name." })
  displayName: string;

  @Field(() => AccountRole, { description: "Role." })
  role: AccountRole;

  @Field({ description: "Whether the email address is confirmed." })
  emailVerified: boolean;

  @Field(() => ID, { description: "Tier." })
  tierId: string;

  @Field(() => Int, { description: "Credits (paid and bonus)." })
  balance: number;

  @Field({ description: "Whether a restriction is in force." })
  restricted: boolean;

  @Field({ description: "Whether the account was deleted (anonymised)." })
  deleted: boolean;

  @Field(() => GraphQLDateTimeISO, { description: "When it registered." })
  createdAt: Date;
}

const AccountSummaryConnection = connectionType(AccountSummary, "AccountSummary", "accounts");
type AccountSummaryConnection = InstanceType<typeof AccountSummaryConnection>;

@InputType({ description: "Which accounts to list." })
class AccountSearchInput {
  @Field(() => String, { nullable: true, description: "Part of the email or display name, or an exact id." })
  search?: string | null;

  @Field(() => AccountRole, { nullable: true, description: "Only this role." })
  role?: AccountRole | null;

  @Field(() => ID, { nullable: true, description: "Only this tier." })
  tierId?: string | null;

  @Field(() => Boolean, { nullable: true, description: "Only restricted (true) or unrestricted (false) accounts." })
  restricted?: boolean | null;

  @Field(() => Boolean, { nullable: true, description: "Include deleted accounts." })
  includeDeleted?: boolean | null;
}

@ArgsType()
class AdminAccountsArgs extends PageArgs("account") {
  @Field(() => AccountSearchInput, { nullable: true, description: "Filters." })
  filter?: AccountSearchInput | null;
}

@ObjectType({ description: "Everything an administrator sees of one account." })
class AdminAccountDetail {
  @Field(() => Account, { description: "The account (its `balance` too)." })
  account: Account;

  @Field(() => String, {
    nullable: true,
    description:
      "The address it registered from; none once the account is deleted (a digest of it is kept for a day, for the per-address sign-up limit, and not shown).",
  })
  signupIp: string | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When it was deleted, if it was." })
  deletedAt: Date | null;
}

@InputType({ description: "An internal message to every account or to one tier." })
class SendAnnouncementInput {
  @Field({ description: "Title (3–200 characters)." })
  title: string;

  @Field({ description: "Text (up to 5 000 characters)." })
  body: string;

  @Field(() => String, {
    nullable: true,
    description: "A studio path (`/billing`) or an https URL, up to 500 characters.",
  })
  link?: string | null;

  @Field(() => ID, { nullable: true, description: "Only the accounts of this tier; everyone when absent." })
  tierId?: string | null;
}

@ObjectType({ description: "How many accounts got the announcement.", simpleResolvers: true })
class SendAnnouncementPayload {
  @Field(() => Int, { description: "Recipients." })
  recipients: number;
}

@ObjectType({ description: "The account after the change.", simpleResolvers: true })
class SetAccountRolePayload {
  @Field(() => Account, { description: "The account." })
  account: Account;
}

@ObjectType({ description: "The account's keys after the change.", simpleResolvers: true })
class RevokeApiKeysPayload {
  @Field(() => [ApiKey], { description: "Every key of the account (all revoked now)." })
  apiKeys: ApiKey[];
}

/** The administrators' view of accounts: search, detail (balance, limits, restrictions, keys, tasks), messages. */
@Resolver(() => AdminAccountDetail)
export class AdminAccountsResolver {
  constructor(
    private readonly admin: AdminAccountService,
    private readonly limitsService: LimitsService,
    private readonly apiKeyService: ApiKeyService,
    private readonly restrictionService: RestrictionService,
    private readonly tasks: TaskService,
    private readonly terms: TermsService,
    private readonly accounts: AccountService,
  ) {}

  @Authorized("MODERATOR")
  @Query(() => AccountSummaryConnection, { description: "Accounts matching the filters, newest first." })
  async adminAccounts(@Args() args: AdminAccountsArgs): Promise<AccountSummaryConnection> {
    const { rows, limit } = await this.admin.search(args.filter ?? {}, args);
    return toConnection(rows, limit, (r) => r, encodeCursor);
  }

  @Authorized("MODERATOR")
  @Query(() => AdminAccountDetail, { description: "One account with everything administrators need." })
  async adminAccount(@Arg("id", () => ID, { description: "The account." }) id: string): Promise<AdminAccountDetail> {
    const account = await this.admin.account(id);
    const terms = await this.terms.current();
    // A deleted account keeps only a digest of its address (`h:…`) for a day: not an address to show.
    const signupIp = account.deletedAt || account.signupIp?.startsWith("h:") ? null : account.signupIp;
    return { account: toAccount(account, terms.version), signupIp, deletedAt: account.deletedAt };
  }

  @FieldResolver(() => AccountLimits, { description: "Tier, limits and use." })
  async limits(@Root() detail: AdminAccountDetail): Promise<AccountLimits> {
    return toAccountLimits(this.limitsService, await this.limitsService.effective(detail.account.id));
  }

  @FieldResolver(() => [Restriction], { description: "Restrictions, newest first." })
  async restrictions(@Root() detail: AdminAccountDetail): Promise<Restriction[]> {
    return (await this.restrictionService.history(detail.account.id)).map(toRestriction);
  }

  @FieldResolver(() => [ApiKey], { description: "API keys, revoked ones included." })
  async apiKeys(@Root() detail: AdminAccountDetail): Promise<ApiKey[]> {
    return (await this.apiKeyService.list(detail.account.id)).map(toApiKey);
  }

  @FieldResolver(() => [Task], { description: "The latest tasks (up to 20)." })
  async recentTasks(@Root() detail: AdminAccountDetail): Promise<Task[]> {
    const { rows, limit } = await this.tasks.list(detail.account.id, { first: 20 });
    return rows.slice(0, limit).map(toTask);
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => SendAnnouncementPayload, { description: "Sends an internal message to every account or a tier." })
  async sendAnnouncement(
    @Arg("input", { description: "The announcement." }) input: SendAnnouncementInput,
  ): Promise<SendAnnouncementPayload> {
    return {
      recipients: await this.admin.announce({
        title: input.title,
        body: input.body,
        link: input.link ?? null,
        tierId: input.tierId ?? null,
      }),
    };
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => SetAccountRolePayload, {
    description: "Makes an account a user, moderator or administrator (never demotes the last administrator).",
  })
  async setAccountRole(
    @Arg("accountId", () => ID, { description: "The account." }) accountId: string,
    @Arg("role", () => AccountRole, { description: "Its new role." }) role: AccountRole,
  ): Promise<SetAccountRolePayload> {
    const account = await this.accounts.setRole(accountId, role);
    return { account: toAccount(account, (await this.terms.current()).version) };
  }

  @UseMiddleware(Audited)
  @Authorized("MODERATOR")
  @Mutation(() => RevokeApiKeysPayload, { description: "Revokes every API key of an account at once." })
  async revokeAccountApiKeys(
    @Arg("accountId", () => ID, { description: "The account." }) accountId: string,
    @Ctx() ctx: Context,
  ): Promise<RevokeApiKeysPayload> {
    await this.admin.account(accountId);
    await this.restrictionService.assertMayActOn(ctx.viewer!, accountId);
    await this.apiKeyService.revokeAll(accountId);
    return { apiKeys: (await this.apiKeyService.list(accountId)).map(toApiKey) };
  }
}
