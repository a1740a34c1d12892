import { Cluster, Redis, type RedisOptions } from "ioredis";

/** A standalone or Sentinel-managed connection, or a Cluster: the rest of the code takes any. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: `REDIS_URL`, or Sentinels naming the master, or the nodes of a Cluster. */
export interface RedisTarget {
  url: string;
  sentinels?: { host: string; port: number }[];
  sentinelName?: string;
  clusterNodes?: { host: string; port: number }[];
}

/** `host:port,host:port` → nodes (an empty or absent list gives none). */
export function parseNodes(list: string | undefined): { host: string; port: number }[] {
  return (list ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const at = entry.lastIndexOf(":");
      const host = entry.slice(0, at).replace(/^\[|\]$/g, "");
      return { host, port: Number(entry.slice(at + 1)) };
    });
}

/** What a redis:// URL says besides the address: user, password, database, TLS. */
function connectionOptions(url: string): RedisOptions {
  const u = new URL(url);
  return {
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === "rediss:" ? {} : undefined,
  };
}

/**
 * A new ioredis connection. BullMQ needs `maxRetriesPerRequest: null` on its own connections; the
 * command connection keeps a bound so requests fail fast instead of hanging while Redis is down.
 * Sentinel: the master named `sentinelName`, found through the Sentinels (credentials from the URL).
 * Cluster: the URL's credentials on every node (queue keys share one hash tag, see `bullPrefix`).
 */
export function createRedis(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  const base: RedisOptions = {
    lazyConnect: false,
    enableReadyCheck: true,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...options,
  };
  if (target.clusterNodes?.length) {
    return new Cluster(target.clusterNodes, {
      redisOptions: { ...connectionOptions(target.url), ...base },
      enableReadyCheck: base.enableReadyCheck,
      clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
    });
  }
  if (target.sentinels?.length) {
    return new Redis({
      ...connectionOptions(target.url),
      ...base,
      sentinels: target.sentinels,
      name: target.sentinelName ?? "mymaster",
    });
  }
  return new Redis(target.url, base);
}

/** Where this installation's Redis is, from its configuration. */
export function redisTarget(config: {
  REDIS_URL: string;
  REDIS_SENTINELS?: string;
  REDIS_SENTINEL_NAME: string;
  REDIS_CLUSTER_NODES?: string;
}): RedisTarget {
  return {
    url: config.REDIS_URL,
    sentinels: parseNodes(config.REDIS_SENTINELS),
    sentinelName: config.REDIS_SENTINEL_NAME,
    clusterNodes: parseNodes(config.REDIS_CLUSTER_NODES),
  };
}
