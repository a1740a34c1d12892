import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../../test/harness.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const MODELS = `{ models { slug name provider creditsPerImage maxImages enabled sizes { width height aspectRatio creditsPerImage } } }`;

describe("models", () => {
  it("answers the seeded offline models with their prices", async () => {
    const { status, body } = await t.graphql<{ models: Record<string, unknown>[] }>(MODELS);
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    const models = body.data!.models;
    expect(models.map((m) => m.slug)).toEqual(["novart-sketch", "novart-mosaic"]);
    expect(models[0]).toMatchObject({
      name: "Novart Sketch",
      provider: "OFFLINE",
      creditsPerImage: 2,
      maxImages: 4,
      enabled: true,
    });
    const sizes = models[0].sizes as { width: number; height: number; aspectRatio: string; creditsPerImage: number }[];
    expect(sizes).toContainEqual({ width: 1024, height: 1024, aspectRatio: "1:1", creditsPerImage: 4 });
    expect(sizes).toContainEqual({ width: 1024, height: 576, aspectRatio: "16:9", creditsPerImage: 3 });
  });

  it("leaves disabled models out", async () => {
    await t.app.db.query(`UPDATE generation_model SET enabled = false WHERE slug = 'novart-mosaic'`);
    try {
      const { body } = await t.graphql<{ models: { slug: string }[] }>(`{ models { slug } }`);
      expect(body.data!.models.map((m) => m.slug)).toEqual(["novart-sketch"]);
    } finally {
      await t.app.db.query(`UPDATE generation_model SET enabled = true WHERE slug = 'novart-mosaic'`);
    }
  });
});

describe("the /graphql HTTP path", () => {
  it("refuses unknown fields with a typed validation error", async () => {
    const { status, body } = await t.graphql(`{ models { price } }`);
    expect(status).toBe(400);
    expect(body.errors?.[0].extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });

  it("refuses a syntax error with GRAPHQL_PARSE_FAILED", async () => {
    const { status, body } = await t.graphql(`{ models { `);
    expect(status).toBe(400);
    expect(body.errors?.[0].extensions?.code).toBe("GRAPHQL_PARSE_FAILED");
  });

  it("refuses a body that is not JSON with BAD_REQUEST", async () => {
    const res = await fetch(`${t.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{nope",
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe(
      "BAD_REQUEST",
    );
  });

  it("refuses an oversized body with 413 PAYLOAD_TOO_LARGE before reading it all", async () => {
    const huge = JSON.stringify({ query: `{ serverInfo { version } }`, variables: { pad: "x".repeat(200_000) } });
    const res = await fetch(`${t.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: huge,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe(
      "PAYLOAD_TOO_LARGE",
    );
  });

  it("refuses simple GET queries (CSRF prevention) but serves POST", async () => {
    const res = await fetch(`${t.url}/graphql?query=${encodeURIComponent("{ serverInfo { version } }")}`);
    expect(res.status).toBe(400);
    const ok = await t.graphql<{ serverInfo: { version: string } }>(`{ serverInfo { version } }`);
    expect(ok.body.data?.serverInfo.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("echoes a sane request id and replaces an insane one", async () => {
    const mine = await fetch(`${t.url}/healthz`, { headers: { "x-request-id": "abc-123" } });
    expect(mine.headers.get("x-request-id")).toBe("abc-123");
    const bad = await fetch(`${t.url}/healthz`, { headers: { "x-request-id": "no spaces <allowed>" } });
    expect(bad.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("health", () => {
  it("reports liveness and readiness of PostgreSQL and Redis", async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ok: true, checks: { postgres: "ok", redis: "ok" } });
  });

  it("answers unknown API routes with a JSON 404", async () => {
    const res = await fetch(`${t.url}/api/nothing-here`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
  });
});
