import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repo = path.resolve(import.meta.dirname, "..");

interface EnsureBuild {
  TARGETS: Record<string, { sources: string[]; stamp: string }>;
  isStale(name: string): boolean;
}

/** `npm start`'s build step, run from a copy of the script in a scratch tree whose files the test dates. */
describe("ensure-build: when the server or the studio needs a build", () => {
  let work: string;
  let ensure: EnsureBuild;
  // Times ahead of the clock: folders that get a new entry (dated now) stay older than every file here.
  const T0 = new Date(Date.now() + 86_400_000);
  const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

  /** Writes a file (and its folders) with the given modification time. */
  function write(file: string, when: Date) {
    const full = path.join(work, file);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, file);
    fs.utimesSync(full, when, when);
  }
  function runScript(...args: string[]) {
    const result = spawnSync(process.execPath, [path.join(work, "scripts/ensure-build.mjs"), ...args], {
      cwd: work,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "" },
      timeout: 60_000,
    });
    return { status: result.status, output: result.stdout + result.stderr };
  }

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "novart-ensure-build-"));
    fs.mkdirSync(path.join(work, "scripts"));
    fs.copyFileSync(path.join(repo, "scripts/ensure-build.mjs"), path.join(work, "scripts/ensure-build.mjs"));
    ensure = (await import(pathToFileURL(path.join(work, "scripts/ensure-build.mjs")).href)) as EnsureBuild;
    // Every source of the server, old: a file for plain entries, a nested file inside folders.
    for (const source of ensure.TARGETS.server.sources) {
      if (/\.[a-z]+$/.test(source)) write(source, at(0));
      else write(`${source}/nested/file.ts`, at(0));
    }
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it("knows the server's and the studio's sources and build stamps", () => {
    expect(ensure.TARGETS.server.sources).toEqual(expect.arrayContaining(["server/src", "migrations"]));
    expect(ensure.TARGETS.client.sources).toContain("client/src");
    // The stamps are files each build rewrites.
    expect(ensure.TARGETS.server.stamp).toBe("server/dist/server/src/main.js");
    expect(ensure.TARGETS.client.stamp).toBe("client/build/200.html");
  });

  it("is stale without a build, fresh after one, and stale again when a source changes", () => {
    const stamp = ensure.TARGETS.server.stamp;
    expect(ensure.isStale("server")).toBe(true);

    write(stamp, at(10));
    expect(ensure.isStale("server")).toBe(false);

    // A source edited after the build, deep in a folder.
    write("server/src/nested/file.ts", at(20));
    expect(ensure.isStale("server")).toBe(true);

    // A newer build.
    write(stamp, at(30));
    expect(ensure.isStale("server")).toBe(false);

    // A plain-file source (the shared tsconfig) and a migration count too; tests do not.
    write("tsconfig.json", at(40));
    expect(ensure.isStale("server")).toBe(true);
    write(stamp, at(50));
    write("server/src/nested/other.test.ts", at(60));
    expect(ensure.isStale("server")).toBe(false);
    write("migrations/nested/1-New.ts", at(70));
    expect(ensure.isStale("server")).toBe(true);
    write(stamp, at(80));
    expect(ensure.isStale("server")).toBe(false);
  });

  it("builds only when stale, and stops with the build's failure", () => {
    write(ensure.TARGETS.server.stamp, at(1000));
    expect(runScript("server")).toEqual({ status: 0, output: "" });

    // Stale: it runs `npm run build -w server`, which cannot work in this scratch tree.
    write("server/src/nested/file.ts", at(2000));
    const stale = runScript("server");
    expect(stale.status).not.toBe(0);
    expect(stale.output).toContain("building the server (missing or older than its sources)");
    expect(stale.output).toContain("the server build failed");

    expect(runScript("nothing")).toEqual({
      status: 2,
      output: expect.stringContaining("unknown target nothing") as unknown as string,
    });
  });
});

/** A loopback port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe("npm start (scripts/start.mjs)", () => {
  beforeAll(() => {
    // In CI the build is fresh (`npm run build` runs first), so this does nothing; on a working copy with
    // edited sources it builds here, so that the timed start below does not.
    const result = spawnSync(process.execPath, [path.join(repo, "scripts/ensure-build.mjs")], {
      cwd: repo,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 170_000,
    });
    expect(result.status, result.stderr?.toString()).toBe(0);
  }, 180_000);

  it("exits non-zero within 10 s with one clear line when PostgreSQL is unreachable", async () => {
    const port = await closedPort();
    const started = Date.now();
    const child = spawn(process.execPath, [path.join(repo, "scripts/start.mjs")], {
      cwd: repo,
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${port}/novart`,
        REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
        PORT: "0",
        HOST: "127.0.0.1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    clearTimeout(killer);
    const ms = Date.now() - started;

    expect(code, `stdout:\n${out}\nstderr:\n${err}`).not.toBe(0);
    expect(code).not.toBeNull();
    expect(ms).toBeLessThan(10_000);
    expect(err).not.toContain("building the");
    expect(out).toBe("");
    const lines = err.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`PostgreSQL is not reachable at postgres://postgres:***@127.0.0.1:${port}/novart`);
    expect(lines[0]).toContain("docker compose up -d postgres");
    expect(lines[0]).toContain("DATABASE_URL");
    expect(out + err).not.toContain("hunter2");
    expect(err).not.toMatch(/^\s+at /m);
  });
});
