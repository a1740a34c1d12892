import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey, errorCode, newSession, signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const ME = `{ me { id } }`;
const SESSIONS = `{ sessions { id } }`;
const API_KEYS = `{ apiKeys { id } }`;
const MESSAGES = `{ unreadMessageCount messages(first: 100) { edges { node { id title } } } }`;
const REVOKE_SESSION = `mutation($input: IdInput!) { revokeSession(input: $input) { session { id } } }`;
const REVOKE_KEY = `mutation($input: IdInput!) { revokeApiKey(input: $input) { apiKey { id } } }`;
const MARK_READ = `mutation($input: MarkMessagesReadInput!) { markMessagesRead(input: $input) { unreadCount } }`;

type Inbox = { unreadMessageCount: number; messages: { edges: { node: { id: string; title: string } }[] } };

let a: SignedInUser;
let aSecondSession: { sessionId: string; headers: Record<string, string> };
let aKey: { id: string; headers: Record<string, string> };
let aMessageIds: string[];
let b: SignedInUser;

beforeAll(async () => {
  a = await signedInUser(t);
  aSecondSession = await newSession(t, a.account.id, "A's phone");
  aKey = await createApiKey(t, a, ["ACCOUNT_READ"], "A's key");
  aMessageIds = [];
  for (const title of ["A one", "A two"]) {
    const message = await t.app.services.messages.send(a.account.id, { kind: "test", title, body: "for A only" });
    aMessageIds.push(message.id);
  }
  b = await signedInUser(t);
  await createApiKey(t, b, ["ACCOUNT_READ"], "B's key");
  await t.app.services.messages.send(b.account.id, { kind: "test", title: "B one", body: "for B only" });
});

describe("user B and user A's things", () => {
  it("B cannot revoke A's session by id (NOT_FOUND) and A's session keeps working", async () => {
    for (const id of [a.sessionId, aSecondSession.sessionId]) {
      const res = await t.graphql(REVOKE_SESSION, { input: { id } }, b.headers);
      expect(errorCode(res)).toBe("NOT_FOUND");
    }
    for (const headers of [a.headers, aSecondSession.headers]) {
      expect((await t.graphql(ME, undefined, headers)).body.errors).toBeUndefined();
    }
    const aSessions = await t.graphql<{ sessions: { id: string }[] }>(SESSIONS, undefined, a.headers);
    expect(aSessions.body.data?.sessions.map((s) => s.id).sort()).toEqual(
      [a.sessionId, aSecondSession.sessionId].sort(),
    );
  });

  it("B cannot revoke A's API key by id (NOT_FOUND) and A's key keeps working", async () => {
    const res = await t.graphql(REVOKE_KEY, { input: { id: aKey.id } }, b.headers);
    expect(errorCode(res)).toBe("NOT_FOUND");
    const me = await t.graphql<{ me: { id: string } }>(ME, undefined, aKey.headers);
    expect(me.body.data?.me.id).toBe(a.account.id);
    const [row] = (await t.app.db.query(`SELECT revoked_at FROM api_key WHERE id = $1`, [aKey.id])) as {
      revoked_at: Date | null;
    }[];
    expect(row.revoked_at).toBeNull();
  });

  it("B cannot mark A's messages read (A's unread count is unchanged)", async () => {
    const res = await t.graphql<{ markMessagesRead: { unreadCount: number } }>(
      MARK_READ,
      { input: { ids: aMessageIds } },
      b.headers,
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.markMessagesRead.unreadCount).toBe(1); // B's own, still unread
    const inbox = await t.graphql<Inbox>(MESSAGES, undefined, a.headers);
    expect(inbox.body.data?.unreadMessageCount).toBe(2);
    const [row] = (await t.app.db.query(
      `SELECT count(*)::int AS n FROM message WHERE id = ANY($1::uuid[]) AND read_at IS NULL`,
      [aMessageIds],
    )) as { n: number }[];
    expect(row.n).toBe(2);
  });

  it("B's messages, sessions and apiKeys never include A's items", async () => {
    const inbox = await t.graphql<Inbox>(MESSAGES, undefined, b.headers);
    expect(inbox.body.data?.messages.edges.map((e) => e.node.title)).toEqual(["B one"]);
    expect(inbox.body.data?.unreadMessageCount).toBe(1);

    const sessions = await t.graphql<{ sessions: { id: string }[] }>(SESSIONS, undefined, b.headers);
    expect(sessions.body.data?.sessions.map((s) => s.id)).toEqual([b.sessionId]);

    const keys = await t.graphql<{ apiKeys: { id: string }[] }>(API_KEYS, undefined, b.headers);
    expect(keys.body.data?.apiKeys).toHaveLength(1);
    expect(keys.body.data?.apiKeys.map((k) => k.id)).not.toContain(aKey.id);

    // And A sees exactly A's own.
    const aInbox = await t.graphql<Inbox>(MESSAGES, undefined, a.headers);
    expect(aInbox.body.data?.messages.edges.map((e) => e.node.id).sort()).toEqual([...aMessageIds].sort());
  });

  it("anonymous callers get UNAUTHENTICATED on every account query", async () => {
    for (const query of [ME, SESSIONS, API_KEYS, MESSAGES]) {
      const res = await t.graphql(query);
      expect(errorCode(res), query).toBe("UNAUTHENTICATED");
      expect(res.body.data ?? null).toBeNull();
    }
  });
});
