import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import express, { type Request, type Response, type Router } from "express";
import type { Logger } from "../../infra/logger.js";
import { AssetStatus } from "./asset.entity.js";
import { AssetService, type AssetVariant } from "./asset.service.js";
import { CONTENT_TYPES, downloadName, FILE_CACHE_CONTROL, VARIANTS, type FileUrlSigner } from "./file-urls.js";

/** The headers set for the file, taken back when it turns out to be gone. */
const FILE_HEADERS = [
  "etag",
  "content-type",
  "accept-ranges",
  "cache-control",
  "content-disposition",
  "content-range",
  "content-length",
];

function fail(res: Response, status: number, code: string, message: string) {
  res.status(status).json({ error: { code, message } });
}

/**
 * `GET /files/<asset>/<variant>?exp&dl&sig`: serves a generated image when the signature holds.
 * Variants never change once written, so they are cacheable for as long as the URL lives.
 */
export function createFileRouter(deps: { assets: AssetService; signer: FileUrlSigner; logger: Logger }): Router {
  const router = express.Router();

  /**
   * Sends the bytes. `pipeline` closes the file when the client hangs up and catches read errors (a bare
   * `pipe` keeps the file open for good and lets a read error crash the process). A file gone since it was
   * measured answers 410, as one gone before; after the first byte, the response can only be cut short.
   */
  async function send(res: Response, key: string, range?: { start: number; end: number }): Promise<void> {
    let stream: Readable;
    try {
      stream = await deps.assets.storage.stream(key, range);
    } catch (err) {
      if ((await deps.assets.storage.size(key)) !== null) throw err;
      // Not the file's headers on the error (nor its year-long caching).
      for (const name of FILE_HEADERS) res.removeHeader(name);
      return fail(res, 410, "GONE", "This image is no longer stored");
    }
    try {
      await pipeline(stream, res);
    } catch (err) {
      // An aborted download, mostly: nothing to answer, and nothing to alarm anyone about.
      deps.logger.debug({ err: (err as Error).message, key }, "file download ended early");
    }
  }

  router.get("/files/:assetId/:variant", async (req: Request, res: Response) => {
    const assetId = String(req.params.assetId);
    const variant = String(req.params.variant).toUpperCase() as AssetVariant;
    if (!VARIANTS.includes(variant)) return fail(res, 404, "NOT_FOUND", "No such file");
    const q = req.query as Record<string, string | undefined>;
    const verdict = deps.signer.verify(assetId, variant, q.exp ?? "", q.dl ?? "", q.sig ?? "");
    if (verdict !== "ok") {
      return fail(res, 403, "FORBIDDEN", verdict === "expired" ? "This link has expired" : "Invalid signature");
    }
    const asset = await deps.assets.byId(assetId);
    if (!asset) return fail(res, 404, "NOT_FOUND", "No such file");
    if (asset.status !== AssetStatus.ACTIVE) {
      return fail(
        res,
        410,
        "GONE",
        asset.status === AssetStatus.EXPIRED ? "This image has expired" : "This image was deleted",
      );
    }
    const key = AssetService.keyOf(asset, variant);
    const size = await deps.assets.storage.size(key);
    if (size === null) return fail(res, 410, "GONE", "This image is no longer stored");

    const etag = `"${asset.sha256.slice(0, 32)}-${variant.toLowerCase()}"`;
    res.setHeader("etag", etag);
    res.setHeader("content-type", CONTENT_TYPES[variant]);
    res.setHeader("accept-ranges", "bytes");
    res.setHeader("cache-control", FILE_CACHE_CONTROL);
    if (q.dl === "1") res.setHeader("content-disposition", `attachment; filename="${downloadName(asset, variant)}"`);
    if (req.headers["if-none-match"] === etag) return res.status(304).end();

    const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ""));
    if (range && (range[1] || range[2])) {
      let start = range[1] ? Number(range[1]) : size - Number(range[2]);
      let end = range[1] && range[2] ? Number(range[2]) : size - 1;
      start = Math.max(0, start);
      end = Math.min(end, size - 1);
      if (start > end) {
        res.setHeader("content-range", `bytes */${size}`);
        return fail(res, 416, "RANGE_NOT_SATISFIABLE", "The range is outside the file");
      }
      res.status(206);
      res.setHeader("content-range", `bytes ${start}-${end}/${size}`);
      res.setHeader("content-length", String(end - start + 1));
      return send(res, key, { start, end });
    }
    res.setHeader("content-length", String(size));
    return send(res, key);
  });
  return router;
}
