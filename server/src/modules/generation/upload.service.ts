import { randomUUID } from "node:crypto";
import sharp, { type Metadata, type OutputInfo } from "sharp";
import type { DataSource, EntityManager } from "typeorm";
import { AppError } from "../../infra/errors.js";
import type { Logger } from "../../infra/logger.js";
import type { Storage } from "../assets/storage/storage.js";
import { FileDeletions } from "../assets/file-deletions.js";
import { UploadEntity } from "./upload.entity.js";

export const UPLOAD_MAX_BYTES = 10 * 1024 * 1024;
export const UPLOAD_MAX_SIDE = 4096;
/** sharp refuses to decode more pixels than this: a decompression bomb stops before it allocates. */
export const UPLOAD_MAX_PIXELS = UPLOAD_MAX_SIDE * UPLOAD_MAX_SIDE;
const ACCEPTED_FORMATS = new Set(["png", "jpeg", "webp"]);

export class UploadError extends AppError {}

/** Reference images: recognised by their bytes, bounded, re-encoded as PNG without any metadata. */
export class UploadService {
  constructor(
    private readonly db: DataSource,
    private readonly storage: Storage,
    private readonly logger: Logger,
    /** The moderation decision point for images (throws CONTENT_REJECTED); allows everything when absent. */
    private readonly checkImage: (accountId: string, png: Buffer) => Promise<void> = async () => undefined,
  ) {
    this.fileDeletions = new FileDeletions(db, storage, logger);
  }

  /** Files of uploads whose rows are gone (or never came): deleted, or retried until the store lets them go. */
  private readonly fileDeletions: FileDeletions;

  /**
   * `admit` (the daily limit) runs again in the transaction that inserts the row, under the account's lock:
   * checked only before the body was read, parallel uploads at the limit would all pass.
   */
  async accept(
    accountId: string,
    data: Buffer,
    admit: (manager: EntityManager) => Promise<void> = async () => undefined,
  ): Promise<UploadEntity> {
    if (data.length === 0) throw new UploadError("BAD_REQUEST", "The request has no image in its body.");
    let metadata: Metadata;
    try {
      metadata = await sharp(data, { limitInputPixels: UPLOAD_MAX_PIXELS, failOn: "error" }).metadata();
    } catch {
      throw new UploadError("UNSUPPORTED_MEDIA_TYPE", "Send a PNG, JPEG or WebP image.");
    }
    if (!metadata.format || !ACCEPTED_FORMATS.has(metadata.format)) {
      throw new UploadError("UNSUPPORTED_MEDIA_TYPE", "Send a PNG, JPEG or WebP image.");
    }
    const width = metadata.autoOrient?.width ?? metadata.width ?? 0;
    const height = metadata.autoOrient?.height ?? metadata.height ?? 0;
    if (width > UPLOAD_MAX_SIDE || height > UPLOAD_MAX_SIDE || width * height > UPLOAD_MAX_PIXELS) {
      throw new UploadError("IMAGE_TOO_LARGE", `Images may be at most ${UPLOAD_MAX_SIDE}×${UPLOAD_MAX_SIDE} pixels.`, {
        maxSide: UPLOAD_MAX_SIDE,
      });
    }
    let png: { data: Buffer; info: OutputInfo };
    try {
      // Decoding the whole image here also catches truncated files that only have a valid header;
      // re-encoding drops EXIF, GPS and every other metadata (sharp keeps none unless asked).
      png = await sharp(data, { limitInputPixels: UPLOAD_MAX_PIXELS, failOn: "truncated" })
        .autoOrient()
        .png({ compressionLevel: 6 })
        .toBuffer({ resolveWithObject: true });
    } catch {
      throw new UploadError("BAD_REQUEST", "The image could not be read: it may be damaged or truncated.");
    }
    await this.checkImage(accountId, png.data);
    const id = randomUUID();
    const storageKey = `uploads/${accountId}/${id}.png`;
    await this.storage.put(storageKey, png.data, "image/png");
    try {
      return await this.db.transaction(async (manager) => {
        await admit(manager);
        return manager.getRepository(UploadEntity).save({
          id,
          accountId,
          width: png.info.width,
          height: png.info.height,
          bytes: png.data.length,
          storageKey,
          usedAt: null,
        });
      });
    } catch (err) {
      // Refused (or not stored): the file must not stay without its row.
      await this.fileDeletions.delete([storageKey]);
      throw err;
    }
  }

  /**
   * Deletes uploads no task used within `maxAgeMs`: rows first, then files. A task claims an upload by
   * setting `used_at` on its row, so a row still unclaimed when it is deleted can never be claimed after, and
   * an upload claimed meanwhile keeps both its row and its file.
   */
  async deleteUnused(maxAgeMs: number): Promise<number> {
    const [stale] = (await this.db.query(
      `DELETE FROM upload WHERE id IN (
         SELECT id FROM upload WHERE used_at IS NULL AND created_at < now() - make_interval(secs => $1) LIMIT 1000)
         AND used_at IS NULL
       RETURNING storage_key`,
      [maxAgeMs / 1000],
    )) as [{ storage_key: string }[], number];
    // The rows are gone: a file the store refuses now is retried until it goes.
    await this.fileDeletions.delete(stale.map((u) => u.storage_key));
    if (stale.length) this.logger.info({ count: stale.length }, "deleted unused uploads");
    return stale.length;
  }
}
