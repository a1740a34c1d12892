import { createClient } from "graphql-ws";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { databaseUrl, dropDatabase, freshDatabaseName } from "../database.js";
import { REDIS_URL } from "../harness.js";
import { freePort, runServer, type ServerProcess } from "../processes.js";

const running: ServerProcess[] = [];
const databases: string[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop("SIGKILL")));
  for (const name of databases) await dropDatabase(name);
});

function start(env: Record<string, string>) {
  const p = runServer(env);
  running.push(p);
  return p;
}

function newDatabase() {
  const name = freshDatabaseName();
  databases.push(name);
  return databaseUrl(name);
}

describe("start-up when a service is missing", () => {
  it("names the unreachable PostgreSQL in one line and exits non-zero within 10 s", async () => {
    const pgPort = await freePort();
    const p = start({ DATABASE_URL: `postgres://postgres:secret@127.0.0.1:${pgPort}/novart`, REDIS_URL, PORT: "0" });
    const { code, ms } = await p.exited;
    expect(code).not.toBe(0);
    expect(ms).toBeLessThan(10_000);
    const lines = p.stderr().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`PostgreSQL is not reachable at postgres://postgres:***@127.0.0.1:${pgPort}/novart`);
    expect(lines[0]).toContain("docker compose up -d postgres");
    expect(lines[0]).toContain("DATABASE_URL");
    expect(p.stderr()).not.toContain("secret");
  });

  it("names both services when both are missing, and prints no stack trace", async () => {
    const [pgPort, redisPort] = [await freePort(), await freePort()];
    const p = start({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${pgPort}/novart`,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      PORT: "0",
    });
    const { code, ms } = await p.exited;
    expect(code).not.toBe(0);
    expect(ms).toBeLessThan(10_000);
    const lines = p.stderr().trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain("PostgreSQL is not reachable");
    expect(lines[1]).toContain(`Redis is not reachable at redis://127.0.0.1:${redisPort}`);
    expect(lines[1]).toContain("docker compose up -d redis");
    expect(p.stderr()).not.toMatch(/^\s+at /m);
  });

  it("refuses a bad variable with a line naming it", async () => {
    const p = start({ PORT: "not-a-port", DATABASE_URL: newDatabase(), REDIS_URL });
    const { code } = await p.exited;
    expect(code).toBe(1);
    expect(p.stderr()).toMatch(/^Configuration error: PORT: /m);
    expect(p.stderr()).not.toMatch(/^\s+at /m);
  });
});

describe("a fresh install", () => {
  it("creates the database, migrates, seeds the catalogue, serves, and shuts down gracefully", async () => {
    const port = await freePort();
    const prefix = `novart-test-${port}`;
    const p = start({ DATABASE_URL: newDatabase(), REDIS_URL, REDIS_PREFIX: prefix, PORT: String(port) });
    await p.waitForOutput(/Novart Studio is running/);
    expect(p.stdout()).toContain("created the database");

    const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ models { slug name creditsPerImage } }" }),
    });
    const body = (await res.json()) as { data: { models: { slug: string }[] } };
    expect(body.data.models.map((m) => m.slug)).toContain("novart-sketch");

    // A live subscriber is told the server is going away, and the process exits 0 within 10 s.
    let closeCode = 0;
    const ws = createClient({
      url: `ws://127.0.0.1:${port}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      on: { closed: (event) => (closeCode = (event as { code: number }).code) },
    });
    const beats = ws.iterate({ query: "subscription { heartbeat { source } }" });
    await beats.next();
    const before = Date.now();
    p.child.kill("SIGTERM");
    const { code } = await p.exited;
    expect(code).toBe(0);
    expect(Date.now() - before).toBeLessThan(10_000);
    expect(closeCode).toBe(1001);
    await ws.dispose();
  });

  it("runs the API and the worker as separate processes sharing PostgreSQL and Redis", async () => {
    const port = await freePort();
    const env = {
      DATABASE_URL: newDatabase(),
      REDIS_URL,
      REDIS_PREFIX: `novart-test-roles-${port}`,
      HEARTBEAT_INTERVAL_MS: "200",
      NODE_ENV: "production",
    };
    const api = start({ ...env, ROLE: "api", PORT: String(port) });
    const worker = start({ ...env, ROLE: "worker" });
    await Promise.all([
      api.waitForOutput(/Novart Studio is running/),
      worker.waitForOutput(/Novart Studio is running/),
    ]);

    const ws = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    try {
      for await (const result of ws.iterate<{ heartbeat: { source: string } }>({
        query: "subscription { heartbeat { source } }",
      })) {
        if (result.data?.heartbeat.source === "WORKER") break;
      }
    } finally {
      await ws.dispose();
    }
    // The worker role serves no HTTP at all.
    expect(worker.stdout()).not.toMatch(/"url":"http/);
    // Ctrl+C in a terminal sends SIGINT: both roles shut down cleanly on it too.
    const before = Date.now();
    await Promise.all([api.stop("SIGINT"), worker.stop("SIGINT")]);
    expect((await api.exited).code).toBe(0);
    expect((await worker.exited).code).toBe(0);
    expect(Date.now() - before).toBeLessThan(5000);
  }, 60_000); // two cold starts with migrations: over 20 s on a loaded 2-core machine
});
