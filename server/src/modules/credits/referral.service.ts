import type { DataSource, EntityManager } from "typeorm";
import type { MessageEntity } from "../accounts/message.entity.js";
import type { MessageService } from "../accounts/message.service.js";
import { BalanceLimitError } from "./credits.errors.js";
import { LedgerKind } from "./ledger-entry.entity.js";
import type { LedgerService } from "./ledger.service.js";

export interface ReferralSettings {
  rewardCredits: number;
  welcomeCredits: number;
  monthlyCap: number;
}

export interface ReferralStats {
  code: string;
  invited: number;
  rewarded: number;
  creditsEarned: number;
}

/** Mail providers that ignore dots in the local part (and the domain they alias). */
const DOTLESS_DOMAINS: Record<string, string> = { "gmail.com": "gmail.com", "googlemail.com": "gmail.com" };

/**
 * The mailbox an address delivers to, for spotting one person behind two addresses: lower case, without a
 * `+tag` (plus-addressing), and for Gmail without dots and with googlemail.com as gmail.com.
 */
export function canonicalMailbox(email: string): string {
  const lower = email.trim().toLowerCase();
  const at = lower.lastIndexOf("@");
  if (at < 1) return lower;
  let local = lower.slice(0, at).split("+")[0];
  let domain = lower.slice(at + 1);
  const dotless = DOTLESS_DOMAINS[domain];
  if (dotless) {
    local = local.replace(/\./g, "");
    domain = dotless;
  }
  return `${local}@${domain}`;
}

/**
 * Referral rewards: when an invited account confirms its email, the inviter gets bonus credits (at most
 * `monthlyCap` rewarded referrals per calendar month) and the newcomer a welcome extra. Ledger references
 * make each referred account reward once (its first verification only; a later email change verifies
 * again without rewarding). A referral that looks like the inviter's own second account (signed up from
 * the inviter's sign-up address, or an address that delivers to the inviter's mailbox) rewards nobody.
 */
export class ReferralService {
  constructor(
    private readonly db: DataSource,
    private readonly ledger: LedgerService,
    private readonly messages: MessageService,
    private readonly settings: ReferralSettings,
  ) {}

  /** An onEmailVerified hook: runs in the verification transaction, publishes after commit. */
  async rewardVerifiedReferral(accountId: string, manager: EntityManager): Promise<void | (() => void)> {
    const rows = (await manager.query(
      `SELECT r.id, r.deleted_at, r.email AS referrer_email, r.signup_ip AS referrer_ip,
              a.email, a.signup_ip
         FROM account a JOIN account r ON r.id = a.referred_by_id
        WHERE a.id = $1 AND r.id <> a.id FOR UPDATE OF r`,
      [accountId],
    )) as {
      id: string;
      deleted_at: Date | null;
      referrer_email: string;
      referrer_ip: string | null;
      email: string;
      signup_ip: string | null;
    }[];
    const referrer = rows[0];
    if (!referrer || referrer.deleted_at) return;
    // Self-referral: the same sign-up address, or the same mailbox under another spelling. Nobody is rewarded.
    const sameIp = referrer.signup_ip !== null && referrer.signup_ip === referrer.referrer_ip;
    if (sameIp || canonicalMailbox(referrer.email) === canonicalMailbox(referrer.referrer_email)) return;
    // The referrer's row lock serialises concurrent verifications of its invitees: the cap holds.
    const counted = (await manager.query(
      `SELECT count(*)::int AS n FROM ledger_entry
        WHERE account_id = $1 AND kind = 'REFERRAL_REWARD' AND created_at >= date_trunc('month', now())`,
      [referrer.id],
    )) as { n: number }[];
    const { rewardCredits, welcomeCredits, monthlyCap } = this.settings;
    const sent: MessageEntity[] = [];
    if (counted[0].n < monthlyCap && rewardCredits > 0) {
      const reward = await this.ledger
        .credit(
          {
            accountId: referrer.id,
            kind: LedgerKind.REFERRAL_REWARD,
            paid: 0,
            bonus: rewardCredits,
            reference: `referral:${accountId}`,
            note: "A friend you invited joined",
          },
          manager,
        )
        // A referrer at the balance limit gets no reward; the friend's verification goes on.
        .catch((err: unknown) => {
          if (err instanceof BalanceLimitError) return null;
          throw err;
        });
      if (reward?.applied) {
        sent.push(
          await this.messages.send(
            referrer.id,
            {
              kind: "referral.rewarded",
              title: `You earned ${rewardCredits} bonus credits`,
              body: "A friend you invited confirmed their account. Thank you for spreading the word!",
              link: "/billing",
            },
            manager,
          ),
        );
      }
    }
    if (welcomeCredits > 0) {
      await this.ledger.credit(
        {
          accountId,
          kind: LedgerKind.WELCOME_BONUS,
          paid: 0,
          bonus: welcomeCredits,
          reference: `referral-welcome:${accountId}`,
          note: "Welcome extra for joining through a friend's invitation",
        },
        manager,
      );
    }
    return () => sent.forEach((m) => this.messages.publish(m));
  }

  async stats(accountId: string): Promise<ReferralStats> {
    const rows = (await this.db.query(
      `SELECT a.referral_code AS code,
              (SELECT count(*)::int FROM account i WHERE i.referred_by_id = a.id) AS invited,
              (SELECT count(*)::int FROM ledger_entry l WHERE l.account_id = a.id AND l.kind = 'REFERRAL_REWARD') AS rewarded,
              (SELECT coalesce(sum(l.bonus_delta), 0)::int FROM ledger_entry l
                WHERE l.account_id = a.id AND l.kind = 'REFERRAL_REWARD') AS earned
         FROM account a WHERE a.id = $1`,
      [accountId],
    )) as { code: string; invited: number; rewarded: number; earned: number }[];
    const r = rows[0];
    return { code: r.code, invited: r.invited, rewarded: r.rewarded, creditsEarned: r.earned };
  }
}
