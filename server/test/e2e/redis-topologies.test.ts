import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { createClient } from "graphql-ws";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { signedInUser, recharge } from "../factories.js";
import { startTestApp, type TestApp } from "../harness.js";
import { freePort, startPrivateRedis, type RedisProcess } from "../processes.js";

const run = promisify(execFile);

/** Redis processes of this file (own ports, own folder), stopped at the end. */
const children: ChildProcess[] = [];
const privateRedis: RedisProcess[] = [];
const apps: TestApp[] = [];
let dir: string;

afterAll(async () => {
  for (const app of apps) await app.close();
  for (const child of children) child.kill("SIGKILL");
  for (const redis of privateRedis) await redis.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

async function spawnRedis(args: string[], ready: RegExp): Promise<void> {
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!ready.test(out)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A paid task through the API, run by the worker, followed over graphql-ws until it succeeds. */
async function runOneTask(t: TestApp): Promise<void> {
  const user = await signedInUser(t);
  await recharge(t, user.account.id, 100);
  const created = await t.graphql<{ createTask: { task: { id: string } } }>(
    `mutation { createTask(input: { prompt: "a lighthouse", model: "novart-sketch", width: 512, height: 512, count: 1 }) { task { id } } }`,
    {},
    user.headers,
  );
  expect(created.body.errors).toBeUndefined();
  const id = created.body.data!.createTask.task.id;
  const ws = createClient({
    url: t.url.replace("http", "ws") + "/graphql",
    webSocketImpl: WebSocket,
    connectionParams: { authorization: user.headers.authorization },
    retryAttempts: 0,
  });
  let last = "";
  try {
    for await (const result of ws.iterate<{ taskUpdated: { status: string } }>({
      query: `subscription($id: ID!) { taskUpdated(id: $id) { status } }`,
      variables: { id },
    })) {
      last = result.data!.taskUpdated.status;
      if (last === "SUCCEEDED" || last === "FAILED") break;
    }
  } finally {
    await ws.dispose();
  }
  expect(last).toBe("SUCCEEDED");
  // The request budget (rate-limiter-flexible) works on this topology too.
  const res = await fetch(`${t.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...user.headers },
    body: JSON.stringify({ query: "{ me { id } }" }),
  });
  expect(Number(res.headers.get("ratelimit-remaining"))).toBeGreaterThan(0);
}

describe("Redis topologies", () => {
  it("works through Sentinel: the master is found through the Sentinels", { timeout: 90_000 }, async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "novart-redis-"));
    const master = await startPrivateRedis();
    privateRedis.push(master);
    const sentinelPort = await freePort();
    const conf = path.join(dir, "sentinel.conf");
    await fs.writeFile(
      conf,
      [
        `port ${sentinelPort}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
        "sentinel down-after-milliseconds mymaster 5000",
      ].join("\n"),
    );
    await spawnRedis([conf, "--sentinel"], /Sentinel ID is|monitor master/);
    const t = await startTestApp({
      // Only the credentials of the URL count here; the address comes from the Sentinels.
      REDIS_URL: "redis://127.0.0.1:1",
      REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
      REDIS_SENTINEL_NAME: "mymaster",
    });
    apps.push(t);
    await runOneTask(t);
    // The queue's keys are on the master the Sentinels named.
    const { stdout } = await run("redis-cli", [
      "-p",
      String(master.port),
      "--scan",
      "--pattern",
      `${t.app.config.REDIS_PREFIX}:*`,
    ]);
    expect(stdout).toContain(`${t.app.config.REDIS_PREFIX}:{bull}:generation`);
  });

  it("works on a Redis Cluster of three masters", { timeout: 90_000 }, async () => {
    dir ??= await fs.mkdtemp(path.join(os.tmpdir(), "novart-redis-"));
    const ports = [await freePort(), await freePort(), await freePort()];
    for (const port of ports) {
      await spawnRedis(
        [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--save",
          "",
          "--appendonly",
          "no",
          "--dir",
          dir,
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          `nodes-${port}.conf`,
        ],
        /Ready to accept connections/,
      );
    }
    await run("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((p) => `127.0.0.1:${p}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    const deadline = Date.now() + 20_000;
    while (!(await run("redis-cli", ["-p", String(ports[0]), "cluster", "info"])).stdout.includes("cluster_state:ok")) {
      if (Date.now() > deadline) throw new Error("the cluster did not form");
      await new Promise((r) => setTimeout(r, 100));
    }
    const t = await startTestApp({
      REDIS_URL: "redis://127.0.0.1:1",
      REDIS_CLUSTER_NODES: ports.map((p) => `127.0.0.1:${p}`).join(","),
    });
    apps.push(t);
    await runOneTask(t);
  });
});
