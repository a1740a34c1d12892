import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, recharge } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { freePort } from "../../../test/processes.js";

/** A store that is down (an S3 endpoint nobody listens on): tasks must fail cleanly, refunded, without rows. */
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    STORAGE_DRIVER: "s3",
    S3_BUCKET: "novart",
    S3_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
    S3_FORCE_PATH_STYLE: "true",
    S3_ACCESS_KEY_ID: "x",
    S3_SECRET_ACCESS_KEY: "y",
    TASK_ATTEMPTS: "1",
  });
});
afterAll(() => t?.close());

describe("a storage failure", () => {
  it("fails the task, refunds it exactly once, and leaves no asset row pointing at nothing", async () => {
    const user = await signedInUser(t);
    await recharge(t, user.account.id, 10);
    const created = await t.graphql<{ createTask: { task: { id: string } } }>(
      `mutation { createTask(input: { prompt: "a harbour", model: "novart-sketch", width: 512, height: 512, count: 2 }) { task { id } } }`,
      undefined,
      user.headers,
    );
    const id = created.body.data!.createTask.task.id;
    await expect
      .poll(
        async () =>
          ((await t.app.db.query(`SELECT status FROM task WHERE id = $1`, [id])) as { status: string }[])[0].status,
        { timeout: 30_000 },
      )
      .toBe("FAILED");
    expect(await t.app.services.ledger.balance(user.account.id)).toEqual({ paid: 10, bonus: 0 });
    expect(await t.app.db.query(`SELECT id FROM asset WHERE task_id = $1 AND status = 'ACTIVE'`, [id])).toEqual([]);
    const refunds = (await t.app.db.query(`SELECT count(*)::int AS n FROM ledger_entry WHERE reference = $1`, [
      `task:${id}:refund`,
    ])) as { n: number }[];
    expect(refunds[0].n).toBe(1);
  });
});
