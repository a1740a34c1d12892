import { GraphQLDateTimeISO } from "graphql-scalars";
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { PageInfo } from "../../infra/graphql/connection.js";
import { AccountRole, type AccountEntity } from "./account.entity.js";
import type { MessagePayload } from "./accounts.topics.js";
import { ApiKeyService } from "./api-key.service.js";
import type { ApiKeyEntity } from "./api-key.entity.js";
import type { SessionEntity } from "./session.entity.js";
import type { TermsDocumentEntity } from "./terms-document.entity.js";

registerEnumType(AccountRole, {
  name: "AccountRole",
  description: "What an account may do beyond its own data.",
  valuesConfig: {
    USER: { description: "A creator or developer." },
    MODERATOR: { description: "Reviews content and restricts accounts." },
    ADMIN: { description: "Operates the platform: prices, codes, tiers, terms." },
  },
});

export enum ApiKeyScope {
  TASKS_READ = "TASKS_READ",
  TASKS_WRITE = "TASKS_WRITE",
  ASSETS_READ = "ASSETS_READ",
  ACCOUNT_READ = "ACCOUNT_READ",
}

registerEnumType(ApiKeyScope, {
  name: "ApiKeyScope",
  description: "What an API key may do. Keys can never manage keys, change credentials or act as admin.",
  valuesConfig: {
    TASKS_READ: { description: "`tasks:read`: read tasks and follow their status." },
    TASKS_WRITE: { description: "`tasks:write`: create and cancel tasks, upload reference images." },
    ASSETS_READ: { description: "`assets:read`: list and download generated images." },
    ACCOUNT_READ: { description: "`account:read`: read the account, its balance and messages." },
  },
});

/** `TASKS_READ` ⇄ `tasks:read`: the enum is the API's spelling, the string the stored and checked one. */
export const scopeToString = (scope: ApiKeyScope) => scope.toLowerCase().replace("_", ":");
export const scopeFromString = (scope: string) => scope.toUpperCase().replace(":", "_") as ApiKeyScope;

@ObjectType({ description: "A Novart Studio account, as its owner sees it.", simpleResolvers: true })
export class Account {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field({ description: "Sign-in email address." })
  email: string;

  @Field({ description: "Name shown in the studio." })
  displayName: string;

  @Field(() => AccountRole, { description: "Role of the account." })
  role: AccountRole;

  @Field({ description: "Whether the email address is confirmed." })
  emailVerified: boolean;

  @Field({ description: "Code friends can register with (`/r/CODE`)." })
  referralCode: string;

  @Field(() => Int, { nullable: true, description: "Version of the terms of use last accepted." })
  acceptedTermsVersion: number | null;

  @Field({ description: "Whether a newer version of the terms of use awaits acceptance (`acceptTermsOfUse`)." })
  mustAcceptTerms: boolean;

  @Field(() => GraphQLDateTimeISO, { description: "When the account was created." })
  createdAt: Date;
}

export function toAccount(a: AccountEntity, currentTermsVersion: number): Account {
  return {
    mustAcceptTerms: (a.acceptedTermsVersion ?? 0) < currentTermsVersion,
    id: a.id,
    email: a.email,
    displayName: a.displayName,
    role: a.role,
    emailVerified: a.emailVerifiedAt !== null,
    referralCode: a.referralCode,
    acceptedTermsVersion: a.acceptedTermsVersion,
    createdAt: a.createdAt,
  };
}

@ObjectType({ description: "A signed-in session of the account.", simpleResolvers: true })
export class Session {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field({ description: "The browser or client that signed in (its User-Agent)." })
  userAgent: string;

  @Field({ description: "IP address it signed in from." })
  ip: string;

  @Field(() => GraphQLDateTimeISO, { description: "When it signed in." })
  createdAt: Date;

  @Field(() => GraphQLDateTimeISO, { description: "When it was last used (updated at most once a minute)." })
  lastSeenAt: Date;

  @Field(() => GraphQLDateTimeISO, { description: "When it expires unless used again." })
  expiresAt: Date;

  @Field({ description: "Whether this is the session making the request." })
  current: boolean;
}

export function toSession(s: SessionEntity, currentSessionId: string | null): Session {
  return {
    id: s.id,
    userAgent: s.userAgent,
    ip: s.ip,
    createdAt: s.createdAt,
    lastSeenAt: s.lastSeenAt,
    expiresAt: s.expiresAt,
    current: s.id === currentSessionId,
  };
}

@ObjectType({ description: "A developer API key (its secret is shown only once, at creation).", simpleResolvers: true })
export class ApiKey {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field({ description: "Name given by the owner." })
  name: string;

  @Field({ description: "The key's visible beginning (`nvk_…`), to recognise it." })
  prefix: string;

  @Field(() => [ApiKeyScope], { description: "What the key may do." })
  scopes: ApiKeyScope[];

  @Field(() => GraphQLDateTimeISO, { description: "When it was created." })
  createdAt: Date;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When it was last used (at most once a minute)." })
  lastUsedAt: Date | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When it stops working, if ever." })
  expiresAt: Date | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When it was revoked." })
  revokedAt: Date | null;
}

export function toApiKey(k: ApiKeyEntity): ApiKey {
  return {
    id: k.id,
    name: k.name,
    prefix: ApiKeyService.visiblePrefix(k),
    scopes: k.scopes.map(scopeFromString),
    createdAt: k.createdAt,
    lastUsedAt: k.lastUsedAt,
    expiresAt: k.expiresAt,
    revokedAt: k.revokedAt,
  };
}

@ObjectType({ description: "An internal message to the account.", simpleResolvers: true })
export class Message {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field({ description: "Machine-readable kind, such as `account.welcome`." })
  kind: string;

  @Field({ description: "Short title." })
  title: string;

  @Field({ description: "Plain-text body." })
  body: string;

  @Field(() => String, { nullable: true, description: "A studio path the message refers to." })
  link: string | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When it was read; null while unread." })
  readAt: Date | null;

  @Field(() => GraphQLDateTimeISO, { description: "When it was sent." })
  createdAt: Date;
}

export function toMessage(m: MessagePayload): Message {
  return { ...m, readAt: m.readAt ? new Date(m.readAt) : null, createdAt: new Date(m.createdAt) };
}

@ObjectType({ description: "A message with its cursor.", simpleResolvers: true })
export class MessageEdge {
  @Field(() => Message, { description: "The message." })
  node: Message;

  @Field({ description: "Opaque cursor of this message." })
  cursor: string;
}

@ObjectType({ description: "A page of messages, newest first.", simpleResolvers: true })
export class MessageConnection {
  @Field(() => [MessageEdge], { description: "The messages of this page." })
  edges: MessageEdge[];

  @Field(() => PageInfo, { description: "Where this page stands." })
  pageInfo: PageInfo;
}

@ObjectType({ description: "A published version of the terms of use.", simpleResolvers: true })
export class TermsDocument {
  @Field(() => Int, { description: "Version number; the highest is current." })
  version: number;

  @Field({ description: "Title." })
  title: string;

  @Field({ description: "Full text (plain text; lines starting with `- ` are list items)." })
  body: string;

  @Field(() => GraphQLDateTimeISO, { description: "When this version was published." })
  publishedAt: Date;
}

export const toTermsDocument = (d: TermsDocumentEntity): TermsDocument => ({
  version: d.version,
  title: d.title,
  body: d.body,
  publishedAt: d.publishedAt,
});

@InputType({ description: "A new account." })
export class RegisterInput {
  @Field({ description: "Email address; a confirmation link is sent to it." })
  email: string;

  @Field({ description: "8 to 128 bytes; very common passwords are refused." })
  password: string;

  @Field(() => String, {
    nullable: true,
    description: "Name shown in the studio (defaults to the email's local part).",
  })
  displayName?: string | null;

  @Field(() => String, { nullable: true, description: "Referral code of the friend who invited you." })
  referralCode?: string | null;

  @Field(() => Int, { description: "Version of the terms of use being accepted: must be the current one." })
  acceptTermsVersion: number;
}

@InputType({ description: "Email and password." })
export class SignInInput {
  @Field({ description: "Sign-in email address." })
  email: string;

  @Field({ description: "Password." })
  password: string;
}

@InputType({ description: "A token from an emailed link." })
export class TokenInput {
  @Field({ description: "The `token` parameter of the link." })
  token: string;
}

@InputType({ description: "An email address." })
export class EmailInput {
  @Field({ description: "Email address." })
  email: string;
}

@InputType({ description: "A new password set from a reset link." })
export class ResetPasswordInput {
  @Field({ description: "The `token` parameter of the reset link." })
  token: string;

  @Field({ description: "The new password." })
  newPassword: string;
}

@InputType({ description: "Profile changes." })
export class UpdateProfileInput {
  @Field({ description: "New display name (up to 80 characters)." })
  displayName: string;
}

@InputType({ description: "A password change." })
export class ChangePasswordInput {
  @Field({ description: "The current password." })
  currentPassword: string;

  @Field({ description: "The new password." })
  newPassword: string;
}

@InputType({ description: "An email change, effective once the new address is confirmed." })
export class ChangeEmailInput {
  @Field({ description: "The new address." })
  newEmail: string;

  @Field({ description: "The current password." })
  password: string;
}

@InputType({ description: "Confirmation by password." })
export class PasswordInput {
  @Field({ description: "The current password." })
  password: string;
}

@InputType({ description: "An id." })
export class IdInput {
  @Field(() => ID, { description: "The id." })
  id: string;
}

@InputType({ description: "A new API key." })
export class CreateApiKeyInput {
  @Field({ description: "A name to recognise it by (1–80 characters)." })
  name: string;

  @Field(() => [ApiKeyScope], { description: "What it may do; at least one scope." })
  scopes: ApiKeyScope[];

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When it stops working; never when absent." })
  expiresAt?: Date | null;
}

@InputType({ description: "Which messages to mark read." })
export class MarkMessagesReadInput {
  @Field(() => [ID], { nullable: true, description: "These messages; every unread message when absent." })
  ids?: string[] | null;
}

@InputType({ description: "Acceptance of a version of the terms of use." })
export class AcceptTermsInput {
  @Field(() => Int, { description: "The version accepted: must be the current one." })
  version: number;
}

@InputType({ description: "A new version of the terms of use." })
export class PublishTermsInput {
  @Field({ description: "Title." })
  title: string;

  @Field({ description: "Full text." })
  body: string;
}

@ObjectType({ description: "The server took the request; what happens next is in `message`.", simpleResolvers: true })
export class Acknowledgement {
  @Field({ description: "Always true: failures are errors." })
  ok: boolean;

  @Field({ description: "What happens next, in plain words." })
  message: string;
}

export const acknowledge = (message: string): Acknowledgement => ({ ok: true, message });

@ObjectType({ description: "A started session.", simpleResolvers: true })
export class SignInPayload {
  @Field(() => Account, { description: "The signed-in account." })
  account: Account;

  @Field({
    description:
      "The session token, for clients that are not browsers: send it as `Authorization: Bearer <token>`. Browsers get it as an HttpOnly cookie.",
  })
  token: string;

  @Field(() => GraphQLDateTimeISO, { description: "When the session expires unless used." })
  expiresAt: Date;
}

@ObjectType({ description: "The account after a change.", simpleResolvers: true })
export class AccountPayload {
  @Field(() => Account, { description: "The account as it is now." })
  account: Account;
}

@ObjectType({ description: "The revoked session.", simpleResolvers: true })
export class RevokeSessionPayload {
  @Field(() => Session, { description: "The session, now ended." })
  session: Session;
}

@ObjectType({ description: "How many sessions ended.", simpleResolvers: true })
export class SignOutEverywherePayload {
  @Field(() => Int, { description: "Number of sessions ended, this one included." })
  revokedCount: number;
}

@ObjectType({ description: "A pending email change.", simpleResolvers: true })
export class ChangeEmailPayload {
  @Field({ description: "The new address, waiting for confirmation through the link sent to it." })
  pendingEmail: string;
}

@ObjectType({ description: "A new API key and its secret.", simpleResolvers: true })
export class CreateApiKeyPayload {
  @Field(() => ApiKey, { description: "The key." })
  apiKey: ApiKey;

  @Field({ description: "The full secret. Shown this once: store it now." })
  secret: string;
}

@ObjectType({ description: "The revoked API key.", simpleResolvers: true })
export class RevokeApiKeyPayload {
  @Field(() => ApiKey, { description: "The key, now revoked." })
  apiKey: ApiKey;
}

@ObjectType({ description: "Unread count after marking.", simpleResolvers: true })
export class MarkMessagesReadPayload {
  @Field(() => Int, { description: "Messages still unread." })
  unreadCount: number;
}

@ObjectType({ description: "The published version.", simpleResolvers: true })
export class PublishTermsPayload {
  @Field(() => TermsDocument, { description: "The new current terms of use." })
  document: TermsDocument;
}
