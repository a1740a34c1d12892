import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recharge, signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import type { Storage } from "./storage/storage.js";

/**
 * Files whose rows are gone must go too, even when the store refuses at that moment (S3 down): what it
 * refuses is recorded and the retention job tries again until the file is gone.
 */
let t: TestApp;
let user: SignedInUser;

beforeAll(async () => {
  t = await startTestApp();
  user = await signedInUser(t);
  await recharge(t, user.account.id, 100);
});
afterAll(() => t?.close());

async function succeededAsset(): Promise<{ id: string; keys: string[] }> {
  const res = await t.graphql<{ createTask: { task: { id: string } } }>(
    `mutation { createTask(input: { prompt: "a stored lantern", model: "novart-sketch", width: 512, height: 512 }) { task { id } } }`,
    undefined,
    user.headers,
  );
  expect(res.body.errors).toBeUndefined();
  const taskId = res.body.data!.createTask.task.id;
  await expect
    .poll(
      async () =>
        ((await t.app.db.query(`SELECT status FROM task WHERE id = $1`, [taskId])) as { status: string }[])[0].status,
      { timeout: 20_000 },
    )
    .toBe("SUCCEEDED");
  const [asset] = (await t.app.db.query(
    `SELECT id, storage_key, preview_key, thumbnail_key FROM asset WHERE task_id = $1`,
    [taskId],
  )) as { id: string; storage_key: string; preview_key: string; thumbnail_key: string }[];
  return { id: asset.id, keys: [...new Set([asset.storage_key, asset.preview_key, asset.thumbnail_key])] };
}

const exists = async (storage: Storage, key: string) => (await storage.size(key)) !== null;
const pending = async () =>
  (await t.app.db.query(`SELECT key, attempts FROM file_deletion ORDER BY key`)) as { key: string; attempts: number }[];

describe("file deletions the store refuses", () => {
  it("are recorded, retried with backoff by the retention job, and done once the store answers", async () => {
    const storage = t.app.services.assets.storage;
    const { id, keys } = await succeededAsset();
    const realDelete = storage.delete.bind(storage);
    storage.delete = async () => {
      throw new Error("the store is down");
    };
    try {
      const res = await t.graphql<{ deleteAssets: { deletedCount: number } }>(
        `mutation($input: DeleteAssetsInput!) { deleteAssets(input: $input) { deletedCount } }`,
        { input: { ids: [id] } },
        user.headers,
      );
      expect(res.body.data?.deleteAssets.deletedCount).toBe(1);
      expect((await pending()).map((p) => p.key)).toEqual([...keys].sort());
      for (const key of keys) expect(await exists(storage, key)).toBe(true);

      // Not due yet: the retention job leaves them. Due and still refused: one more attempt each, later again.
      await t.app.services.assets.applyRetention();
      expect((await pending()).every((p) => p.attempts === 1)).toBe(true);
      await t.app.db.query(`UPDATE file_deletion SET next_attempt_at = now()`);
      await t.app.services.assets.applyRetention();
      expect((await pending()).every((p) => p.attempts === 2)).toBe(true);
      const [{ later }] = (await t.app.db.query(
        `SELECT bool_and(next_attempt_at > now() + interval '90 seconds') AS later FROM file_deletion`,
      )) as { later: boolean }[];
      expect(later).toBe(true);
    } finally {
      storage.delete = realDelete;
    }

    // The store answers again: the next due run deletes the files and forgets them.
    await t.app.db.query(`UPDATE file_deletion SET next_attempt_at = now()`);
    await t.app.services.assets.applyRetention();
    expect(await pending()).toEqual([]);
    for (const key of keys) expect(await exists(storage, key)).toBe(false);
  });
});
