import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, wsClient } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { createApp, type App } from "../../app.js";
import { createLogger } from "../logger.js";

let t: TestApp;
let second: App;
beforeAll(async () => {
  t = await startTestApp({ ROLE: "api", RATE_LIMIT_ANONYMOUS_PER_MINUTE: "3" });
  // An account's budget is its tier's.
  await t.app.db.query(`UPDATE tier SET requests_per_minute = 5`);
  // A second API process on the same database and Redis prefix.
  second = await createApp({ ...t.app.config, PORT: 0 }, createLogger("silent"));
  await second.start();
});
afterAll(async () => {
  await second?.stop();
  await t?.close();
});

async function post(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query: "{ serverInfo { version } }" }),
  });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as { errors?: { extensions: Record<string, unknown> }[] },
  };
}

describe("the request budget", () => {
  it("allows N anonymous requests per IP, refuses the N+1st with 429, RATE_LIMITED and Retry-After", async () => {
    for (let left = 2; left >= 0; left--) {
      const res = await post(t.url);
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit-limit")).toBe("3");
      expect(res.headers.get("ratelimit-remaining")).toBe(String(left));
    }
    const refused = await post(t.url);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(refused.body.errors?.[0].extensions).toMatchObject({ code: "RATE_LIMITED" });
    expect(Number(refused.body.errors?.[0].extensions.retryAfter)).toBeGreaterThan(0);
  });

  it("counts an account's requests across two API processes sharing Redis", async () => {
    const user = await signedInUser(t);
    const urls = [t.url, second.url!, t.url, second.url!, t.url];
    for (const url of urls) expect((await post(url, user.headers)).status).toBe(200);
    for (const url of [second.url!, t.url]) {
      const refused = await post(url, user.headers);
      expect(refused.status).toBe(429);
      expect(refused.body.errors?.[0].extensions).toMatchObject({ code: "RATE_LIMITED" });
      const retryAfter = Number(refused.body.errors?.[0].extensions.retryAfter);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(Number(refused.headers.get("retry-after"))).toBe(retryAfter);
      // The budget headers come with the refusal too: nothing left, back when Retry-After says.
      expect(refused.headers.get("ratelimit-limit")).toBe("5");
      expect(refused.headers.get("ratelimit-remaining")).toBe("0");
      expect(Number(refused.headers.get("ratelimit-reset"))).toBe(retryAfter);
    }
  });

  it("spends the same budget for queries and mutations over graphql-ws (not for subscriptions)", async () => {
    const user = await signedInUser(t);
    const socket = wsClient(t, user.token);
    type Answer = { data?: unknown; errors?: { extensions?: Record<string, unknown> }[] };
    const over = (query: string) =>
      socket.client
        .iterate({ query })
        .next()
        .then(
          (r) => r.value as Answer,
          (errors: unknown) => ({ errors: errors as Answer["errors"] }),
        );
    try {
      await socket.connected;
      // A subscription started on the socket costs nothing: it is no request of the budget.
      const events = socket.client.iterate({ query: "subscription { messageReceived { id } }" });
      void events.next().catch(() => undefined);
      for (let i = 0; i < 3; i++) expect(await over("{ serverInfo { version } }")).toMatchObject({ data: {} });
      // The same budget over HTTP, on both processes: 2 left, then 1.
      expect((await post(second.url!, user.headers)).headers.get("ratelimit-remaining")).toBe("1");
      expect((await post(t.url, user.headers)).headers.get("ratelimit-remaining")).toBe("0");
      const refused = await over(`mutation { markMessagesRead(input: {}) { unreadCount } }`);
      expect(refused.errors?.[0].extensions).toMatchObject({ code: "RATE_LIMITED" });
      expect(Number(refused.errors?.[0].extensions?.retryAfter)).toBeGreaterThan(0);
      expect((await over("{ serverInfo { version } }")).errors?.[0].extensions?.code).toBe("RATE_LIMITED");
      expect((await post(second.url!, user.headers)).status).toBe(429);
      await events.return?.(undefined);
    } finally {
      await socket.dispose();
    }
  });
});
