import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountRole } from "./account.entity.js";
import { API_SCOPES } from "./viewer.js";
import {
  bearer,
  createApiKey,
  errorCode,
  newSession,
  signedInUser,
  type SignedInUser,
} from "../../../test/factories.js";
import { REDIS_URL, startTestApp, type TestApp } from "../../../test/harness.js";
import { freePort, runServer, type ServerProcess } from "../../../test/processes.js";

/**
 * Resolved API keys and sessions are cached per process: a change made through API #1 (this process) must
 * hold on the very next request to API #2 (a process of the built server), which had the credential cached.
 */
let t: TestApp;
let api2: ServerProcess;
let api2Url: string;
let moderator: SignedInUser;

const ME = `{ me { id } }`;

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  const port = await freePort();
  api2Url = `http://127.0.0.1:${port}`;
  api2 = runServer({
    DATABASE_URL: t.database.url,
    REDIS_URL,
    REDIS_PREFIX: t.app.config.REDIS_PREFIX,
    DATA_DIR: t.app.config.DATA_DIR,
    FILES_SECRET: "x".repeat(40),
    LOG_LEVEL: "warn",
    ROLE: "api",
    PORT: String(port),
    STUDIO_DIR: "/nonexistent",
  });
  const deadline = Date.now() + 90_000;
  while ((await fetch(`${api2Url}/readyz`).catch(() => null))?.status !== 200) {
    if (Date.now() > deadline) throw new Error(`API #2 did not get ready:\n${api2.stdout()}\n${api2.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  moderator = await signedInUser(t, { role: AccountRole.MODERATOR });
}, 120_000);
afterAll(async () => {
  await api2?.stop();
  await t?.close();
});

async function viaApi2(headers: Record<string, string>, query = ME) {
  const res = await fetch(`${api2Url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query }),
  });
  return {
    status: res.status,
    body: (await res.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] },
  };
}

/**
 * What API #2 answers once the bus has carried a change there: the change travels over Redis while the test's
 * next request travels over HTTP, so the two may cross; it must hold within a second (the cache keeps 10 s).
 */
function soon<T>(read: () => Promise<T>) {
  return expect.poll(read, { timeout: 1000, interval: 10 });
}

/** A user with a key that API #2 has resolved (and so cached) with a few requests. */
async function keyCachedOnApi2() {
  const user = await signedInUser(t);
  const key = await createApiKey(t, user, ["ACCOUNT_READ"]);
  for (let i = 0; i < 3; i++) expect((await viaApi2(key.headers)).body.errors).toBeUndefined();
  return { user, key };
}

describe("API keys cached per process", () => {
  it("a key revoked through one API process is refused on the next request to another", async () => {
    const { user, key } = await keyCachedOnApi2();
    const revoked = await t.graphql(
      `mutation($input: IdInput!) { revokeApiKey(input: $input) { apiKey { id } } }`,
      { input: { id: key.id } },
      user.headers,
    );
    expect(revoked.body.errors).toBeUndefined();
    await soon(async () => (await viaApi2(key.headers)).status).toBe(401);
    expect(errorCode(await viaApi2(key.headers))).toBe("UNAUTHENTICATED");
  });

  it("an API restriction started on one process holds at once on the other, and its lift too", async () => {
    const { user, key } = await keyCachedOnApi2();
    const restriction = await t.app.services.restrictions.restrict(
      { accountId: moderator.account.id, role: moderator.account.role },
      {
        accountId: user.account.id,
        scopes: ["API"],
        durationMinutes: null,
        reason: "Credential sharing",
        revokeApiKeys: false,
      },
    );
    await soon(async () => errorCode(await viaApi2(key.headers))).toBe("ACCOUNT_RESTRICTED");
    await t.app.services.restrictions.lift(null, restriction.id, "Cleared up");
    await soon(async () => (await viaApi2(key.headers)).body.errors).toBeUndefined();
  });

  it("a ban (ALL, keys revoked) and an account deletion end cached keys at once", async () => {
    const banned = await keyCachedOnApi2();
    await t.app.services.restrictions.restrict(
      { accountId: moderator.account.id, role: moderator.account.role },
      {
        accountId: banned.user.account.id,
        scopes: ["ALL"],
        durationMinutes: null,
        reason: "Fraud",
        revokeApiKeys: true,
      },
    );
    await soon(async () => (await viaApi2(banned.key.headers)).status).toBe(401);

    const leaving = await keyCachedOnApi2();
    await t.app.services.accounts.deleteAccount(
      {
        accountId: leaving.user.account.id,
        role: AccountRole.USER,
        via: "SESSION",
        sessionId: leaving.user.sessionId,
        apiKeyId: null,
        scopes: API_SCOPES,
      },
      leaving.user.password,
    );
    await soon(async () => (await viaApi2(leaving.key.headers)).status).toBe(401);
  });

  it("a key cached on another process is refused once it expires", async () => {
    const user = await signedInUser(t);
    const expiresAt = new Date(Date.now() + 3000);
    const { secret } = await t.app.services.apiKeys.create(user.account.id, {
      name: "short",
      scopes: ["account:read"],
      expiresAt,
    });
    for (let i = 0; i < 3; i++) expect((await viaApi2(bearer(secret))).body.errors).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, expiresAt.getTime() - Date.now() + 20));
    expect((await viaApi2(bearer(secret))).status).toBe(401);
  });
});

/** A user whose session API #2 has resolved (and so cached) with a few requests. */
async function sessionCachedOnApi2() {
  const user = await signedInUser(t);
  for (let i = 0; i < 3; i++) expect((await viaApi2(user.headers)).body.errors).toBeUndefined();
  return user;
}

describe("sessions cached per process", () => {
  it("a session signed out through one API process is refused on the next request to another", async () => {
    const user = await sessionCachedOnApi2();
    const other = await newSession(t, user.account.id);
    for (let i = 0; i < 3; i++) expect((await viaApi2(other.headers)).body.errors).toBeUndefined();
    expect((await t.graphql(`mutation { signOut { ok } }`, undefined, user.headers)).body.errors).toBeUndefined();
    await soon(async () => (await viaApi2(user.headers)).status).toBe(401);
    // Only that session: the account's other one goes on.
    expect((await viaApi2(other.headers)).body.errors).toBeUndefined();
    await t.app.services.sessions.revokeAll(user.account.id);
    await soon(async () => (await viaApi2(other.headers)).status).toBe(401);
  });

  it("a restriction holds at once on the other process, and its lift too", async () => {
    const user = await sessionCachedOnApi2();
    const restriction = await t.app.services.restrictions.restrict(
      { accountId: moderator.account.id, role: moderator.account.role },
      {
        accountId: user.account.id,
        scopes: ["TASKS"],
        durationMinutes: null,
        reason: "Spam",
        revokeApiKeys: false,
      },
    );
    const create = `mutation { createTask(input: { prompt: "a cat", model: "novart-sketch", width: 512, height: 512, count: 1 }) { task { id } } }`;
    await soon(async () => errorCode(await viaApi2(user.headers, create))).toBe("ACCOUNT_RESTRICTED");
    await t.app.services.restrictions.lift(null, restriction.id, "Cleared up");
    await soon(async () => errorCode(await viaApi2(user.headers, create))).not.toBe("ACCOUNT_RESTRICTED");
  });

  it("a role change holds on the next request to the other process, for sessions and keys alike", async () => {
    const user = await sessionCachedOnApi2();
    const key = await createApiKey(t, user, ["ACCOUNT_READ"]);
    for (let i = 0; i < 3; i++) expect((await viaApi2(key.headers)).body.errors).toBeUndefined();
    const rules = `{ moderationRules { id } }`;
    expect(errorCode(await viaApi2(user.headers, rules))).toBe("FORBIDDEN");
    // An administrator changes the role through API #1; the change holds on API #2's next request.
    const admin = await signedInUser(t, { role: AccountRole.ADMIN });
    const setRole = async (role: AccountRole) => {
      const res = await t.graphql(
        `mutation($id: ID!, $role: AccountRole!) { setAccountRole(accountId: $id, role: $role) { account { id } } }`,
        { id: user.account.id, role },
        admin.headers,
      );
      expect(res.body.errors).toBeUndefined();
    };
    await setRole(AccountRole.MODERATOR);
    await soon(async () => (await viaApi2(user.headers, rules)).body.errors).toBeUndefined();
    await setRole(AccountRole.USER);
    await soon(async () => errorCode(await viaApi2(user.headers, rules))).toBe("FORBIDDEN");
    // The key resolves to the account's role too (it cannot read rules for lack of scope, whatever the role).
    const me = await viaApi2(key.headers, `{ me { id role } }`);
    expect(me.body.data).toEqual({ me: { id: user.account.id, role: "USER" } });
  });

  it("a session cached on another process is refused once it expires", async () => {
    const user = await signedInUser(t);
    await t.app.db.query(`UPDATE session SET expires_at = now() + interval '2 seconds' WHERE id = $1`, [
      user.sessionId,
    ]);
    for (let i = 0; i < 3; i++) expect((await viaApi2(user.headers)).body.errors).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect((await viaApi2(user.headers)).status).toBe(401);
  });
});
