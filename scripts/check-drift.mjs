#!/usr/bin/env node
// Fails when schema/schema.graphql or the studio's generated GraphQL code no longer match their sources.
// Usage: node scripts/check-drift.mjs [--root DIR]   (DIR defaults to the repository)
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const GENERATED_DIR = "client/src/lib/graphql/generated";

export function checkDrift(root) {
  const problems = [];

  const emitted = spawnSync(
    process.execPath,
    ["--import", "@swc-node/register/esm-register", "server/src/scripts/emit-schema.ts", "--stdout"],
    { cwd: root, encoding: "utf8" },
  );
  if (emitted.status !== 0) {
    problems.push(`could not emit the schema from server/src:\n${emitted.stderr}`);
  } else if (emitted.stdout !== fs.readFileSync(path.join(root, "schema/schema.graphql"), "utf8")) {
    problems.push("schema/schema.graphql is stale: the resolvers changed. Run `npm run schema` and commit it.");
  }

  const out = fs.mkdtempSync(path.join(os.tmpdir(), "novart-codegen-"));
  try {
    const codegen = spawnSync(
      process.execPath,
      [path.join(root, "node_modules/@graphql-codegen/cli/cjs/bin.js"), "--config", "codegen.ts", "--silent"],
      { cwd: root, encoding: "utf8", env: { ...process.env, CODEGEN_OUT: out + path.sep } },
    );
    if (codegen.status !== 0) {
      problems.push(`codegen failed:\n${codegen.stdout}${codegen.stderr}`);
    } else {
      const committedDir = path.join(root, GENERATED_DIR);
      const committed = fs.existsSync(committedDir) ? fs.readdirSync(committedDir).sort() : [];
      const fresh = fs.readdirSync(out).sort();
      const differs =
        committed.join() !== fresh.join() ||
        fresh.some(
          (f) => fs.readFileSync(path.join(out, f), "utf8") !== fs.readFileSync(path.join(committedDir, f), "utf8"),
        );
      if (differs) {
        problems.push(
          `${GENERATED_DIR} is stale: the schema or an operation changed. Run \`npm run codegen\` and commit it.`,
        );
      }
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf("--root");
  const root = i > 0 ? path.resolve(process.argv[i + 1]) : path.resolve(import.meta.dirname, "..");
  const problems = checkDrift(root);
  for (const p of problems) console.error(`drift: ${p}`);
  if (problems.length) process.exit(1);
  console.log("drift: schema and generated client are up to date");
}
