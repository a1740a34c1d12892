import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { ZipArchive } from "archiver";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { z } from "zod";
import { AppError } from "../../infra/errors.js";
import type { Logger } from "../../infra/logger.js";
import type { RedisClient } from "../../infra/redis.js";
import type { AuthService } from "../accounts/auth.service.js";
import { authorize } from "../accounts/authorization.js";
import { AssetStatus, type AssetEntity } from "./asset.entity.js";
import { AssetService } from "./asset.service.js";
import { downloadName } from "./file-urls.js";

const bodySchema = z.object({ ids: z.array(z.uuid()).min(1).max(500) });

/** How long a ZIP link minted by `POST /api/assets/zip/link` works. */
export const ZIP_LINK_TTL_SECONDS = 300;
const TOKEN = /^[A-Za-z0-9_-]{32}$/;

/**
 * Bulk download of the originals of the caller's assets as one ZIP, streamed file by file from the store
 * (never assembled in memory, neither here nor in the browser):
 * - `POST /api/assets/zip` `{ "ids": [...] }` answers the ZIP itself (for API clients);
 * - `POST /api/assets/zip/link` `{ "ids": [...] }` answers `{ url, expiresAt }`, a short-lived link
 *   `GET /api/assets/zip/<token>` the browser downloads straight to disk (the studio). The token is random and
 *   kept in Redis with the account and the selection; minting needs a JSON body, which a cross-site form
 *   cannot send.
 * Another account's id, or a gone asset, refuses the whole request with 404.
 */
export function createZipRouter(deps: {
  auth: AuthService;
  assets: AssetService;
  logger: Logger;
  redis: RedisClient;
  redisPrefix: string;
}): Router {
  const router = express.Router();
  const linkKey = (token: string) => `${deps.redisPrefix}:zip:${token}`;

  /** The account's live assets of the asked ids, deduplicated, in the order asked. */
  async function selection(accountId: string, body: unknown): Promise<AssetEntity[]> {
    const parsed = bodySchema.safeParse(body);
    if (!parsed.success) throw new AppError("BAD_USER_INPUT", "Send { ids: [1 to 500 asset ids] }.", { field: "ids" });
    const ids = [...new Set(parsed.data.ids)];
    const assets = await Promise.all(ids.map((id) => deps.assets.owned(accountId, id)));
    if (assets.some((a) => !a || a.status !== AssetStatus.ACTIVE)) throw new AppError("NOT_FOUND", "Asset not found");
    return assets as AssetEntity[];
  }

  async function sendZip(res: Response, assets: AssetEntity[]): Promise<void> {
    res.status(200);
    res.setHeader("content-type", "application/zip");
    res.setHeader("cache-control", "no-store");
    res.setHeader("content-disposition", `attachment; filename="novart-${new Date().toISOString().slice(0, 10)}.zip"`);
    const zip = new ZipArchive({ store: true }); // PNGs are already compressed
    // The source being read; a client that hangs up (or an archive that fails) stops the archive and closes
    // it, else its file stays open and this loop waits forever for an entry that never comes.
    let current: Readable | undefined;
    let gone = false;
    let hungUp!: () => void;
    const stopped = new Promise<void>((resolve) => (hungUp = resolve));
    res.on("close", () => {
      if (res.writableFinished) return;
      gone = true;
      hungUp();
      zip.abort();
      current?.destroy();
    });
    zip.on("warning", (err) => deps.logger.warn({ err: err.message }, "zip warning"));
    zip.on("error", (err) => {
      deps.logger.error({ err: err.message }, "zip failed");
      res.destroy(err);
    });
    zip.pipe(res);
    for (const asset of assets) {
      // One file at a time: the next is opened only when the previous has been written out.
      const stream = await deps.assets.storage.stream(AssetService.keyOf(asset, "ORIGINAL"));
      if (gone) {
        stream.destroy();
        break;
      }
      current = stream;
      zip.append(stream, { name: downloadName(asset, "ORIGINAL"), date: asset.createdAt });
      await Promise.race([new Promise<void>((resolve) => zip.once("entry", () => resolve())), stopped]);
      if (gone) break;
    }
    if (gone) {
      deps.logger.debug({ files: assets.length }, "zip download ended early");
      return;
    }
    await zip.finalize();
  }

  function fail(err: unknown, res: Response, next: NextFunction) {
    if (err instanceof AppError && !res.headersSent) {
      const status =
        { UNAUTHENTICATED: 401, FORBIDDEN: 403, ACCOUNT_RESTRICTED: 403, NOT_FOUND: 404 }[err.code as string] ?? 400;
      res.status(status).json({ error: { code: err.code, message: err.message, ...err.details } });
      return;
    }
    next(err);
  }

  const json = express.json({ limit: "64kb" });

  router.post("/assets/zip", json, async (req: Request, res: Response, next) => {
    try {
      const viewer = authorize(await deps.auth.authenticate(req.headers), ["assets:read"]);
      await sendZip(res, await selection(viewer.accountId, req.body));
    } catch (err) {
      fail(err, res, next);
    }
  });

  router.post("/assets/zip/link", json, async (req: Request, res: Response, next) => {
    try {
      const viewer = authorize(await deps.auth.authenticate(req.headers), ["assets:read"]);
      // Checked now, so the studio can say what is wrong before the browser starts a download.
      const assets = await selection(viewer.accountId, req.body);
      const token = randomBytes(24).toString("base64url");
      const value = JSON.stringify({ accountId: viewer.accountId, ids: assets.map((a) => a.id) });
      await deps.redis.set(linkKey(token), value, "EX", ZIP_LINK_TTL_SECONDS);
      res.setHeader("cache-control", "no-store");
      res.json({
        url: `/api/assets/zip/${token}`,
        expiresAt: new Date(Date.now() + ZIP_LINK_TTL_SECONDS * 1000).toISOString(),
      });
    } catch (err) {
      fail(err, res, next);
    }
  });

  router.get("/assets/zip/:token", async (req: Request, res: Response, next) => {
    try {
      const token = String(req.params.token);
      const stored = TOKEN.test(token) ? await deps.redis.get(linkKey(token)) : null;
      if (!stored) throw new AppError("NOT_FOUND", "This download link is unknown or has expired");
      const { accountId, ids } = JSON.parse(stored) as { accountId: string; ids: string[] };
      // Checked again: images deleted since the link was made are not served.
      await sendZip(res, await selection(accountId, { ids }));
    } catch (err) {
      fail(err, res, next);
    }
  });
  return router;
}
