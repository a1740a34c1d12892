import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Express } from "express";
import sharp from "sharp";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AccountRole } from "../../src/modules/accounts/account.entity.js";
import { API_SCOPES } from "../../src/modules/accounts/viewer.js";
import { LedgerKind } from "../../src/modules/credits/ledger-entry.entity.js";
import { createApiKey, signedInUser, waitFor, type ApiKeyScopeName, type SignedInUser } from "../factories.js";
import { startTestApp, type TestApp } from "../harness.js";

/**
 * The authorization matrix of the plain HTTP routes (the schema's operations have theirs in
 * authorization-matrix.test.ts): every route the express app and the lean `/graphql` handler serve, with
 * the status each kind of caller gets. Routes are read from the express router stack and from the lean
 * handler's path tests: a new route fails the first test until it has a row here.
 */

// The express app that createRoutes builds, captured as app.ts builds it (its behaviour is untouched).
const captured = vi.hoisted(() => ({ apps: [] as unknown[] }));
vi.mock("../../src/routes.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../src/routes.js")>();
  return {
    ...original,
    createRoutes: (...args: Parameters<typeof original.createRoutes>) => {
      const app = original.createRoutes(...args);
      captured.apps.push(app);
      return app;
    },
  };
});

const CALLERS = [
  "anonymous",
  "user",
  "otherUsersIds",
  "restricted",
  "keyWithScope",
  "keyWithoutScope",
  "revokedKey",
  "moderator",
  "admin",
] as const;
type CallerKind = (typeof CALLERS)[number];

/** What one request sends. */
interface Sent {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}
interface Row {
  /** Why each caller gets what it gets. */
  why: string;
  /** The scope a key needs (keyWithScope holds it, keyWithoutScope every other); null: no scope matters. */
  scope: string | null;
  /** The request (each caller's credential is added); ids in it are the user's (A's). */
  request: () => Sent | Promise<Sent>;
  status: Record<CallerKind, number>;
  /** Checks a 2xx answer further. */
  check?: (res: Response, text: Buffer) => string | null;
}

const scopeName = (s: string) => s.toUpperCase().replace(":", "_") as ApiKeyScopeName;
const all = (status: number): Record<CallerKind, number> =>
  Object.fromEntries(CALLERS.map((c) => [c, status])) as Record<CallerKind, number>;

const ALLOWED_ORIGIN = "https://studio.example";
const STORE_SECRET = `whsec_${randomBytes(24).toString("base64")}`;

let t: TestApp;
let user: SignedInUser;
let other: SignedInUser;
let png: Buffer;
/** A finished task's image of the user's, and one of the other user's. */
const assets: Record<"own" | "other", string> = { own: "", other: "" };
const headersOf = {} as Record<CallerKind, Record<string, string>>;

function rechargeBody(orderId: string) {
  return JSON.stringify({ store: "shop", orderId, account: user.account.id, credits: 5 });
}
function signedRecharge(orderId: string): Sent {
  const body = rechargeBody(orderId);
  const id = `msg_${randomBytes(8).toString("hex")}`;
  const at = new Date();
  return {
    method: "POST",
    path: "/api/recharge",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": new Webhook(STORE_SECRET).sign(id, at, body),
    },
    body,
  };
}
const fileUrl = (which: "own" | "other") => t.app.services.fileUrls.sign(assets[which], "ORIGINAL", 600);

/** Each route (method and path as the router stack names it), and the variants of its request. */
const ROUTES: Record<string, Record<string, Row>> = {
  "POST /api/uploads": {
    "a PNG": {
      why: "session or key with tasks:write; ACCOUNT_RESTRICTED for a restricted account; no ids involved (B uploads its own)",
      scope: "tasks:write",
      request: () => ({ method: "POST", path: "/api/uploads", headers: { "content-type": "image/png" }, body: png }),
      status: { ...all(201), anonymous: 401, restricted: 403, keyWithoutScope: 403, revokedKey: 401 },
    },
  },
  "POST /api/assets/zip": {
    "the user's asset ids": {
      why:
        "session or key with assets:read, for the caller's own assets only: another account's id is 404 for everyone " +
        "(moderators and admins too: no cross-account download); ACCOUNT_RESTRICTED is 403",
      scope: "assets:read",
      request: () => ({
        method: "POST",
        path: "/api/assets/zip",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ids: [assets.own] }),
      }),
      status: {
        anonymous: 401,
        user: 200,
        otherUsersIds: 404,
        restricted: 403,
        keyWithScope: 200,
        keyWithoutScope: 403,
        revokedKey: 401,
        moderator: 404,
        admin: 404,
      },
      check: (res) => (res.headers.get("content-type") === "application/zip" ? null : "not a ZIP"),
    },
  },
  "POST /api/assets/zip/link": {
    "the user's asset ids": {
      why: "mints a download link: the same rule as POST /api/assets/zip (own assets, assets:read)",
      scope: "assets:read",
      request: () => ({
        method: "POST",
        path: "/api/assets/zip/link",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ids: [assets.own] }),
      }),
      status: {
        anonymous: 401,
        user: 200,
        otherUsersIds: 404,
        restricted: 403,
        keyWithScope: 200,
        keyWithoutScope: 403,
        revokedKey: 401,
        moderator: 404,
        admin: 404,
      },
      check: (_res, body) => (/"url":"\/api\/assets\/zip\//.test(body.toString()) ? null : "no link"),
    },
  },
  "GET /api/assets/zip/:token": {
    "a link the user minted": {
      why: "the random, short-lived token is the capability (credentials are not read)",
      scope: null,
      request: async () => {
        const res = await fetch(`${t.url}/api/assets/zip/link`, {
          method: "POST",
          headers: { "content-type": "application/json", ...user.headers },
          body: JSON.stringify({ ids: [assets.own] }),
        });
        return { method: "GET", path: ((await res.json()) as { url: string }).url };
      },
      status: all(200),
      check: (res) => (res.headers.get("content-type") === "application/zip" ? null : "not a ZIP"),
    },
    "an unknown token": {
      why: "404 for everyone",
      scope: null,
      request: () => ({ method: "GET", path: `/api/assets/zip/${randomBytes(24).toString("base64url")}` }),
      status: all(404),
    },
  },
  "POST /api/recharge": {
    unsigned: {
      why: "the store's Standard Webhooks signature is the only credential: a session or key counts for nothing",
      scope: null,
      request: () => ({
        method: "POST",
        path: "/api/recharge",
        headers: { "content-type": "application/json" },
        body: rechargeBody("unsigned"),
      }),
      status: all(401),
    },
    "signed by a configured store": {
      why: "the signature holds whoever sends it (an order credited once, then answered as a duplicate)",
      scope: null,
      request: () => signedRecharge("order-1"),
      status: all(200),
    },
  },
  "GET /files/:assetId/:variant": {
    "a signed link": {
      why:
        "the signed, expiring link is the capability: it serves whoever holds it (credentials are not read), " +
        "B's included when B is given A's link",
      scope: null,
      request: () => ({ method: "GET", path: fileUrl("own") }),
      status: all(200),
      check: (res) =>
        res.headers.get("content-type") === "image/png" && res.headers.get("x-content-type-options") === "nosniff"
          ? null
          : `content-type ${res.headers.get("content-type")}, nosniff ${res.headers.get("x-content-type-options")}`,
    },
    "a link whose signature is for another asset": {
      why: "a signature is bound to its asset and variant: moving it to another id is refused for everyone",
      scope: null,
      request: () => ({ method: "GET", path: fileUrl("own").replace(assets.own, assets.other) }),
      status: all(403),
    },
    "no signature": {
      why: "no credential opens a file without a signature, an admin's neither",
      scope: null,
      request: () => ({ method: "GET", path: `/files/${assets.own}/original` }),
      status: all(403),
    },
  },
  "GET /healthz": {
    probe: {
      why: "liveness, for anyone",
      scope: null,
      request: () => ({ method: "GET", path: "/healthz" }),
      status: all(200),
    },
  },
  "GET /readyz": {
    probe: {
      why: "readiness, for anyone",
      scope: null,
      request: () => ({ method: "GET", path: "/readyz" }),
      status: all(200),
    },
  },
  "GET /graphiql|/graphiql/|/graphiql/index.html": {
    page: {
      why: "the playground is a static page; what it runs goes through /graphql",
      scope: null,
      request: () => ({ method: "GET", path: "/graphiql", headers: { accept: "text/html" } }),
      status: all(200),
    },
  },
  "GET /{*path}": {
    "a studio page (the SPA fallback)": {
      why: "the studio's shell is public; its data comes from /graphql",
      scope: null,
      request: () => ({ method: "GET", path: "/gallery", headers: { accept: "text/html" } }),
      status: all(200),
      check: (res) => (res.headers.get("content-type")?.startsWith("text/html") ? null : "not HTML"),
    },
  },
  "USE /api (no such route)": {
    "an unknown API path": {
      why: "404 for everyone, before any credential is read",
      scope: null,
      request: () => ({ method: "GET", path: "/api/nothing-here" }),
      status: all(404),
    },
  },
  "LEAN /graphql": {
    "GET with a query and Apollo's preflight header": {
      why: "GET runs queries (never mutations); a dead Bearer credential is 401 even for a public query",
      scope: null,
      request: () => ({
        method: "GET",
        path: "/graphql?query=%7B__typename%7D",
        headers: { "apollo-require-preflight": "1" },
      }),
      status: { ...all(200), revokedKey: 401 },
    },
    "GET without a preflight header (CSRF prevention)": {
      why: "Apollo's CSRF prevention refuses a GET a browser could send cross-site, before any credential counts",
      scope: null,
      request: () => ({ method: "GET", path: "/graphql?query=%7B__typename%7D" }),
      status: all(400),
    },
    "POST of a public query": {
      why: "every operation's own matrix is authorization-matrix.test.ts; a dead Bearer credential is 401",
      scope: null,
      request: () => ({
        method: "POST",
        path: "/graphql",
        headers: { "content-type": "application/json" },
        body: '{"query":"{ __typename }"}',
      }),
      status: { ...all(200), revokedKey: 401 },
    },
  },
  "LEAN /api/ (CORS)": {
    "a preflight from an origin that is not allowed": {
      why:
        "CORS preflights of /api and /graphql go through the lean handler: another origin gets no allow-origin " +
        "(express then answers the OPTIONS with its Allow list)",
      scope: null,
      request: () => ({
        method: "OPTIONS",
        path: "/api/uploads",
        headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
      }),
      status: all(200),
      check: (res) =>
        res.headers.get("access-control-allow-origin") === null ? null : "allowed an origin not in CORS_ORIGINS",
    },
    "a preflight from the allowed origin": {
      why: "the allow-list from CORS_ORIGINS; no credentials mode (tokens go in Authorization)",
      scope: null,
      request: () => ({
        method: "OPTIONS",
        path: "/api/uploads",
        headers: { origin: ALLOWED_ORIGIN, "access-control-request-method": "POST" },
      }),
      status: all(204),
      check: (res) =>
        res.headers.get("access-control-allow-origin") === ALLOWED_ORIGIN &&
        res.headers.get("access-control-allow-credentials") === null
          ? null
          : `allow-origin ${res.headers.get("access-control-allow-origin")}`,
    },
  },
};

/** Middleware of the express app that is not a route: what it serves, and why it needs no row. */
const MIDDLEWARE: Record<string, string> = {
  "USE /_app/immutable <anonymous>": "the studio's hashed build files, precompressed (public)",
  "USE /_app/immutable serveStatic": "the studio's hashed build files (public)",
  "USE /graphiql/assets <anonymous>": "the playground's build files, precompressed (public)",
  "USE /graphiql/assets serveStatic": "the playground's build files (public)",
  "USE / <anonymous>": "the studio's build files, precompressed (public); also the JSON 404 and the error handler",
  "USE / serveStatic": "the studio's build files (public)",
};

/** Every route and middleware of an express app, as `METHOD path` (routes) or `USE path name`. */
function stackOf(stack: unknown[], prefix = ""): string[] {
  const out: string[] = [];
  for (const layer of stack as {
    route?: { path: string | string[]; methods: Record<string, boolean> };
    handle?: { stack?: unknown[] };
    rawPath?: string | string[];
    name?: string;
  }[]) {
    const raw = Array.isArray(layer.rawPath) ? layer.rawPath.join("|") : (layer.rawPath ?? "/");
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const method of Object.keys(layer.route.methods))
        out.push(`${method.toUpperCase()} ${paths.map((p) => prefix + p).join("|")}`);
    } else if (layer.handle?.stack) {
      out.push(...stackOf(layer.handle.stack, raw === "/" ? prefix : prefix + raw));
    } else if (prefix + raw === "/api") {
      out.push("USE /api (no such route)");
    } else {
      out.push(`USE ${prefix + raw} ${layer.name ?? "<anonymous>"}`);
    }
  }
  return [...new Set(out)];
}

/** The paths the lean node:http handler tests before handing a request to express (api.ts). */
function leanPaths(): string[] {
  const source = fs.readFileSync(path.resolve(import.meta.dirname, "../../src/api.ts"), "utf8");
  return [...new Set([...source.matchAll(/\bpath(?:\?\.startsWith\(| === )"([^"]+)"/g)].map((m) => m[1]))];
}

async function send(sent: Sent, headers: Record<string, string>) {
  const res = await fetch(`${t.url}${sent.path}`, {
    method: sent.method,
    headers: { ...headers, ...sent.headers },
    body: sent.body,
    redirect: "manual",
  });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

beforeAll(async () => {
  const studio = path.resolve(import.meta.dirname, "../../../client/build");
  t = await startTestApp({
    RECHARGE_STORES: `shop=${STORE_SECRET}`,
    CORS_ORIGINS: ALLOWED_ORIGIN,
    STUDIO_DIR: studio,
    LOCAL_PROVIDER_STEP_MS: "5",
  });
  png = await sharp({ create: { width: 16, height: 16, channels: 3, background: "#406080" } })
    .png()
    .toBuffer();
  let restricted: SignedInUser;
  let moderator: SignedInUser;
  let admin: SignedInUser;
  [user, other, restricted, moderator, admin] = await Promise.all([
    signedInUser(t),
    signedInUser(t),
    signedInUser(t),
    signedInUser(t, { role: AccountRole.MODERATOR }),
    signedInUser(t, { role: AccountRole.ADMIN }),
  ]);
  // One real image each for the user and the other user (a task run by the worker of this app).
  for (const [which, owner] of [
    ["own", user],
    ["other", other],
  ] as const) {
    await t.app.services.ledger.credit({
      accountId: owner.account.id,
      kind: LedgerKind.RECHARGE,
      paid: 50,
      bonus: 0,
      reference: `routes:${owner.account.id}`,
    });
    const res = await t.graphql<{ createTask: { task: { id: string } } }>(
      `mutation { createTask(input: { prompt: "a lighthouse", model: "novart-sketch", width: 512, height: 512 }) { task { id } } }`,
      undefined,
      owner.headers,
    );
    const taskId = res.body.data!.createTask.task.id;
    assets[which] = await waitFor(
      async () => {
        const rows = (await t.app.db.query(`SELECT id FROM asset WHERE task_id = $1 AND status = 'ACTIVE'`, [
          taskId,
        ])) as { id: string }[];
        return rows[0]?.id;
      },
      "the task's image",
      60_000,
    );
  }
  const revoked = await createApiKey(t, user, API_SCOPES.map(scopeName), "revoked");
  await t.app.services.apiKeys.revoke(user.account.id, revoked.id);
  await t.app.services.restrictions.restrict(
    { accountId: admin.account.id, role: admin.account.role },
    {
      accountId: restricted.account.id,
      scopes: ["ALL"],
      durationMinutes: null,
      reason: "route matrix",
      revokeApiKeys: false,
    },
  );
  Object.assign(headersOf, {
    anonymous: {},
    user: user.headers,
    otherUsersIds: other.headers,
    restricted: restricted.headers,
    revokedKey: revoked.headers,
    moderator: moderator.headers,
    admin: admin.headers,
  });
}, 120_000);
afterAll(() => t?.close());

describe("plain HTTP routes", () => {
  it("are all in the table: every express route and middleware, and every path of the lean handler", () => {
    expect(captured.apps.length).toBe(1);
    const found = stackOf((captured.apps[0] as Express & { router: { stack: unknown[] } }).router.stack);
    const missing = found.filter((r) => !ROUTES[r] && !MIDDLEWARE[r]);
    expect(missing, "add a row to ROUTES (or MIDDLEWARE with its reason)").toEqual([]);
    const stale = [...Object.keys(ROUTES).filter((r) => !r.startsWith("LEAN ")), ...Object.keys(MIDDLEWARE)].filter(
      (r) => !found.includes(r),
    );
    expect(stale, "rows for routes the app no longer has").toEqual([]);
    const lean = leanPaths();
    expect(lean.sort()).toEqual(["/api/", "/graphql"]);
    for (const p of lean) expect(Object.keys(ROUTES)).toContain(`LEAN ${p}${p === "/api/" ? " (CORS)" : ""}`);
  });

  it("answer each kind of caller with the declared status", { timeout: 120_000 }, async () => {
    const wrong: string[] = [];
    let requests = 0;
    for (const [route, rows] of Object.entries(ROUTES)) {
      for (const [variant, row] of Object.entries(rows)) {
        // Keys of the user's: with the route's scope, and with every other scope.
        const scopes = API_SCOPES.filter((s) => s !== row.scope);
        const withScope = await createApiKey(t, user, (row.scope ? [row.scope] : API_SCOPES).map(scopeName));
        const withoutScope = await createApiKey(t, user, (scopes.length ? scopes : ["account:read"]).map(scopeName));
        const headers = { ...headersOf, keyWithScope: withScope.headers, keyWithoutScope: withoutScope.headers };
        for (const caller of CALLERS) {
          const sent = await row.request();
          const { res, body } = await send(sent, headers[caller]);
          requests++;
          const expected = row.status[caller];
          const problem =
            res.status !== expected
              ? `status ${res.status} (${body.toString("utf8").slice(0, 160)})`
              : res.status < 300 && row.check
                ? row.check(res, body)
                : null;
          if (problem) wrong.push(`${route} — ${variant} — as ${caller}: expected ${expected}, got ${problem}`);
        }
      }
    }
    console.info(`http routes matrix: ${requests} requests`);
    expect(wrong).toEqual([]);
  });
});
