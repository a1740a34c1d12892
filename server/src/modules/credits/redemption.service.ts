import { parseInput } from "../../infra/validation.js";
import type { DataSource } from "typeorm";
import { z } from "zod";
import { ipLimitKey } from "../../infra/client-ip.js";
import { NotFoundError } from "../../infra/errors.js";
import { pastCursorSql, CURSOR_PARAMS, decodeCursor, pageSize } from "../../infra/pagination.js";
import type { RateLimits } from "../../infra/rate-limit.js";
import { sha256 } from "../../infra/tokens.js";
import type { MessageService } from "../accounts/message.service.js";
import { CodeBatchEntity, CreditKind } from "./code-batch.entity.js";
import { generateCode, isWellFormedCode, normalizeCode } from "./code-format.js";
import {
  CodeDisabledError,
  CodeExhaustedError,
  CodeExpiredError,
  CodeLimitReachedError,
  InvalidCodeError,
} from "./credits.errors.js";
import { LedgerKind } from "./ledger-entry.entity.js";
import type { LedgerResult, LedgerService } from "./ledger.service.js";
import { lockForTransaction } from "../../infra/sql.js";

export type RedemptionLimit = "redeemFailAccount" | "redeemFailIp";

/** Failed redemptions allowed per window: a brute-force guard (codes carry ~74 bits anyway). */
export const REDEMPTION_LIMITS: Record<RedemptionLimit, { points: number; windowSeconds: number }> = {
  redeemFailAccount: { points: 10, windowSeconds: 3600 },
  redeemFailIp: { points: 30, windowSeconds: 3600 },
};

const batchSchema = z.object({
  count: z.number().int().min(1, "At least 1 code").max(10_000, "At most 10 000 codes per batch"),
  credits: z.number().int().min(1, "At least 1 credit").max(10_000_000),
  kind: z.enum(CreditKind),
  label: z.string().trim().min(1, "Give the batch a label").max(120),
  channel: z.string().trim().max(120),
  maxRedemptionsPerCode: z.number().int().min(1).max(1_000_000),
  perUserLimit: z.number().int().min(1).max(1_000_000),
  expiresAt: z
    .date()
    .nullable()
    .refine((d) => d === null || d.getTime() > Date.now(), "The expiry must be in the future"),
});

export type NewBatchInput = z.input<typeof batchSchema>;

export interface BatchStats {
  batch: CodeBatchEntity;
  redemptions: number;
  codesUsed: number;
  disabledCodes: number;
}

/** Redemption codes and recharge cards: issued in batches by admins, redeemed by users. */
export class RedemptionService {
  constructor(
    private readonly db: DataSource,
    private readonly ledger: LedgerService,
    private readonly messages: MessageService,
    private readonly limits: RateLimits<RedemptionLimit>,
  ) {}

  /** Issues a batch; the plain codes exist only in the answer (as CSV), the database keeps hashes. */
  async createBatch(actorId: string, input: NewBatchInput): Promise<{ batch: CodeBatchEntity; codes: string[] }> {
    const data = parseInput(batchSchema, input);
    const codes = new Set<string>();
    while (codes.size < data.count) codes.add(generateCode());
    const plain = [...codes];
    return this.db.transaction(async (manager) => {
      const batch = await manager.getRepository(CodeBatchEntity).save(
        manager.getRepository(CodeBatchEntity).create({
          label: data.label,
          channel: data.channel,
          credits: data.credits,
          kind: data.kind,
          codeCount: data.count,
          maxRedemptionsPerCode: data.maxRedemptionsPerCode,
          perUserLimit: data.perUserLimit,
          expiresAt: data.expiresAt,
          disabledAt: null,
          createdById: actorId,
        }),
      );
      // One statement per 5 000 codes: unnest turns the arrays into rows.
      for (let i = 0; i < plain.length; i += 5000) {
        const hashes = plain.slice(i, i + 5000).map((c) => sha256(normalizeCode(c)));
        await manager.query(
          `INSERT INTO redemption_code (batch_id, code_hash) SELECT $1, h FROM unnest($2::char(64)[]) AS h`,
          [batch.id, hashes],
        );
      }
      return { batch, codes: plain };
    });
  }

  static csv(batch: CodeBatchEntity, codes: string[]): string {
    const expires = batch.expiresAt?.toISOString() ?? "";
    const quote = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
    return (
      [
        "code,credits,kind,batch,channel,expires_at",
        ...codes.map((c) =>
          [c, String(batch.credits), batch.kind, quote(batch.label), quote(batch.channel), expires].join(","),
        ),
      ].join("\n") + "\n"
    );
  }

  /**
   * Redeems a code for the account: one transaction locks the code row (so a single-use code is
   * redeemed once however many try at the same moment) and the (batch, account) pair (per-user limit),
   * counts the redemption and credits the ledger.
   */
  async redeem(
    accountId: string,
    rawCode: string,
    ip: string,
  ): Promise<{ result: LedgerResult; batch: CodeBatchEntity }> {
    await this.limits.check("redeemFailAccount", accountId);
    await this.limits.check("redeemFailIp", ipLimitKey(ip));
    try {
      return await this.tryRedeem(accountId, rawCode);
    } catch (err) {
      if (
        err instanceof InvalidCodeError ||
        err instanceof CodeExpiredError ||
        err instanceof CodeDisabledError ||
        err instanceof CodeExhaustedError
      ) {
        await this.limits.consume("redeemFailAccount", accountId).catch(() => undefined);
        await this.limits.consume("redeemFailIp", ipLimitKey(ip)).catch(() => undefined);
      }
      throw err;
    }
  }

  private async tryRedeem(accountId: string, rawCode: string) {
    const normalized = normalizeCode(rawCode.slice(0, 100));
    if (!isWellFormedCode(normalized)) throw new InvalidCodeError();
    const outcome = await this.db.transaction(async (manager) => {
      const rows = (await manager.query(
        `SELECT c.id, c.batch_id, c.redemption_count, c.disabled_at AS code_disabled_at
           FROM redemption_code c WHERE c.code_hash = $1 FOR UPDATE`,
        [sha256(normalized)],
      )) as { id: string; batch_id: string; redemption_count: number; code_disabled_at: Date | null }[];
      const code = rows[0];
      if (!code) throw new InvalidCodeError();
      const batch = await manager.getRepository(CodeBatchEntity).findOneByOrFail({ id: code.batch_id });
      if (code.code_disabled_at || batch.disabledAt) throw new CodeDisabledError();
      if (batch.expiresAt && batch.expiresAt.getTime() <= Date.now()) throw new CodeExpiredError();
      if (code.redemption_count >= batch.maxRedemptionsPerCode) throw new CodeExhaustedError();

      await lockForTransaction(manager, `redeem:${batch.id}:${accountId}`);
      const used = (await manager.query(
        `SELECT count(*)::int AS n FROM code_redemption WHERE batch_id = $1 AND account_id = $2`,
        [batch.id, accountId],
      )) as { n: number }[];
      if (used[0].n >= batch.perUserLimit) throw new CodeLimitReachedError(batch.perUserLimit);

      await manager.query(`UPDATE redemption_code SET redemption_count = redemption_count + 1 WHERE id = $1`, [
        code.id,
      ]);
      const inserted = (await manager.query(
        `INSERT INTO code_redemption (code_id, batch_id, account_id) VALUES ($1, $2, $3) RETURNING id`,
        [code.id, batch.id, accountId],
      )) as { id: string }[];
      const result = await this.ledger.credit(
        {
          accountId,
          kind: LedgerKind.REDEMPTION,
          paid: batch.kind === CreditKind.PAID ? batch.credits : 0,
          bonus: batch.kind === CreditKind.BONUS ? batch.credits : 0,
          reference: `redemption:${inserted[0].id}`,
          note: batch.label,
        },
        manager,
      );
      const message = await this.messages.send(
        accountId,
        {
          kind: "credits.redeemed",
          title: `${batch.credits} credits added`,
          body: `You redeemed a code from “${batch.label}”: ${batch.credits} ${batch.kind === CreditKind.PAID ? "" : "bonus "}credits were added to your balance.`,
          link: "/billing",
        },
        manager,
      );
      return { result, batch, message };
    });
    this.messages.publish(outcome.message);
    return { result: outcome.result, batch: outcome.batch };
  }

  async listBatches(args: { first?: number; after?: string | null }): Promise<{ rows: BatchStats[]; limit: number }> {
    const limit = pageSize(args.first);
    const qb = this.db
      .getRepository(CodeBatchEntity)
      .createQueryBuilder("b")
      .orderBy("b.created_at", "DESC")
      .addOrderBy("b.id", "DESC")
      .take(limit + 1);
    if (args.after) qb.where(pastCursorSql("b", "code_batch", CURSOR_PARAMS), decodeCursor(args.after));
    const batches = await qb.getMany();
    const stats = batches.length
      ? ((await this.db.query(
          `SELECT batch_id, sum(redemption_count)::int AS redemptions, count(*) FILTER (WHERE redemption_count > 0)::int AS used,
                  count(*) FILTER (WHERE disabled_at IS NOT NULL)::int AS disabled
             FROM redemption_code WHERE batch_id = ANY($1::uuid[]) GROUP BY batch_id`,
          [batches.map((b) => b.id)],
        )) as { batch_id: string; redemptions: number; used: number; disabled: number }[])
      : [];
    const byBatch = new Map(stats.map((s) => [s.batch_id, s]));
    return {
      rows: batches.map((batch) => ({
        batch,
        redemptions: byBatch.get(batch.id)?.redemptions ?? 0,
        codesUsed: byBatch.get(batch.id)?.used ?? 0,
        disabledCodes: byBatch.get(batch.id)?.disabled ?? 0,
      })),
      limit,
    };
  }

  async batchStats(batchId: string): Promise<BatchStats> {
    const batch = await this.db.getRepository(CodeBatchEntity).findOneBy({ id: batchId });
    if (!batch) throw new NotFoundError("Code batch");
    const rows = (await this.db.query(
      `SELECT coalesce(sum(redemption_count), 0)::int AS redemptions, count(*) FILTER (WHERE redemption_count > 0)::int AS used,
              count(*) FILTER (WHERE disabled_at IS NOT NULL)::int AS disabled
         FROM redemption_code WHERE batch_id = $1`,
      [batchId],
    )) as { redemptions: number; used: number; disabled: number }[];
    return { batch, redemptions: rows[0].redemptions, codesUsed: rows[0].used, disabledCodes: rows[0].disabled };
  }

  async disableBatch(batchId: string): Promise<BatchStats> {
    const result = await this.db.query(
      `UPDATE code_batch SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1 RETURNING id`,
      [batchId],
    );
    if (!(result as [unknown[], number])[0].length) throw new NotFoundError("Code batch");
    return this.batchStats(batchId);
  }

  /** Disables one code given in plain text (as handed out); answers its batch. */
  async disableCode(rawCode: string): Promise<BatchStats> {
    const normalized = normalizeCode(rawCode.slice(0, 100));
    if (!isWellFormedCode(normalized)) throw new InvalidCodeError();
    const rows = (await this.db.query(
      `UPDATE redemption_code SET disabled_at = coalesce(disabled_at, now()) WHERE code_hash = $1 RETURNING batch_id`,
      [sha256(normalized)],
    )) as [{ batch_id: string }[], number];
    if (!rows[0][0]) throw new InvalidCodeError();
    return this.batchStats(rows[0][0].batch_id);
  }
}
