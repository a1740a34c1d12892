import "reflect-metadata";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { inject } from "vitest";
import { createApp, type App } from "../src/app.js";
import { loadConfig } from "../src/infra/config.js";
import { createLogger } from "../src/infra/logger.js";
import { AccountRole } from "../src/modules/accounts/account.entity.js";
import { LedgerKind } from "../src/modules/credits/ledger-entry.entity.js";
import { createTestDatabase, type TestDatabase } from "./database.js";
import { bearer, PASSWORD, uniqueEmail, type SignedInUser } from "./factories.js";
import type { TestGraphQLError } from "./harness.js";
import { freePort, runServer, startPrivateRedis, type RedisProcess, type ServerProcess } from "./processes.js";

/**
 * One installation for a fault test, made of real processes: a database cloned from the template, a private
 * redis-server, a data folder, and built-server processes (`ROLE=api`, `ROLE=worker`) started and stopped
 * by the test. Setup (accounts, sessions, credits) goes through the services of an app in this process
 * that is never started, so it serves no request and runs no job.
 */
export interface FaultEnv {
  database: TestDatabase;
  redis: RedisProcess;
  dataDir: string;
  /** Where the API listens; the same port across restarts. */
  apiUrl: string;
  /** The environment every process of this installation shares. */
  env: Record<string, string>;
  setup: App;
  /** Starts an API process on `apiUrl` and resolves once it serves. */
  startApi(extra?: Record<string, string>): Promise<ServerProcess>;
  /** Starts a worker process and resolves once its queues are open. */
  startWorker(extra?: Record<string, string>): Promise<ServerProcess>;
  graphql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: { data?: T; errors?: TestGraphQLError[] } }>;
  /** A verified account with a session and `credits` paid credits. */
  user(credits?: number): Promise<SignedInUser>;
  /** `createTask` over HTTP as `user`; resolves with the new task's id. */
  createTask(user: SignedInUser, input: Partial<TaskInput> & { prompt: string }): Promise<string>;
  /** Resolves once every task in `ids` has ended, with their rows. */
  waitForEnd(ids: string[], timeoutMs?: number): Promise<TaskRow[]>;
  /** Every process this environment started, for failure messages. */
  logs(): string;
  close(): Promise<void>;
}

export interface TaskInput {
  prompt: string;
  model: string;
  width: number;
  height: number;
  count: number;
  seed?: number;
  webhookUrl?: string;
}

export interface TaskRow {
  id: string;
  account_id: string;
  status: string;
  error_code: string | null;
  attempts: number;
}

export async function startFaultEnv(env: Record<string, string> = {}): Promise<FaultEnv> {
  const database = await createTestDatabase(inject("templateDatabase"));
  const privateRedis = await startPrivateRedis();
  // Tracked so that `close` can bring it back: the setup app's queues cannot close without it.
  let redisUp = true;
  const redis: RedisProcess = {
    url: privateRedis.url,
    port: privateRedis.port,
    async stop() {
      redisUp = false;
      await privateRedis.stop();
    },
    async start() {
      await privateRedis.start();
      redisUp = true;
    },
  };
  const port = await freePort();
  const prefix = `novart-fault-${randomBytes(4).toString("hex")}`;
  const dataDir = path.join(os.tmpdir(), prefix);
  const shared: Record<string, string> = {
    NODE_ENV: "test",
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: prefix,
    DATA_DIR: dataDir,
    STUDIO_DIR: "/nonexistent",
    // The template is migrated already.
    MIGRATE_ON_START: "false",
    LOG_LEVEL: "info",
    SHUTDOWN_TIMEOUT_MS: "3000",
    // One signing key for every process, as a multi-process installation needs (links outlive a restart).
    FILES_SECRET: randomBytes(32).toString("hex"),
    ...env,
  };
  const setup = await createApp(loadConfig({ ...shared, LOG_LEVEL: "silent" }), createLogger("silent"));
  const processes: { role: string; process: ServerProcess }[] = [];
  const apiUrl = `http://127.0.0.1:${port}`;

  const start = async (role: "api" | "worker", extra: Record<string, string>) => {
    const proc = runServer({ ...shared, ROLE: role, PORT: role === "api" ? String(port) : "0", ...extra });
    processes.push({ role, process: proc });
    await proc.waitForOutput(/Novart Studio is running/, 60_000);
    return proc;
  };

  const logs = () =>
    processes.map(({ role, process: p }) => `--- ${role} (pid ${p.child.pid})\n${p.stdout()}${p.stderr()}`).join("\n");

  const graphql: FaultEnv["graphql"] = async (query, variables, headers = {}) => {
    const res = await fetch(`${apiUrl}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: (await res.json()) as never };
  };

  return {
    database,
    redis,
    dataDir,
    apiUrl,
    env: shared,
    setup,
    startApi: (extra = {}) => start("api", extra),
    startWorker: (extra = {}) => start("worker", extra),
    graphql,
    async user(credits = 1000) {
      const email = uniqueEmail("fault");
      const account = await setup.services.accounts.createVerified(email, PASSWORD, AccountRole.USER);
      const { session, token } = await setup.services.sessions.create(account.id, "vitest", "127.0.0.1");
      if (credits > 0) {
        await setup.services.ledger.credit({
          accountId: account.id,
          kind: LedgerKind.RECHARGE,
          paid: credits,
          bonus: 0,
          reference: `fault-setup:${account.id}`,
        });
      }
      return { account, email, password: PASSWORD, token, sessionId: session.id, headers: bearer(token) };
    },
    async createTask(user, input) {
      const res = await graphql<{ createTask: { task: { id: string } } }>(
        `
          mutation ($input: CreateTaskInput!) {
            createTask(input: $input) {
              task {
                id
              }
            }
          }
        `,
        { input: { model: "novart-sketch", width: 512, height: 512, count: 1, ...input } },
        user.headers,
      );
      if (!res.body.data) throw new Error(`createTask failed: ${JSON.stringify(res.body.errors)}`);
      return res.body.data.createTask.task.id;
    },
    async waitForEnd(ids, timeoutMs = 30_000) {
      return until(
        async () => {
          const rows = (await setup.db.query(
            `SELECT id, account_id, status, error_code, attempts FROM task WHERE id = ANY($1::uuid[]) ORDER BY created_at`,
            [ids],
          )) as TaskRow[];
          return rows.length === ids.length && rows.every((r) => ["SUCCEEDED", "FAILED", "CANCELED"].includes(r.status))
            ? rows
            : undefined;
        },
        `${ids.length} task(s) to end`,
        timeoutMs,
      );
    },
    logs,
    async close() {
      if (process.env.FAULT_TEST_LOGS) console.log(logs());
      await Promise.all(processes.map(({ process: p }) => p.stop("SIGKILL")));
      if (!redisUp) await redis.start();
      await setup.stop().catch(() => undefined);
      await redis.stop();
      await database.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns something other than undefined, or fails naming `what`. */
export async function until<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
