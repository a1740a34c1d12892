import { ZipArchive } from "archiver";
import express, { type Request, type Response, type Router } from "express";
import { z } from "zod";
import { AppError } from "../../infra/errors.js";
import type { Logger } from "../../infra/logger.js";
import type { AuthService } from "../accounts/auth.service.js";
import { authorize } from "../accounts/authorization.js";
import { AssetStatus } from "./asset.entity.js";
import { AssetService } from "./asset.service.js";
import { downloadName } from "./file-urls.js";

const bodySchema = z.object({ ids: z.array(z.uuid()).min(1).max(500) });

/**
 * `POST /api/assets/zip` `{ "ids": [...] }`: the originals of the caller's assets as one ZIP, streamed file
 * by file from the store (never assembled in memory). Another account's id, or a gone asset, refuses the
 * whole request with 404.
 */
export function createZipRouter(deps: { auth: AuthService; assets: AssetService; logger: Logger }): Router {
  const router = express.Router();
  router.post("/assets/zip", express.json({ limit: "64kb" }), async (req: Request, res: Response, next) => {
    try {
      const viewer = authorize(await deps.auth.authenticate(req.headers), ["assets:read"]);
      const parsed = bodySchema.safeParse(req.body);
      if (!parsed.success)
        throw new AppError("BAD_USER_INPUT", "Send { ids: [1 to 500 asset ids] }.", { field: "ids" });
      const ids = [...new Set(parsed.data.ids)];
      const assets = await Promise.all(ids.map((id) => deps.assets.owned(viewer.accountId, id)));
      if (assets.some((a) => !a || a.status !== AssetStatus.ACTIVE)) throw new AppError("NOT_FOUND", "Asset not found");

      res.status(200);
      res.setHeader("content-type", "application/zip");
      res.setHeader(
        "content-disposition",
        `attachment; filename="novart-${new Date().toISOString().slice(0, 10)}.zip"`,
      );
      const zip = new ZipArchive({ store: true }); // PNGs are already compressed
      zip.on("warning", (err) => deps.logger.warn({ err: err.message }, "zip warning"));
      zip.on("error", (err) => {
        deps.logger.error({ err: err.message }, "zip failed");
        res.destroy(err);
      });
      zip.pipe(res);
      for (const asset of assets) {
        // One file at a time: the next is opened only when the previous has been written out.
        const stream = await deps.assets.storage.stream(AssetService.keyOf(asset!, "ORIGINAL"));
        zip.append(stream, { name: downloadName(asset!, "ORIGINAL"), date: asset!.createdAt });
        await new Promise<void>((resolve) => zip.once("entry", () => resolve()));
      }
      await zip.finalize();
    } catch (err) {
      if (err instanceof AppError && !res.headersSent) {
        const status = { UNAUTHENTICATED: 401, FORBIDDEN: 403, NOT_FOUND: 404 }[err.code as string] ?? 400;
        res.status(status).json({ error: { code: err.code, message: err.message, ...err.details } });
        return;
      }
      next(err);
    }
  });
  return router;
}
