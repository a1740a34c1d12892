import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, recharge } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

describe("deleteAccount", () => {
  it("erases prompts, images and uploads, and keeps the ledger rows with the anonymised account", async () => {
    const user = await signedInUser(t);
    await recharge(t, user.account.id, 20);
    const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: "#123456" } })
      .png()
      .toBuffer();
    const uploaded = await fetch(`${t.url}/api/uploads`, { method: "POST", headers: user.headers, body: png });
    const { id: uploadId } = (await uploaded.json()) as { id: string };
    const created = await t.graphql<{ createTask: { task: { id: string } } }>(
      `mutation($ref: ID!) { createTask(input: { prompt: "my private idea", model: "novart-sketch", width: 512, height: 512, count: 1, referenceIds: [$ref] }) { task { id } } }`,
      { ref: uploadId },
      user.headers,
    );
    const taskId = created.body.data!.createTask.task.id;
    await expect
      .poll(
        async () =>
          ((await t.app.db.query(`SELECT status FROM task WHERE id = $1`, [taskId])) as { status: string }[])[0].status,
        { timeout: 15_000 },
      )
      .toBe("SUCCEEDED");
    const [asset] = (await t.app.db.query(`SELECT storage_key FROM asset WHERE task_id = $1`, [taskId])) as {
      storage_key: string;
    }[];
    const [upload] = (await t.app.db.query(`SELECT storage_key FROM upload WHERE id = $1`, [uploadId])) as {
      storage_key: string;
    }[];

    const res = await t.graphql(
      `mutation($input: PasswordInput!) { deleteAccount(input: $input) { ok } }`,
      { input: { password: user.password } },
      user.headers,
    );
    expect(res.body.errors).toBeUndefined();

    const [task] = (await t.app.db.query(`SELECT prompt, reference_ids FROM task WHERE id = $1`, [taskId])) as {
      prompt: string;
      reference_ids: string[];
    }[];
    expect(task).toEqual({ prompt: "[deleted]", reference_ids: [] });
    expect(await t.app.db.query(`SELECT status FROM asset WHERE task_id = $1`, [taskId])).toEqual([
      { status: "DELETED" },
    ]);
    expect(await t.app.services.assets.storage.size(asset.storage_key)).toBeNull();
    expect(await t.app.services.assets.storage.size(upload.storage_key)).toBeNull();
    expect(await t.app.db.query(`SELECT id FROM upload WHERE account_id = $1`, [user.account.id])).toEqual([]);
    const ledger = (await t.app.db.query(`SELECT count(*)::int AS n FROM ledger_entry WHERE account_id = $1`, [
      user.account.id,
    ])) as { n: number }[];
    expect(ledger[0].n).toBe(2);
    expect(await t.app.services.ledger.verify()).toEqual([]);
  });
});
