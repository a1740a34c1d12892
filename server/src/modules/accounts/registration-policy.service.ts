import { createHash, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type { DataSource, EntityManager } from "typeorm";
import { z } from "zod";
import { AppError } from "../../infra/errors.js";
import { RateLimitedError } from "../../infra/rate-limit.js";
import { parseInput } from "../../infra/validation.js";
import { RegistrationInviteEntity, RegistrationMode, RegistrationPolicyEntity } from "./registration.entities.js";
import { lockForTransaction } from "../../infra/sql.js";

// The community-kept list of disposable-mail domains (JSON, loaded once, only when the policy asks).
const require = createRequire(import.meta.url);
let disposable: Set<string> | null = null;
function isDisposable(domain: string): boolean {
  disposable ??= new Set(require("disposable-email-domains") as string[]);
  const parts = domain.split(".");
  // Subdomains of a listed domain count too (x.mailinator.com).
  return parts.some((_, i) => disposable!.has(parts.slice(i).join(".")));
}

const INVITE_PREFIX = "INVITE-";
const hash = (code: string) => createHash("sha256").update(code.trim().toUpperCase()).digest("hex");

/**
 * What a deleted account keeps of its sign-up address, for the day the per-IP sign-up count looks back on
 * (deleting an account must not free its address's slot): a digest, never the address; 45 characters,
 * like the column. After that day the deletion leaves nothing (see AccountService.deleteAccount).
 */
export function signupIpDigest(ip: string): string {
  return `h:${createHash("sha256").update(`novart:signup-ip:${ip}`).digest("base64url")}`;
}

export class RegistrationClosedError extends AppError {
  constructor() {
    super("REGISTRATION_CLOSED", "Registration is closed on this site.");
  }
}

export class InviteRequiredError extends AppError {
  constructor() {
    super("INVITE_REQUIRED", "Registration needs an invitation: a valid referral or invite code.", {
      field: "referralCode",
    });
  }
}

export class EmailDomainNotAllowedError extends AppError {
  constructor() {
    super("EMAIL_DOMAIN_NOT_ALLOWED", "Addresses at this email domain cannot register here.", { field: "email" });
  }
}

const policySchema = z.object({
  mode: z.enum(RegistrationMode),
  accountsPerIpPerDay: z.number().int().min(1).max(100_000).nullable(),
  blockDisposableEmail: z.boolean(),
  blockedEmailDomains: z
    .array(
      z
        .string()
        .trim()
        .toLowerCase()
        .regex(/^[a-z0-9.-]+\.[a-z]{2,}$/, "Write domains like example.com."),
    )
    .max(10_000),
});

/** Who may register (open, invite-only, closed), per-IP limits and refused email domains. */
export class RegistrationPolicyService {
  private cache: { at: number; policy: RegistrationPolicyEntity } | null = null;

  constructor(private readonly db: DataSource) {}

  async get(): Promise<RegistrationPolicyEntity> {
    if (this.cache && Date.now() - this.cache.at < 5000) return this.cache.policy;
    const policy = await this.db.getRepository(RegistrationPolicyEntity).findOneByOrFail({ id: 1 });
    this.cache = { at: Date.now(), policy };
    return policy;
  }

  async update(input: z.input<typeof policySchema>): Promise<RegistrationPolicyEntity> {
    const valid = parseInput(policySchema, input);
    await this.db.getRepository(RegistrationPolicyEntity).update({ id: 1 }, valid);
    this.cache = null;
    return this.get();
  }

  /** New single-use invitations; the codes are shown once (only hashes are kept). */
  async createInvites(actorId: string, count: number, expiresInDays: number): Promise<string[]> {
    if (!Number.isInteger(count) || count < 1 || count > 500) {
      throw new AppError("BAD_USER_INPUT", "Create 1–500 invitations at a time.", { field: "count" });
    }
    if (!Number.isInteger(expiresInDays) || expiresInDays < 1 || expiresInDays > 365) {
      throw new AppError("BAD_USER_INPUT", "Invitations last 1–365 days.", { field: "expiresInDays" });
    }
    const codes = Array.from(
      { length: count },
      () => INVITE_PREFIX + randomBytes(9).toString("base64url").toUpperCase(),
    );
    const expiresAt = new Date(Date.now() + expiresInDays * 86_400_000);
    await this.db
      .getRepository(RegistrationInviteEntity)
      .insert(codes.map((code) => ({ codeHash: hash(code), createdById: actorId, expiresAt })));
    return codes;
  }

  isInviteCode(code: string | null | undefined): boolean {
    return !!code && code.trim().toUpperCase().startsWith(INVITE_PREFIX);
  }

  /**
   * Throws when the policy refuses this registration. The answer never depends on whether the address
   * already has an account (no enumeration). `hasReferrer` tells whether a valid referral code was given.
   * Answers whether the registration stands on an invitation (which must then be used in its transaction).
   */
  async check(input: { email: string; ip: string; code: string | null; hasReferrer: boolean }): Promise<boolean> {
    const policy = await this.get();
    if (policy.mode === RegistrationMode.CLOSED) throw new RegistrationClosedError();
    const domain = input.email.slice(input.email.lastIndexOf("@") + 1);
    if (
      policy.blockedEmailDomains.some((d) => domain === d || domain.endsWith(`.${d}`)) ||
      (policy.blockDisposableEmail && isDisposable(domain))
    ) {
      throw new EmailDomainNotAllowedError();
    }
    if (policy.mode === RegistrationMode.INVITE_ONLY && !input.hasReferrer) {
      if (!this.isInviteCode(input.code)) throw new InviteRequiredError();
      const usable = await this.db.query(
        `SELECT 1 FROM registration_invite WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now()`,
        [hash(input.code!)],
      );
      if (!(usable as unknown[]).length) throw new InviteRequiredError();
    }
    const needsInvite = policy.mode === RegistrationMode.INVITE_ONLY && !input.hasReferrer;
    await this.admitAddress(input.ip, this.db, policy.accountsPerIpPerDay);
    return needsInvite;
  }

  /**
   * The sign-ups-per-address limit again, in the transaction that creates the account and under the address's
   * lock: checked only before, registrations sent together from one address would all pass.
   */
  async admitAddressLocked(ip: string, manager: EntityManager): Promise<void> {
    const { accountsPerIpPerDay } = await this.get();
    if (accountsPerIpPerDay === null) return;
    await lockForTransaction(manager, `signup-ip:${ip}`);
    await this.admitAddress(ip, manager, accountsPerIpPerDay);
  }

  private async admitAddress(ip: string, runner: DataSource | EntityManager, limit: number | null): Promise<void> {
    if (limit === null) return;
    const [row] = (await runner.query(
      `SELECT count(*)::int AS n, extract(epoch FROM min(created_at) + interval '1 day' - now())::int AS wait
         FROM account WHERE signup_ip IN ($1, $2) AND created_at > now() - interval '1 day'`,
      [ip, signupIpDigest(ip)],
    )) as { n: number; wait: number | null }[];
    if (row.n >= limit) throw new RateLimitedError(Math.max(1, row.wait ?? 60));
  }

  /** Uses an invitation for a new account, inside its transaction; false when it was used meanwhile. */
  async consumeInvite(code: string, accountId: string, manager: EntityManager): Promise<boolean> {
    const rows = (await manager.query(
      `UPDATE registration_invite SET used_at = now(), used_by_id = $2
        WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING id`,
      [hash(code), accountId],
    )) as [unknown[], number];
    return rows[0].length === 1;
  }
}
