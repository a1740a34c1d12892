import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { relaxTiersWhenMigrated } from "./database.js";

export const MAIN_JS = path.resolve(import.meta.dirname, "../dist/server/src/main.js");

/** A loopback port nobody listens on (bound, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or null when killed by a signal) and the time it took since start. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Runs the built server (`server/dist/.../main.js`) as its own process with the given environment. The
 * tiers of its database are raised as soon as it has migrated it (see `relaxTiersWhenMigrated`), unless
 * `options.realTiers`.
 */
export function runServer(env: Record<string, string>, options: { realTiers?: boolean } = {}): ServerProcess {
  if (env.DATABASE_URL && !options.realTiers) void relaxTiersWhenMigrated(env.DATABASE_URL);
  const started = Date.now();
  const child = spawn(process.execPath, ["--enable-source-maps", MAIN_JS], {
    env: {
      PATH: process.env.PATH ?? "",
      LOG_LEVEL: "info",
      HOST: "127.0.0.1",
      RATE_LIMIT_ANONYMOUS_PER_MINUTE: "1000000",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, ms: Date.now() - started })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          clearInterval(poll);
          reject(new Error(`no ${pattern} within ${timeoutMs} ms; stdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        const poll = setInterval(() => {
          if (pattern.test(out) || pattern.test(err)) {
            clearInterval(poll);
            clearTimeout(timer);
            resolve();
          }
        }, 50);
        void exited.then(() => {
          if (pattern.test(out) || pattern.test(err)) return;
          clearInterval(poll);
          clearTimeout(timer);
          reject(new Error(`server exited before ${pattern}; stdout:\n${out}\nstderr:\n${err}`));
        });
      });
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export interface RedisProcess {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** A private, empty redis-server on a free port, for tests that stop Redis (never the shared one). */
export async function startPrivateRedis(): Promise<RedisProcess> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    // Already running: a second server on the same port would fail, and `stop` would then lose this one.
    if (child && child.exitCode === null && child.signalCode === null) return;
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 10_000;
    while (!/Ready to accept connections/.test(out)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    async stop() {
      const proc = child;
      if (!proc || proc.exitCode !== null) return;
      const exited = new Promise((resolve) => proc.once("exit", resolve));
      proc.kill("SIGKILL");
      await exited;
    },
  };
}
