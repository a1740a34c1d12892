import express, { type Request, type Response, type Router } from "express";
import type { EntityManager } from "typeorm";
import { AppError } from "../../infra/errors.js";
import type { AuthService } from "../accounts/auth.service.js";
import { AccountRestrictedError } from "../accounts/accounts.errors.js";
import { authorize } from "../accounts/authorization.js";
import { restrictionFor } from "../accounts/viewer.js";
import { UPLOAD_MAX_BYTES, type UploadService } from "./upload.service.js";

const STATUS: Record<string, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  PAYLOAD_TOO_LARGE: 413,
  IMAGE_TOO_LARGE: 422,
  UNSUPPORTED_MEDIA_TYPE: 415,
  BAD_REQUEST: 400,
  RATE_LIMITED: 429,
  DAILY_LIMIT: 429,
  ACCOUNT_RESTRICTED: 403,
  CONTENT_REJECTED: 422,
};

/**
 * `POST /api/uploads`: the image is the raw request body (any declared type: the bytes decide).
 * Authenticated by session or by an API key with `tasks:write`. Answers `201 { id, width, height }`.
 */
export function createUploadRouter(deps: {
  auth: AuthService;
  uploads: UploadService;
  /** Per-account admission (uploads per day), checked before the body is read. */
  /** The daily limit: before the body is read, and again under the account's lock where the row is inserted. */
  admit: (accountId: string, manager?: EntityManager) => Promise<void>;
}): Router {
  const router = express.Router();
  router.post("/uploads", async (req: Request, res: Response, next) => {
    try {
      const viewer = authorize(await deps.auth.authenticate(req.headers), ["tasks:write"]);
      const restricted = restrictionFor(viewer, "UPLOADS");
      if (restricted) throw new AccountRestrictedError(restricted);
      await deps.admit(viewer.accountId);
      const declared = Number(req.headers["content-length"] ?? 0);
      if (declared > UPLOAD_MAX_BYTES) {
        res.setHeader("connection", "close");
        throw new AppError("PAYLOAD_TOO_LARGE", "Images may be at most 10 MB.");
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > UPLOAD_MAX_BYTES) {
          res.setHeader("connection", "close");
          throw new AppError("PAYLOAD_TOO_LARGE", "Images may be at most 10 MB.");
        }
        chunks.push(chunk);
      }
      const upload = await deps.uploads.accept(viewer.accountId, Buffer.concat(chunks), (manager) =>
        deps.admit(viewer.accountId, manager),
      );
      res.status(201).json({ id: upload.id, width: upload.width, height: upload.height });
    } catch (err) {
      if (err instanceof AppError) {
        if (typeof err.details.retryAfter === "number") res.setHeader("retry-after", String(err.details.retryAfter));
        res.status(STATUS[err.code] ?? 400).json({ error: { code: err.code, message: err.message, ...err.details } });
        return;
      }
      next(err);
    }
  });
  return router;
}
