import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createApp, type App } from "../../src/app.js";
import { loadConfig } from "../../src/infra/config.js";
import { createLogger } from "../../src/infra/logger.js";
import { createTestDatabase, type TestDatabase } from "../database.js";
import { REDIS_URL, startTestApp, type TestApp } from "../harness.js";
import { freePort, startPrivateRedis, type RedisProcess } from "../processes.js";

let redis: RedisProcess;
let t: TestApp;
beforeAll(async () => {
  redis = await startPrivateRedis();
  t = await startTestApp({ REDIS_URL: redis.url });
});
afterAll(async () => {
  await redis.start().catch(() => undefined);
  await t?.close();
  await redis?.stop();
});

async function readiness(url = t.url) {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as { ok: boolean; checks: Record<string, string> } };
}

describe("/readyz", () => {
  it("turns false while Redis is down, keeps serving GraphQL from PostgreSQL, and recovers", async () => {
    expect((await readiness()).status).toBe(200);

    await redis.stop();
    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.body.ok).toBe(false);
    expect(down.body.checks.postgres).toBe("ok");
    expect(down.body.checks.redis).not.toBe("ok");
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const models = await t.graphql<{ models: unknown[] }>("{ models { slug } }");
    expect(models.body.data?.models.length).toBeGreaterThan(0);

    await redis.start();
    await expect.poll(async () => (await readiness()).status, { timeout: 10_000, interval: 200 }).toBe(200);
  });
});

/**
 * A TCP relay in front of the real PostgreSQL, on a port of its own: `down()` closes its port and cuts every
 * connection through it, as a stopped or unreachable server would; `up()` listens on the same port again.
 */
async function postgresRelay(target: URL) {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ]) {
      sockets.add(a);
      a.pipe(b);
      a.on("error", () => b.destroy());
      a.on("close", () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  const listen = () => new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  await listen();
  return {
    port,
    async down() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    up: listen,
  };
}

describe("/readyz while PostgreSQL is unreachable", () => {
  let database: TestDatabase;
  let relay: Awaited<ReturnType<typeof postgresRelay>>;
  let app: App;
  let url: string;
  const prefix = `novart-test-readyz-${process.pid}`;

  beforeAll(async () => {
    database = await createTestDatabase(inject("templateDatabase"));
    const direct = new URL(database.url);
    relay = await postgresRelay(direct);
    const viaRelay = new URL(database.url);
    viaRelay.port = String(relay.port);
    viaRelay.hostname = "127.0.0.1";
    const config = loadConfig({
      NODE_ENV: "test",
      ROLE: "api",
      HOST: "127.0.0.1",
      PORT: "0",
      DATABASE_URL: viaRelay.toString(),
      DATABASE_POOL_SIZE: "2",
      MIGRATE_ON_START: "false",
      REDIS_URL,
      REDIS_PREFIX: prefix,
      LOG_LEVEL: "silent",
      STUDIO_DIR: "/nonexistent",
      DATA_DIR: path.join(os.tmpdir(), prefix),
    });
    app = await createApp(config, createLogger("silent"));
    await app.start();
    url = app.url!;
  });
  afterAll(async () => {
    await relay?.up().catch(() => undefined);
    await app?.stop().catch(() => undefined);
    await database?.drop();
  });

  it("answers 503 naming PostgreSQL, keeps /healthz up, and recovers when it is back", async () => {
    expect(await readiness(url)).toEqual({ status: 200, body: { ok: true, checks: { postgres: "ok", redis: "ok" } } });

    await relay.down();
    const down = await readiness(url);
    expect(down.status).toBe(503);
    expect(down.body.ok).toBe(false);
    expect(down.body.checks.postgres).not.toBe("ok");
    expect(down.body.checks.postgres).toBeTruthy();
    expect(down.body.checks.redis).toBe("ok");
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // GraphQL needs the database: it answers an error, not a hang or a crash.
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ models { slug } }" }),
    });
    const body = (await res.json()) as { data?: unknown; errors?: { message: string }[] };
    expect(body.errors?.length).toBeGreaterThan(0);
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|stack/);

    await relay.up();
    await expect.poll(async () => (await readiness(url)).status, { timeout: 15_000, interval: 200 }).toBe(200);
  });
});
