import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser } from "../../test/factories.js";
import { startTestApp, type TestApp } from "../../test/harness.js";

const ALLOWED = "https://app.example.com";
let t: TestApp;
let closed: TestApp;

beforeAll(async () => {
  [t, closed] = await Promise.all([
    startTestApp({ ROLE: "api", CORS_ORIGINS: `${ALLOWED}, https://other.example.org` }),
    startTestApp({ ROLE: "api" }),
  ]);
});
afterAll(async () => {
  await t?.close();
  await closed?.close();
});

const preflight = (url: string, origin: string, path = "/graphql") =>
  fetch(`${url}${path}`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });

describe("CORS", () => {
  it("answers preflights of the listed origins, without credentials", async () => {
    const res = await preflight(t.url, ALLOWED);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(res.headers.get("access-control-allow-headers")).toMatch(/authorization/);
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    const upload = await preflight(t.url, ALLOWED, "/api/uploads");
    expect(upload.headers.get("access-control-allow-origin")).toBe(ALLOWED);
  });

  it("lets a listed origin call the API with a key and read the rate-limit headers", async () => {
    const user = await signedInUser(t);
    const res = await fetch(`${t.url}/graphql`, {
      method: "POST",
      headers: { origin: ALLOWED, "content-type": "application/json", ...user.headers },
      body: JSON.stringify({ query: "{ me { id } }" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(res.headers.get("access-control-expose-headers")).toMatch(/ratelimit-remaining/);
    expect(((await res.json()) as { data: { me: { id: string } } }).data.me.id).toBe(user.account.id);
  });

  it("gives other origins nothing, and nobody anything when CORS_ORIGINS is empty", async () => {
    for (const [url, origin] of [
      [t.url, "https://evil.example.net"],
      [t.url, "https://app.example.com.evil.net"],
      [closed.url, ALLOWED],
    ]) {
      const res = await preflight(url, origin);
      expect(res.headers.get("access-control-allow-origin"), `${origin} at ${url}`).toBeNull();
      const post = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { origin, "content-type": "application/json" },
        body: JSON.stringify({ query: "{ serverInfo { version } }" }),
      });
      expect(post.headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it("refuses origins that are not scheme://host[:port] at start-up", async () => {
    const { loadConfig } = await import("./config.js");
    expect(() => loadConfig({ CORS_ORIGINS: "https://a.example.com/path" })).toThrow(/CORS_ORIGINS/);
    expect(loadConfig({ CORS_ORIGINS: " https://a.example.com ,http://localhost:3000" }).CORS_ORIGINS).toEqual([
      "https://a.example.com",
      "http://localhost:3000",
    ]);
  });
});
