import { parseInput } from "../../infra/validation.js";
import type { DataSource } from "typeorm";
import { z } from "zod";
import { AppError, BadUserInputError, ForbiddenError, NotFoundError } from "../../infra/errors.js";
import { AccountRole } from "../accounts/account.entity.js";
import { AccountRestrictedError } from "../accounts/accounts.errors.js";
import type { MessageService } from "../accounts/message.service.js";
import type { ApiKeyService } from "../accounts/api-key.service.js";
import type { SessionService } from "../accounts/session.service.js";
import { RestrictionEntity, RestrictionScope } from "./restriction.entity.js";

const restrictSchema = z.object({
  scopes: z.array(z.enum(RestrictionScope)).min(1, "Choose at least one scope."),
  durationMinutes: z
    .number()
    .int()
    .min(1)
    .max(10 * 365 * 24 * 60)
    .nullable(),
  reason: z.string().trim().min(3, "Give a reason the user will see.").max(500),
});

/** Who acts on a restriction: a staff session's account and role; null for the system's own rules. */
export type RestrictionActor = { accountId: string; role: AccountRole } | null;

/** Restrictions: started by moderators, lifted by them or by time, enforced where each scope applies. */
export class RestrictionService {
  constructor(
    private readonly db: DataSource,
    private readonly sessions: SessionService,
    private readonly apiKeys: ApiKeyService,
    private readonly messages: MessageService,
  ) {}

  private get repo() {
    return this.db.getRepository(RestrictionEntity);
  }

  /** The restrictions in force now (ended ones are simply not found: no job needed to lift them). */
  async active(accountId: string): Promise<RestrictionEntity[]> {
    return this.repo
      .createQueryBuilder("r")
      .where("r.account_id = :accountId AND r.lifted_at IS NULL AND (r.ends_at IS NULL OR r.ends_at > now())", {
        accountId,
      })
      .orderBy("r.created_at", "DESC")
      .getMany();
  }

  /**
   * Staff act on users' restrictions; only administrators on a moderator's or an administrator's, and nobody
   * on their own (a moderator could otherwise lock every administrator out, or lift their own restriction).
   */
  async assertMayActOn(actor: RestrictionActor, accountId: string): Promise<void> {
    if (!actor) return;
    if (actor.accountId === accountId) {
      throw new ForbiddenError("Another moderator or an administrator must do this for your own account.");
    }
    const rows = (await this.db.query(`SELECT role FROM account WHERE id = $1`, [accountId])) as {
      role: AccountRole;
    }[];
    if (rows[0] && rows[0].role !== AccountRole.USER && actor.role !== AccountRole.ADMIN) {
      throw new ForbiddenError("Only administrators can do this to a staff account.", { requires: "ADMIN" });
    }
  }

  /** The account a restriction belongs to, checked for the actor (NOT_FOUND for an unknown id). */
  private async restrictionFor(actor: RestrictionActor, id: string): Promise<void> {
    const restriction = await this.repo.findOneBy({ id });
    if (!restriction) throw new NotFoundError("Restriction");
    await this.assertMayActOn(actor, restriction.accountId);
  }

  /** Throws ACCOUNT_RESTRICTED when a restriction in force covers `scope` (ALL covers every scope). */
  async assertAllowed(accountId: string, scope: RestrictionScope): Promise<void> {
    const hit = (await this.active(accountId)).find(
      (r) => r.scopes.includes(RestrictionScope.ALL) || r.scopes.includes(scope),
    );
    if (hit) throw new AccountRestrictedError(hit);
  }

  async restrict(
    actor: RestrictionActor,
    input: {
      accountId: string;
      scopes: string[];
      durationMinutes: number | null;
      reason: string;
      revokeApiKeys: boolean;
    },
  ): Promise<RestrictionEntity> {
    const valid = parseInput(restrictSchema, input);
    const account = (await this.db.query(`SELECT id FROM account WHERE id = $1 AND deleted_at IS NULL`, [
      input.accountId,
    ])) as unknown[];
    if (!account.length) throw new NotFoundError("Account");
    await this.assertMayActOn(actor, input.accountId);
    const { scopes, durationMinutes, reason } = valid;
    const restriction = await this.repo.save(
      this.repo.create({
        accountId: input.accountId,
        scopes,
        reason,
        endsAt: durationMinutes ? new Date(Date.now() + durationMinutes * 60_000) : null,
        createdById: actor?.accountId ?? null,
      }),
    );
    if (input.revokeApiKeys) await this.apiKeys.revokeAll(input.accountId);
    // Open connections re-check at once: sessions for ALL, keys for ALL and API (closed with 4403); every
    // process drops the account's cached credentials, so the next operation (over WebSocket too) sees it.
    this.sessions.announce({
      accountId: input.accountId,
      sessionIds: scopes.includes(RestrictionScope.ALL) ? "ALL" : [],
      apiKeyIds: scopes.includes(RestrictionScope.ALL) || scopes.includes(RestrictionScope.API) ? "ALL" : [],
      restricted: true,
    });
    const until = restriction.endsAt
      ? `until ${restriction.endsAt.toISOString().slice(0, 16).replace("T", " ")} UTC`
      : "permanently";
    await this.messages.send(input.accountId, {
      kind: "restriction.started",
      title: "Your account was restricted",
      body: `Restricted (${scopes.join(", ")}) ${until}: ${reason}. You may appeal once from your account page.`,
      link: "/settings",
    });
    return restriction;
  }

  async lift(actor: RestrictionActor, id: string, reason: string): Promise<RestrictionEntity> {
    const text = reason.trim();
    // lift_reason is varchar(500): longer text must not reach the UPDATE (an internal error).
    if (text.length < 3 || text.length > 500) {
      throw new BadUserInputError("Give a reason of 3–500 characters.", { field: "reason" });
    }
    if (/^[0-9a-f-]{36}$/i.test(id)) await this.restrictionFor(actor, id);
    const rows = (await this.db.query(
      `UPDATE account_restriction SET lifted_at = now(), lift_reason = $2 WHERE id = $1 AND lifted_at IS NULL RETURNING id`,
      [id, text],
    )) as [unknown[], number];
    if (!rows[0].length) throw new NotFoundError("Restriction in force");
    await this.notifyEnded();
    return this.repo.findOneByOrFail({ id });
  }

  /** Tells owners about restrictions that ended (by time or lifted) and were not announced yet. */
  async notifyEnded(): Promise<number> {
    const ended = (await this.db.query(
      `UPDATE account_restriction SET end_notified_at = now()
        WHERE end_notified_at IS NULL AND (lifted_at IS NOT NULL OR (ends_at IS NOT NULL AND ends_at <= now()))
        RETURNING account_id, lift_reason`,
    )) as [{ account_id: string; lift_reason: string | null }[], number];
    for (const row of ended[0]) {
      await this.messages.send(row.account_id, {
        kind: "restriction.ended",
        title: "A restriction of your account ended",
        body: row.lift_reason ? `It was lifted: ${row.lift_reason}` : "It reached its end time.",
        link: "/",
      });
    }
    return ended[0].length;
  }

  /** One appeal per restriction, allowed even under an ALL restriction. */
  async appeal(accountId: string, id: string, message: string): Promise<RestrictionEntity> {
    const text = message.trim();
    if (text.length < 10 || text.length > 2000)
      throw new BadUserInputError("Write 10–2 000 characters.", { field: "message" });
    const rows = (await this.db.query(
      `UPDATE account_restriction SET appeal_message = $3, appealed_at = now()
        WHERE id = $1 AND account_id = $2 AND appealed_at IS NULL RETURNING id`,
      [id, accountId, text],
    )) as [unknown[], number];
    if (!rows[0].length) {
      const exists = await this.repo.findOneBy({ id, accountId });
      if (!exists) throw new NotFoundError("Restriction");
      throw new AppError("CONFLICT", "This restriction was already appealed.");
    }
    return this.repo.findOneByOrFail({ id });
  }

  /** A moderator answers an appeal once; accepting lifts the restriction. The account is told either way. */
  async decideAppeal(actor: RestrictionActor, id: string, accept: boolean, reason: string): Promise<RestrictionEntity> {
    const text = reason.trim();
    if (text.length < 3 || text.length > 500)
      throw new BadUserInputError("Give a reason of 3–500 characters.", { field: "reason" });
    if (/^[0-9a-f-]{36}$/i.test(id)) await this.restrictionFor(actor, id);
    const rows = (await this.db.query(
      `UPDATE account_restriction
          SET appeal_decision = $2, appeal_accepted = $3, appeal_decided_at = now(),
              lifted_at = CASE WHEN $3 AND lifted_at IS NULL THEN now() ELSE lifted_at END,
              lift_reason = CASE WHEN $3 AND lifted_at IS NULL THEN $2 ELSE lift_reason END
        WHERE id = $1 AND appealed_at IS NOT NULL AND appeal_decided_at IS NULL
        RETURNING account_id`,
      [id, text, accept],
    )) as [{ account_id: string }[], number];
    if (!rows[0].length) {
      const exists = await this.repo.findOneBy({ id });
      if (!exists) throw new NotFoundError("Restriction");
      throw new AppError(
        "CONFLICT",
        exists.appealedAt ? "This appeal was already decided." : "There is no appeal to decide.",
      );
    }
    const accountId = rows[0][0].account_id;
    if (accept) {
      await this.notifyEnded();
    } else {
      await this.messages.send(accountId, {
        kind: "restriction.appeal_refused",
        title: "Your appeal was declined",
        body: text,
        link: "/",
      });
    }
    return this.repo.findOneByOrFail({ id });
  }

  /** Restrictions with an appeal waiting for a moderator, oldest first. */
  pendingAppeals(): Promise<RestrictionEntity[]> {
    return this.repo
      .createQueryBuilder("r")
      .where("r.appealed_at IS NOT NULL AND r.appeal_decided_at IS NULL")
      .orderBy("r.appealed_at", "ASC")
      .take(100)
      .getMany();
  }

  history(accountId: string): Promise<RestrictionEntity[]> {
    return this.repo.find({ where: { accountId }, order: { createdAt: "DESC" }, take: 100 });
  }
}
