import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser } from "../factories.js";
import { startTestApp, type TestApp } from "../harness.js";

/**
 * CSRF on cookie-authenticated GraphQL: a page on another site can make the browser POST to /graphql with
 * the session cookie, but only with a "simple" content type (no preflight): text/plain, a form, multipart.
 * Such a request must never reach an operation, neither by its text nor as a trusted (persisted) document's
 * hash, on Apollo's path or on the fast path in front of it. A JSON POST (which needs a CORS preflight a
 * foreign origin does not pass) is the control that shows the same mutation works.
 */
const SIMPLE_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"];
const MUTATION = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }`;

let t: TestApp;
let user: SignedInUser;
let cookie: string;
/** The studio's trusted createApiKey document, by hash. */
let persisted: { hash: string; operationName: string };

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  user = await signedInUser(t);
  cookie = `novart_session=${user.token}`;
  const manifest = JSON.parse(fs.readFileSync(t.app.config.PERSISTED_DOCUMENTS_FILE, "utf8")) as Record<string, string>;
  const [key, text] = Object.entries(manifest).find(([, text]) => /mutation CreateApiKey\b/.test(text))!;
  persisted = { hash: key.replace(/^sha256:/, ""), operationName: /mutation (CreateApiKey)\b/.exec(text)![1] };
});
afterAll(() => t?.close());

const keysNamed = async (name: string) =>
  (
    (await t.app.db.query(`SELECT count(*)::int AS n FROM api_key WHERE account_id = $1 AND name = $2`, [
      user.account.id,
      name,
    ])) as { n: number }[]
  )[0].n;

async function post(contentType: string, body: unknown, extra: Record<string, string> = {}) {
  const res = await fetch(`${t.url}/graphql`, {
    method: "POST",
    headers: { "content-type": contentType, cookie, origin: "https://evil.example", ...extra },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

describe("CSRF on cookie-authenticated POST /graphql", () => {
  it("the control: the same mutation as JSON with the cookie creates the key", async () => {
    const res = await post("application/json", {
      query: MUTATION,
      variables: { input: { name: "control", scopes: ["ACCOUNT_READ"] } },
    });
    expect(res.status, res.text).toBe(200);
    expect(await keysNamed("control")).toBe(1);
  });

  it("refuses a mutation sent with a simple content type (400), and writes nothing", async () => {
    for (const type of SIMPLE_TYPES) {
      const name = `csrf ${type.split(";")[0]}`;
      const res = await post(type, { query: MUTATION, variables: { input: { name, scopes: ["ACCOUNT_READ"] } } });
      expect(res.status, `${type}: ${res.text}`).toBe(400);
      expect(res.text).not.toContain("nvk_");
      expect(await keysNamed(name), type).toBe(0);
    }
  });

  it("refuses the trusted document's hash (the persisted form) sent with a simple content type", async () => {
    for (const type of SIMPLE_TYPES) {
      const name = `csrf persisted ${type.split(";")[0]}`;
      const res = await post(type, {
        operationName: persisted.operationName,
        variables: { input: { name, scopes: ["ACCOUNT_READ"] } },
        extensions: { persistedQuery: { version: 1, sha256Hash: persisted.hash } },
      });
      expect(res.status, `${type}: ${res.text}`).toBe(400);
      expect(await keysNamed(name), type).toBe(0);
    }
    // The control: the hash as JSON runs the studio's mutation.
    const res = await post("application/json", {
      operationName: persisted.operationName,
      variables: { input: { name: "persisted control", scopes: ["ACCOUNT_READ"] } },
      extensions: { persistedQuery: { version: 1, sha256Hash: persisted.hash } },
    });
    expect(res.status, res.text).toBe(200);
    expect(await keysNamed("persisted control")).toBe(1);
  });

  it("answers no account data to a query sent with a simple content type (the fast path steps aside)", async () => {
    for (const type of SIMPLE_TYPES) {
      const res = await post(type, { query: "{ me { id email } }" });
      expect(res.status, `${type}: ${res.text}`).toBe(400);
      expect(res.text).not.toContain(user.email);
    }
  });
});
