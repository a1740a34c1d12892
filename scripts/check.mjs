#!/usr/bin/env node
// `npm run check`: typecheck (server and studio), lint, format, and the schema / generated-client drift
// check. Runs every step and reports all failures, exiting non-zero when any failed.
import { spawnSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const steps = [
  ["typecheck server", "npx", ["tsc", "-p", "server/tsconfig.json"]],
  ["typecheck studio", "npm", ["run", "typecheck", "-w", "client"]],
  ["lint", "npx", ["eslint", "--max-warnings", "0", "."]],
  ["format", "npx", ["prettier", "--check", "--log-level", "warn", "."]],
  ["drift", process.execPath, [path.join(root, "scripts/check-drift.mjs")]],
];

const failed = [];
for (const [name, command, args] of steps) {
  const started = Date.now();
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`${result.status === 0 ? "ok  " : "FAIL"} ${name} (${seconds} s)`);
  if (result.status !== 0) failed.push(name);
}
if (failed.length) {
  console.error(`check failed: ${failed.join(", ")}`);
  process.exit(1);
}
