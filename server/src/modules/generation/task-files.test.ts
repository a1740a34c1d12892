import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { recharge, signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import type { AssetService } from "../assets/asset.service.js";
import type { ProviderRegistry } from "./provider-registry.js";
import type { TaskService } from "./task.service.js";

/**
 * A task's image files are written before the statement that records its success. A task canceled while
 * they are written, or failing after, gets no rows: its files must go too, or they stay in the store forever.
 */
let t: TestApp;
let user: SignedInUser;
let assets: AssetService;

beforeAll(async () => {
  t = await startTestApp({ TASK_ATTEMPTS: "1" });
  user = await signedInUser(t);
  await recharge(t, user.account.id, 100);
  assets = t.app.services.assets;
});
afterEach(() => {
  delete (assets as Partial<AssetService>).writeTaskFiles;
  delete (t.app.services.tasks as Partial<TaskService>).emit;
  delete (t.app.services.providers as Partial<ProviderRegistry>).generate;
});
afterAll(() => t?.close());

/** The files in the task's folder of the local store. */
async function filesOf(taskId: string): Promise<string[]> {
  const folder = path.join(t.app.config.DATA_DIR, "assets", user.account.id, taskId);
  return fs.readdir(folder).catch(() => []);
}

async function createTask(): Promise<string> {
  const res = await t.graphql<{ createTask: { task: { id: string } } }>(
    `mutation { createTask(input: { prompt: "a quiet dock", model: "novart-sketch", width: 512, height: 512, count: 2 }) { task { id } } }`,
    undefined,
    user.headers,
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.createTask.task.id;
}

const statusOf = async (id: string) =>
  ((await t.app.db.query(`SELECT status FROM task WHERE id = $1`, [id])) as { status: string }[])[0].status;

/** Runs `after` once the task's files are all written, before the runner records the task's success. */
function afterFilesWritten(after: (taskId: string) => Promise<void>): { written: string[] } {
  const seen = { written: [] as string[] };
  const real = assets.writeTaskFiles.bind(assets);
  assets.writeTaskFiles = async (task, images) => {
    const files = await real(task, images);
    seen.written = await filesOf(task.id);
    await after(task.id);
    return files;
  };
  return seen;
}

describe("the image files of a task that ends without its images", () => {
  it("are deleted when the task is canceled while they are written", async () => {
    const seen = afterFilesWritten(async (taskId) => {
      const canceled = await t.graphql<{ cancelTask: { task: { status: string } } }>(
        `mutation($input: IdInput!) { cancelTask(input: $input) { task { status } } }`,
        { input: { id: taskId } },
        user.headers,
      );
      expect(canceled.body.data?.cancelTask.task.status).toBe("CANCELED");
    });
    const id = await createTask();
    await expect.poll(() => statusOf(id), { timeout: 20_000 }).toBe("CANCELED");
    expect(seen.written.length).toBeGreaterThan(0);
    await expect.poll(() => filesOf(id), { timeout: 5_000 }).toEqual([]);
    expect(await t.app.db.query(`SELECT id FROM asset WHERE task_id = $1`, [id])).toEqual([]);
  });

  it("are deleted when the task fails after they were written", async () => {
    const seen = afterFilesWritten(async () => {
      throw new Error("the disk is full");
    });
    const id = await createTask();
    await expect.poll(() => statusOf(id), { timeout: 20_000 }).toBe("FAILED");
    expect(seen.written.length).toBeGreaterThan(0);
    await expect.poll(() => filesOf(id), { timeout: 5_000 }).toEqual([]);
  });

  it("stay with a task that succeeds", async () => {
    const id = await createTask();
    await expect.poll(() => statusOf(id), { timeout: 20_000 }).toBe("SUCCEEDED");
    const rows = (await t.app.db.query(`SELECT storage_key FROM asset WHERE task_id = $1`, [id])) as unknown[];
    expect(rows).toHaveLength(2);
    expect((await filesOf(id)).length).toBeGreaterThanOrEqual(4);
  });
});

describe("a cancel sent as soon as the task shows RUNNING", () => {
  it("aborts the provider call (it is not lost while the runner announces the start)", async () => {
    const tasks = t.app.services.tasks;
    const realEmit = tasks.emit.bind(tasks);
    // The cancel arrives while the runner emits `task.running`, and the worker has it before going on.
    tasks.emit = async (task, type) => {
      await realEmit(task, type);
      if (type !== "task.running") return;
      const canceled = await t.graphql<{ cancelTask: { task: { status: string } } }>(
        `mutation($input: IdInput!) { cancelTask(input: $input) { task { status } } }`,
        { input: { id: task.id } },
        user.headers,
      );
      expect(canceled.body.data?.cancelTask.task.status).toBe("CANCELED");
      await new Promise((r) => setTimeout(r, 300));
    };
    const providers = t.app.services.providers;
    const realGenerate = providers.generate.bind(providers);
    const signals: boolean[] = [];
    providers.generate = (model, params, signal, onProgress) => {
      signals.push(signal.aborted);
      return realGenerate(model, params, signal, onProgress);
    };
    const id = await createTask();
    await expect.poll(() => signals.length, { timeout: 20_000 }).toBe(1);
    expect(signals).toEqual([true]);
    expect(await statusOf(id)).toBe("CANCELED");
    expect(await t.app.db.query(`SELECT id FROM asset WHERE task_id = $1`, [id])).toEqual([]);
  });
});
