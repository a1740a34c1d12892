import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser, recharge } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { AccountRole } from "../accounts/account.entity.js";
import { LedgerKind } from "../credits/ledger-entry.entity.js";

/** API and worker in one app; a fast offline provider. */
let t: TestApp;
let user: SignedInUser;

beforeAll(async () => {
  t = await startTestApp({
    LOCAL_PROVIDER_STEP_MS: "5",
    WORKER_CONCURRENCY: "4",
    DATA_DIR: `/tmp/novart-test-data-${process.pid}`,
  });
  user = await fundedUser(200);
});
afterAll(() => t?.close());

async function fundedUser(credits: number): Promise<SignedInUser> {
  const u = await signedInUser(t);
  if (credits) {
    await t.app.services.ledger.credit({
      accountId: u.account.id,
      kind: LedgerKind.RECHARGE,
      paid: credits,
      bonus: 0,
      reference: `seed:${u.account.id}`,
    });
  }
  return u;
}

const CREATE = `mutation($input: CreateTaskInput!) {
  createTask(input: $input) { created task { id status cost count seed prompt queuePosition } }
}`;
type Created = { createTask: { created: boolean; task: { id: string; status: string; cost: number; seed: number } } };

const input = (overrides: Record<string, unknown> = {}) => ({
  prompt: "  a lighthouse at dusk  ",
  model: "novart-sketch",
  width: 512,
  height: 512,
  count: 2,
  ...overrides,
});

async function waitForStatus(id: string, statuses: string[]) {
  await expect
    .poll(
      async () =>
        ((await t.app.db.query(`SELECT status FROM task WHERE id = $1`, [id])) as { status: string }[])[0]?.status,
      {
        timeout: 15_000,
        interval: 50,
      },
    )
    .toSatisfy((s: string) => statuses.includes(s));
}

describe("createTask", () => {
  it("charges the price, queues, runs, and stores the images with signed file URLs", async () => {
    const res = await t.graphql<Created>(CREATE, { input: input() }, user.headers);
    expect(res.body.errors).toBeUndefined();
    const task = res.body.data!.createTask.task;
    expect(task).toMatchObject({ status: "QUEUED", cost: 4, prompt: "a lighthouse at dusk" });
    expect(await t.app.services.ledger.balance(user.account.id)).toEqual({ paid: 196, bonus: 0 });
    await waitForStatus(task.id, ["SUCCEEDED"]);

    const done = await t.graphql<{
      task: { status: string; progress: number; assets: { width: number; url: string }[] };
    }>(
      `query($id: ID!) { task(id: $id) { status progress startedAt finishedAt assets { width height url(variant: ORIGINAL) } } }`,
      { id: task.id },
      user.headers,
    );
    expect(done.body.data?.task).toMatchObject({ status: "SUCCEEDED", progress: 1 });
    expect(done.body.data?.task.assets).toHaveLength(2);
    const file = await fetch(t.url + done.body.data!.task.assets[0].url);
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("image/png");
    const bytes = Buffer.from(await file.arrayBuffer());
    expect(bytes.subarray(1, 4).toString()).toBe("PNG");
  });

  it("refuses bad input with typed errors and charges nothing", async () => {
    const before = await t.app.services.ledger.balance(user.account.id);
    const cases: [Record<string, unknown>, string, string][] = [
      [{ prompt: "   " }, "BAD_USER_INPUT", "prompt"],
      [{ prompt: "x".repeat(2001) }, "BAD_USER_INPUT", "prompt"],
      [{ model: "nope" }, "NOT_FOUND", "model"],
      [{ width: 640 }, "BAD_USER_INPUT", "size"],
      [{ count: 5 }, "BAD_USER_INPUT", "count"],
      [{ count: 0 }, "BAD_USER_INPUT", "count"],
      [{ seed: -1 }, "BAD_USER_INPUT", "seed"],
      [{ webhookUrl: "ftp://example.com/hook" }, "BAD_USER_INPUT", "webhookUrl"],
      [{ referenceIds: ["00000000-0000-4000-8000-000000000000"] }, "NOT_FOUND", "referenceIds"],
      [{ referenceIds: ["not-a-uuid"] }, "BAD_USER_INPUT", "referenceIds"],
    ];
    for (const [overrides, code, field] of cases) {
      const res = await t.graphql(CREATE, { input: input(overrides) }, user.headers);
      expect(res.body.errors?.[0].extensions, JSON.stringify(overrides).slice(0, 80)).toMatchObject({ code, field });
    }
    expect(await t.app.services.ledger.balance(user.account.id)).toEqual(before);
  });

  it("answers INSUFFICIENT_BALANCE with the amount missing and creates no task", async () => {
    const poor = await fundedUser(3);
    const res = await t.graphql(CREATE, { input: input({ count: 2 }) }, poor.headers);
    expect(res.body.errors?.[0].extensions).toMatchObject({
      code: "INSUFFICIENT_BALANCE",
      required: 4,
      available: 3,
      missing: 1,
    });
    const tasks = (await t.app.db.query(`SELECT count(*)::int AS n FROM task WHERE account_id = $1`, [
      poor.account.id,
    ])) as { n: number }[];
    expect(tasks[0].n).toBe(0);
  });

  it("returns the original task for a repeated idempotency key, charging once, and refuses different input", async () => {
    const u = await fundedUser(50);
    const key = "order-7";
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        t.graphql<Created>(CREATE, { input: input({ idempotencyKey: key, seed: 7 }) }, u.headers),
      ),
    );
    const ids = new Set(results.map((r) => r.body.data?.createTask.task.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.body.data?.createTask.created)).toHaveLength(1);
    expect(await t.app.services.ledger.balance(u.account.id)).toEqual({ paid: 46, bonus: 0 });
    const conflict = await t.graphql(CREATE, { input: input({ idempotencyKey: key, seed: 8 }) }, u.headers);
    expect(conflict.body.errors?.[0].extensions?.code).toBe("IDEMPOTENCY_CONFLICT");
  });

  it("honours an idempotency key for 24 h only: an older task's key is free for a new task, charged again", async () => {
    const u = await fundedUser(50);
    const key = "order-old";
    const same = input({ idempotencyKey: key, seed: 11, count: 1 });
    const first = await t.graphql<Created>(CREATE, { input: same }, u.headers);
    const firstId = first.body.data!.createTask.task.id;
    const repeat = await t.graphql<Created>(CREATE, { input: same }, u.headers);
    expect(repeat.body.data?.createTask).toMatchObject({ created: false, task: { id: firstId } });
    expect(await t.app.services.ledger.balance(u.account.id)).toEqual({ paid: 48, bonus: 0 });

    // 25 hours later (the hourly clean-up has not run yet): the key names no task any more.
    await t.app.db.query(`UPDATE task SET created_at = created_at - interval '25 hours' WHERE id = $1`, [firstId]);
    const later = await t.graphql<Created>(CREATE, { input: same }, u.headers);
    expect(later.body.errors).toBeUndefined();
    expect(later.body.data?.createTask.created).toBe(true);
    const laterId = later.body.data!.createTask.task.id;
    expect(laterId).not.toBe(firstId);
    expect(await t.app.services.ledger.balance(u.account.id)).toEqual({ paid: 46, bonus: 0 });
    // The new task holds the key now: a repeat answers it, and other input under the key is a conflict.
    const again = await t.graphql<Created>(CREATE, { input: same }, u.headers);
    expect(again.body.data?.createTask).toMatchObject({ created: false, task: { id: laterId } });
    const conflict = await t.graphql(CREATE, { input: { ...same, seed: 12 } }, u.headers);
    expect(conflict.body.errors?.[0].extensions?.code).toBe("IDEMPOTENCY_CONFLICT");
    const keys = (await t.app.db.query(`SELECT id, idempotency_key FROM task WHERE account_id = $1`, [
      u.account.id,
    ])) as { id: string; idempotency_key: string | null }[];
    expect(Object.fromEntries(keys.map((k) => [k.id, k.idempotency_key]))).toEqual({
      [firstId]: null,
      [laterId]: key,
    });
    expect(await t.app.services.ledger.balance(u.account.id)).toEqual({ paid: 46, bonus: 0 });
  });

  it("charges a model's new price at once, though the model was read before the change", async () => {
    const u = await fundedUser(100);
    const first = await t.graphql<Created>(CREATE, { input: input({ count: 1, model: "novart-mosaic" }) }, u.headers);
    const price = first.body.data!.createTask.task.cost;
    // Behind the catalogue's back (another process, or SQL): this process's copy of the model is now stale.
    await t.app.db.query(
      `UPDATE generation_model SET credits_per_image = credits_per_image + 1 WHERE slug = 'novart-mosaic'`,
    );
    try {
      const second = await t.graphql<Created>(
        CREATE,
        { input: input({ count: 1, model: "novart-mosaic" }) },
        u.headers,
      );
      expect(second.body.errors).toBeUndefined();
      expect(second.body.data!.createTask.task.cost).toBeGreaterThan(price);
      const charged = (await t.app.db.query(
        `SELECT -sum(paid_delta + bonus_delta)::int AS n FROM ledger_entry WHERE account_id = $1 AND kind = 'TASK_CHARGE'`,
        [u.account.id],
      )) as { n: number }[];
      expect(charged[0].n).toBe(price + second.body.data!.createTask.task.cost);
      await t.app.db.query(`UPDATE generation_model SET enabled = false WHERE slug = 'novart-mosaic'`);
      const disabled = await t.graphql(CREATE, { input: input({ count: 1, model: "novart-mosaic" }) }, u.headers);
      expect(disabled.body.errors?.[0].extensions?.code).toBe("NOT_FOUND");
    } finally {
      await t.app.db.query(
        `UPDATE generation_model SET credits_per_image = credits_per_image - 1, enabled = true WHERE slug = 'novart-mosaic'`,
      );
    }
  });

  it("needs tasks:write for API keys", async () => {
    const { secret } = await t.app.services.apiKeys.create(user.account.id, { name: "reader", scopes: ["tasks:read"] });
    const res = await t.graphql(CREATE, { input: input() }, { authorization: `Bearer ${secret}` });
    expect(res.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });
});

describe("cancelTask", () => {
  it("cancels a running task, aborts it, refunds once, and stores no image", async () => {
    // 2 images × 7 pauses of 1.5 s: left alone, the provider would run for about 21 s.
    const STEP_MS = 1500;
    const naturalMs = 2 * 7 * STEP_MS;
    const slow = await startTestApp({ LOCAL_PROVIDER_STEP_MS: String(STEP_MS) });
    try {
      const u = await signedInUser(slow);
      await recharge(slow, u.account.id, 10);
      const created = await slow.graphql<Created>(CREATE, { input: input({ count: 2 }) }, u.headers);
      const id = created.body.data!.createTask.task.id;
      await expect
        .poll(
          async () =>
            ((await slow.app.db.query(`SELECT status FROM task WHERE id = $1`, [id])) as { status: string }[])[0]
              .status,
          { timeout: 20_000 },
        )
        .toBe("RUNNING");
      const canceled = await slow.graphql<{ cancelTask: { task: { status: string } } }>(
        `mutation($input: IdInput!) { cancelTask(input: $input) { task { status } } }`,
        { input: { id } },
        u.headers,
      );
      expect(canceled.body.data?.cancelTask.task.status).toBe("CANCELED");
      expect(await slow.app.services.ledger.balance(u.account.id)).toEqual({ paid: 10, bonus: 0 });
      const again = await slow.graphql(
        `mutation($input: IdInput!) { cancelTask(input: $input) { task { status } } }`,
        { input: { id } },
        u.headers,
      );
      expect(again.body.errors?.[0].extensions?.code).toBe("TASK_NOT_CANCELABLE");

      // The worker's provider call was aborted: its job ends long before the provider would have finished
      // (an active job stays in the queue, locked, until its run returns; a finished one is removed).
      await expect
        .poll(async () => (await slow.app.queues.generation.getJob(id)) ?? null, { timeout: 10_000, interval: 100 })
        .toBeNull();
      const [{ started_at }] = (await slow.app.db.query(`SELECT started_at FROM task WHERE id = $1`, [id])) as {
        started_at: Date;
      }[];
      expect(Date.now() - started_at.getTime()).toBeLessThan(naturalMs);
      // Nothing was written for the task: no file under its storage prefix, no asset row, refunded once.
      const prefix = path.join(slow.app.config.DATA_DIR, "assets", u.account.id, id);
      await expect(fs.stat(prefix)).rejects.toMatchObject({ code: "ENOENT" });
      const rows = (await slow.app.db.query(
        `SELECT (SELECT status FROM task WHERE id = $1) AS status, (SELECT count(*)::int FROM asset WHERE task_id = $1) AS assets,
                (SELECT count(*)::int FROM ledger_entry WHERE reference LIKE 'task:' || $1 || ':%') AS entries`,
        [id],
      )) as { status: string; assets: number; entries: number }[];
      expect(rows[0]).toEqual({ status: "CANCELED", assets: 0, entries: 2 });
      // The owner canceled it: the studio shows that; no inbox message.
      expect(await slow.app.services.messages.unreadCount(u.account.id)).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it("tells the owner when staff cancel a task (canceled and refunded)", async () => {
    const apiOnly = await startTestApp({ ROLE: "api" });
    try {
      const u = await signedInUser(apiOnly);
      const moderator = await signedInUser(apiOnly, { role: AccountRole.MODERATOR });
      await recharge(apiOnly, u.account.id, 10);
      const created = await apiOnly.graphql<Created>(CREATE, { input: input({ count: 2 }) }, u.headers);
      const id = created.body.data!.createTask.task.id;
      const canceled = await apiOnly.graphql<{ cancelTask: { task: { status: string } } }>(
        `mutation($input: IdInput!) { cancelTask(input: $input) { task { status } } }`,
        { input: { id } },
        moderator.headers,
      );
      expect(canceled.body.errors).toBeUndefined();
      expect(canceled.body.data?.cancelTask.task.status).toBe("CANCELED");
      expect(await apiOnly.app.services.ledger.balance(u.account.id)).toEqual({ paid: 10, bonus: 0 });
      const inbox = (await apiOnly.app.db.query(
        `SELECT account_id, kind, title, body FROM message WHERE account_id = ANY($1::uuid[])`,
        [[u.account.id, moderator.account.id]],
      )) as { account_id: string; kind: string; title: string; body: string }[];
      const mine = inbox.filter((m) => m.kind === "task.canceled");
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({ account_id: u.account.id, title: "A task was canceled and refunded" });
      expect(mine[0].body).toContain("a lighthouse at dusk");
      expect(mine[0].body).toContain("4 credits were given back");
    } finally {
      await apiOnly.close();
    }
  });

  it("cancels a queued task and refunds it; another account's task answers NOT_FOUND", async () => {
    const apiOnly = await startTestApp({ ROLE: "api" });
    try {
      const u = await signedInUser(apiOnly);
      const other = await signedInUser(apiOnly);
      await apiOnly.app.services.ledger.credit({
        accountId: u.account.id,
        kind: LedgerKind.RECHARGE,
        paid: 10,
        bonus: 5,
        reference: `s:${u.account.id}`,
      });
      const created = await apiOnly.graphql<Created>(CREATE, { input: input({ count: 3 }) }, u.headers);
      const id = created.body.data!.createTask.task.id;
      expect(await apiOnly.app.services.ledger.balance(u.account.id)).toEqual({ paid: 9, bonus: 0 });
      const CANCEL = `mutation($input: IdInput!) { cancelTask(input: $input) { task { status } } }`;
      const foreign = await apiOnly.graphql(CANCEL, { input: { id } }, other.headers);
      expect(foreign.body.errors?.[0].extensions?.code).toBe("NOT_FOUND");
      const peek = await apiOnly.graphql<{ task: unknown }>(
        `query($id: ID!) { task(id: $id) { id } }`,
        { id },
        other.headers,
      );
      expect(peek.body.data?.task).toBeNull();
      const canceled = await apiOnly.graphql<{ cancelTask: { task: { status: string } } }>(
        CANCEL,
        { input: { id } },
        u.headers,
      );
      expect(canceled.body.data?.cancelTask.task.status).toBe("CANCELED");
      expect(await apiOnly.app.services.ledger.balance(u.account.id)).toEqual({ paid: 10, bonus: 5 });
      expect(await apiOnly.app.queues.generation.getJob(id)).toBeUndefined();
    } finally {
      await apiOnly.close();
    }
  });
});

describe("failures", () => {
  it("fails a task that runs past its timeout, refunds it once and tells the owner", async () => {
    const slow = await startTestApp({ LOCAL_PROVIDER_STEP_MS: "300", TASK_TIMEOUT_MS: "400" });
    try {
      const u = await signedInUser(slow);
      await recharge(slow, u.account.id, 10);
      const created = await slow.graphql<Created>(CREATE, { input: input({ count: 2 }) }, u.headers);
      const id = created.body.data!.createTask.task.id;
      await expect
        .poll(
          async () =>
            ((await slow.app.db.query(`SELECT status, error_code FROM task WHERE id = $1`, [id])) as unknown[])[0],
          {
            timeout: 10_000,
          },
        )
        .toEqual({ status: "FAILED", error_code: "TIMEOUT" });
      expect(await slow.app.services.ledger.balance(u.account.id)).toEqual({ paid: 10, bonus: 0 });
      await expect.poll(() => slow.app.services.messages.unreadCount(u.account.id)).toBe(1);
      expect(await slow.app.services.ledger.verify()).toEqual([]);
    } finally {
      await slow.close();
    }
  });
});

describe("fairness", () => {
  it("one account's backlog does not hold another account's task behind it", async () => {
    const fair = await startTestApp({
      LOCAL_PROVIDER_STEP_MS: "100",
      WORKER_CONCURRENCY: "2",
      TASK_RUNNING_LIMIT: "2",
    });
    try {
      const busy = await signedInUser(fair);
      const single = await signedInUser(fair);
      for (const u of [busy, single]) {
        await recharge(fair, u.account.id, 500);
      }
      // 200 tasks of the busy account (one statement each, as fast as the API takes them).
      const backlog: string[] = [];
      for (let i = 0; i < 200; i++) {
        const res = await fair.graphql<Created>(CREATE, { input: input({ count: 1, seed: i }) }, busy.headers);
        backlog.push(res.body.data!.createTask.task.id);
      }
      const mine = await fair.graphql<Created>(CREATE, { input: input({ count: 1 }) }, single.headers);
      const myId = mine.body.data!.createTask.task.id;
      await expect
        .poll(
          async () =>
            ((await fair.app.db.query(`SELECT status FROM task WHERE id = $1`, [myId])) as { status: string }[])[0]
              .status,
          { timeout: 30_000 },
        )
        .toBe("SUCCEEDED");
      type Row = { id: string; created_at: Date; dispatched_at: Date; started_at: Date };
      const started = (await fair.app.db.query(
        `SELECT id, created_at, dispatched_at, started_at FROM task
          WHERE id = ANY($1::uuid[]) AND started_at IS NOT NULL`,
        [[...backlog, myId]],
      )) as Row[];
      const me = started.find((r) => r.id === myId)!;
      // Mine was handed to the queue at once: the busy account's backlog waits in PostgreSQL, not in the queue.
      expect(me.dispatched_at.getTime() - me.created_at.getTime()).toBeLessThan(2_000);
      const startedWhileIWaited = started.filter(
        (r) => r.id !== myId && r.started_at >= me.created_at && r.started_at < me.started_at,
      );
      // Ahead of mine in the (FIFO) queue: only what the busy account had dispatched before, at most its running
      // slots (TASK_RUNNING_LIMIT = 2), whatever the size of its backlog.
      expect(startedWhileIWaited.filter((r) => r.dispatched_at < me.dispatched_at).length).toBeLessThanOrEqual(2);
      // Behind mine in the queue: at most one, taken by the worker's other slot in the same moment as mine.
      expect(startedWhileIWaited.filter((r) => r.dispatched_at > me.dispatched_at).length).toBeLessThanOrEqual(1);
      // And the backlog was still there when mine ran.
      expect(
        backlog.length - started.filter((r) => r.id !== myId && r.started_at <= me.started_at).length,
      ).toBeGreaterThan(50);
      const queued = await fair.graphql<{
        tasks: { edges: { node: { id: string; status: string; queuePosition: number | null } }[] };
      }>(
        `{ tasks(first: 100, filter: { status: QUEUED }) { edges { node { id status queuePosition } } } }`,
        undefined,
        busy.headers,
      );
      // The page and the positions are two reads: a task may start between them (then it has no position).
      for (const { node } of queued.body.data?.tasks.edges ?? []) {
        if (node.queuePosition !== null) {
          expect(node.queuePosition).toBeGreaterThan(0);
          continue;
        }
        const [row] = (await fair.app.db.query(`SELECT status FROM task WHERE id = $1`, [node.id])) as {
          status: string;
        }[];
        expect(row.status, `task ${node.id} is queued but has no position`).not.toBe("QUEUED");
      }
    } finally {
      await fair.close();
    }
  }, 120_000);
});
