import type { DataSource, EntityManager } from "typeorm";
import { BadUserInputError, NotFoundError } from "../../infra/errors.js";
import { AccountEntity } from "../accounts/account.entity.js";
import type { MessageService } from "../accounts/message.service.js";
import { AdjustmentKeyConflictError } from "./credits.errors.js";
import { LedgerKind } from "./ledger-entry.entity.js";
import type { LedgerResult, LedgerService } from "./ledger.service.js";

const credits = (n: number) => `${n} credit${n === 1 ? "" : "s"}`;

/** Credit rules above the ledger: the welcome bonus and administrators' adjustments. */
export class CreditsService {
  constructor(
    private readonly db: DataSource,
    private readonly ledger: LedgerService,
    private readonly messages: MessageService,
    private readonly welcomeBonus: number,
  ) {}

  /** Runs inside the verification transaction; the reference makes it once per account. */
  async grantWelcomeBonus(accountId: string, manager: EntityManager): Promise<void> {
    if (this.welcomeBonus <= 0) return;
    await this.ledger.credit(
      {
        accountId,
        kind: LedgerKind.WELCOME_BONUS,
        paid: 0,
        bonus: this.welcomeBonus,
        reference: `welcome:${accountId}`,
        note: "Welcome to Novart Studio",
      },
      manager,
    );
  }

  async adjust(
    actorId: string,
    input: { accountId: string; paid: number; bonus: number; reason: string; idempotencyKey: string },
  ): Promise<LedgerResult> {
    const reason = input.reason.trim();
    if (reason.length < 3 || reason.length > 500) {
      throw new BadUserInputError("Give a reason of 3–500 characters.", { field: "reason" });
    }
    if (input.paid === 0 && input.bonus === 0) throw new BadUserInputError("Nothing to adjust.", { field: "paid" });
    const key = input.idempotencyKey.trim();
    if (!key || key.length > 100) {
      throw new BadUserInputError("idempotencyKey needs 1–100 characters.", { field: "idempotencyKey" });
    }
    const account = await this.db.getRepository(AccountEntity).findOneBy({ id: input.accountId });
    if (!account) throw new NotFoundError("Account");
    const result = await this.ledger.credit({
      accountId: account.id,
      kind: LedgerKind.ADMIN_ADJUSTMENT,
      paid: input.paid,
      bonus: input.bonus,
      reference: `admin:${actorId}:${key}`,
      note: reason,
      actorId,
    });
    // A retry answers the earlier entry; the same key for another account or other amounts is a mistake.
    const { entry } = result;
    if (
      !result.applied &&
      (entry.accountId !== account.id || entry.paidDelta !== input.paid || entry.bonusDelta !== input.bonus)
    ) {
      throw new AdjustmentKeyConflictError(entry.id);
    }
    if (result.applied) {
      const total = input.paid + input.bonus;
      await this.messages.send(account.id, {
        kind: "credits.adjusted",
        title: total >= 0 ? `${credits(total)} added to your balance` : `${credits(-total)} removed from your balance`,
        body: `An administrator adjusted your balance: ${reason}`,
        link: "/billing",
      });
    }
    return result;
  }
}
