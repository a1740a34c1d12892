import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLOSE_CREDENTIAL_REVOKED } from "../../api.js";
import { AccountRole } from "./account.entity.js";
import {
  CREATE_API_KEY,
  PASSWORD,
  bearer,
  createApiKey,
  errorCode,
  signedInUser,
  waitFor,
  wsClient,
} from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const ME = `{ me { id email } }`;
const API_KEYS = `{ apiKeys { id name prefix scopes createdAt lastUsedAt expiresAt revokedAt } }`;
const REVOKE = `mutation($input: IdInput!) { revokeApiKey(input: $input) { apiKey { id revokedAt } } }`;
const ALL_SCOPES = ["TASKS_READ", "TASKS_WRITE", "ASSETS_READ", "ACCOUNT_READ"] as const;

type ApiKeyRow = {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
};

async function listKeys(headers: Record<string, string>): Promise<ApiKeyRow[]> {
  const res = await t.graphql<{ apiKeys: ApiKeyRow[] }>(API_KEYS, undefined, headers);
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.apiKeys;
}

describe("creating and listing API keys", () => {
  it("returns the secret once; the list and the database never hold it, only its SHA-256", async () => {
    const user = await signedInUser(t);
    const res = await t.graphql<{ createApiKey: { secret: string; apiKey: ApiKeyRow } }>(
      CREATE_API_KEY,
      { input: { name: "  CI pipeline ", scopes: ["ACCOUNT_READ", "TASKS_READ", "ACCOUNT_READ"] } },
      user.headers,
    );
    expect(res.body.errors).toBeUndefined();
    const { secret, apiKey } = res.body.data!.createApiKey;
    const match = /^(nvk_[0-9A-Z]{12})_([A-Za-z0-9_-]{43})$/.exec(secret);
    expect(match).not.toBeNull();
    const [, visible, random] = match!;
    expect(apiKey).toMatchObject({ name: "CI pipeline", prefix: visible, lastUsedAt: null, revokedAt: null });
    expect([...apiKey.scopes].sort()).toEqual(["ACCOUNT_READ", "TASKS_READ"]);

    const listed = await t.graphql(API_KEYS, undefined, user.headers);
    expect(JSON.stringify(listed.body)).toContain(visible);
    expect(JSON.stringify(listed.body)).not.toContain(random);
    const noSecretField = await t.graphql(`{ apiKeys { secret } }`, undefined, user.headers);
    expect(errorCode(noSecretField)).toBe("GRAPHQL_VALIDATION_FAILED");

    const rows = (await t.app.db.query(`SELECT * FROM api_key WHERE id = $1`, [apiKey.id])) as Record<
      string,
      unknown
    >[];
    expect(rows).toHaveLength(1);
    expect(rows[0].secret_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0].secret_hash).toBe(createHash("sha256").update(secret).digest("hex"));
    expect(JSON.stringify(rows[0])).not.toContain(random);
  });

  it("refuses bad input with field errors: no name, no scope, an expiry in the past", async () => {
    const user = await signedInUser(t);
    const cases: [Record<string, unknown>, string][] = [
      [{ name: " ", scopes: ["ACCOUNT_READ"] }, "name"],
      [{ name: "k", scopes: [] }, "scopes"],
      [{ name: "k", scopes: ["ACCOUNT_READ"], expiresAt: new Date(Date.now() - 60_000).toISOString() }, "expiresAt"],
    ];
    for (const [input, field] of cases) {
      const res = await t.graphql(CREATE_API_KEY, { input }, user.headers);
      expect(errorCode(res), field).toBe("BAD_USER_INPUT");
      expect(res.body.errors?.[0].extensions?.field).toBe(field);
    }
    expect(await listKeys(user.headers)).toEqual([]);
  });
});

describe("authenticating with an API key", () => {
  it("answers me for a key with ACCOUNT_READ and sets lastUsedAt after use", async () => {
    const user = await signedInUser(t);
    const key = await createApiKey(t, user, ["ACCOUNT_READ"]);
    expect((await listKeys(user.headers))[0].lastUsedAt).toBeNull();

    const me = await t.graphql<{ me: { id: string } }>(ME, undefined, key.headers);
    expect(me.body.errors).toBeUndefined();
    expect(me.body.data?.me.id).toBe(user.account.id);

    // The touch is written after the answer (not awaited by the request): poll for it.
    const lastUsedAt = await waitFor(
      async () => (await listKeys(user.headers))[0].lastUsedAt ?? undefined,
      "lastUsedAt to be set",
    );
    expect(Math.abs(Date.parse(lastUsedAt) - Date.now())).toBeLessThan(60_000);
  });

  it("refuses me (FORBIDDEN) for a key without ACCOUNT_READ", async () => {
    const user = await signedInUser(t);
    const key = await createApiKey(t, user, ["TASKS_READ", "TASKS_WRITE", "ASSETS_READ"]);
    const res = await t.graphql(ME, undefined, key.headers);
    expect(errorCode(res)).toBe("FORBIDDEN");
    expect(res.body.errors?.[0].extensions?.requiredScope).toBe("account:read");
    expect(errorCode(await t.graphql(`{ unreadMessageCount }`, undefined, key.headers))).toBe("FORBIDDEN");
  });

  it("never lets a key (even with every scope, even an admin's) manage keys, credentials or admin work", async () => {
    const admin = await signedInUser(t, { role: AccountRole.ADMIN });
    const key = await createApiKey(t, admin, [...ALL_SCOPES]);
    const operations: [string, Record<string, unknown>?][] = [
      [CREATE_API_KEY, { input: { name: "from a key", scopes: ["ACCOUNT_READ"] } }],
      [API_KEYS],
      [REVOKE, { input: { id: key.id } }],
      [
        `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ok } }`,
        { input: { currentPassword: PASSWORD, newPassword: "a brand new passphrase" } },
      ],
      [
        `mutation($input: ChangeEmailInput!) { changeEmail(input: $input) { pendingEmail } }`,
        { input: { newEmail: "elsewhere@example.com", password: PASSWORD } },
      ],
      [`mutation($input: PasswordInput!) { deleteAccount(input: $input) { ok } }`, { input: { password: PASSWORD } }],
      [`{ sessions { id } }`],
      [`mutation { signOutEverywhere { revokedCount } }`],
      [
        `mutation($input: PublishTermsInput!) { publishTermsOfUse(input: $input) { document { version } } }`,
        { input: { title: "Terms", body: "A new text of the terms, long enough." } },
      ],
    ];
    for (const [query, variables] of operations) {
      const res = await t.graphql(query, variables, key.headers);
      expect(errorCode(res), query).toBe("FORBIDDEN");
    }
    // Nothing happened: still one key, not revoked; the password and terms are unchanged.
    const keys = await listKeys(admin.headers);
    expect(keys.map((k) => [k.id, k.revokedAt])).toEqual([[key.id, null]]);
    expect((await t.graphql(ME, undefined, key.headers)).body.errors).toBeUndefined();
    const terms = await t.graphql<{ termsOfUse: { version: number } }>(`{ termsOfUse { version } }`);
    expect(terms.body.data?.termsOfUse.version).toBe(1);
  });

  it("refuses garbage and forged bearer tokens with UNAUTHENTICATED and HTTP 401", async () => {
    const user = await signedInUser(t);
    const key = await createApiKey(t, user, ["ACCOUNT_READ"]);
    const forged = key.secret.slice(0, -1) + (key.secret.endsWith("A") ? "B" : "A");
    const credentials = [
      bearer("garbage"),
      bearer("nvk_garbage"),
      bearer("nvs_garbage"),
      bearer(forged),
      { authorization: "Token something" },
    ];
    for (const headers of credentials) {
      const res = await t.graphql(ME, undefined, headers);
      expect(res.status, headers.authorization).toBe(401);
      expect(errorCode(res), headers.authorization).toBe("UNAUTHENTICATED");
    }
    // Even operations that need no credential: a client with a bad key must learn it at once.
    const terms = await t.graphql(`{ termsOfUse { version } }`, undefined, bearer("garbage"));
    expect(terms.status).toBe(401);
    expect(errorCode(terms)).toBe("UNAUTHENTICATED");
  });

  it("refuses an expired key, also right after this process resolved (and cached) it", async () => {
    const user = await signedInUser(t);
    const expiresAt = new Date(Date.now() + 3000).toISOString();
    const res = await t.graphql<{ createApiKey: { secret: string; apiKey: ApiKeyRow } }>(
      CREATE_API_KEY,
      { input: { name: "short-lived", scopes: ["ACCOUNT_READ"], expiresAt } },
      user.headers,
    );
    expect(res.body.errors).toBeUndefined();
    const { secret, apiKey } = res.body.data!.createApiKey;
    expect(apiKey.expiresAt).toBe(expiresAt);
    expect((await t.graphql(ME, undefined, bearer(secret))).body.errors).toBeUndefined();
    expect((await t.graphql(ME, undefined, bearer(secret))).body.errors).toBeUndefined();

    await new Promise((resolve) => setTimeout(resolve, Date.parse(expiresAt) - Date.now() + 20));
    const expired = await t.graphql(ME, undefined, bearer(secret));
    expect(expired.status).toBe(401);
    expect(errorCode(expired)).toBe("UNAUTHENTICATED");
  });

  it("resolves a known key without SQL: one lookup for many requests, last_used_at written once", async () => {
    const user = await signedInUser(t);
    const key = await createApiKey(t, user, ["ACCOUNT_READ"]);
    const pool = (t.app.db.driver as unknown as { master: { query: (...args: unknown[]) => unknown } }).master;
    const [poolQuery, dbQuery] = [pool.query, t.app.db.query];
    let lookups = 0;
    let touches = 0;
    pool.query = function (this: unknown, ...args: unknown[]) {
      if (String((args[0] as { text?: string }).text ?? args[0]).includes("FROM api_key k")) lookups++;
      return poolQuery.apply(this, args);
    };
    t.app.db.query = function (this: unknown, ...args: Parameters<typeof dbQuery>) {
      if (String(args[0]).includes("SET last_used_at")) touches++;
      return dbQuery.apply(this, args);
    } as typeof dbQuery;
    try {
      for (let i = 0; i < 5; i++) expect((await t.graphql(ME, undefined, key.headers)).body.errors).toBeUndefined();
    } finally {
      pool.query = poolQuery;
      t.app.db.query = dbQuery;
    }
    expect(lookups).toBe(1);
    expect(touches).toBe(1);
    await waitFor(async () => (await listKeys(user.headers))[0].lastUsedAt ?? undefined, "lastUsedAt to be set");
    // A wrong secret with the lookup id of the cached key is refused.
    const forged = key.secret.slice(0, -4) + (key.secret.endsWith("AAAA") ? "BBBB" : "AAAA");
    expect((await t.graphql(ME, undefined, bearer(forged))).status).toBe(401);
  });
});

describe("revoking API keys", () => {
  it("refuses a revoked key over HTTP and closes its open WebSocket with 4401", async () => {
    const user = await signedInUser(t);
    const key = await createApiKey(t, user, ["ACCOUNT_READ"]);
    const spare = await createApiKey(t, user, ["ACCOUNT_READ"], "spare");
    const ws = wsClient(t, key.secret);
    const spareWs = wsClient(t, spare.secret);
    try {
      await Promise.all([ws.connected, spareWs.connected]);
      // The socket is really authenticated by the key.
      const before = await ws.client.iterate({ query: ME }).next();
      expect(before.value).toMatchObject({ data: { me: { id: user.account.id } } });

      const res = await t.graphql<{ revokeApiKey: { apiKey: { id: string; revokedAt: string | null } } }>(
        REVOKE,
        { input: { id: key.id } },
        user.headers,
      );
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data?.revokeApiKey.apiKey.revokedAt).not.toBeNull();

      expect(await ws.closeCode()).toBe(CLOSE_CREDENTIAL_REVOKED);
      const after = await t.graphql(ME, undefined, key.headers);
      expect(after.status).toBe(401);
      expect(errorCode(after)).toBe("UNAUTHENTICATED");

      // The other key of the same account is untouched, over HTTP and on its socket.
      expect((await t.graphql(ME, undefined, spare.headers)).body.errors).toBeUndefined();
      const spareAnswer = await spareWs.client.iterate({ query: ME }).next();
      expect(spareAnswer.value).toMatchObject({ data: { me: { id: user.account.id } } });

      // A reconnect with the revoked key is refused at connection_init.
      const retry = wsClient(t, key.secret);
      expect(await retry.closeCode()).toBe(4403);
      await retry.dispose();
    } finally {
      await ws.dispose();
      await spareWs.dispose();
    }

    // Revoked keys stay listed, marked; revoking again is a no-op.
    const keys = await listKeys(user.headers);
    expect(keys.find((k) => k.id === key.id)?.revokedAt).not.toBeNull();
    expect(keys.find((k) => k.id === spare.id)?.revokedAt).toBeNull();
    expect((await t.graphql(REVOKE, { input: { id: key.id } }, user.headers)).body.errors).toBeUndefined();
  });
});
