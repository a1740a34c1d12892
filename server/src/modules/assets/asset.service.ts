import { createHash } from "node:crypto";
import sharp from "sharp";
import type { DataSource } from "typeorm";
import { BadUserInputError, NotFoundError } from "../../infra/errors.js";
import type { Logger } from "../../infra/logger.js";
import { decodeCursor, pageSize } from "../../infra/pagination.js";
import { queryPrepared } from "../../infra/sql.js";
import { readList, wroteFor } from "../../infra/read-replica.js";
import type { MessageService } from "../accounts/message.service.js";
import { AssetEntity, AssetStatus } from "./asset.entity.js";
import type { Storage } from "./storage/storage.js";

export interface ImageToStore {
  data: Buffer;
}

export type AssetVariant = "ORIGINAL" | "PREVIEW" | "THUMBNAIL";

export interface AssetFilter {
  taskId?: string | null;
  model?: string | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
  search?: string | null;
  favorite?: boolean | null;
}

export type AssetOrder = "NEWEST" | "OLDEST";

const DAY_MS = 86_400_000;

/** Generated images: an original PNG plus WebP preview and thumbnail, made once at ingest. */
export class AssetService {
  constructor(
    private readonly db: DataSource,
    readonly storage: Storage,
    private readonly messages: MessageService,
    private readonly logger: Logger,
    private readonly retention: { days: number; warningDays: number },
  ) {}

  private get repo() {
    return this.db.getRepository(AssetEntity);
  }

  /**
   * Stores a task's images. Keys and rows are derived from (task, index), so a retried task rewrites the
   * same files and inserts no second row. Files are written before rows: a row never points at nothing.
   * The caller reads the task's assets when it needs them (`byTask`).
   */
  async storeTaskImages(task: { id: string; accountId: string }, images: ImageToStore[]): Promise<void> {
    const expiresAt = new Date(Date.now() + this.retention.days * DAY_MS);
    for (const [index, image] of images.entries()) {
      const base = `assets/${task.accountId}/${task.id}/${index}`;
      const original = await sharp(image.data).png().toBuffer({ resolveWithObject: true });
      // The two variants, then the three files, side by side (sharp's threads, the storage's own I/O): a task
      // waits for the slowest of them instead of their sum.
      const [preview, thumbnail] = await Promise.all([
        sharp(original.data)
          .resize(1024, 1024, { fit: "inside", withoutEnlargement: true })
          .webp({ quality: 82 })
          .toBuffer(),
        sharp(original.data)
          .resize(256, 256, { fit: "inside", withoutEnlargement: true })
          .webp({ quality: 75 })
          .toBuffer(),
      ]);
      await Promise.all([
        this.storage.put(`${base}.png`, original.data, "image/png"),
        this.storage.put(`${base}.preview.webp`, preview, "image/webp"),
        this.storage.put(`${base}.thumb.webp`, thumbnail, "image/webp"),
      ]);
      await queryPrepared(
        this.db,
        `INSERT INTO asset (task_id, account_id, index, width, height, bytes, content_type, sha256, storage_key,
                            preview_key, thumbnail_key, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'image/png', $7, $8, $9, $10, $11)
         ON CONFLICT (task_id, index) DO NOTHING`,
        [
          task.id,
          task.accountId,
          index,
          original.info.width,
          original.info.height,
          original.data.length,
          createHash("sha256").update(original.data).digest("hex"),
          `${base}.png`,
          `${base}.preview.webp`,
          `${base}.thumb.webp`,
          expiresAt,
        ],
      );
    }
  }

  /** Every image of an account goes (account deletion): files deleted, rows marked DELETED. */
  async deleteAllOf(accountId: string): Promise<void> {
    for (;;) {
      const rows = await this.repo.find({ where: { accountId, status: AssetStatus.ACTIVE }, take: 500 });
      if (!rows.length) return;
      await this.retire(rows, AssetStatus.DELETED);
    }
  }

  /** A task that failed after storing some images keeps none of them. */
  async discardTask(taskId: string): Promise<void> {
    const rows = await this.repo.find({ where: { taskId } });
    await this.retire(rows, AssetStatus.DELETED);
  }

  byTask(taskId: string): Promise<AssetEntity[]> {
    return this.repo.find({ where: { taskId, status: AssetStatus.ACTIVE }, order: { index: "ASC" } });
  }

  /** The live assets of many tasks in one query (for DataLoader). */
  async byTasks(taskIds: readonly string[]): Promise<Map<string, AssetEntity[]>> {
    const rows = await this.repo
      .createQueryBuilder("a")
      .where("a.task_id = ANY(:ids) AND a.status = 'ACTIVE'", { ids: taskIds })
      .orderBy("a.index", "ASC")
      .getMany();
    const map = new Map<string, AssetEntity[]>();
    for (const row of rows) map.set(row.taskId, [...(map.get(row.taskId) ?? []), row]);
    return map;
  }

  async byId(id: string): Promise<AssetEntity | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    return this.repo.findOneBy({ id });
  }

  /** An asset of the account (any status), or null: another account's id looks missing. */
  async owned(accountId: string, id: string): Promise<AssetEntity | null> {
    const asset = await this.byId(id);
    return asset && asset.accountId === accountId ? asset : null;
  }

  async list(
    accountId: string,
    args: { filter?: AssetFilter | null; orderBy?: AssetOrder | null; first?: number; after?: string | null },
  ) {
    const limit = pageSize(args.first, 50);
    const newest = (args.orderBy ?? "NEWEST") === "NEWEST";
    const qb = this.repo
      .createQueryBuilder("a")
      .innerJoin("task", "t", "t.id = a.task_id")
      .where("a.account_id = :accountId AND a.status = 'ACTIVE'", { accountId })
      .orderBy("a.created_at", newest ? "DESC" : "ASC")
      .addOrderBy("a.id", newest ? "DESC" : "ASC")
      .take(limit + 1);
    const f = args.filter ?? {};
    if (f.taskId) qb.andWhere("a.task_id = :taskId", { taskId: f.taskId });
    if (f.model) qb.andWhere("t.model_id = (SELECT id FROM generation_model WHERE slug = :model)", { model: f.model });
    if (f.createdAfter) qb.andWhere("a.created_at > :createdAfter", { createdAfter: f.createdAfter });
    if (f.createdBefore) qb.andWhere("a.created_at < :createdBefore", { createdBefore: f.createdBefore });
    if (f.favorite != null) qb.andWhere("a.favorite = :favorite", { favorite: f.favorite });
    if (f.search?.trim()) {
      const words = f.search
        .trim()
        .slice(0, 200)
        .replace(/[\\%_]/g, (c) => `\\${c}`);
      qb.andWhere("t.prompt ILIKE :search", { search: `%${words}%` });
    }
    if (args.after) {
      const c = decodeCursor(args.after);
      qb.andWhere(newest ? "(a.created_at, a.id) < (:createdAt, :id)" : "(a.created_at, a.id) > (:createdAt, :id)", c);
    }
    // A list: read from a replica when one is configured and has this account's latest write.
    const rows = await readList(this.db, accountId, (on) =>
      (on.runner ? qb.clone().setQueryRunner(on.runner) : qb).getMany(),
    );
    return { rows, limit };
  }

  async setFavorite(accountId: string, id: string, favorite: boolean): Promise<AssetEntity> {
    const asset = await this.owned(accountId, id);
    if (!asset || asset.status !== AssetStatus.ACTIVE) throw new NotFoundError("Asset");
    await this.repo.update({ id }, { favorite });
    await wroteFor(this.db, accountId);
    return { ...asset, favorite } as AssetEntity;
  }

  /** Deletes the owner's assets: files go, rows stay marked DELETED. Other accounts' ids are refused whole. */
  async deleteAssets(accountId: string, ids: string[]): Promise<number> {
    if (ids.length === 0 || ids.length > 500) throw new BadUserInputError("Give 1 to 500 ids.", { field: "ids" });
    const rows = await this.repo
      .createQueryBuilder("a")
      .where("a.id = ANY(:ids) AND a.account_id = :accountId", {
        ids: ids.filter((id) => /^[0-9a-f-]{36}$/i.test(id)),
        accountId,
      })
      .getMany();
    if (rows.length !== new Set(ids).size) throw new NotFoundError("Asset", { field: "ids" });
    const retired = await this.retire(
      rows.filter((r) => r.status === AssetStatus.ACTIVE),
      AssetStatus.DELETED,
    );
    await wroteFor(this.db, accountId);
    return retired;
  }

  /** An administrator's takedown: the files go at once and the owner is told why. */
  async removeAsset(id: string, reason: string): Promise<AssetEntity> {
    const text = reason.trim();
    if (text.length < 3 || text.length > 500)
      throw new BadUserInputError("Give a reason of 3–500 characters.", { field: "reason" });
    const asset = await this.byId(id);
    if (!asset) throw new NotFoundError("Asset");
    await this.retire([asset], AssetStatus.REMOVED, text);
    await wroteFor(this.db, asset.accountId);
    await this.messages.send(asset.accountId, {
      kind: "asset.removed",
      title: "An image was removed",
      body: `An administrator removed one of your images: ${text}`,
      link: "/library",
    });
    return (await this.byId(id))!;
  }

  /**
   * Moves ACTIVE rows to a final status with a conditional update (so two workers retiring the same rows
   * do it once), then deletes their files. Returns how many rows this call retired.
   */
  private async retire(rows: AssetEntity[], status: AssetStatus, reason: string | null = null): Promise<number> {
    if (!rows.length) return 0;
    const changed = (await this.db.query(
      `UPDATE asset SET status = $2, deleted_at = now(), removed_reason = $3, favorite = false
        WHERE id = ANY($1::uuid[]) AND status = 'ACTIVE' RETURNING id`,
      [rows.map((r) => r.id), status, reason],
    )) as [{ id: string }[], number];
    const ids = new Set(changed[0].map((r) => r.id));
    for (const row of rows.filter((r) => ids.has(r.id))) {
      for (const variant of ["ORIGINAL", "PREVIEW", "THUMBNAIL"] as const) {
        await this.storage
          .delete(AssetService.keyOf(row, variant))
          .catch((err: unknown) =>
            this.logger.warn({ err: (err as Error).message, assetId: row.id }, "could not delete a file"),
          );
      }
    }
    return ids.size;
  }

  /**
   * The retention job: retires assets past `expires_at` (files go, rows become EXPIRED) in batches, and
   * warns owners once about their assets that expire within the warning period. Safe on several workers.
   */
  async applyRetention(now = new Date()): Promise<{ expired: number; warned: number }> {
    let expired = 0;
    for (;;) {
      const batch = await this.repo
        .createQueryBuilder("a")
        .where("a.status = 'ACTIVE' AND a.expires_at <= :now", { now })
        .orderBy("a.expires_at")
        .take(500)
        .getMany();
      if (!batch.length) break;
      expired += await this.retire(batch, AssetStatus.EXPIRED);
      if (batch.length < 500) break;
    }
    const warnings = (await this.db.query(
      `UPDATE asset SET expiry_warned_at = $1
        WHERE status = 'ACTIVE' AND expiry_warned_at IS NULL AND expires_at <= $1::timestamptz + make_interval(days => $2)
        RETURNING account_id, expires_at`,
      [now, this.retention.warningDays],
    )) as [{ account_id: string; expires_at: Date }[], number];
    const byAccount = new Map<string, { count: number; first: Date }>();
    for (const row of warnings[0]) {
      const entry = byAccount.get(row.account_id) ?? { count: 0, first: row.expires_at };
      entry.count++;
      if (row.expires_at < entry.first) entry.first = row.expires_at;
      byAccount.set(row.account_id, entry);
    }
    for (const [accountId, { count, first }] of byAccount) {
      await this.messages.send(accountId, {
        kind: "asset.expiring",
        title: `${count} image${count === 1 ? "" : "s"} will expire soon`,
        body: `${count} of your images will be deleted from ${first.toISOString().slice(0, 10)} on. Download the ones you want to keep.`,
        link: "/library",
      });
    }
    if (expired) this.logger.info({ expired }, "retired expired assets");
    return { expired, warned: warnings[0].length };
  }

  static keyOf(asset: Pick<AssetEntity, "storageKey" | "previewKey" | "thumbnailKey">, variant: AssetVariant): string {
    return variant === "ORIGINAL" ? asset.storageKey : variant === "PREVIEW" ? asset.previewKey : asset.thumbnailKey;
  }
}
