import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recharge, signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import type { ProviderRegistry } from "./provider-registry.js";

/**
 * A task whose runs keep dying with their worker (an answer that exhausts its memory) is picked up again after
 * each crash. After TASK_ATTEMPTS + 2 starts it is given up: FAILED with WORKER_LOST, refunded once.
 */
let t: TestApp;
let user: SignedInUser;

beforeAll(async () => {
  t = await startTestApp({ TASK_ATTEMPTS: "2" });
  user = await signedInUser(t);
  await recharge(t, user.account.id, 100);
});
afterAll(() => t?.close());

describe("a task that keeps killing its worker", () => {
  it("is given up after its starts, FAILED with WORKER_LOST and refunded, instead of run for ever", async () => {
    const providers = t.app.services.providers as Partial<ProviderRegistry> & ProviderRegistry;
    // The first run hangs like a run whose process is dying; it is let go at the end.
    let release!: () => void;
    const hanging = new Promise<void>((resolve) => (release = resolve));
    let runs = 0;
    providers.generate = async () => {
      runs++;
      await hanging;
      throw new Error("the process died");
    };
    try {
      const res = await t.graphql<{ createTask: { task: { id: string } } }>(
        `mutation { createTask(input: { prompt: "a heavy harbour", model: "novart-sketch", width: 512, height: 512 }) { task { id cost } } }`,
        undefined,
        user.headers,
      );
      expect(res.body.errors).toBeUndefined();
      const id = res.body.data!.createTask.task.id;
      await expect.poll(() => runs, { timeout: 20_000 }).toBe(1);
      const before = await t.app.services.ledger.balance(user.account.id);

      // Its runs so far: as many starts as a task may have (2 attempts + 2 restarts after a crash).
      await t.app.db.query(`UPDATE task SET attempts = 4 WHERE id = $1`, [id]);
      // The queue hands it out again (a stalled job after the worker died).
      const job = { data: { taskId: id }, opts: { attempts: 2 }, attemptsMade: 0 } as unknown as Job<{
        taskId: string;
      }>;
      await t.app.services.runner.run(job);

      const [task] = (await t.app.db.query(`SELECT status, error_code, attempts FROM task WHERE id = $1`, [id])) as {
        status: string;
        error_code: string;
        attempts: number;
      }[];
      expect(task).toEqual({ status: "FAILED", error_code: "WORKER_LOST", attempts: 4 });
      expect(runs).toBe(1);
      const after = await t.app.services.ledger.balance(user.account.id);
      expect(after.paid + after.bonus).toBeGreaterThan(before.paid + before.bonus);
      const refunds = await t.app.db.query(
        `SELECT count(*)::int AS n FROM ledger_entry WHERE reference LIKE $1 AND kind = 'TASK_REFUND'`,
        [`task:${id}%`],
      );
      expect(refunds).toEqual([{ n: 1 }]);
    } finally {
      release();
      delete (providers as Partial<ProviderRegistry>).generate;
    }
    expect(await t.app.services.ledger.verify()).toEqual([]);
  });
});
