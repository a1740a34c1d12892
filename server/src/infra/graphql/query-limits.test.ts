import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../../test/harness.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
});
afterAll(() => t?.close());

describe("query limits (GraphQL Armor)", () => {
  it("refuses deep nesting, thousands of aliases and huge documents with typed errors, and keeps serving", async () => {
    // Task.assets → Asset.task → Task.assets … nests as deep as a client likes, unless limited.
    const deep = `{ tasks { edges { node { ${"assets { task { ".repeat(8)}id${" } }".repeat(8)} } } } }`;
    const depth = await t.graphql(deep);
    expect(depth.status, JSON.stringify(depth.body)).toBe(400);
    expect(depth.body.errors?.[0].extensions?.code).toMatch(/GRAPHQL_VALIDATION_FAILED|BAD_USER_INPUT/);

    const aliases = `{ ${Array.from({ length: 2000 }, (_, i) => `a${i}: serverInfo { version }`).join(" ")} }`;
    const many = await t.graphql(aliases);
    expect(many.status, JSON.stringify(many.body).slice(0, 400)).toBe(400);
    expect(many.body.errors?.[0].extensions?.code).toMatch(/GRAPHQL_(VALIDATION|PARSE)_FAILED|BAD_USER_INPUT/);

    const batched = await fetch(`${t.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ query: "{ serverInfo { version } }" }, { query: "{ serverInfo { version } }" }]),
    });
    expect(batched.status).toBe(400);

    const ok = await t.graphql<{ serverInfo: { version: string } }>(`{ serverInfo { version } }`);
    expect(ok.body.data?.serverInfo.version).toBeTruthy();
  });

  it("hides field suggestions from error messages", async () => {
    const res = await t.graphql(`{ serverInf { version } }`);
    expect(res.body.errors?.[0].message).not.toMatch(/Did you mean/);
  });
});
