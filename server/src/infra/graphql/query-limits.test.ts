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

  // The limits in force (server/src/api.ts): depth 12, aliases 30, directives 20, cost 10 000, and 3 000 tokens
  // (graphql-js's parser). Each document below breaks exactly one of them, so each limit is shown by itself.
  const refusedAlone = async (query: string, message: RegExp) => {
    const res = await t.graphql(query);
    expect(res.status, JSON.stringify(res.body).slice(0, 400)).toBe(400);
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors?.[0].extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    expect(res.body.errors?.[0].message).toMatch(message);
  };
  const serverInfoTimes = (n: number) =>
    `{ ${Array.from({ length: n }, (_, i) => `a${i}: serverInfo { version }`).join(" ")} }`;
  const directivesTimes = (n: number) =>
    `{ serverInfo { ${Array.from({ length: n }, () => "... @include(if: true) { version }").join(" ")} } }`;

  it("refuses 31 aliases (and serves 30), well within the token, depth and cost limits", async () => {
    const ok = await t.graphql<Record<string, { version: string }>>(serverInfoTimes(30));
    expect(ok.status, JSON.stringify(ok.body).slice(0, 400)).toBe(200);
    expect(Object.keys(ok.body.data ?? {})).toHaveLength(30);
    await refusedAlone(serverInfoTimes(31), /Aliases limit of 30 exceeded, found 31/);
  });

  it("refuses 21 directives (and serves 20) without a single alias", async () => {
    const ok = await t.graphql<{ serverInfo: { version: string } }>(directivesTimes(20));
    expect(ok.status, JSON.stringify(ok.body).slice(0, 400)).toBe(200);
    expect(ok.body.data?.serverInfo.version).toBeTruthy();
    await refusedAlone(directivesTimes(21), /Directives limit of 20 exceeded, found 21/);
  });

  it("refuses a document over the cost limit that is shallow, alias-free and short", async () => {
    // Armor multiplies a list's cost by its `first`: 1 000 task edges cost about 12 900, over 10 000; 500 fit.
    const tasks = (first: number) => `{ tasks(first: ${first}) { edges { node { id } } } }`;
    const ok = await t.graphql(tasks(500));
    // Validation passes (anonymous callers are then refused by the resolver, not by the limit).
    expect(ok.body.errors?.[0]?.extensions?.code).not.toBe("GRAPHQL_VALIDATION_FAILED");
    expect(JSON.stringify(ok.body)).not.toMatch(/Cost limit/);
    await refusedAlone(tasks(1000), /Query Cost limit of 10000 exceeded/);
  });

  it("hides field suggestions from error messages", async () => {
    const res = await t.graphql(`{ serverInf { version } }`);
    expect(res.body.errors?.[0].message).not.toMatch(/Did you mean/);
  });
});
