import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../harness.js";
import { startPrivateRedis, type RedisProcess } from "../processes.js";

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

async function readiness() {
  const res = await fetch(`${t.url}/readyz`);
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
