import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import "reflect-metadata";
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { inject } from "vitest";
import { createApp, type App } from "../src/app.js";
import { loadConfig, type Config } from "../src/infra/config.js";
import { createLogger, type Logger } from "../src/infra/logger.js";
import { createTestDatabase, type TestDatabase } from "./database.js";

export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** A GraphQL error as the server answers it: a stable code plus the domain error's details. */
export interface TestGraphQLError {
  message: string;
  extensions?: { code?: string; [detail: string]: unknown };
}

export interface TestApp {
  app: App;
  url: string;
  database: TestDatabase;
  /** POSTs a GraphQL operation and returns the HTTP status, the response headers and the parsed body. */
  graphql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; body: { data?: T; errors?: TestGraphQLError[] } }>;
  close(): Promise<void>;
}

/**
 * A real app (API and worker roles unless told otherwise) on its own database clone and Redis prefix,
 * listening on a free loopback port.
 */
export interface TestAppOptions {
  /** Where the app's JSON log lines go (see `captureLogs`); stdout when absent. Set `LOG_LEVEL` in env. */
  logDestination?: Writable;
}

export async function startTestApp(env: Record<string, string> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const database = await createTestDatabase(inject("templateDatabase"));
  const prefix = `novart-test-${randomBytes(5).toString("hex")}`;
  const config: Config = loadConfig({
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    DATABASE_URL: database.url,
    DATABASE_POOL_SIZE: "4",
    REDIS_URL,
    REDIS_PREFIX: prefix,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    HEARTBEAT_INTERVAL_MS: "200",
    STUDIO_DIR: "/nonexistent",
    // Files of each app in a folder of its own, removed with the app.
    DATA_DIR: path.join(os.tmpdir(), prefix),
    LOCAL_PROVIDER_STEP_MS: "5",
    // Tests send many requests from one address; the limits have a test of their own.
    RATE_LIMIT_ANONYMOUS_PER_MINUTE: "1000000",
    ...env,
  });
  const logger: Logger = createLogger(config.LOG_LEVEL, {}, options.logDestination);
  const app = await createApp(config, logger);
  await app.start();
  const url = app.url ?? "";
  return {
    app,
    url,
    database,
    async graphql(query, variables, headers = {}) {
      const res = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, headers: res.headers, body: (await res.json()) as never };
    },
    async close() {
      await app.stop();
      await deleteRedisKeys(prefix);
      await database.drop();
      await fs.rm(path.join(os.tmpdir(), prefix), { recursive: true, force: true });
    },
  };
}

/** Removes every key a test wrote under its prefix from the shared Redis. */
async function deleteRedisKeys(prefix: string): Promise<void> {
  const { Redis } = await import("ioredis");
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

export interface LogCapture {
  stream: Writable;
  /** Everything written so far. */
  text(): string;
  /** The JSON lines written so far, parsed. */
  lines(): Record<string, unknown>[];
}

/** A stream that keeps every log line, for `startTestApp(env, { logDestination: capture.stream })`. */
export function captureLogs(): LogCapture {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  const text = () => chunks.join("");
  return {
    stream,
    text,
    lines: () =>
      text()
        .split("\n")
        .filter((line) => line.trim())
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
