import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../harness.js";

/** A studio build in miniature: a fallback page with an inline script, and the playground's page. */
const BOOT_SCRIPT = "\n  window.booted = true;\n";
const STUDIO_PAGE = `<!doctype html><html><head><script>${BOOT_SCRIPT}</script></head><body>studio</body></html>`;
const PLAYGROUND_PAGE = `<!doctype html><html><head><script type="module" src="/graphiql/assets/index.js"></script></head></html>`;

let studioDir: string;
let plain: TestApp;
let secure: TestApp;

beforeAll(async () => {
  studioDir = await fs.mkdtemp(path.join(os.tmpdir(), "novart-headers-"));
  await fs.mkdir(path.join(studioDir, "graphiql", "assets"), { recursive: true });
  await fs.writeFile(path.join(studioDir, "200.html"), STUDIO_PAGE);
  await fs.writeFile(path.join(studioDir, "graphiql", "index.html"), PLAYGROUND_PAGE);
  await fs.writeFile(path.join(studioDir, "graphiql", "assets", "index.js"), "export {};\n");
  [plain, secure] = await Promise.all([
    startTestApp({ ROLE: "api", STUDIO_DIR: studioDir, PUBLIC_URL: "http://localhost:4000" }),
    startTestApp({ ROLE: "api", STUDIO_DIR: studioDir, PUBLIC_URL: "https://studio.example" }),
  ]);
});

afterAll(async () => {
  await Promise.all([plain?.close(), secure?.close()]);
  await fs.rm(studioDir, { recursive: true, force: true });
});

function directives(policy: string | null): Record<string, string[]> {
  expect(policy).toBeTruthy();
  return Object.fromEntries(
    policy!.split(";").map((part) => {
      const [name, ...values] = part.trim().split(/\s+/);
      return [name, values];
    }),
  );
}

/** The headers every response carries, whatever serves it. */
function expectBaseHeaders(headers: Headers) {
  expect(headers.get("x-content-type-options")).toBe("nosniff");
  expect(headers.get("x-frame-options")).toBe("DENY");
  expect(headers.get("referrer-policy")).toBe("same-origin");
  expect(headers.get("cross-origin-opener-policy")).toBe("same-origin");
  expect(headers.get("x-powered-by")).toBeNull();
  expect(directives(headers.get("content-security-policy"))["frame-ancestors"]).toEqual(["'none'"]);
}

const html = { accept: "text/html" };

describe("security headers", () => {
  it("are on GraphQL answers, health checks, API errors and files, with a policy that allows nothing", async () => {
    const responses = [
      await fetch(`${plain.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ __typename }" }),
      }),
      await fetch(`${plain.url}/graphql`, { method: "POST", body: "not json" }),
      await fetch(`${plain.url}/healthz`),
      await fetch(`${plain.url}/api/nothing-here`),
      await fetch(`${plain.url}/files/00000000-0000-0000-0000-000000000000/preview?exp=1&dl=0&sig=x`),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 400, 200, 404, 403]);
    for (const res of responses) {
      expectBaseHeaders(res.headers);
      expect(directives(res.headers.get("content-security-policy"))["default-src"]).toEqual(["'none'"]);
      expect(res.headers.get("strict-transport-security")).toBeNull();
    }
    // Signed file links may be shown by API clients' own sites; everything else stays same-origin.
    expect(responses[4].headers.get("cross-origin-resource-policy")).toBe("cross-origin");
    expect(responses[2].headers.get("cross-origin-resource-policy")).toBe("same-origin");
  });

  it("give the studio's pages a policy that runs their inline scripts by hash, and nothing else inline", async () => {
    for (const pathname of ["/", "/library", "/developer/docs"]) {
      const res = await fetch(`${plain.url}${pathname}`, { headers: html });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(STUDIO_PAGE);
      expectBaseHeaders(res.headers);
      const policy = directives(res.headers.get("content-security-policy"));
      const hash = `'sha256-${createHash("sha256").update(BOOT_SCRIPT).digest("base64")}'`;
      expect(policy["script-src"]).toEqual(["'self'", hash]);
      expect(policy["default-src"]).toEqual(["'self'"]);
      expect(policy["img-src"]).toEqual(["'self'", "data:", "blob:"]);
      const host = new URL(plain.url).host;
      expect(policy["connect-src"]).toEqual(["'self'", `ws://${host}`, `wss://${host}`]);
      expect(res.headers.get("cache-control")).toBe("no-cache");
    }
  });

  it("serve the playground's page with the page policy, and its hashed assets for a year", async () => {
    for (const pathname of ["/graphiql", "/graphiql/", "/graphiql/index.html"]) {
      const page = await fetch(`${plain.url}${pathname}`, { headers: html });
      expect(page.status).toBe(200);
      expect(await page.text()).toBe(PLAYGROUND_PAGE);
      expectBaseHeaders(page.headers);
      expect(directives(page.headers.get("content-security-policy"))["script-src"]).toEqual(["'self'"]);
    }

    const asset = await fetch(`${plain.url}/graphiql/assets/index.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toContain("immutable");
    expectBaseHeaders(asset.headers);
  });

  it("add Strict-Transport-Security only when the public URL is https", async () => {
    for (const res of [
      await fetch(`${secure.url}/healthz`),
      await fetch(`${secure.url}/`, { headers: html }),
      await fetch(`${secure.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ __typename }" }),
      }),
    ]) {
      expect(res.headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains");
      expectBaseHeaders(res.headers);
    }
    expect((await fetch(`${plain.url}/`, { headers: html })).headers.get("strict-transport-security")).toBeNull();
  });
});
