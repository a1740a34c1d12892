import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../src/app.js";
import { loadConfig } from "../../src/infra/config.js";
import { createLogger } from "../../src/infra/logger.js";
import { LedgerKind } from "../../src/modules/credits/ledger-entry.entity.js";
import { newSession, uniqueEmail, PASSWORD } from "../factories.js";
import type { TestApp } from "../harness.js";
import { freePort, runServer, startPrivateRedis, type RedisProcess, type ServerProcess } from "../processes.js";

/**
 * Read replicas for real: this file starts its own PostgreSQL primary (`wal_level=replica`) and a hot
 * standby made from it with `pg_basebackup -R` (a physical standby copies a whole cluster, so neither can be
 * the shared server), its own Redis, and the built API with DATABASE_REPLICA_URLS naming the standby.
 * Pausing the standby's replay then tells where a list was read: a change made on the primary behind the
 * API's back is invisible through a replica, and a change the caller made through the API must be visible
 * at once all the same (read-your-writes).
 */
const run = promisify(execFile);
const BIN = process.env.PG_BIN ?? findPgBin();
// initdb and postgres refuse to run as root: run them as the `postgres` user then.
const AS_ROOT = process.getuid?.() === 0;

function findPgBin(): string {
  const base = "/usr/lib/postgresql";
  const versions = fs.existsSync(base) ? fs.readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (fs.existsSync(path.join(base, v, "bin", "initdb"))) return path.join(base, v, "bin");
  return "";
}

async function pgTool(tool: string, args: string[]): Promise<string> {
  const [file, argv] = AS_ROOT
    ? ["runuser", ["-u", "postgres", "--", path.join(BIN, tool), ...args]]
    : [path.join(BIN, tool), args];
  return (await run(file, argv, { timeout: 30_000 })).stdout;
}

let dir = "";
const started: string[] = [];
let primaryPort = 0;
let standbyPort = 0;
let redis: RedisProcess | undefined;
let api: ServerProcess | undefined;
let apiUrl = "";
let primary: pg.Client;
let standby: pg.Client;

const urlOf = (port: number, database = "novart") => `postgres://postgres@127.0.0.1:${port}/${database}`;

async function startCluster(name: string, port: number, settings: string[]): Promise<void> {
  const options = [`-p ${port}`, `-k ${dir}`, "-c listen_addresses=127.0.0.1", ...settings.map((s) => `-c ${s}`)];
  await pgTool("pg_ctl", [
    "-D",
    path.join(dir, name),
    "-l",
    path.join(dir, `${name}.log`),
    "-w",
    "-o",
    options.join(" "),
    "start",
  ]);
  started.push(name);
}

beforeAll(async () => {
  if (!BIN) throw new Error("PostgreSQL's binaries not found: set PG_BIN");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "novart-replicas-"));
  if (AS_ROOT) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    fs.chownSync(dir, Number(stdout.trim()), -1);
  }
  [primaryPort, standbyPort] = [await freePort(), await freePort()];
  await pgTool("initdb", [
    "-D",
    path.join(dir, "primary"),
    "-U",
    "postgres",
    "--auth=trust",
    "-E",
    "UTF8",
    "--no-sync",
  ]);
  await startCluster("primary", primaryPort, ["wal_level=replica", "fsync=off", "max_wal_senders=4"]);
  await pgTool("pg_basebackup", [
    ...["-h", "127.0.0.1", "-p", String(primaryPort), "-U", "postgres"],
    ...["-D", path.join(dir, "standby"), "-R", "-X", "stream", "-c", "fast"],
  ]);
  await startCluster("standby", standbyPort, ["hot_standby=on", "fsync=off"]);

  redis = await startPrivateRedis();
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  // The API creates and migrates `novart` on the primary; the standby replays it.
  api = runServer({
    ROLE: "api",
    PORT: String(port),
    DATABASE_URL: urlOf(primaryPort),
    DATABASE_REPLICA_URLS: urlOf(standbyPort),
    REDIS_URL: redis.url,
    REDIS_PREFIX: "replicas",
    DATA_DIR: path.join(dir, "data"),
    STUDIO_DIR: "/nonexistent",
    FILES_SECRET: "x".repeat(40),
    LOG_LEVEL: "warn",
  });
  const deadline = Date.now() + 40_000;
  while ((await fetch(`${apiUrl}/readyz`).catch(() => null))?.status !== 200) {
    if (Date.now() > deadline) throw new Error(`the API did not get ready:\n${api.stdout()}\n${api.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  primary = new pg.Client({ connectionString: urlOf(primaryPort) });
  standby = new pg.Client({ connectionString: urlOf(standbyPort) });
  standby.on("error", () => undefined);
  await primary.connect();
  await standby.connect();
}, 60_000);

afterAll(async () => {
  await api?.stop();
  await primary?.end().catch(() => undefined);
  await standby?.end().catch(() => undefined);
  await redis?.stop();
  for (const name of started.reverse()) {
    await pgTool("pg_ctl", ["-D", path.join(dir, name), "-m", "immediate", "stop"]).catch(() => undefined);
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface User {
  id: string;
  headers: Record<string, string>;
}

/** Accounts with sessions and credits, made by the services of an app on the primary (no replicas). */
async function makeUsers(count: number): Promise<User[]> {
  const config = loadConfig({
    NODE_ENV: "test",
    DATABASE_URL: urlOf(primaryPort),
    DATABASE_POOL_SIZE: "2",
    REDIS_URL: redis!.url,
    REDIS_PREFIX: "replicas",
    LOG_LEVEL: "silent",
    DATA_DIR: path.join(dir, "data"),
  });
  const app: App = await createApp(config, createLogger("silent"));
  try {
    const users: User[] = [];
    for (let i = 0; i < count; i++) {
      const account = await app.services.accounts.createVerified(uniqueEmail("replica"), PASSWORD);
      await app.services.ledger.credit({
        accountId: account.id,
        kind: LedgerKind.RECHARGE,
        paid: 1000,
        bonus: 0,
        reference: `s:${account.id}`,
      });
      const { headers } = await newSession({ app } as TestApp, account.id);
      users.push({ id: account.id, headers });
    }
    return users;
  } finally {
    await app.stop();
  }
}

async function graphql<T>(user: User, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${apiUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...user.headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  return body.data!;
}

async function createTask(user: User, prompt: string): Promise<string> {
  const data = await graphql<{ createTask: { task: { id: string } } }>(
    user,
    `
      mutation ($input: CreateTaskInput!) {
        createTask(input: $input) {
          task {
            id
          }
        }
      }
    `,
    { input: { prompt, model: "novart-sketch", width: 512, height: 512, count: 1 } },
  );
  return data.createTask.task.id;
}

async function tasks(user: User): Promise<{ id: string; prompt: string }[]> {
  const data = await graphql<{ tasks: { edges: { node: { id: string; prompt: string } }[] } }>(
    user,
    `
      query {
        tasks(first: 50) {
          edges {
            node {
              id
              prompt
            }
          }
        }
      }
    `,
  );
  return data.tasks.edges.map((e) => e.node);
}

async function assets(user: User): Promise<{ id: string; favorite: boolean }[]> {
  const data = await graphql<{ assets: { edges: { node: { id: string; favorite: boolean } }[] } }>(
    user,
    `
      query {
        assets(first: 50) {
          edges {
            node {
              id
              favorite
            }
          }
        }
      }
    `,
  );
  return data.assets.edges.map((e) => e.node);
}

/** An asset row written on the primary directly (no worker runs here; its files are never read). */
async function insertAsset(taskId: string, accountId: string): Promise<string> {
  const key = `assets/${accountId}/${taskId}/0`;
  const { rows } = await primary.query<{ id: string }>(
    `INSERT INTO asset (task_id, account_id, index, width, height, bytes, content_type, sha256, storage_key,
                        preview_key, thumbnail_key, expires_at)
     VALUES ($1, $2, 0, 512, 512, 1, 'image/png', repeat('0', 64), $3, $4, $5, now() + interval '1 day')
     RETURNING id`,
    [taskId, accountId, `${key}.png`, `${key}.preview.webp`, `${key}.thumb.webp`],
  );
  return rows[0].id;
}

async function messages(user: User, unreadOnly = false): Promise<string[]> {
  const data = await graphql<{ messages: { edges: { node: { title: string } }[] } }>(
    user,
    `
      query ($unreadOnly: Boolean) {
        messages(first: 50, unreadOnly: $unreadOnly) {
          edges {
            node {
              title
            }
          }
        }
      }
    `,
    { unreadOnly },
  );
  return data.messages.edges.map((e) => e.node.title);
}

async function insertMessage(accountId: string, title: string): Promise<void> {
  await primary.query(`INSERT INTO message (account_id, kind, title, body) VALUES ($1, 'note', $2, 'body')`, [
    accountId,
    title,
  ]);
}

/** Waits until the standby has replayed everything the primary has written so far. */
async function caughtUp(): Promise<void> {
  const { rows } = await primary.query<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const replayed = await standby.query<{ ok: boolean }>(`SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok`, [
      rows[0].lsn,
    ]);
    if (replayed.rows[0].ok) return;
    if (Date.now() > deadline) throw new Error("the standby did not catch up");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function onStandby(sql: string, values: unknown[]): Promise<number> {
  return (await standby.query(sql, values)).rowCount ?? 0;
}

describe("PostgreSQL read replicas", () => {
  it(
    "serve the lists, except to an account whose own latest write they have not replayed, and stand in for nothing when down",
    { timeout: 60_000 },
    async () => {
      const [alice, bob] = await makeUsers(2);
      const aliceFirst = await createTask(alice, "a lighthouse");
      const bobFirst = await createTask(bob, "a harbour");
      const aliceAsset = await insertAsset(aliceFirst, alice.id);
      await insertMessage(alice.id, "hello Alice");
      await insertMessage(bob.id, "hello Bob");
      await caughtUp();
      expect((await tasks(bob)).map((t) => t.prompt)).toEqual(["a harbour"]);

      // The standby stops replaying: from now on it shows the data as it is at this moment.
      await standby.query(`SELECT pg_wal_replay_pause()`);
      const deadline = Date.now() + 10_000;
      while ((await standby.query(`SELECT pg_get_wal_replay_pause_state() AS s`)).rows[0].s !== "paused") {
        if (Date.now() > deadline) throw new Error("replay did not pause");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }

      // Changes on the primary behind the API's back (no account wrote through it): Bob's lists, read from
      // the replica, do not show them. Read from the primary, they would.
      await primary.query(`UPDATE task SET prompt = 'changed on the primary' WHERE id = $1`, [bobFirst]);
      const bobAsset = await insertAsset(bobFirst, bob.id);
      await insertMessage(bob.id, "hello again Bob");
      expect(await tasks(bob)).toEqual([{ id: bobFirst, prompt: "a harbour" }]);
      expect(await assets(bob)).toEqual([]);
      expect(await messages(bob)).toEqual(["hello Bob"]);

      // Alice writes through the API: her next lists show it at once, though the replica has not got it.
      const aliceSecond = await createTask(alice, "a second lighthouse");
      expect(await onStandby(`SELECT 1 FROM task WHERE id = $1`, [aliceSecond])).toBe(0);
      expect((await tasks(alice)).map((t) => t.id)).toEqual([aliceSecond, aliceFirst]);
      await graphql(
        alice,
        `
          mutation ($input: SetFavoriteInput!) {
            setFavorite(input: $input) {
              asset {
                id
              }
            }
          }
        `,
        {
          input: { id: aliceAsset, favorite: true },
        },
      );
      expect(await onStandby(`SELECT 1 FROM asset WHERE id = $1 AND favorite`, [aliceAsset])).toBe(0);
      expect(await assets(alice)).toEqual([{ id: aliceAsset, favorite: true }]);
      expect(await messages(alice, true)).toEqual(["hello Alice"]);
      await graphql(
        alice,
        `
          mutation {
            markMessagesRead(input: {}) {
              unreadCount
            }
          }
        `,
      );
      expect(await messages(alice, true)).toEqual([]);
      // Alice's write does not send Bob to the primary: his lists still come from the paused replica.
      expect((await tasks(bob)).map((t) => t.prompt)).toEqual(["a harbour"]);

      // Replay resumes: Bob sees the primary's changes through the replica once it has replayed them.
      await standby.query(`SELECT pg_wal_replay_resume()`);
      await caughtUp();
      expect((await tasks(bob)).map((t) => t.prompt)).toEqual(["changed on the primary"]);
      expect((await assets(bob)).map((a) => a.id)).toEqual([bobAsset]);
      expect(await messages(bob)).toEqual(["hello again Bob", "hello Bob"]);

      // The standby goes down: the lists answer from the primary, without an error and without waiting.
      await pgTool("pg_ctl", ["-D", path.join(dir, "standby"), "-m", "immediate", "stop"]);
      started.splice(started.indexOf("standby"), 1);
      await primary.query(`UPDATE task SET prompt = 'after the standby stopped' WHERE id = $1`, [bobFirst]);
      for (let i = 0; i < 3; i++) {
        const began = Date.now();
        expect((await tasks(bob)).map((t) => t.prompt)).toEqual(["after the standby stopped"]);
        expect((await tasks(alice)).map((t) => t.id)).toEqual([aliceSecond, aliceFirst]);
        expect((await assets(bob)).map((a) => a.id)).toEqual([bobAsset]);
        expect(Date.now() - began).toBeLessThan(3000);
      }
      expect(api!.stdout() + api!.stderr()).toMatch(/read replica unavailable/);
    },
  );
});
