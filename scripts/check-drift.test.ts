import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repo = path.resolve(import.meta.dirname, "..");
let work: string;

/** A copy of what the drift check reads, with node_modules linked, so the test can edit it freely. */
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "novart-drift-"));
  for (const entry of [
    "server/src",
    "server/package.json",
    "schema",
    "client/src",
    "codegen.ts",
    "package.json",
    "tsconfig.json",
    "scripts",
  ]) {
    fs.cpSync(path.join(repo, entry), path.join(work, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(repo, "node_modules"), path.join(work, "node_modules"));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function runCheck() {
  const result = spawnSync(process.execPath, [path.join(work, "scripts/check-drift.mjs"), "--root", work], {
    encoding: "utf8",
  });
  return { status: result.status, output: result.stdout + result.stderr };
}

function editing(file: string, from: string, to: string, body: () => void) {
  const full = path.join(work, file);
  const original = fs.readFileSync(full, "utf8");
  expect(original).toContain(from);
  fs.writeFileSync(full, original.replace(from, to));
  try {
    body();
  } finally {
    fs.writeFileSync(full, original);
  }
}

describe("npm run check's drift check", () => {
  it("passes on the committed state", () => {
    const { status, output } = runCheck();
    expect(output).toContain("up to date");
    expect(status).toBe(0);
  });

  it("fails when a resolver changes without re-emitting the schema", () => {
    editing(
      "server/src/modules/generation/model-catalog.resolver.ts",
      "The models new tasks can use, in display order.",
      "The models, edited without running npm run schema.",
      () => {
        const { status, output } = runCheck();
        expect(status).toBe(1);
        expect(output).toContain("schema/schema.graphql is stale");
      },
    );
  });

  it("fails when an operation changes without regenerating the client", () => {
    editing("client/src/lib/generation/models.graphql", "    maxImages\n", "", () => {
      const { status, output } = runCheck();
      expect(status).toBe(1);
      expect(output).toContain("generated is stale");
    });
  });
});
