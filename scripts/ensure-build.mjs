#!/usr/bin/env node
// Builds the server and/or the studio when their build is missing or older than their sources.
// Usage: node scripts/ensure-build.mjs [server] [client]   (both when no argument is given)
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");

export const TARGETS = {
  server: {
    sources: ["server/src", "migrations", "server/tsconfig.build.json", "tsconfig.json", "package.json"],
    // tsc and the static adapter rewrite these on every build: their mtime is the build time.
    stamp: "server/dist/server/src/main.js",
  },
  client: {
    sources: ["client/src", "client/static", "client/svelte.config.js", "client/vite.config.ts", "client/package.json"],
    stamp: "client/build/200.html",
  },
};

function newestMtime(entry) {
  const full = path.join(root, entry);
  if (!fs.existsSync(full)) return 0;
  const stat = fs.statSync(full);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const child of fs.readdirSync(full)) {
    if (child.endsWith(".test.ts")) continue;
    newest = Math.max(newest, newestMtime(path.join(entry, child)));
  }
  return newest;
}

export function isStale(name) {
  const target = TARGETS[name];
  const stamp = path.join(root, target.stamp);
  if (!fs.existsSync(stamp)) return true;
  const built = fs.statSync(stamp).mtimeMs;
  return target.sources.some((source) => newestMtime(source) > built);
}

export function ensureBuild(names = Object.keys(TARGETS)) {
  for (const name of names) {
    if (!isStale(name)) continue;
    console.error(`building the ${name} (missing or older than its sources)…`);
    const result = spawnSync("npm", ["run", "build", "-w", name], {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
    });
    if (result.status !== 0) {
      console.error(`the ${name} build failed`);
      process.exit(result.status ?? 1);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const names = process.argv.slice(2);
  for (const name of names) {
    if (!(name in TARGETS)) {
      console.error(`unknown target ${name}; expected one of ${Object.keys(TARGETS).join(", ")}`);
      process.exit(2);
    }
  }
  ensureBuild(names.length ? names : undefined);
}
