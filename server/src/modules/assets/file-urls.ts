import { createHmac, timingSafeEqual } from "node:crypto";
import type { AssetEntity } from "./asset.entity.js";
import { AssetService, type AssetVariant } from "./asset.service.js";
import type { Storage } from "./storage/storage.js";

export const VARIANTS: AssetVariant[] = ["ORIGINAL", "PREVIEW", "THUMBNAIL"];

/** Files never change once written: cacheable for a day (a link lives shorter), by the viewer's browser only. */
export const FILE_CACHE_CONTROL = "private, max-age=86400, immutable";

/** HMAC-signed, expiring file URLs: `/files/<asset>/<variant>?exp=<unix s>&dl=0|1&sig=<base64url>`. */
export class FileUrlSigner {
  constructor(private readonly secret: string) {}

  private signature(assetId: string, variant: AssetVariant, exp: number, download: boolean): string {
    return createHmac("sha256", this.secret)
      .update(`${assetId}/${variant}/${exp}/${download ? 1 : 0}`)
      .digest("base64url");
  }

  sign(assetId: string, variant: AssetVariant, ttlSeconds: number, download = false, now = Date.now()): string {
    // Expiry rounded up to the minute: the same URL for a minute lets browsers cache thumbnails.
    const exp = Math.ceil((now / 1000 + ttlSeconds) / 60) * 60;
    const sig = this.signature(assetId, variant, exp, download);
    return `/files/${assetId}/${variant.toLowerCase()}?exp=${exp}&dl=${download ? 1 : 0}&sig=${sig}`;
  }

  /** "ok", "expired" or "invalid" for the parts of a request. */
  verify(
    assetId: string,
    variant: AssetVariant,
    exp: string,
    dl: string,
    sig: string,
    now = Date.now(),
  ): "ok" | "expired" | "invalid" {
    const expNumber = Number(exp);
    if (!Number.isInteger(expNumber) || (dl !== "0" && dl !== "1") || !sig) return "invalid";
    const expected = Buffer.from(this.signature(assetId, variant, expNumber, dl === "1"));
    const given = Buffer.from(sig);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return "invalid";
    return expNumber * 1000 < now ? "expired" : "ok";
  }
}

const CONTENT_TYPES: Record<AssetVariant, string> = {
  ORIGINAL: "image/png",
  PREVIEW: "image/webp",
  THUMBNAIL: "image/webp",
};

/** A download name that says what the file is and is safe in a header. */
export function downloadName(asset: Pick<AssetEntity, "taskId" | "index">, variant: AssetVariant): string {
  return `novart-${asset.taskId.slice(0, 8)}-${asset.index + 1}.${variant === "ORIGINAL" ? "png" : "webp"}`;
}

/** Links to an asset's files: presigned by the store when it can (S3), else signed for `/files`. */
export class AssetUrls {
  constructor(
    private readonly signer: FileUrlSigner,
    private readonly storage: Storage,
    readonly ttlSeconds: number,
  ) {}

  async url(
    asset: AssetEntity,
    variant: AssetVariant,
    download: boolean,
    ttlSeconds = this.ttlSeconds,
  ): Promise<string> {
    if (this.storage.presign) {
      return this.storage.presign(AssetService.keyOf(asset, variant), {
        ttlSeconds,
        contentType: CONTENT_TYPES[variant],
        cacheControl: FILE_CACHE_CONTROL,
        downloadName: download ? downloadName(asset, variant) : undefined,
      });
    }
    return this.signer.sign(asset.id, variant, ttlSeconds, download);
  }
}

export { CONTENT_TYPES };
