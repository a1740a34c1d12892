import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { AccountRole } from "../accounts/account.entity.js";
import { LedgerKind } from "../credits/ledger-entry.entity.js";

/**
 * Channel health end to end: the worker records each provider call in its memory, writes a snapshot to
 * Redis (every 10 s, expiring), and the API reads every worker's snapshot for `providerChannels`.
 */
let t: TestApp;
let admin: SignedInUser;
let user: SignedInUser;

beforeAll(async () => {
  t = await startTestApp({ ROLE: "all", LOCAL_PROVIDER_STEP_MS: "5" });
  admin = await signedInUser(t, { role: AccountRole.ADMIN });
  user = await signedInUser(t);
  await t.app.services.ledger.credit({
    accountId: user.account.id,
    kind: LedgerKind.RECHARGE,
    paid: 20,
    bonus: 0,
    reference: `seed:${user.account.id}`,
  });
});
afterAll(() => t?.close());

const CHANNELS = `{ providerChannels { worker channel state successRate p50LatencyMs p95LatencyMs calls lastErrorCode reportedAt } }`;

interface Channel {
  worker: string;
  channel: string;
  state: string;
  successRate: number | null;
  p50LatencyMs: number | null;
  p95LatencyMs: number | null;
  calls: number;
  lastErrorCode: string | null;
  reportedAt: string;
}

describe("providerChannels", () => {
  it("shows admins the local channel's calls, success rate and latency after a task ran on a worker", async () => {
    const created = await t.graphql<{ createTask: { task: { id: string } } }>(
      `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`,
      { input: { prompt: "a channel check", model: "novart-sketch", width: 512, height: 512, count: 1 } },
      user.headers,
    );
    expect(created.body.errors).toBeUndefined();
    const id = created.body.data!.createTask.task.id;
    await expect
      .poll(
        async () =>
          ((await t.app.db.query(`SELECT status FROM task WHERE id = $1`, [id])) as { status: string }[])[0].status,
        { timeout: 20_000, interval: 100 },
      )
      .toBe("SUCCEEDED");
    const succeededAt = Date.now();

    // The worker writes its snapshot every 10 s: the call shows in the next one.
    let local: Channel | undefined;
    await expect
      .poll(
        async () => {
          const res = await t.graphql<{ providerChannels: Channel[] }>(CHANNELS, undefined, admin.headers);
          expect(res.body.errors).toBeUndefined();
          local = res.body.data!.providerChannels.find((c) => c.channel === "local" && c.calls >= 1);
          return local ?? null;
        },
        { timeout: 30_000, interval: 500 },
      )
      .not.toBeNull();
    expect(local).toMatchObject({ channel: "local", state: "closed", successRate: 1, lastErrorCode: null });
    expect(local!.calls).toBeGreaterThanOrEqual(1);
    expect(local!.p50LatencyMs).toBeGreaterThan(0);
    expect(local!.p95LatencyMs).toBeGreaterThanOrEqual(local!.p50LatencyMs!);
    expect(local!.worker).toMatch(/^.+:\d+$/);
    // The snapshot is one written after the task ended, not the one from start-up.
    expect(new Date(local!.reportedAt).getTime()).toBeGreaterThanOrEqual(succeededAt - 1000);
  });

  it("is for admins only", async () => {
    const res = await t.graphql(CHANNELS, undefined, user.headers);
    expect(res.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect(res.body.data ?? null).toBeNull();
  });
});
