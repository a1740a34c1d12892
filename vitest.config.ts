import { createRequire } from "node:module";
import path from "node:path";
import { defineConfig } from "vitest/config";

// graphql 16 ships CJS (`main`) and ESM (`module`) builds. Node, and so the built server and every
// dependency, loads the CJS one; vite would pick the ESM one for our sources, giving two graphql realms.
const graphqlDir = path.dirname(createRequire(import.meta.url).resolve("graphql/package.json"));

/**
 * `npm test` runs every project: the server's unit and integration tests (real PostgreSQL and Redis, a
 * database per test file), the studio's unit tests, the tooling tests (drift check), and the browser
 * end-to-end tests (Debian's chromium against a real server process).
 */
export default defineConfig({
  resolve: {
    alias: [
      { find: /^graphql$/, replacement: path.join(graphqlDir, "index.js") },
      { find: /^graphql\/(.*)$/, replacement: path.join(graphqlDir, "$1.js") },
    ],
  },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "server",
          root: "server",
          include: ["src/**/*.test.ts", "test/**/*.test.ts"],
          globalSetup: ["test/global-setup.ts"],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: "client",
          root: "client",
          include: ["src/**/*.test.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "tooling",
          include: ["scripts/**/*.test.ts"],
          testTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          root: "client",
          include: ["e2e/**/*.test.ts"],
          globalSetup: ["e2e/global-setup.ts"],
          // A page may take a few seconds to settle on a busy machine; polls wait for it instead of failing.
          expect: { poll: { timeout: 10_000 } },
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
