import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLOSE_CREDENTIAL_REVOKED } from "../../api.js";
import { PASSWORD, errorCode, newSession, signIn, signedInUser, wsClient } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ PUBLIC_URL: "http://studio.test" });
});
afterAll(async () => {
  await t?.close();
});

const ME = `{ me { id email } }`;
const SESSIONS = `{ sessions { id current ip userAgent createdAt lastSeenAt expiresAt } }`;
const REVOKE_SESSION = `mutation($input: IdInput!) { revokeSession(input: $input) { session { id current } } }`;

type SessionRow = { id: string; current: boolean; ip: string; userAgent: string };

/** The session cookie pair (`novart_session=…`) and its attributes from a raw Set-Cookie header. */
function sessionCookie(headers: Headers): { pair: string; attributes: string[] } {
  const cookies = headers.getSetCookie();
  expect(cookies).toHaveLength(1);
  const [pair, ...attributes] = cookies[0].split(";").map((part) => part.trim());
  expect(pair.startsWith("novart_session=")).toBe(true);
  return { pair, attributes };
}

describe("signIn and the session cookie", () => {
  it("sets an HttpOnly, SameSite=Lax cookie (not Secure over http) that authenticates me when sent back", async () => {
    const { email, account } = await signedInUser(t);
    const res = await signIn(t, email, PASSWORD, { "user-agent": "Cookie Browser/1.0" });
    expect(res.body.errors).toBeUndefined();
    const { pair, attributes } = sessionCookie(res.headers);
    expect(pair).toBe(`novart_session=${res.body.data!.signIn.token}`);
    expect(attributes).toContain("HttpOnly");
    expect(attributes).toContain("SameSite=Lax");
    expect(attributes).toContain("Path=/");
    expect(attributes.some((a) => /^Max-Age=\d+$/.test(a) && Number(a.slice(8)) > 0)).toBe(true);
    expect(attributes).not.toContain("Secure");

    const me = await t.graphql<{ me: { id: string } }>(ME, undefined, { cookie: `theme=dark; ${pair}` });
    expect(me.body.errors).toBeUndefined();
    expect(me.body.data?.me.id).toBe(account.id);

    // Without the cookie nobody is signed in.
    expect(errorCode(await t.graphql(ME))).toBe("UNAUTHENTICATED");
  });

  it("marks the cookie Secure when PUBLIC_URL is https", async () => {
    const secure = await startTestApp({ PUBLIC_URL: "https://studio.test" });
    try {
      const { email } = await signedInUser(secure);
      const res = await signIn(secure, email, PASSWORD);
      expect(res.body.errors).toBeUndefined();
      const { attributes } = sessionCookie(res.headers);
      expect(attributes).toContain("Secure");
      expect(attributes).toContain("HttpOnly");
      expect(attributes).toContain("SameSite=Lax");
    } finally {
      await secure.close();
    }
  });

  it("signOut ends the session and clears the cookie", async () => {
    const user = await signedInUser(t);
    const res = await t.graphql(`mutation { signOut { ok } }`, undefined, { cookie: `novart_session=${user.token}` });
    expect(res.body.errors).toBeUndefined();
    const { pair, attributes } = sessionCookie(res.headers);
    expect(pair).toBe("novart_session=");
    expect(attributes).toContain("Max-Age=0");
    expect(errorCode(await t.graphql(ME, undefined, user.headers))).toBe("UNAUTHENTICATED");
    // A stale cookie just means "signed out": anonymous, not an error of its own.
    const stale = await t.graphql(ME, undefined, { cookie: `novart_session=${user.token}` });
    expect(stale.status).toBe(200);
    expect(errorCode(stale)).toBe("UNAUTHENTICATED");
  });
});

describe("active sessions", () => {
  it("lists the account's sessions with the current one marked, device and IP included", async () => {
    const user = await signedInUser(t, { userAgent: "First Device" });
    const second = await newSession(t, user.account.id, "Second Device");
    const res = await t.graphql<{ sessions: SessionRow[] }>(SESSIONS, undefined, user.headers);
    expect(res.body.errors).toBeUndefined();
    const sessions = res.body.data!.sessions;
    expect(sessions.map((s) => s.id).sort()).toEqual([user.sessionId, second.sessionId].sort());
    expect(sessions.find((s) => s.id === user.sessionId)).toMatchObject({ current: true, userAgent: "First Device" });
    expect(sessions.find((s) => s.id === second.sessionId)).toMatchObject({
      current: false,
      userAgent: "Second Device",
      ip: "127.0.0.1",
    });
  });

  it("records the user agent and IP of a real sign-in", async () => {
    const user = await signedInUser(t);
    const res = await signIn(t, user.email, PASSWORD, { "user-agent": "Signing Client/2.0" });
    const token = res.body.data!.signIn.token;
    const list = await t.graphql<{ sessions: SessionRow[] }>(SESSIONS, undefined, {
      authorization: `Bearer ${token}`,
    });
    const current = list.body.data!.sessions.find((s) => s.current);
    expect(current).toMatchObject({ userAgent: "Signing Client/2.0", ip: "127.0.0.1" });
  });

  it("stores a session as the SHA-256 of its token, never the token itself", async () => {
    const user = await signedInUser(t);
    const res = await signIn(t, user.email, PASSWORD, { "user-agent": "Hash Check/1.0" });
    const token = res.body.data!.signIn.token;
    const rows = (await t.app.db.query(`SELECT * FROM session WHERE account_id = $1 AND user_agent = $2`, [
      user.account.id,
      "Hash Check/1.0",
    ])) as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    expect(rows[0].token_hash).toBe(createHash("sha256").update(token).digest("hex"));
    const stored = JSON.stringify(rows);
    const random = token.slice(token.indexOf("_") + 1);
    expect(random.length).toBeGreaterThanOrEqual(32);
    expect(stored).not.toContain(random.slice(0, 16));
    expect(stored).not.toContain(random.slice(-16));
  });

  it("revokeSession ends another session on its next request and keeps the current one", async () => {
    const user = await signedInUser(t);
    const other = await newSession(t, user.account.id, "Lost Phone");
    expect((await t.graphql(ME, undefined, other.headers)).body.errors).toBeUndefined();

    const res = await t.graphql<{ revokeSession: { session: { id: string; current: boolean } } }>(
      REVOKE_SESSION,
      { input: { id: other.sessionId } },
      user.headers,
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.revokeSession.session).toEqual({ id: other.sessionId, current: false });

    expect(errorCode(await t.graphql(ME, undefined, other.headers))).toBe("UNAUTHENTICATED");
    expect((await t.graphql(ME, undefined, user.headers)).body.errors).toBeUndefined();
    const list = await t.graphql<{ sessions: SessionRow[] }>(SESSIONS, undefined, user.headers);
    expect(list.body.data!.sessions.map((s) => s.id)).toEqual([user.sessionId]);

    // Revoking it again: there is no such active session any more.
    const again = await t.graphql(REVOKE_SESSION, { input: { id: other.sessionId } }, user.headers);
    expect(errorCode(again)).toBe("NOT_FOUND");
  });

  it("revokeSession closes the revoked session's open WebSocket with 4401", async () => {
    const user = await signedInUser(t);
    const other = await newSession(t, user.account.id, "Tablet");
    const ws = wsClient(t, other.token);
    const mine = wsClient(t, user.token);
    try {
      await Promise.all([ws.connected, mine.connected]);
      const res = await t.graphql(REVOKE_SESSION, { input: { id: other.sessionId } }, user.headers);
      expect(res.body.errors).toBeUndefined();
      expect(await ws.closeCode()).toBe(CLOSE_CREDENTIAL_REVOKED);
      // The current session's socket stays: a round trip over it still works.
      const answer = await mine.client.iterate({ query: "{ me { id } }" }).next();
      expect(answer.value).toEqual({ data: { me: { id: user.account.id } } });
    } finally {
      await ws.dispose();
      await mine.dispose();
    }
  });

  it("signOutEverywhere ends every session, the current one included, and closes their sockets", async () => {
    const user = await signedInUser(t);
    const others = [await newSession(t, user.account.id, "A"), await newSession(t, user.account.id, "B")];
    const ws = wsClient(t, others[0].token);
    try {
      await ws.connected;
      const res = await t.graphql<{ signOutEverywhere: { revokedCount: number } }>(
        `mutation { signOutEverywhere { revokedCount } }`,
        undefined,
        user.headers,
      );
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data?.signOutEverywhere.revokedCount).toBe(3);
      for (const headers of [user.headers, ...others.map((o) => o.headers)]) {
        expect(errorCode(await t.graphql(ME, undefined, headers))).toBe("UNAUTHENTICATED");
      }
      expect(await ws.closeCode()).toBe(CLOSE_CREDENTIAL_REVOKED);
    } finally {
      await ws.dispose();
    }
  });

  it("authenticates a graphql-ws connection by the session cookie of a same-origin upgrade, not a cross-site one", async () => {
    const user = await signedInUser(t);
    const cookie = `novart_session=${user.token}`;
    const host = new URL(t.url).host;
    const sameSite = wsClient(t, undefined, { cookie, origin: `http://${host}` });
    const crossSite = wsClient(t, undefined, { cookie, origin: "http://evil.test" });
    try {
      const mine = await sameSite.client.iterate({ query: ME }).next();
      expect(mine.value).toMatchObject({ data: { me: { id: user.account.id } } });
      const theirs = await crossSite.client
        .iterate({ query: ME })
        .next()
        .then(
          (r) => r.value as { errors?: { extensions?: { code?: string } }[] },
          (errors: unknown) => ({ errors: errors as { extensions?: { code?: string } }[] }),
        );
      expect(theirs.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    } finally {
      await sameSite.dispose();
      await crossSite.dispose();
    }
  });

  it("refuses an expired session", async () => {
    const user = await signedInUser(t);
    await t.app.db.query(`UPDATE session SET expires_at = now() - interval '1 second' WHERE id = $1`, [user.sessionId]);
    const res = await t.graphql(ME, undefined, user.headers);
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe("UNAUTHENTICATED");
  });
});
