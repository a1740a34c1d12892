import fs from "node:fs";
import path from "node:path";
import type { GraphQLSchema } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountRole } from "../../src/modules/accounts/account.entity.js";
import { API_SCOPES } from "../../src/modules/accounts/viewer.js";
import {
  createApiKey,
  newSession,
  PASSWORD,
  signedInUser,
  uniqueEmail,
  wsClient,
  type ApiKeyScopeName,
  type SignedInUser,
  type TestWsClient,
} from "../factories.js";
import { startTestApp, type TestApp } from "../harness.js";
import {
  authRequirements,
  fetchSchema,
  mapLimit,
  operationDocument,
  rootOperations,
  type RootOperation,
} from "../schema-documents.js";

/**
 * Every root field of the served schema, called for real by every kind of caller, with what it requires read
 * from type-graphql's metadata: a new operation lands in this matrix without a test change, and one that
 * nobody classified fails the first test.
 */

/** Operations without `@Authorized`, on purpose. */
const PUBLIC: Record<string, string> = {
  "Query.serverInfo": "version facts for the sign-in page and health checks",
  "Query.models": "the catalogue and prices are shown before sign-up (includeDisabled is gated, see ARGUMENT_GATES)",
  "Query.estimateCost": "prices are shown before sign-up",
  "Query.termsOfUse": "the terms are read before registering",
  "Query.registrationInfo": "the sign-up page asks whether registration is open",
  "Query.tiers": "plans and their limits are compared before sign-up",
  "Mutation.register": "creates the account",
  "Mutation.signIn": "creates the session",
  "Mutation.verifyEmail": "the emailed token is the credential",
  "Mutation.resendVerification": "for accounts that cannot sign in yet; same answer for any address",
  "Mutation.requestPasswordReset": "for users who cannot sign in; same answer for any address",
  "Mutation.resetPassword": "the emailed token is the credential",
  "Subscription.heartbeat": "connection liveness; carries no account data",
};

/** Subscriptions that call `authorize` in their own `subscribe` instead of carrying `@Authorized`. */
const SELF_AUTHORIZED: Record<string, string[]> = {
  "Subscription.taskUpdated": ["tasks:read"],
  "Subscription.myTaskUpdates": ["tasks:read"],
};

/** Calls of `authorize(…)` outside `@Authorized`, by file and requirement, and what covers each here. */
const INLINE_CHECKS: Record<string, { count: number; coveredBy: string }> = {
  'modules/generation/model-catalog.resolver.ts ["ADMIN"]': { count: 1, coveredBy: "ARGUMENT_GATES models" },
  'modules/credits/credits.resolver.ts ["ADMIN"]': { count: 1, coveredBy: "ARGUMENT_GATES ledger" },
  'modules/generation/task.resolver.ts ["tasks:read"]': { count: 2, coveredBy: "SELF_AUTHORIZED" },
  'modules/accounts/accounts.resolver.ts ["account:read", "RESTRICTED_OK"]': {
    count: 1,
    coveredBy: "@Authorized on messageReceived",
  },
  'modules/generation/upload.routes.ts ["tasks:write"]': { count: 1, coveredBy: "http-routes-matrix.test.ts" },
  'modules/assets/zip.routes.ts ["assets:read"]': { count: 2, coveredBy: "http-routes-matrix.test.ts (zip, zip/link)" },
};

interface Requirement {
  key: string;
  document: string;
  op: RootOperation;
  isPublic: boolean;
  restrictedOk: boolean;
  /** ADMIN, MODERATOR or null. */
  role: "ADMIN" | "MODERATOR" | null;
  sessionOnly: boolean;
  scopes: string[];
}

interface GqlError {
  message?: string;
  extensions?: { code?: string; requires?: string; requiredScope?: string };
}
interface Outcome {
  errors?: GqlError[];
  data?: unknown;
  /** A subscription that was neither refused nor answered within the wait. */
  open?: boolean;
}
interface Caller {
  label: string;
  headers: Record<string, string>;
  token?: string;
  /** A new WebSocket per subscription (a refused connection cannot carry the next one). */
  freshSocket?: boolean;
}

/** What a caller gets for an operation: a refusal (code and details), or an answer past authorization. */
type Expectation = { code: string; detail?: Record<string, string> } | "ANSWERED";

/**
 * Callers whose answer is declared per operation (a rule over what the operation requires, with the reason):
 * every operation of the matrix must get an expectation from each, or the first test fails.
 */
const DECLARED: Record<
  "revokedKey" | "unverified",
  { why: string; expect: (req: Requirement) => Expectation; caller: () => Promise<Caller> }
> = {
  revokedKey: {
    why:
      "a Bearer credential that no longer resolves is refused before anything runs, public operations included " +
      "(the client must learn that its key is dead: 401 UNAUTHENTICATED); graphql-ws refuses the connection (4403)",
    expect: (req) => (req.op.type === "subscription" ? { code: "WS_CLOSE_4403" } : { code: "UNAUTHENTICATED" }),
    caller: async () => callers.revokedKey,
  },
  unverified: {
    why:
      "verification gates signIn (EMAIL_NOT_VERIFIED), not a session that exists: a session of an account whose " +
      "email_verified_at is NULL is a user's session (roles still apply)",
    expect: (req) => (req.role ? { code: "FORBIDDEN", detail: { requires: req.role } } : "ANSWERED"),
    // A session of its own per call: a permitted signOutEverywhere must not end the next call's session.
    caller: async () => ({ label: "unverified", ...(await newSession(t, unverifiedAccountId)) }),
  },
};

let t: TestApp;
let schema: GraphQLSchema;
let matrix: Requirement[];
let user: SignedInUser;
let moderator: SignedInUser;
let admin: SignedInUser;
let restricted: SignedInUser;
/** An account with email_verified_at NULL (its sessions come from the session service). */
let unverifiedAccountId: string;
const callers: Record<string, Caller> = {};
const sockets = new Map<string, TestWsClient>();

const scopeName = (scope: string) => scope.toUpperCase().replace(":", "_") as ApiKeyScopeName;
const keyCaller = async (label: string, owner: SignedInUser, scopes: readonly string[]): Promise<Caller> => {
  const key = await createApiKey(t, owner, scopes.map(scopeName), label);
  return { label, headers: key.headers, token: key.secret };
};
const sessionCaller = (label: string, u: SignedInUser): Caller => ({ label, headers: u.headers, token: u.token });

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  schema = await fetchSchema(t.url);
  [user, moderator, admin, restricted] = await Promise.all([
    signedInUser(t),
    signedInUser(t, { role: AccountRole.MODERATOR }),
    signedInUser(t, { role: AccountRole.ADMIN }),
    signedInUser(t),
  ]);
  const apiRestricted = await signedInUser(t);
  callers.anonymous = { label: "anonymous", headers: {} };
  callers.user = sessionCaller("user", user);
  callers.moderator = sessionCaller("moderator", moderator);
  callers.restricted = sessionCaller("restricted (ALL)", restricted);
  callers.userKey = await keyCaller("user's key with every scope", user, API_SCOPES);
  callers.adminKey = await keyCaller("admin's key with every scope", admin, API_SCOPES);
  callers.apiRestrictedKey = await keyCaller("key of an account restricted for API", apiRestricted, API_SCOPES);
  // Every scope, then revoked through the service (as revokeApiKey does): its secret is still sent.
  const revoked = await createApiKey(t, user, API_SCOPES.map(scopeName), "revoked key");
  await t.app.services.apiKeys.revoke(user.account.id, revoked.id);
  callers.revokedKey = { label: "revoked key", headers: revoked.headers, token: revoked.secret, freshSocket: true };
  const unverified = await t.app.services.accounts.createVerified(
    uniqueEmail("unverified"),
    PASSWORD,
    AccountRole.USER,
  );
  unverifiedAccountId = unverified.id;
  await t.app.db.query(`UPDATE account SET email_verified_at = NULL WHERE id = $1`, [unverifiedAccountId]);
  callers.unverified = { label: "unverified", ...(await newSession(t, unverifiedAccountId)) };
  for (const scope of API_SCOPES) {
    callers[`without ${scope}`] = await keyCaller(
      `key without ${scope}`,
      user,
      API_SCOPES.filter((s) => s !== scope),
    );
  }
  for (const [account, scopes] of [
    [restricted, ["ALL"]],
    [apiRestricted, ["API"]],
  ] as const) {
    await t.app.services.restrictions.restrict(
      { accountId: admin.account.id, role: admin.account.role },
      {
        accountId: account.account.id,
        scopes: [...scopes],
        durationMinutes: null,
        reason: "authorization matrix",
        revokeApiKeys: false,
      },
    );
  }
  matrix = rootOperations(schema).map((op) => {
    const roles = authRequirements(op) ?? SELF_AUTHORIZED[op.key] ?? null;
    const role = roles?.includes("ADMIN") ? "ADMIN" : roles?.includes("MODERATOR") ? "MODERATOR" : null;
    return {
      key: op.key,
      op,
      document: operationDocument(op),
      isPublic: roles === null,
      restrictedOk: roles?.includes("RESTRICTED_OK") ?? false,
      role,
      sessionOnly: role !== null || (roles?.includes("SESSION") ?? false),
      scopes: (roles ?? []).filter((r) => (API_SCOPES as readonly string[]).includes(r)),
    };
  });
});
afterAll(async () => {
  await Promise.all([...sockets.values()].map((s) => s.dispose()));
  await t?.close();
});

/** One WebSocket per caller; the subscription's first answer, or `open` when nothing came within `waitMs`. */
async function subscribeOnce(caller: Caller, query: string, waitMs: number): Promise<Outcome> {
  let ws = caller.freshSocket ? undefined : sockets.get(caller.label);
  if (!ws)
    sockets.set(
      caller.freshSocket ? `${caller.label} ${sockets.size}` : caller.label,
      (ws = wsClient(t, caller.token)),
    );
  const events = ws.client.iterate({ query });
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    events.next().then(
      (r) => (r.done ? { open: false } : (r.value as Outcome)),
      (errors: unknown) => ({
        errors: Array.isArray(errors)
          ? (errors as GqlError[])
          : typeof (errors as { code?: unknown })?.code === "number"
            ? // The connection was closed: its close code stands for the answer.
              [{ message: "closed", extensions: { code: `WS_CLOSE_${(errors as { code: number }).code}` } }]
            : [{ message: String(errors) }],
      }),
    ),
    new Promise<Outcome>((resolve) => (timer = setTimeout(() => resolve({ open: true }), waitMs))),
  ]);
  clearTimeout(timer);
  await events.return?.();
  return outcome;
}

async function call(caller: Caller, document: string, op: RootOperation, waitMs: number): Promise<Outcome> {
  if (op.type === "subscription") return subscribeOnce(caller, document, waitMs);
  const res = await t.graphql(document, undefined, caller.headers);
  if (res.status >= 500) return { errors: [{ message: `HTTP ${res.status}` }] };
  return res.body as Outcome;
}

const describeOutcome = (o: Outcome) =>
  o.open ? "subscribed (not refused)" : JSON.stringify(o.errors?.map((e) => e.extensions) ?? "no error");

/** Calls each (caller, requirement) and returns every answer that is not the expected refusal. */
async function expectRefusals(
  cases: { caller: Caller; req: Requirement; code: string; detail?: Record<string, string> }[],
): Promise<string[]> {
  const wrong = await mapLimit(cases, 8, async ({ caller, req, code, detail }) => {
    const outcome = await call(caller, req.document, req.op, 5_000);
    const error = outcome.errors?.[0];
    const ok =
      error?.extensions?.code === code &&
      Object.entries(detail ?? {}).every(([k, v]) => error.extensions?.[k as "code"] === v);
    return ok
      ? null
      : `${req.key} as ${caller.label}: expected ${code} ${JSON.stringify(detail ?? {})}, got ${describeOutcome(outcome)}`;
  });
  return wrong.filter((w): w is string => w !== null);
}

/** An authorization refusal, or an error no input should cause (the answer may still be NOT_FOUND…). */
const isRefusalOrFault = (o: Outcome) =>
  (o.errors ?? []).some(
    (e) =>
      ["UNAUTHENTICATED", "ACCOUNT_RESTRICTED", "INTERNAL_SERVER_ERROR"].includes(e.extensions?.code ?? "") ||
      e.extensions?.requires !== undefined ||
      e.extensions?.requiredScope !== undefined ||
      e.message?.startsWith("HTTP "),
  );

describe("every operation is classified", () => {
  it("is public (listed with a reason) or carries @Authorized, and the lists name no stale operation", () => {
    const unclassified = matrix.filter((r) => r.isPublic && !PUBLIC[r.key]).map((r) => r.key);
    expect(unclassified, "operations without @Authorized that are not in PUBLIC").toEqual([]);
    const keys = new Set(matrix.map((r) => r.key));
    const stale = [...Object.keys(PUBLIC), ...Object.keys(SELF_AUTHORIZED)].filter((k) => !keys.has(k));
    expect(stale, "PUBLIC / SELF_AUTHORIZED entries that are not in the schema").toEqual([]);
    const decorated = Object.keys({ ...PUBLIC, ...SELF_AUTHORIZED }).filter((k) => {
      const req = matrix.find((r) => r.key === k);
      return req && authRequirements(req.op) !== null;
    });
    expect(decorated, "listed as public or self-authorized but carrying @Authorized").toEqual([]);
    expect(matrix.length).toBeGreaterThan(60);
  });

  it("declares what a revoked key and an unverified account's session get, for every operation", () => {
    const undeclared = matrix.flatMap((req) =>
      Object.entries(DECLARED)
        .filter(([, d]) => {
          const e = d.expect(req) as Expectation | undefined;
          return e !== "ANSWERED" && typeof e?.code !== "string";
        })
        .map(([name]) => `${req.key} for ${name}`),
    );
    expect(undeclared).toEqual([]);
  });

  it("knows every authorize() call made outside @Authorized", () => {
    const src = path.resolve(import.meta.dirname, "../../src");
    const found: Record<string, number> = {};
    for (const file of fs.readdirSync(src, { recursive: true, encoding: "utf8" })) {
      if (!file.endsWith(".ts") || file.endsWith(".test.ts") || /authorization\.ts$|^schema\.ts$/.test(file)) continue;
      for (const m of fs.readFileSync(path.join(src, file), "utf8").matchAll(/\bauthorize\(.*?,\s*(\[[^\]]*\])\)/g)) {
        const key = `${file.split(path.sep).join("/")} ${m[1]}`;
        found[key] = (found[key] ?? 0) + 1;
      }
    }
    const known = Object.fromEntries(Object.entries(INLINE_CHECKS).map(([k, v]) => [k, v.count]));
    expect(found).toEqual(known);
  });
});

describe("refusals come first, before any argument is looked at", () => {
  it("refuses anonymous callers every non-public operation with UNAUTHENTICATED", async () => {
    const cases = matrix
      .filter((r) => !r.isPublic)
      .map((req) => ({ caller: callers.anonymous, req, code: "UNAUTHENTICATED" }));
    expect(await expectRefusals(cases)).toEqual([]);
  });

  it("refuses a signed-in user every ADMIN and MODERATOR operation with FORBIDDEN", async () => {
    const cases = matrix
      .filter((r) => r.role)
      .map((req) => ({ caller: callers.user, req, code: "FORBIDDEN", detail: { requires: req.role! } }));
    expect(cases.length).toBeGreaterThan(10);
    expect(await expectRefusals(cases)).toEqual([]);
  });

  it("refuses a moderator every ADMIN-only operation with FORBIDDEN", async () => {
    const cases = matrix
      .filter((r) => r.role === "ADMIN")
      .map((req) => ({ caller: callers.moderator, req, code: "FORBIDDEN", detail: { requires: "ADMIN" } }));
    expect(await expectRefusals(cases)).toEqual([]);
  });

  it("refuses API keys, an admin's too, every session-only operation", async () => {
    const cases = matrix
      .filter((r) => r.sessionOnly)
      .flatMap((req) =>
        [callers.userKey, callers.adminKey].map((caller) => ({
          caller,
          req,
          code: "FORBIDDEN",
          detail: { requires: "SESSION" },
        })),
      );
    expect(await expectRefusals(cases)).toEqual([]);
  });

  it("refuses an API key each operation needing a scope it lacks", async () => {
    const cases = matrix.flatMap((req) =>
      req.sessionOnly
        ? []
        : req.scopes.map((scope) => ({
            caller: callers[`without ${scope}`],
            req,
            code: "FORBIDDEN",
            detail: { requiredScope: scope },
          })),
    );
    expect(new Set(cases.map((c) => c.detail.requiredScope))).toEqual(new Set(API_SCOPES));
    expect(await expectRefusals(cases)).toEqual([]);
  });

  it("refuses a restricted account everything but RESTRICTED_OK operations, and a key restricted for API everything", async () => {
    const cases = matrix
      .filter((r) => !r.isPublic)
      .flatMap((req) => [
        ...(req.restrictedOk ? [] : [{ caller: callers.restricted, req, code: "ACCOUNT_RESTRICTED" }]),
        { caller: callers.apiRestrictedKey, req, code: "ACCOUNT_RESTRICTED" },
      ]);
    expect(await expectRefusals(cases)).toEqual([]);
  });
});

describe("declared callers: a revoked key and an unverified account", () => {
  it("get the refusal declared for each operation", async () => {
    const cases = [];
    for (const declared of Object.values(DECLARED)) {
      for (const req of matrix) {
        const expected = declared.expect(req);
        if (expected !== "ANSWERED")
          cases.push({ caller: await declared.caller(), req, code: expected.code, detail: expected.detail });
      }
    }
    expect(cases.length).toBeGreaterThan(matrix.length);
    expect(await expectRefusals(cases)).toEqual([]);
  });

  it("reach the operations declared ANSWERED", async () => {
    const wrong: string[] = [];
    let answered = 0;
    for (const declared of Object.values(DECLARED)) {
      for (const req of matrix.filter((r) => declared.expect(r) === "ANSWERED")) {
        const caller = await declared.caller();
        const outcome = await call(caller, req.document, req.op, 300);
        answered++;
        if (isRefusalOrFault(outcome)) wrong.push(`${req.key} as ${caller.label}: ${describeOutcome(outcome)}`);
      }
    }
    expect(answered).toBeGreaterThan(40);
    expect(wrong).toEqual([]);
  });
});

describe("the same documents reach the operation for callers that may use it", () => {
  /** Fresh sessions, one call at a time: a permitted signOutEverywhere must not end the next call's session. */
  it("lets each operation through for its least privileged caller", async () => {
    const [controlUser, controlModerator, controlAdmin] = await Promise.all([
      signedInUser(t),
      signedInUser(t, { role: AccountRole.MODERATOR }),
      signedInUser(t, { role: AccountRole.ADMIN }),
    ]);
    // Keys first: a permitted signOutEverywhere below ends the control user's sessions.
    const keyScopes = (req: Requirement) => (req.scopes.length ? req.scopes : ["account:read"]);
    const keys = new Map<string, Caller>();
    for (const req of matrix.filter((r) => !r.isPublic && !r.sessionOnly)) {
      const label = `key with ${keyScopes(req).join("+")}`;
      if (!keys.has(label)) keys.set(label, await keyCaller(label, controlUser, keyScopes(req)));
    }
    const refusedWrongly: string[] = [];
    for (const req of matrix) {
      const permitted: Caller[] = [];
      const fresh = async (label: string, owner: SignedInUser) => ({
        label,
        ...(await newSession(t, owner.account.id)),
      });
      if (req.isPublic) permitted.push(callers.anonymous);
      else if (req.role === "ADMIN") permitted.push(await fresh("admin", controlAdmin));
      else if (req.role === "MODERATOR") {
        permitted.push(await fresh("moderator", controlModerator), await fresh("admin", controlAdmin));
      } else permitted.push(await fresh("user", controlUser));
      if (!req.isPublic && !req.sessionOnly) permitted.push(keys.get(`key with ${keyScopes(req).join("+")}`)!);
      if (req.restrictedOk) permitted.push(callers.restricted);
      for (const caller of permitted) {
        const outcome = await call(caller, req.document, req.op, 300);
        if (isRefusalOrFault(outcome))
          refusedWrongly.push(`${req.key} as ${caller.label}: ${describeOutcome(outcome)}`);
      }
    }
    expect(refusedWrongly).toEqual([]);
  });
});

/** Operations whose arguments raise what they require (checked inside the resolver, see INLINE_CHECKS). */
describe("argument-level gates", () => {
  it("answer UNAUTHENTICATED / FORBIDDEN to everyone but an admin's session, and serve the admin", async () => {
    const queryOp = rootOperations(schema).find((o) => o.type === "query")!;
    const gates = [
      { document: "{ models(includeDisabled: true) { id } }", anonymous: "UNAUTHENTICATED" },
      // Another account's ledger (the restricted one's: nobody below is that account).
      { document: `{ ledger(accountId: "${restricted.account.id}") { __typename } }`, anonymous: "UNAUTHENTICATED" },
    ];
    const wrong: string[] = [];
    for (const gate of gates) {
      const expectations: [Caller, string | null][] = [
        [callers.anonymous, gate.anonymous],
        [callers.user, "FORBIDDEN"],
        [callers.moderator, "FORBIDDEN"],
        [callers.adminKey, "FORBIDDEN"],
        [sessionCaller("admin", admin), null],
      ];
      for (const [caller, code] of expectations) {
        const outcome = await call(caller, gate.document, queryOp, 0);
        const got = outcome.errors?.[0]?.extensions?.code ?? null;
        if (got !== code)
          wrong.push(`${gate.document} as ${caller.label}: expected ${code}, got ${describeOutcome(outcome)}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
