import { Audited } from "../risk/audit.js";
import {
  Arg,
  Args,
  ArgsType,
  Authorized,
  Ctx,
  Field,
  Int,
  Mutation,
  Query,
  Resolver,
  Root,
  Subscription,
  UseMiddleware,
} from "type-graphql";
import type { Context } from "../../infra/context.js";
import { toConnection, PageArgs } from "../../infra/graphql/connection.js";
import { encodeCursor } from "../../infra/pagination.js";
import type { AccountService } from "./account.service.js";
import type { MessagePayload } from "./accounts.topics.js";
import {
  AcceptTermsInput,
  Account,
  AccountPayload,
  Acknowledgement,
  acknowledge,
  ChangeEmailInput,
  ChangeEmailPayload,
  ChangePasswordInput,
  EmailInput,
  IdInput,
  Message,
  MessageConnection,
  PasswordInput,
  PublishTermsInput,
  PublishTermsPayload,
  RegisterInput,
  ResetPasswordInput,
  RevokeSessionPayload,
  Session,
  SignInInput,
  SignInPayload,
  SignOutEverywherePayload,
  TermsDocument,
  TokenInput,
  toAccount,
  toMessage,
  toSession,
  toTermsDocument,
  UpdateProfileInput,
  MarkMessagesReadInput,
  MarkMessagesReadPayload,
} from "./accounts.types.js";
import { toMessagePayload, type MessageService } from "./message.service.js";
import { SessionService } from "./session.service.js";
import type { TermsService } from "./terms.service.js";
import type { AccountEntity } from "./account.entity.js";
import { authorize } from "./authorization.js";

const CHECK_EMAIL = "If the address can be used, a message with a link is on its way. Check your inbox.";

@ArgsType()
class MessagesArgs extends PageArgs("message") {
  @Field({ nullable: true, description: "Only unread messages." })
  unreadOnly?: boolean;
}

const viewerOf = (ctx: Context) => ctx.viewer!;

/** Sign-up, sign-in, sessions, settings, messages and the terms of use. Rules live in the services. */
@Resolver()
export class AccountsResolver {
  constructor(
    private readonly accounts: AccountService,
    private readonly sessionService: SessionService,
    private readonly messageService: MessageService,
    private readonly terms: TermsService,
    private readonly sessionTtlDays: number,
  ) {}

  private async account(entity: AccountEntity): Promise<Account> {
    return toAccount(entity, (await this.terms.current()).version);
  }

  @Authorized("account:read", "RESTRICTED_OK")
  @Query(() => Account, { description: "The signed-in account (UNAUTHENTICATED when nobody is signed in)." })
  async me(@Ctx() ctx: Context): Promise<Account> {
    return this.account((await this.accounts.byId(viewerOf(ctx).accountId))!);
  }

  @Query(() => TermsDocument, {
    nullable: true,
    description: "The terms of use: the current version, or the given one (null when it does not exist).",
  })
  async termsOfUse(
    @Arg("version", () => Int, { nullable: true, description: "A past version; the current one when absent." })
    version?: number | null,
  ): Promise<TermsDocument | null> {
    const doc = version == null ? await this.terms.current() : await this.terms.byVersion(version);
    return doc ? toTermsDocument(doc) : null;
  }

  @Mutation(() => Acknowledgement, {
    description: "Creates an unverified account and emails a confirmation link. Answers the same for a known address.",
  })
  async register(@Arg("input", { description: "The new account." }) input: RegisterInput, @Ctx() ctx: Context) {
    await this.accounts.register(input, ctx);
    return acknowledge(CHECK_EMAIL);
  }

  @Mutation(() => AccountPayload, { description: "Confirms an email address from the emailed link's token." })
  async verifyEmail(@Arg("input", { description: "The link's token." }) input: TokenInput): Promise<AccountPayload> {
    return { account: await this.account(await this.accounts.verifyEmail(input.token)) };
  }

  @Mutation(() => Acknowledgement, {
    description: "Sends a new confirmation link (rate limited). Same answer for any address.",
  })
  async resendVerification(@Arg("input", { description: "The address." }) input: EmailInput, @Ctx() ctx: Context) {
    await this.accounts.resendVerification(input.email, ctx);
    return acknowledge(CHECK_EMAIL);
  }

  @Mutation(() => SignInPayload, {
    description:
      "Starts a session. Browsers get an HttpOnly cookie; other clients use the returned token as a Bearer token.",
  })
  async signIn(@Arg("input", { description: "Email and password." }) input: SignInInput, @Ctx() ctx: Context) {
    const { account, session, token } = await this.accounts.signIn(input, ctx);
    ctx.setCookie(SessionService.cookie(token, ctx.secure, this.sessionTtlDays * 86_400));
    return { account: await this.account(account), token, expiresAt: session.expiresAt };
  }

  @Authorized("SESSION")
  @Mutation(() => Acknowledgement, { description: "Ends the current session." })
  async signOut(@Ctx() ctx: Context) {
    const viewer = viewerOf(ctx);
    await this.sessionService.revoke(viewer.accountId, viewer.sessionId!);
    ctx.setCookie(SessionService.cookie(null, ctx.secure, 0));
    return acknowledge("Signed out.");
  }

  @Authorized("SESSION")
  @Query(() => [Session], { description: "The account's active sessions, most recently used first." })
  async sessions(@Ctx() ctx: Context): Promise<Session[]> {
    const viewer = viewerOf(ctx);
    return (await this.sessionService.listActive(viewer.accountId)).map((s) => toSession(s, viewer.sessionId));
  }

  @Authorized("SESSION")
  @Mutation(() => RevokeSessionPayload, {
    description: "Ends one of the account's sessions; takes effect on its next request.",
  })
  async revokeSession(@Arg("input", { description: "The session." }) input: IdInput, @Ctx() ctx: Context) {
    const viewer = viewerOf(ctx);
    return { session: toSession(await this.sessionService.revoke(viewer.accountId, input.id), viewer.sessionId) };
  }

  @Authorized("SESSION")
  @Mutation(() => SignOutEverywherePayload, { description: "Ends every session of the account, this one included." })
  async signOutEverywhere(@Ctx() ctx: Context): Promise<SignOutEverywherePayload> {
    const revokedCount = await this.sessionService.revokeAll(viewerOf(ctx).accountId);
    ctx.setCookie(SessionService.cookie(null, ctx.secure, 0));
    return { revokedCount };
  }

  @Mutation(() => Acknowledgement, {
    description: "Emails a password-reset link (rate limited). Same answer for any address.",
  })
  async requestPasswordReset(@Arg("input", { description: "The address." }) input: EmailInput, @Ctx() ctx: Context) {
    await this.accounts.requestPasswordReset(input.email, ctx);
    return acknowledge(CHECK_EMAIL);
  }

  @Mutation(() => Acknowledgement, { description: "Sets a new password from a reset link and ends every session." })
  async resetPassword(@Arg("input", { description: "Token and new password." }) input: ResetPasswordInput) {
    await this.accounts.resetPassword(input.token, input.newPassword);
    return acknowledge("Your password is changed. Sign in with it.");
  }

  @Authorized("SESSION")
  @Mutation(() => AccountPayload, { description: "Changes the profile." })
  async updateProfile(@Arg("input", { description: "Changes." }) input: UpdateProfileInput, @Ctx() ctx: Context) {
    return { account: await this.account(await this.accounts.updateProfile(viewerOf(ctx), input)) };
  }

  @Authorized("SESSION")
  @Mutation(() => Acknowledgement, { description: "Changes the password and ends every other session." })
  async changePassword(
    @Arg("input", { description: "Current and new password." }) input: ChangePasswordInput,
    @Ctx() ctx: Context,
  ) {
    await this.accounts.changePassword(viewerOf(ctx), input.currentPassword, input.newPassword);
    return acknowledge("Your password is changed; your other sessions were signed out.");
  }

  @Authorized("SESSION")
  @Mutation(() => ChangeEmailPayload, {
    description: "Starts an email change; it takes effect when the new address is confirmed.",
  })
  async changeEmail(
    @Arg("input", { description: "New address and password." }) input: ChangeEmailInput,
    @Ctx() ctx: Context,
  ) {
    return { pendingEmail: await this.accounts.changeEmail(viewerOf(ctx), input.newEmail, input.password) };
  }

  @Authorized("SESSION")
  @Mutation(() => Acknowledgement, {
    description: "Deletes the account: sessions and keys end, personal data is erased; ledger rows stay, anonymised.",
  })
  async deleteAccount(@Arg("input", { description: "The password." }) input: PasswordInput, @Ctx() ctx: Context) {
    await this.accounts.deleteAccount(viewerOf(ctx), input.password);
    ctx.setCookie(SessionService.cookie(null, ctx.secure, 0));
    return acknowledge("Your account is deleted.");
  }

  @Authorized("SESSION")
  @Mutation(() => AccountPayload, { description: "Accepts the current terms of use." })
  async acceptTermsOfUse(@Arg("input", { description: "The version." }) input: AcceptTermsInput, @Ctx() ctx: Context) {
    return { account: await this.account(await this.accounts.acceptTerms(viewerOf(ctx), input.version)) };
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => PublishTermsPayload, {
    description: "Publishes a new version of the terms of use; users accept it at their next visit.",
  })
  async publishTermsOfUse(
    @Arg("input", { description: "The new text." }) input: PublishTermsInput,
    @Ctx() ctx: Context,
  ) {
    return { document: toTermsDocument(await this.terms.publish(viewerOf(ctx).accountId, input)) };
  }

  @Authorized("account:read", "RESTRICTED_OK")
  @Query(() => MessageConnection, { description: "The account's internal messages, newest first." })
  async messages(@Args() args: MessagesArgs, @Ctx() ctx: Context): Promise<MessageConnection> {
    const { rows, limit } = await this.messageService.list(viewerOf(ctx).accountId, args);
    return toConnection(rows, limit, (m) => toMessage(toMessagePayload(m)), encodeCursor);
  }

  @Authorized("account:read", "RESTRICTED_OK")
  @Query(() => Int, { description: "How many messages are unread." })
  unreadMessageCount(@Ctx() ctx: Context): Promise<number> {
    return this.messageService.unreadCount(viewerOf(ctx).accountId);
  }

  @Authorized("SESSION", "RESTRICTED_OK")
  @Mutation(() => MarkMessagesReadPayload, { description: "Marks messages read: the given ones, or all." })
  async markMessagesRead(
    @Arg("input", { description: "Which messages." }) input: MarkMessagesReadInput,
    @Ctx() ctx: Context,
  ) {
    return { unreadCount: await this.messageService.markRead(viewerOf(ctx).accountId, input.ids ?? null) };
  }

  @Authorized("account:read", "RESTRICTED_OK")
  @Subscription(() => Message, {
    description: "New internal messages of the signed-in account, as they are sent.",
    subscribe: ({ context }) => {
      const ctx = context as Context;
      return ctx.services.messages.stream(authorize(ctx.viewer, ["account:read", "RESTRICTED_OK"]).accountId);
    },
  })
  messageReceived(@Root() message: MessagePayload): Message {
    return toMessage(message);
  }
}
