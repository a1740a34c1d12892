import pg from "pg";
import type { Config } from "./config.js";
import { createRedis, redisTarget, type RedisTarget } from "./redis.js";

const TIMEOUT_MS = 4000;

/** Hides the password of a URL before it is printed. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "(unparseable URL)";
  }
}

/**
 * Checks that PostgreSQL and Redis answer, both at once and each within a few seconds. Returns one
 * human line per unreachable service (empty when all is well); never throws.
 */
export async function checkServices(
  config: Pick<
    Config,
    "DATABASE_URL" | "REDIS_URL" | "REDIS_SENTINELS" | "REDIS_SENTINEL_NAME" | "REDIS_CLUSTER_NODES"
  >,
): Promise<string[]> {
  const [pgProblem, redisProblem] = await Promise.all([
    checkPostgres(config.DATABASE_URL),
    checkRedis(redisTarget(config)),
  ]);
  return [pgProblem, redisProblem].filter((p): p is string => p !== null);
}

async function checkPostgres(url: string): Promise<string | null> {
  // Connect to the server's `postgres` database: the app's own database may not exist yet.
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: TIMEOUT_MS });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return null;
  } catch (err) {
    return (
      `PostgreSQL is not reachable at ${redactUrl(url)} (${reason(err)}). ` +
      "Start one with `docker compose up -d postgres`, or point DATABASE_URL at a running server."
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function checkRedis(target: RedisTarget): Promise<string | null> {
  const client = createRedis(target, {
    lazyConnect: true,
    connectTimeout: TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // The "error" event has the cause (ECONNREFUSED); `connect()` itself only says the connection closed.
  let cause: unknown;
  client.on("error", (err) => (cause ??= err));
  const where = target.clusterNodes?.length
    ? `the cluster nodes ${target.clusterNodes.map((n) => `${n.host}:${n.port}`).join(", ")}`
    : target.sentinels?.length
      ? `the Sentinels ${target.sentinels.map((n) => `${n.host}:${n.port}`).join(", ")}`
      : redactUrl(target.url);
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), TIMEOUT_MS).unref()),
    ]);
    return null;
  } catch (err) {
    return (
      `Redis is not reachable at ${where} (${reason(cause ?? err)}). ` +
      "Start one with `docker compose up -d redis`, or point REDIS_URL at a running server."
    );
  } finally {
    client.disconnect();
  }
}

function reason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message?.split("\n")[0] ?? "unknown error";
}
