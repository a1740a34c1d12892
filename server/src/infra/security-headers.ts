import { createHash } from "node:crypto";
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import helmet from "helmet";
import type { Config } from "./config.js";

/**
 * Security headers for every HTTP response (API, studio, files), by helmet. Responses get a policy that lets
 * nothing load or run (`default-src 'none'`): JSON, images and scripts need none. HTML pages (the studio and
 * the GraphQL playground) replace it with `pageContentSecurityPolicy`, which allows what they use.
 */
export function createSecurityHeaders(options: {
  https: boolean;
}): (req: IncomingMessage, res: ServerResponse) => void {
  const headers = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        "default-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
      },
    },
    // Browsers ignore HSTS over plain HTTP; sent only when the public URL is https, so a plain-HTTP
    // deployment (or a reverse proxy not yet on TLS) never pins a host to https by mistake.
    strictTransportSecurity: options.https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    xFrameOptions: { action: "deny" },
    // Full referrer inside the site, none to other sites (pages carry tokens in URLs: verify-email, reset).
    // Not helmet's "no-referrer": with it, same-origin POSTs carry `Origin: null`.
    referrerPolicy: { policy: "same-origin" },
    crossOriginOpenerPolicy: { policy: "same-origin" },
    crossOriginResourcePolicy: { policy: "same-origin" },
  });
  // helmet's headers depend on nothing in the request: worked out once, then set on each response as they are.
  const fixed = helmetHeaders(headers);
  return (req, res) => {
    for (const [name, value] of fixed) res.setHeader(name, value);
    // Signed file links are handed to API clients and webhook receivers, who may show them on their sites.
    if (req.url?.startsWith("/files/")) res.setHeader("cross-origin-resource-policy", "cross-origin");
  };
}

/** The headers a helmet middleware sets on a response (it sets the same ones on every response). */
function helmetHeaders(
  middleware: (req: IncomingMessage, res: ServerResponse, next: () => void) => void,
): [string, string | number | string[]][] {
  const req = new IncomingMessage(new Socket());
  const res = new ServerResponse(req);
  middleware(req, res, () => undefined);
  return Object.entries(res.getHeaders()).map(([name, value]) => [name, value as string | number | string[]]);
}

/** The inline `<script>` elements of a page (those without `src`), as CSP hash sources. */
export function inlineScriptHashes(html: string): string[] {
  const hashes = new Set<string>();
  for (const match of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)) {
    if (/\ssrc\s*=/i.test(` ${match[1]}`)) continue;
    hashes.add(`'sha256-${createHash("sha256").update(match[2], "utf8").digest("base64")}'`);
  }
  return [...hashes];
}

/** A Host header fit to stand in a CSP source (anything else is left out rather than escaped). */
const SAFE_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

export interface PagePolicyOptions {
  /** The request's Host: its ws:// and wss:// origins are listed because Safari's 'self' omits WebSockets. */
  host?: string;
  /** Where images come from besides this server, data: and blob: URLs (the S3 store's presigned links). */
  imageOrigins?: readonly string[];
}

/**
 * The Content-Security-Policy of an HTML page we serve: scripts only from this origin plus the page's own
 * inline scripts by hash (SvelteKit's bootstrap and the theme script, which change with every build, so
 * they are hashed from the very bytes sent); no plugins, frames or foreign form targets; never framed.
 * Styles allow 'unsafe-inline': the studio's markup and GraphiQL set style attributes.
 */
export function pageContentSecurityPolicy(html: string, options: PagePolicyOptions = {}): string {
  const host = options.host && SAFE_HOST.test(options.host) ? options.host : undefined;
  const directives: [string, string[]][] = [
    ["default-src", ["'self'"]],
    ["script-src", ["'self'", ...inlineScriptHashes(html)]],
    ["style-src", ["'self'", "'unsafe-inline'"]],
    ["img-src", ["'self'", "data:", "blob:", ...(options.imageOrigins ?? [])]],
    ["font-src", ["'self'", "data:"]],
    ["connect-src", ["'self'", ...(host ? [`ws://${host}`, `wss://${host}`] : [])]],
    ["worker-src", ["'self'"]],
    ["object-src", ["'none'"]],
    ["frame-src", ["'none'"]],
    ["base-uri", ["'self'"]],
    ["form-action", ["'self'"]],
    ["frame-ancestors", ["'none'"]],
  ];
  return directives.map(([name, values]) => `${name} ${values.join(" ")}`).join("; ");
}

/**
 * The origins the browser loads images from when files are in S3: presigned URLs point at the store, on
 * the bucket's own host unless path-style addressing is forced. None for local storage (`/files` is 'self').
 */
export function storageImageOrigins(
  config: Pick<Config, "STORAGE_DRIVER" | "S3_BUCKET" | "S3_REGION" | "S3_ENDPOINT" | "S3_FORCE_PATH_STYLE">,
): string[] {
  if (config.STORAGE_DRIVER !== "s3") return [];
  const endpoint = new URL(config.S3_ENDPOINT ?? `https://s3.${config.S3_REGION}.amazonaws.com`);
  const origins = [endpoint.origin];
  if (!config.S3_FORCE_PATH_STYLE && config.S3_BUCKET) {
    origins.push(`${endpoint.protocol}//${config.S3_BUCKET}.${endpoint.host}`);
  }
  return origins;
}
