import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser } from "../../../test/factories.js";
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
    expect((await post(second.url!, user.headers)).status).toBe(429);
    expect((await post(t.url, user.headers)).status).toBe(429);
  });
});
