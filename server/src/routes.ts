import fs from "node:fs";
import path from "node:path";
import express, {
  type Express,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from "express";
import { isLostConnection } from "./infra/errors.js";
import type { Logger } from "./infra/logger.js";
import { pageContentSecurityPolicy } from "./infra/security-headers.js";

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

export interface RoutesOptions {
  logger: Logger;
  studioDir: string;
  readiness: ReadinessCheck[];
  /** Module routers mounted under `/api` (recharge, uploads…). */
  apiRouters?: Router[];
  /** Module routers mounted at the root (signed `/files/…`). */
  rootRouters?: Router[];
  /** Origins the studio's pages may show images from besides this server (the S3 store's, if files live there). */
  imageOrigins?: readonly string[];
}

const READINESS_TIMEOUT_MS = 2000;

/** Every HTTP route but `/graphql`: health, the studio files with an SPA fallback, JSON 404s. */
export function createRoutes({
  logger,
  studioDir,
  readiness,
  apiRouters = [],
  rootRouters = [],
  imageOrigins = [],
}: RoutesOptions): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", "loopback");

  app.get("/healthz", (_req, res) => {
    res.json({ ok: true });
  });

  app.get("/readyz", async (_req, res) => {
    const results = await Promise.all(
      readiness.map(async ({ name, check }) => {
        try {
          await withTimeout(check(), READINESS_TIMEOUT_MS);
          return [name, "ok"] as const;
        } catch (err) {
          return [name, err instanceof Error ? err.message : "failed"] as const;
        }
      }),
    );
    const ok = results.every(([, state]) => state === "ok");
    res.status(ok ? 200 : 503).json({ ok, checks: Object.fromEntries(results) });
  });

  for (const router of apiRouters) app.use("/api", router);
  for (const router of rootRouters) app.use(router);
  app.use("/api", (_req, res) => {
    res.status(404).json({ error: { code: "NOT_FOUND", message: "No such API route" } });
  });

  const fallback = path.join(studioDir, "200.html");
  if (fs.existsSync(fallback)) {
    /** An HTML page of the build, with the CSP that lets exactly its own inline scripts run. */
    const sendPage = async (req: Request, res: Response, file: string) => {
      // Read per request (3 KB) so the hashes always match the bytes sent, even after a rebuild.
      const html = await fs.promises.readFile(file, "utf8");
      res.setHeader(
        "content-security-policy",
        pageContentSecurityPolicy(html, { host: req.headers.host, imageOrigins }),
      );
      res.setHeader("cache-control", "no-cache");
      res.type("html").send(html);
    };
    // Hashed build files never change: cache them for a year; everything else revalidates. Text files go out
    // as the build's precompressed siblings (.br, .gz) when the browser accepts them.
    const immutableDir = path.join(studioDir, "_app", "immutable");
    app.use(
      "/_app/immutable",
      precompressed(immutableDir, IMMUTABLE),
      express.static(immutableDir, { ...IMMUTABLE, index: false }),
    );
    // The GraphQL playground (GraphiQL), built beside the studio by `npm run build -w client`.
    const playground = path.join(studioDir, "graphiql");
    app.get(["/graphiql", "/graphiql/", "/graphiql/index.html"], (req, res, next) => {
      if (!fs.existsSync(path.join(playground, "index.html"))) return next();
      return sendPage(req, res, path.join(playground, "index.html"));
    });
    app.use(
      "/graphiql/assets",
      precompressed(path.join(playground, "assets"), IMMUTABLE),
      express.static(path.join(playground, "assets"), { ...IMMUTABLE, index: false }),
    );
    app.use(precompressed(studioDir, { maxAge: 0 }), express.static(studioDir, { index: false, maxAge: 0 }));
    app.get("/{*path}", (req, res, next) => {
      if (!req.accepts("html")) return next();
      return sendPage(req, res, fallback);
    });
  } else {
    logger.warn({ studioDir }, "studio build not found: only the API is served (run `npm run build`)");
  }

  app.use((_req, res) => {
    res.status(404).json({ error: { code: "NOT_FOUND", message: "Not found" } });
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (status === 413) {
      res.status(413).json({ error: { code: "PAYLOAD_TOO_LARGE", message: "The request body is too large" } });
      return;
    }
    if (status && status >= 400 && status < 500) {
      res.status(status).json({ error: { code: "BAD_REQUEST", message: "Malformed request" } });
      return;
    }
    if (isLostConnection(err)) {
      logger.warn({ err, reqId: (req as { id?: string }).id }, "a service connection was lost under a route");
      res.setHeader("Retry-After", "1");
      res.status(503).json({ error: { code: "SERVICE_UNAVAILABLE", message: "Briefly unavailable; send it again" } });
      return;
    }
    logger.error({ err, reqId: (req as { id?: string }).id }, "route failed");
    res.status(500).json({ error: { code: "INTERNAL_SERVER_ERROR", message: "Internal server error" } });
  });
  return app;
}

const IMMUTABLE = { immutable: true, maxAge: "365d" } as const;

/** Text files worth compressing; the build writes a `.br` and a `.gz` beside each (adapter `precompress`). */
const COMPRESSIBLE = new Set([".js", ".mjs", ".css", ".html", ".svg", ".json", ".map", ".txt", ".xml", ".wasm"]);
/** In the order we prefer them: brotli is ~15 % smaller than gzip on our bundles. */
const PRECOMPRESSED = [
  { encoding: "br", suffix: ".br" },
  { encoding: "gzip", suffix: ".gz" },
] as const;

/** The content codings an Accept-Encoding header allows (q > 0). */
function acceptedEncodings(header: string | undefined): Set<string> {
  const accepted = new Set<string>();
  for (const part of (header ?? "").split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    if (name && (!q || Number(q.slice(2)) > 0)) accepted.add(name);
  }
  return accepted;
}

/**
 * Static files of `dir` sent as their precompressed sibling (`app.js.br`, `app.js.gz`) when the browser
 * accepts that coding: same Content-Type and caching as the plain file, `Content-Encoding` set, and
 * `Vary: Accept-Encoding` on every answer for a compressible file (compressed or not) so caches keep both.
 * Anything else (no sibling, a coding not accepted, another method) falls through to express.static.
 */
function precompressed(dir: string, options: { immutable?: boolean; maxAge: string | number }): RequestHandler {
  const root = path.resolve(dir);
  return (req, res, next) => {
    if (req.method !== "GET" && req.method !== "HEAD") return next();
    let relative: string;
    try {
      relative = decodeURIComponent(req.path);
    } catch {
      return next();
    }
    const extension = path.extname(relative).toLowerCase();
    if (!COMPRESSIBLE.has(extension)) return next();
    const file = path.join(root, relative);
    // Inside `dir`, no dotfiles (express.static ignores them too), no NUL.
    const hidden = relative.split("/").some((segment) => segment.startsWith("."));
    if (!file.startsWith(root + path.sep) || hidden || relative.includes("\0")) return next();
    res.vary("Accept-Encoding");
    const accepted = acceptedEncodings(req.headers["accept-encoding"]);
    const variant = PRECOMPRESSED.find(
      ({ encoding, suffix }) => accepted.has(encoding) && fs.existsSync(file + suffix),
    );
    if (!variant) return next();
    // send keeps a Content-Type that is already set, so the `.br` file goes out typed as the `.js` it encodes.
    res.type(extension);
    res.setHeader("Content-Encoding", variant.encoding);
    res.sendFile(file + variant.suffix, { ...options, acceptRanges: false, dotfiles: "allow" }, (err) => {
      if (!err || res.headersSent) return;
      res.removeHeader("Content-Encoding");
      res.removeHeader("Content-Type");
      next();
    });
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (err: unknown) => (clearTimeout(timer), reject(err instanceof Error ? err : new Error(String(err)))),
    );
  });
}
