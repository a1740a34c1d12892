import type { DataSource, EntityManager } from "typeorm";
import { z } from "zod";
import { AppError, BadUserInputError, NotFoundError } from "../../infra/errors.js";
import { ipLimitKey } from "../../infra/client-ip.js";
import type { Logger } from "../../infra/logger.js";
import type { Mail, MailService } from "../../infra/mail.js";
import type { RateLimits } from "../../infra/rate-limit.js";
import { randomCode, randomToken, sha256 } from "../../infra/tokens.js";
import { AccountTokenEntity, AccountTokenPurpose } from "./account-token.entity.js";
import { AccountEntity, AccountRole } from "./account.entity.js";
import { accountMails } from "./account.mails.js";
import {
  EmailNotVerifiedError,
  InvalidCredentialsError,
  InvalidTokenError,
  TermsNotAcceptedError,
} from "./accounts.errors.js";
import type { ApiKeyService } from "./api-key.service.js";
import type { MessageService } from "./message.service.js";
import { assertPasswordAcceptable, hashPassword, needsRehash, verifyPassword } from "./password.js";
import type { NewSession, SessionService } from "./session.service.js";
import type { TermsService } from "./terms.service.js";
import type { Viewer } from "./viewer.js";
import { InviteRequiredError, signupIpDigest, type RegistrationPolicyService } from "./registration-policy.service.js";
import { eraseAccountText } from "../risk/erasure.js";
import { lockForTransaction } from "../../infra/sql.js";

export type AccountLimit =
  | "signInIp"
  | "signInAccount"
  | "registerIp"
  | "resendEmail"
  | "resendIp"
  | "resetEmail"
  | "resetIp"
  | "changeEmailAccount";

/** Budgets per window; documented in the README. */
export const ACCOUNT_LIMITS: Record<AccountLimit, { points: number; windowSeconds: number }> = {
  signInIp: { points: 30, windowSeconds: 900 },
  signInAccount: { points: 10, windowSeconds: 900 },
  registerIp: { points: 10, windowSeconds: 3600 },
  /** Mails per address from register, resendVerification and changeEmail (verification or "already registered"). */
  resendEmail: { points: 3, windowSeconds: 3600 },
  resendIp: { points: 10, windowSeconds: 3600 },
  resetEmail: { points: 3, windowSeconds: 3600 },
  resetIp: { points: 10, windowSeconds: 3600 },
  changeEmailAccount: { points: 5, windowSeconds: 3600 },
};

const VERIFY_TTL_MS = 24 * 3600_000;
const RESET_TTL_MS = 3600_000;

const emailSchema = z.email().max(254);

/** Trims and lower-cases an address; refuses what is not one. */
export function normalizeEmail(raw: string, field = "email"): string {
  const email = raw.trim().toLowerCase();
  if (!emailSchema.safeParse(email).success) throw new BadUserInputError("Enter a valid email address.", { field });
  return email;
}

function normalizeDisplayName(raw: string | null | undefined, email: string): string {
  const name = (raw ?? "").trim().replace(/\s+/g, " ");
  if (name.length > 80)
    throw new BadUserInputError("The display name may have at most 80 characters.", { field: "displayName" });
  return name || email.split("@")[0].slice(0, 80);
}

/**
 * Other modules' reactions to account events, run inside the event's transaction (wired in app.ts). A hook
 * may return a function to run after commit (publishing live events of what it wrote).
 */
export interface AccountHooks {
  onEmailVerified: ((accountId: string, manager: EntityManager) => Promise<void | (() => void)>)[];
  /** Refuses a sign-in by throwing (a SIGN_IN restriction). */
  beforeSignIn?: (accountId: string) => Promise<void>;
  /** Who may register (mode, per-IP limit, refused domains, invitations); everyone when absent. */
  registration?: RegistrationPolicyService;
  /** Erases what other modules keep of a deleted account (prompts, files); runs after the account is anonymised. */
  onAccountDeleted?: ((accountId: string) => Promise<void>)[];
}

export interface RequestInfo {
  /** The full client address (stored as is); per-IP limits key it by ipLimitKey (an IPv6 /64). */
  ip: string;
  userAgent: string;
}

export interface SignInResult extends NewSession {
  account: AccountEntity;
}

/** Registration, verification, sign-in, password reset, settings and deletion of accounts. */
export class AccountService {
  constructor(
    private readonly db: DataSource,
    private readonly logger: Logger,
    private readonly mail: MailService,
    private readonly limits: RateLimits<AccountLimit>,
    private readonly sessions: SessionService,
    private readonly apiKeys: ApiKeyService,
    private readonly messages: MessageService,
    private readonly terms: TermsService,
    private readonly publicUrl: string,
    private readonly hooks: AccountHooks = { onEmailVerified: [] },
  ) {}

  private get repo() {
    return this.db.getRepository(AccountEntity);
  }

  byId(id: string): Promise<AccountEntity | null> {
    return this.repo.findOneBy({ id });
  }

  async displayNames(ids: readonly string[]): Promise<Map<string, string>> {
    const rows = (await this.db.query(`SELECT id, display_name FROM account WHERE id = ANY($1::uuid[])`, [ids])) as {
      id: string;
      display_name: string;
    }[];
    return new Map(rows.map((r) => [r.id, r.display_name]));
  }

  async register(
    input: {
      email: string;
      password: string;
      displayName?: string | null;
      referralCode?: string | null;
      acceptTermsVersion: number;
    },
    request: RequestInfo,
  ): Promise<void> {
    await this.limits.consume("registerIp", ipLimitKey(request.ip));
    const email = normalizeEmail(input.email);
    // Every registration mails the address (a link, or "already registered"): it spends the address's
    // mail budget, whether or not it has an account (no enumeration through the limiter).
    await this.limits.consume("resendEmail", email);
    assertPasswordAcceptable(input.password);
    const displayName = normalizeDisplayName(input.displayName, email);
    const current = await this.terms.current();
    if (input.acceptTermsVersion !== current.version) throw new TermsNotAcceptedError(current.version);

    // Hashing happens for known and unknown addresses alike, so both answers take as long.
    const passwordHash = await hashPassword(input.password);
    const registration = this.hooks.registration;
    const code = input.referralCode?.trim() || null;
    const invite = registration?.isInviteCode(code) ? code : null;
    const referrer = code && !invite ? await this.repo.findOneBy({ referralCode: code.toUpperCase() }) : null;
    const needsInvite = (await registration?.check({ email, ip: request.ip, code, hasReferrer: !!referrer })) ?? false;
    const inserted = await this.db.transaction(async (manager) => {
      await registration?.admitAddressLocked(request.ip, manager);
      const rows = (await manager.query(
        `INSERT INTO account (email, password_hash, display_name, referral_code, referred_by_id, accepted_terms_version, signup_ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (email) DO NOTHING RETURNING id`,
        [email, passwordHash, displayName, randomCode(8), referrer?.id ?? null, current.version, request.ip],
      )) as { id: string }[];
      // The invitation is used only by a new account, and only once (a concurrent use loses and rolls back).
      if (rows[0] && invite && registration) {
        const used = await registration.consumeInvite(invite, rows[0].id, manager);
        if (!used && needsInvite) throw new InviteRequiredError();
      }
      return rows;
    });

    if (inserted[0]) {
      await this.sendVerification(inserted[0].id, email, "verify");
      return;
    }
    // An unverified account belongs to whoever registered it last: else whoever registered someone's address
    // first would keep their password and own the account once its owner follows a link. The new password
    // (and name, terms, referrer) replaces the old one, and only the latest link verifies.
    const reregistered = await this.db.transaction(async (manager) => {
      const rows = (await manager.query(
        `UPDATE account SET password_hash = $2, display_name = $3, referred_by_id = NULLIF($4::uuid, id),
                accepted_terms_version = $5, updated_at = now()
          WHERE email = $1 AND email_verified_at IS NULL AND deleted_at IS NULL RETURNING id`,
        [email, passwordHash, displayName, referrer?.id ?? null, current.version],
      )) as [{ id: string }[], number];
      const account = rows[0][0];
      if (!account) return null;
      await manager.query(`DELETE FROM account_token WHERE account_id = $1 AND used_at IS NULL`, [account.id]);
      return this.issueToken(account.id, AccountTokenPurpose.VERIFY_EMAIL, email, VERIFY_TTL_MS, manager);
    });
    if (reregistered) {
      this.sendInBackground(accountMails.verify(email, this.verifyUrl(reregistered)));
      return;
    }
    // Verified (or verified meanwhile): the password stays; the owner is told the address has an account.
    this.sendInBackground(
      accountMails.alreadyRegistered(email, `${this.publicUrl}/sign-in`, `${this.publicUrl}/forgot-password`),
    );
  }

  private async issueToken(
    accountId: string,
    purpose: AccountTokenPurpose,
    email: string,
    ttlMs: number,
    manager: EntityManager = this.db.manager,
  ) {
    const token = randomToken(32);
    await manager.getRepository(AccountTokenEntity).insert({
      accountId,
      purpose,
      email,
      tokenHash: sha256(token),
      expiresAt: new Date(Date.now() + ttlMs),
      usedAt: null,
    });
    return token;
  }

  private async sendVerification(accountId: string, email: string, kind: "verify" | "changeEmail") {
    const token = await this.issueToken(accountId, AccountTokenPurpose.VERIFY_EMAIL, email, VERIFY_TTL_MS);
    const url = this.verifyUrl(token);
    this.sendInBackground(kind === "verify" ? accountMails.verify(email, url) : accountMails.changeEmail(email, url));
  }

  private verifyUrl(token: string): string {
    return `${this.publicUrl}/verify-email?token=${encodeURIComponent(token)}`;
  }

  /**
   * Mail goes out after the answer: waiting for SMTP only on the "known address" path would let the
   * response time reveal which addresses have accounts. `send` logs its own failures.
   */
  private sendInBackground(mail: Mail): void {
    void this.mail.send(mail);
  }

  /** Marks a token used exactly once (conditional update), inside the caller's transaction. */
  private async consumeToken(manager: EntityManager, token: string, purpose: AccountTokenPurpose) {
    const rows = (await manager.query(
      `UPDATE account_token SET used_at = now()
        WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
        RETURNING account_id, email`,
      [sha256(token), purpose],
    )) as [{ account_id: string; email: string }[], number];
    const row = rows[0][0];
    if (!row) throw new InvalidTokenError();
    return { accountId: row.account_id, email: row.email };
  }

  /** Confirms an address: a new account's, or the new one of an email change. */
  async verifyEmail(token: string): Promise<AccountEntity> {
    if (!token || token.length > 200) throw new InvalidTokenError();
    const outcome = await this.db.transaction(async (manager) => {
      const { accountId, email } = await this.consumeToken(manager, token, AccountTokenPurpose.VERIFY_EMAIL);
      const account = await manager
        .getRepository(AccountEntity)
        .findOne({ where: { id: accountId }, lock: { mode: "pessimistic_write" } });
      if (!account || account.deletedAt) throw new InvalidTokenError();
      const firstVerification = !account.emailVerifiedAt;
      if (email !== account.email) {
        const taken = await manager.getRepository(AccountEntity).findOneBy({ email });
        if (taken) throw new AppError("CONFLICT", "This address now belongs to another account.");
        account.email = email;
      }
      account.emailVerifiedAt ??= new Date();
      await manager
        .getRepository(AccountEntity)
        .save(account)
        .catch((err: unknown) => {
          // Another account confirmed the same address a moment ago (the check above ran before its commit).
          if ((err as { code?: string }).code === "23505") {
            throw new AppError("CONFLICT", "This address now belongs to another account.");
          }
          throw err;
        });
      const afterCommit: (() => void)[] = [];
      if (firstVerification) {
        for (const hook of this.hooks.onEmailVerified) {
          const after = await hook(account.id, manager);
          if (after) afterCommit.push(after);
        }
      }
      const welcome = firstVerification
        ? await this.messages.send(
            account.id,
            {
              kind: "account.welcome",
              title: "Welcome to Novart Studio",
              body: "Your email address is confirmed. Write a prompt in the Studio to create your first images.",
              link: "/",
            },
            manager,
          )
        : null;
      return { account, welcome, afterCommit };
    });
    if (outcome.welcome) this.messages.publish(outcome.welcome);
    for (const after of outcome.afterCommit) after();
    return outcome.account;
  }

  async resendVerification(rawEmail: string, request: RequestInfo): Promise<void> {
    await this.limits.consume("resendIp", ipLimitKey(request.ip));
    const email = normalizeEmail(rawEmail);
    await this.limits.consume("resendEmail", email);
    const account = await this.repo.findOneBy({ email });
    if (account && !account.emailVerifiedAt && !account.deletedAt)
      await this.sendVerification(account.id, email, "verify");
  }

  async signIn(input: { email: string; password: string }, request: RequestInfo): Promise<SignInResult> {
    await this.limits.consume("signInIp", ipLimitKey(request.ip));
    const email = input.email.trim().toLowerCase().slice(0, 254);
    await this.limits.consume("signInAccount", email);
    const account = await this.repo.findOneBy({ email });
    const usable = account && !account.deletedAt ? account : null;
    const valid = await verifyPassword(usable?.passwordHash ?? null, input.password);
    if (!usable || !valid) throw new InvalidCredentialsError();
    if (!usable.emailVerifiedAt) throw new EmailNotVerifiedError();
    await this.hooks.beforeSignIn?.(usable.id);
    if (needsRehash(usable.passwordHash)) {
      await this.repo.update({ id: usable.id }, { passwordHash: await hashPassword(input.password) });
    }
    // A successful sign-in clears the per-account budget (the per-IP one keeps counting).
    await this.limits.reset("signInAccount", email);
    const session = await this.sessions.create(usable.id, request.userAgent, request.ip);
    return { account: usable, ...session };
  }

  async requestPasswordReset(rawEmail: string, request: RequestInfo): Promise<void> {
    await this.limits.consume("resetIp", ipLimitKey(request.ip));
    const email = normalizeEmail(rawEmail);
    await this.limits.consume("resetEmail", email);
    const account = await this.repo.findOneBy({ email });
    if (!account || account.deletedAt) return;
    const token = await this.issueToken(account.id, AccountTokenPurpose.RESET_PASSWORD, email, RESET_TTL_MS);
    this.sendInBackground(
      accountMails.reset(email, `${this.publicUrl}/reset-password?token=${encodeURIComponent(token)}`),
    );
  }

  /** Sets a new password from an emailed token and ends every session and API key of the account. */
  async resetPassword(token: string, newPassword: string): Promise<void> {
    assertPasswordAcceptable(newPassword, "newPassword");
    if (!token || token.length > 200) throw new InvalidTokenError();
    const passwordHash = await hashPassword(newPassword);
    const accountId = await this.db.transaction(async (manager) => {
      const { accountId } = await this.consumeToken(manager, token, AccountTokenPurpose.RESET_PASSWORD);
      // Proving control of the mailbox also verifies it.
      await manager.query(
        `UPDATE account SET password_hash = $2, email_verified_at = coalesce(email_verified_at, now()), updated_at = now()
          WHERE id = $1 AND deleted_at IS NULL`,
        [accountId, passwordHash],
      );
      // Whoever knew the old password may have made a key too: keys end with the sessions.
      await manager.query(`UPDATE session SET revoked_at = now() WHERE account_id = $1 AND revoked_at IS NULL`, [
        accountId,
      ]);
      await manager.query(`UPDATE api_key SET revoked_at = now() WHERE account_id = $1 AND revoked_at IS NULL`, [
        accountId,
      ]);
      return accountId;
    });
    this.sessions.announce({ accountId, sessionIds: "ALL", apiKeyIds: "ALL" });
  }

  private async requirePassword(accountId: string, password: string, field: string): Promise<AccountEntity> {
    const account = await this.repo.findOneByOrFail({ id: accountId });
    if (!(await verifyPassword(account.passwordHash, password))) {
      throw new AppError("INVALID_CREDENTIALS", "The password is not correct.", { field });
    }
    return account;
  }

  async updateProfile(viewer: Viewer, input: { displayName: string }): Promise<AccountEntity> {
    const account = await this.repo.findOneByOrFail({ id: viewer.accountId });
    account.displayName = normalizeDisplayName(input.displayName, account.email);
    return this.repo.save(account);
  }

  /** Changes the password and signs out every other session. */
  async changePassword(viewer: Viewer, currentPassword: string, newPassword: string): Promise<void> {
    assertPasswordAcceptable(newPassword, "newPassword");
    const account = await this.requirePassword(viewer.accountId, currentPassword, "currentPassword");
    await this.repo.update({ id: account.id }, { passwordHash: await hashPassword(newPassword) });
    await this.sessions.revokeAll(account.id, viewer.sessionId);
    await this.mail.send(accountMails.passwordChanged(account.email));
  }

  /** Sends a confirmation link to the new address; the change happens when it is followed. */
  async changeEmail(viewer: Viewer, rawNewEmail: string, password: string): Promise<string> {
    const newEmail = normalizeEmail(rawNewEmail, "newEmail");
    // Each request mails two addresses: limited per account (before the password check, so it limits guesses
    // too) and per new address, which shares the verification budget of register and resendVerification.
    await this.limits.consume("changeEmailAccount", viewer.accountId);
    const account = await this.requirePassword(viewer.accountId, password, "password");
    if (newEmail === account.email) throw new BadUserInputError("This is already your address.", { field: "newEmail" });
    await this.limits.consume("resendEmail", newEmail);
    await this.sendVerification(account.id, newEmail, "changeEmail");
    await this.mail.send(accountMails.emailChangeRequested(account.email, newEmail));
    return newEmail;
  }

  /**
   * Erases personal data: the row stays (anonymised) so ledger rows keep their account for the books;
   * sessions and keys end, messages and tokens go.
   */
  async deleteAccount(viewer: Viewer, password: string): Promise<void> {
    const account = await this.requirePassword(viewer.accountId, password, "password");
    await this.db.transaction(async (manager) => {
      await this.refuseLastAdmin(manager, account.id);
      // The sign-up address goes; within its first day only its digest stays, so that the per-IP sign-up
      // count (registration-policy.service.ts) still counts the account.
      await manager.query(
        `UPDATE account SET email = $2, display_name = 'Deleted account', password_hash = '!', deleted_at = now(),
                referred_by_id = NULL, updated_at = now(),
                signup_ip = CASE WHEN created_at > now() - interval '1 day' THEN $3 ELSE NULL END
          WHERE id = $1`,
        [account.id, `deleted-${account.id}@deleted.invalid`, account.signupIp && signupIpDigest(account.signupIp)],
      );
      // Digests of accounts deleted earlier whose first day is over count no more: they go as well.
      await manager.query(
        `UPDATE account SET signup_ip = NULL
          WHERE deleted_at IS NOT NULL AND signup_ip LIKE 'h:%' AND created_at <= now() - interval '1 day'`,
      );
      // Every session ends and forgets where it came from (ended ones too).
      await manager.query(
        `UPDATE session SET revoked_at = coalesce(revoked_at, now()), ip = '', user_agent = '' WHERE account_id = $1`,
        [account.id],
      );
      await manager.query(`UPDATE api_key SET revoked_at = now() WHERE account_id = $1 AND revoked_at IS NULL`, [
        account.id,
      ]);
      await manager.query(`DELETE FROM message WHERE account_id = $1`, [account.id]);
      await manager.query(`DELETE FROM account_token WHERE account_id = $1`, [account.id]);
      // Prompt excerpts, limit request reasons and appeals the account wrote (risk tables).
      await eraseAccountText(manager, account.id);
    });
    this.sessions.announce({ accountId: account.id, sessionIds: "ALL", apiKeyIds: "ALL" });
    for (const hook of this.hooks.onAccountDeleted ?? []) await hook(account.id);
    this.logger.info({ accountId: account.id }, "account deleted");
  }

  async acceptTerms(viewer: Viewer, version: number): Promise<AccountEntity> {
    const current = await this.terms.current();
    if (version !== current.version) throw new TermsNotAcceptedError(current.version);
    await this.repo.update({ id: viewer.accountId }, { acceptedTermsVersion: version });
    return this.repo.findOneByOrFail({ id: viewer.accountId });
  }

  /** Creates a verified admin, or promotes an existing account; idempotent (CLI and ADMIN_EMAIL at start). */
  async ensureAdmin(rawEmail: string, password: string | null): Promise<{ account: AccountEntity; created: boolean }> {
    const email = normalizeEmail(rawEmail);
    const existing = await this.repo.findOneBy({ email });
    if (existing && !existing.deletedAt) {
      await this.repo.update(
        { id: existing.id },
        { role: AccountRole.ADMIN, emailVerifiedAt: existing.emailVerifiedAt ?? new Date() },
      );
      return { account: await this.repo.findOneByOrFail({ id: existing.id }), created: false };
    }
    if (!password)
      throw new BadUserInputError("A password is needed to create a new admin account.", { field: "password" });
    const account = await this.createVerified(email, password, AccountRole.ADMIN);
    return { account, created: true };
  }

  /**
   * Throws CONFLICT when the account is the last live administrator (the installation would have nobody to
   * run it). Takes the role lock first, so two admins demoting or deleting each other cannot leave none.
   */
  private async refuseLastAdmin(manager: EntityManager, accountId: string): Promise<void> {
    await lockForTransaction(manager, "account-roles");
    const [row] = (await manager.query(
      `SELECT a.role = 'ADMIN' AND a.deleted_at IS NULL AS admin,
              (SELECT count(*)::int FROM account WHERE role = 'ADMIN' AND deleted_at IS NULL) AS admins
         FROM account a WHERE a.id = $1`,
      [accountId],
    )) as { admin: boolean; admins: number }[];
    if (row?.admin && row.admins <= 1) {
      throw new AppError("CONFLICT", "This is the last administrator: make another one first.");
    }
  }

  /**
   * An administrator's change of an account's role; the last administrator cannot be demoted (the
   * installation would have nobody to run it). Takes effect on the account's next request.
   */
  async setRole(accountId: string, role: AccountRole): Promise<AccountEntity> {
    const changed = await this.db.transaction(async (manager) => {
      const account = await manager.getRepository(AccountEntity).findOneBy({ id: accountId });
      if (!account || account.deletedAt) throw new NotFoundError("Account");
      if (role !== AccountRole.ADMIN) await this.refuseLastAdmin(manager, accountId);
      await manager.getRepository(AccountEntity).update({ id: accountId }, { role });
      return manager.getRepository(AccountEntity).findOneByOrFail({ id: accountId });
    });
    // Cached credentials carry the role: every process drops the account's. Open WebSocket connections carry
    // it too (a subscription started as an administrator would go on showing others' tasks): they are closed
    // like a revocation, and clients reconnect with the new role. No credential is revoked.
    this.sessions.announce({ accountId, sessionIds: "ALL", apiKeyIds: "ALL" });
    return changed;
  }

  /** A verified account with the current terms accepted (admin bootstrap, tests' factories). */
  async createVerified(
    rawEmail: string,
    password: string,
    role = AccountRole.USER,
    displayName?: string,
  ): Promise<AccountEntity> {
    const email = normalizeEmail(rawEmail);
    assertPasswordAcceptable(password);
    const current = await this.terms.current();
    return this.repo.save(
      this.repo.create({
        email,
        passwordHash: await hashPassword(password),
        displayName: normalizeDisplayName(displayName, email),
        role,
        referralCode: randomCode(8),
        emailVerifiedAt: new Date(),
        acceptedTermsVersion: current.version,
        referredById: null,
        deletedAt: null,
      }),
    );
  }
}
