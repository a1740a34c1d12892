import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey, errorCode, messageTopicSubscribed, signedInUser, wsClient } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const SUBSCRIBE = `subscription { messageReceived { id kind title body link readAt createdAt } }`;
const PAGE = `query($first: Int, $after: String, $unreadOnly: Boolean) {
  messages(first: $first, after: $after, unreadOnly: $unreadOnly) {
    edges { cursor node { id title readAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const MARK_READ = `mutation($input: MarkMessagesReadInput!) { markMessagesRead(input: $input) { unreadCount } }`;

type Received = { messageReceived: { id: string; kind: string; title: string; body: string; link: string | null } };
type Page = {
  messages: {
    edges: { cursor: string; node: { id: string; title: string; readAt: string | null } }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
};

async function unreadCount(headers: Record<string, string>): Promise<number> {
  const res = await t.graphql<{ unreadMessageCount: number }>(`{ unreadMessageCount }`, undefined, headers);
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.unreadMessageCount;
}

describe("messageReceived subscription", () => {
  it("delivers a message sent to the account, and only the account's own messages", async () => {
    const a = await signedInUser(t);
    const b = await signedInUser(t);
    const aWs = wsClient(t, a.token);
    const bWs = wsClient(t, b.token);
    try {
      const aEvents = aWs.client.iterate<Received>({ query: SUBSCRIBE });
      const bEvents = bWs.client.iterate<Received>({ query: SUBSCRIBE });
      const aNext = aEvents.next();
      const bNext = bEvents.next();
      await Promise.all([messageTopicSubscribed(t, a.account.id), messageTopicSubscribed(t, b.account.id)]);

      const sent = await t.app.services.messages.send(a.account.id, {
        kind: "test.hello",
        title: "Hello A",
        body: "Only for A",
        link: "/somewhere",
      });
      const received = await aNext;
      expect(received.value).toEqual({
        data: {
          messageReceived: {
            id: sent.id,
            kind: "test.hello",
            title: "Hello A",
            body: "Only for A",
            link: "/somewhere",
            readAt: null,
            createdAt: sent.createdAt.toISOString(),
          },
        },
      });

      // B's stream is ordered after A's message (one publisher, one subscriber connection): if A's message
      // had leaked to B, it would arrive before B's own.
      const own = await t.app.services.messages.send(b.account.id, { kind: "test.hello", title: "Hello B", body: "B" });
      const bReceived = await bNext;
      expect(bReceived.value?.data?.messageReceived.id).toBe(own.id);

      await aEvents.return?.();
      await bEvents.return?.();
    } finally {
      await aWs.dispose();
      await bWs.dispose();
    }
  });

  it("works for an API key with ACCOUNT_READ and refuses one without (FORBIDDEN)", async () => {
    const user = await signedInUser(t);
    const reader = await createApiKey(t, user, ["ACCOUNT_READ"]);
    const other = await createApiKey(t, user, ["TASKS_READ"]);
    const readerWs = wsClient(t, reader.secret);
    const otherWs = wsClient(t, other.secret);
    try {
      const events = readerWs.client.iterate<Received>({ query: SUBSCRIBE });
      const next = events.next();
      await messageTopicSubscribed(t, user.account.id);
      const sent = await t.app.services.messages.send(user.account.id, { kind: "k", title: "Via key", body: "b" });
      expect((await next).value?.data?.messageReceived.id).toBe(sent.id);
      await events.return?.();

      const refused = await otherWs.client
        .iterate({ query: SUBSCRIBE })
        .next()
        .then(
          (r) => r.value as { errors?: { extensions?: { code?: string } }[] },
          (errors: unknown) => ({ errors: errors as { extensions?: { code?: string } }[] }),
        );
      expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    } finally {
      await readerWs.dispose();
      await otherWs.dispose();
    }
  });

  it("refuses an anonymous subscription with UNAUTHENTICATED", async () => {
    const ws = wsClient(t);
    try {
      await ws.connected;
      const outcome = await ws.client
        .iterate({ query: SUBSCRIBE })
        .next()
        .then(
          (r) => r.value as { errors?: { extensions?: { code?: string } }[] },
          (errors: unknown) => ({ errors: errors as { extensions?: { code?: string } }[] }),
        );
      expect(outcome.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    } finally {
      await ws.dispose();
    }
  });
});

describe("the inbox", () => {
  it("pages with first/after, newest first, without gaps or repeats", async () => {
    const user = await signedInUser(t);
    const sentIds: string[] = [];
    for (let i = 0; i < 25; i++) {
      const m = await t.app.services.messages.send(user.account.id, { kind: "k", title: `#${i}`, body: "b" });
      sentIds.push(m.id);
    }
    const pages: Page["messages"][] = [];
    let after: string | null = null;
    for (const size of [10, 10, 5]) {
      const res: { body: { data?: Page; errors?: unknown } } = await t.graphql<Page>(
        PAGE,
        { first: 10, after },
        user.headers,
      );
      expect(res.body.errors).toBeUndefined();
      const page = res.body.data!.messages;
      expect(page.edges).toHaveLength(size);
      pages.push(page);
      after = page.pageInfo.endCursor;
    }
    expect(pages.map((p) => p.pageInfo.hasNextPage)).toEqual([true, true, false]);
    expect(pages[2].pageInfo.endCursor).toBe(pages[2].edges.at(-1)!.cursor);
    const seen = pages.flatMap((p) => p.edges.map((e) => e.node.id));
    expect(seen).toEqual([...sentIds].reverse());

    const bad = await t.graphql(PAGE, { first: 101 }, user.headers);
    expect(errorCode(bad)).toBe("BAD_USER_INPUT");
    const badCursor = await t.graphql(PAGE, { after: "not-a-cursor" }, user.headers);
    expect(errorCode(badCursor)).toBe("BAD_USER_INPUT");
  });

  it("filters unread messages, marks some by id or all read, and counts unread ones", async () => {
    const user = await signedInUser(t);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push((await t.app.services.messages.send(user.account.id, { kind: "k", title: `m${i}`, body: "b" })).id);
    }
    expect(await unreadCount(user.headers)).toBe(4);

    const marked = await t.graphql<{ markMessagesRead: { unreadCount: number } }>(
      MARK_READ,
      { input: { ids: [ids[0], ids[2]] } },
      user.headers,
    );
    expect(marked.body.errors).toBeUndefined();
    expect(marked.body.data?.markMessagesRead.unreadCount).toBe(2);
    expect(await unreadCount(user.headers)).toBe(2);

    const unread = await t.graphql<Page>(PAGE, { unreadOnly: true }, user.headers);
    expect(unread.body.data?.messages.edges.map((e) => e.node.id)).toEqual([ids[3], ids[1]]);
    const all = await t.graphql<Page>(PAGE, {}, user.headers);
    const readIds = all.body.data!.messages.edges.filter((e) => e.node.readAt !== null).map((e) => e.node.id);
    expect(readIds).toEqual([ids[2], ids[0]]);

    const everything = await t.graphql<{ markMessagesRead: { unreadCount: number } }>(
      MARK_READ,
      { input: {} },
      user.headers,
    );
    expect(everything.body.data?.markMessagesRead.unreadCount).toBe(0);
    expect(await unreadCount(user.headers)).toBe(0);
    const none = await t.graphql<Page>(PAGE, { unreadOnly: true }, user.headers);
    expect(none.body.data?.messages.edges).toEqual([]);
    expect(none.body.data?.messages.pageInfo).toEqual({ hasNextPage: false, endCursor: null });
  });

  it("lets an API key with ACCOUNT_READ read the inbox but not mark it read (needs a session)", async () => {
    const user = await signedInUser(t);
    await t.app.services.messages.send(user.account.id, { kind: "k", title: "t", body: "b" });
    const key = await createApiKey(t, user, ["ACCOUNT_READ"]);
    expect(await unreadCount(key.headers)).toBe(1);
    expect(errorCode(await t.graphql(MARK_READ, { input: {} }, key.headers))).toBe("FORBIDDEN");
    expect(await unreadCount(user.headers)).toBe(1);
  });
});
