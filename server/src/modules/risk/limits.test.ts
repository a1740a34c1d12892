import fs from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { createApp, type App } from "../../app.js";
import { createLogger } from "../../infra/logger.js";
import { AccountRole } from "../accounts/account.entity.js";
import { LedgerKind } from "../credits/ledger-entry.entity.js";
import type { LimitValues } from "./limits.entities.js";
import { startOfUtcDay } from "./limits.service.js";

/**
 * Two API processes on one database and one Redis prefix (no worker: tasks stay QUEUED, so what counts as
 * unfinished is exact). Requests alternate between them, so every limit is shown to be shared.
 */
let t: TestApp;
let second: App;
let admin: SignedInUser;
let urls: string[];

const BASE: LimitValues = {
  requestsPerMinute: 100_000,
  tasksPerMinute: 100_000,
  concurrentTasks: 100_000,
  tasksPerDay: 100_000,
  uploadsPerDay: 100_000,
  dailySpendCap: null,
};
/** One tier per test, created before any request so that neither process has a stale list of tiers. */
const TIERS: Record<string, Partial<LimitValues>> = {
  T_MINUTE: { tasksPerMinute: 3 },
  T_RUNNING: { concurrentTasks: 2 },
  T_DAY: { tasksPerDay: 2 },
  T_SPEND: { dailySpendCap: 2 * 2 },
  T_UPLOADS: { uploadsPerDay: 1 },
  T_RACE: { concurrentTasks: 1 },
};

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  second = await createApp({ ...t.app.config, PORT: 0 }, createLogger("silent"));
  await second.start();
  urls = [t.url, second.url!];
  for (const [id, values] of Object.entries(TIERS)) {
    await t.app.services.limits.saveTier({
      id,
      name: id,
      description: "",
      isDefault: false,
      sortOrder: 9,
      ...BASE,
      ...values,
    });
  }
  admin = await signedInUser(t, { role: AccountRole.ADMIN });
});
afterAll(async () => {
  await second?.stop();
  await t?.close();
});

async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  headers: Record<string, string>,
) {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: T; errors?: { message: string; extensions: Record<string, unknown> }[] };
}

/** A funded user on a tier (set before its first request, so no process caches another answer). */
async function userOn(tierId: string | null, overrides: Partial<LimitValues> = {}): Promise<SignedInUser> {
  const u = await signedInUser(t);
  await t.app.services.ledger.credit({
    accountId: u.account.id,
    kind: LedgerKind.RECHARGE,
    paid: 1000,
    bonus: 0,
    reference: `seed:${u.account.id}`,
  });
  await t.app.services.limits.setAccountLimits(u.account.id, { tierId, overrides });
  return u;
}

const CREATE = `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id cost } } }`;
/** novart-sketch at 512×512 costs 2 credits per image. */
const create = (u: SignedInUser, i: number, extra: Record<string, unknown> = {}) =>
  gql<{ createTask: { task: { id: string; cost: number } } }>(
    urls[i % 2],
    CREATE,
    { input: { prompt: `a boat ${i}`, model: "novart-sketch", width: 512, height: 512, count: 1, ...extra } },
    u.headers,
  );

async function balance(accountId: string): Promise<number> {
  const [row] = (await t.app.db.query(`SELECT paid + bonus AS total FROM credit_account WHERE account_id = $1`, [
    accountId,
  ])) as { total: number }[];
  return Number(row.total);
}

describe("per-tier limits, shared by two API processes", () => {
  it("task submissions per minute: N allowed, N+1 refused with RATE_LIMITED and retryAfter", async () => {
    const u = await userOn("T_MINUTE");
    for (let i = 0; i < 3; i++) expect((await create(u, i)).errors).toBeUndefined();
    const refused = await create(u, 3);
    expect(refused.errors?.[0].extensions).toMatchObject({ code: "RATE_LIMITED" });
    expect(Number(refused.errors?.[0].extensions.retryAfter)).toBeGreaterThan(0);
    expect(await balance(u.account.id)).toBe(1000 - 3 * 2);
  });

  it("unfinished tasks at once: N allowed, N+1 refused with CONCURRENCY_LIMIT, and a free slot admits again", async () => {
    const u = await userOn("T_RUNNING");
    const first = await create(u, 0);
    expect((await create(u, 1)).errors).toBeUndefined();
    const refused = await create(u, 2);
    expect(refused.errors?.[0].extensions).toMatchObject({ code: "CONCURRENCY_LIMIT", limit: 2 });
    expect(Number(refused.errors?.[0].extensions.retryAfter)).toBeGreaterThan(0);
    await t.app.services.tasks.cancel(
      { accountId: u.account.id, role: AccountRole.USER, via: "SESSION", sessionId: null, apiKeyId: null, scopes: [] },
      first.data!.createTask.task.id,
    );
    expect((await create(u, 3)).errors).toBeUndefined();
  });

  it("lets exactly N of many simultaneous submissions in, whichever process takes them", async () => {
    const u = await userOn("T_RACE");
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => create(u, i)));
    const admitted = answers.filter((a) => !a.errors);
    expect(admitted).toHaveLength(1);
    expect(answers.filter((a) => a.errors?.[0].extensions.code === "CONCURRENCY_LIMIT")).toHaveLength(7);
    expect(await balance(u.account.id)).toBe(1000 - 2);
  });

  it("tasks per day: N allowed, N+1 refused with DAILY_LIMIT until midnight UTC", async () => {
    const u = await userOn("T_DAY");
    for (let i = 0; i < 2; i++) expect((await create(u, i)).errors).toBeUndefined();
    const refused = await create(u, 2);
    expect(refused.errors?.[0].extensions).toMatchObject({ code: "DAILY_LIMIT", limit: "TASKS_PER_DAY", value: 2 });
    const retryAfter = Number(refused.errors?.[0].extensions.retryAfter);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
  });

  it("an account override beats its tier", async () => {
    const u = await userOn("T_DAY", { tasksPerDay: 1 });
    expect((await create(u, 0)).errors).toBeUndefined();
    expect((await create(u, 1)).errors?.[0].extensions).toMatchObject({ code: "DAILY_LIMIT", value: 1 });
  });

  it("daily spend cap: tasks up to the cap pass, the one beyond it is refused and charges nothing", async () => {
    const u = await userOn("T_SPEND");
    for (let i = 0; i < 2; i++) expect((await create(u, i)).errors).toBeUndefined();
    const untilMidnight = () => Math.ceil((startOfUtcDay().getTime() + 86_400_000 - Date.now()) / 1000);
    const latest = untilMidnight();
    const refused = await create(u, 2);
    const earliest = untilMidnight();
    expect(refused.errors?.[0].extensions).toMatchObject({ code: "DAILY_LIMIT", limit: "DAILY_SPEND_CAP", value: 4 });
    // The cap resets at 00:00 UTC: retryAfter is the number of seconds until then.
    const retryAfter = Number(refused.errors?.[0].extensions.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(Math.max(1, earliest - 1));
    expect(retryAfter).toBeLessThanOrEqual(latest + 1);
    expect(await balance(u.account.id)).toBe(1000 - 4);
  });

  it("uploads per day: N allowed, N+1 answered 429 with Retry-After and DAILY_LIMIT", async () => {
    const u = await userOn("T_UPLOADS");
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#336699" } })
      .png()
      .toBuffer();
    const upload = (url: string) =>
      fetch(`${url}/api/uploads`, {
        method: "POST",
        headers: { ...u.headers, "content-type": "image/png" },
        body: png,
      });
    expect((await upload(t.url)).status).toBe(201);
    const refused = await upload(second.url!);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("DAILY_LIMIT");
  });

  it("uploads per day hold for uploads sent together: one of six at a limit of one, no file left behind", async () => {
    const u = await userOn("T_UPLOADS");
    const png = await sharp({ create: { width: 640, height: 640, channels: 3, background: "#663399" } })
      .png()
      .toBuffer();
    const statuses = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        fetch(`${i % 2 ? second.url! : t.url}/api/uploads`, {
          method: "POST",
          headers: { ...u.headers, "content-type": "image/png" },
          body: png,
        }).then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
    const rows = (await t.app.db.query(`SELECT storage_key FROM upload WHERE account_id = $1`, [u.account.id])) as {
      storage_key: string;
    }[];
    expect(rows).toHaveLength(1);
    const folder = path.join(t.app.config.DATA_DIR, "uploads", u.account.id);
    expect(await fs.readdir(folder)).toEqual([path.basename(rows[0].storage_key)]);
  });

  it("myLimits shows the tier, the limits in force and the current use", async () => {
    const u = await userOn("T_DAY", { uploadsPerDay: 7 });
    await create(u, 0);
    const res = await gql<{
      myLimits: { tier: { id: string }; limits: LimitValues; overridden: string[]; usage: Record<string, number> };
    }>(
      urls[1],
      `{ myLimits { tier { id } limits { tasksPerDay uploadsPerDay dailySpendCap } overridden usage { tasksToday tasksThisMinute unfinishedTasks spentToday requestsThisMinute } } }`,
      {},
      u.headers,
    );
    expect(res.data!.myLimits).toMatchObject({
      tier: { id: "T_DAY" },
      limits: { tasksPerDay: 2, uploadsPerDay: 7, dailySpendCap: null },
      overridden: ["uploadsPerDay"],
      usage: { tasksToday: 1, tasksThisMinute: 1, unfinishedTasks: 1, spentToday: 2 },
    });
    expect(res.data!.myLimits.usage.requestsThisMinute).toBeGreaterThanOrEqual(2);
  });
});

describe("model permissions", () => {
  it("answers MODEL_NOT_ALLOWED to tiers a model is not open to, shows it locked, and opens it per account", async () => {
    const u = await userOn(null);
    const model = (await t.app.db.query(`SELECT id FROM generation_model WHERE slug = 'novart-sketch'`)) as {
      id: string;
    }[];
    const update = (input: Record<string, unknown>) =>
      gql(
        t.url,
        `mutation($input: UpdateModelInput!) { updateModel(input: $input) { model { allowedTiers } } }`,
        { input: { id: model[0].id, ...input } },
        admin.headers,
      );
    try {
      expect((await update({ allowedTiers: ["PRO"] })).errors).toBeUndefined();
      const refused = await create(u, 0);
      expect(refused.errors?.[0].extensions).toMatchObject({ code: "MODEL_NOT_ALLOWED", model: "novart-sketch" });
      const listed = await gql<{ models: { slug: string; locked: boolean; allowedAccountIds: string[] }[] }>(
        t.url,
        `{ models { slug locked allowedAccountIds } }`,
        {},
        u.headers,
      );
      expect(listed.data!.models.find((m) => m.slug === "novart-sketch")).toMatchObject({ locked: true });
      expect(listed.data!.models.find((m) => m.slug !== "novart-sketch")?.locked).toBe(false);
      await update({ allowedAccountIds: [u.account.id] });
      // Only administrators see which accounts a model is opened to.
      const again = await gql<{ models: { slug: string; locked: boolean; allowedAccountIds: string[] }[] }>(
        t.url,
        `{ models { slug locked allowedAccountIds } }`,
        {},
        u.headers,
      );
      expect(again.data!.models.find((m) => m.slug === "novart-sketch")).toEqual({
        slug: "novart-sketch",
        locked: false,
        allowedAccountIds: [],
      });
      expect((await create(u, 1)).errors).toBeUndefined();
    } finally {
      await update({ allowedTiers: [], allowedAccountIds: [] });
    }
  });
});

describe("model permissions across processes", () => {
  it("a model opened again is usable at once through either process (a cached closed copy does not refuse it)", async () => {
    const u = await userOn(null);
    const [model] = (await t.app.db.query(`SELECT id FROM generation_model WHERE slug = 'novart-sketch'`)) as {
      id: string;
    }[];
    const update = (input: Record<string, unknown>) =>
      gql(
        t.url,
        `mutation($input: UpdateModelInput!) { updateModel(input: $input) { model { allowedTiers } } }`,
        { input: { id: model.id, ...input } },
        admin.headers,
      );
    try {
      expect((await update({ allowedTiers: ["PRO"] })).errors).toBeUndefined();
      // Both processes read (and keep) the closed model.
      for (const i of [0, 1]) expect((await create(u, i)).errors?.[0].extensions.code).toBe("MODEL_NOT_ALLOWED");
    } finally {
      // Changed through the first process: only its own copy is dropped.
      expect((await update({ allowedTiers: [] })).errors).toBeUndefined();
    }
    for (const i of [1, 0]) expect((await create(u, i)).errors, `process ${i}`).toBeUndefined();
  });
});

describe("limit-increase requests", () => {
  it("go to the admins, who approve (the account changes tier and is told) or refuse", async () => {
    const u = await userOn(null);
    const ask = (input: Record<string, unknown>) =>
      gql<{ requestLimitIncrease: { request: { id: string; status: string } } }>(
        t.url,
        `mutation($input: RequestLimitIncreaseInput!) { requestLimitIncrease(input: $input) { request { id status } } }`,
        { input },
        u.headers,
      );
    expect((await ask({ reason: "short" })).errors?.[0].extensions.code).toBe("BAD_USER_INPUT");
    const made = await ask({ reason: "I run a small design studio and need more images a day.", desiredTierId: "PRO" });
    expect(made.data!.requestLimitIncrease.request.status).toBe("PENDING");
    expect(
      (await ask({ reason: "Another one while the first is pending.", desiredTierId: "PRO" })).errors?.[0].extensions
        .code,
    ).toBe("CONFLICT");

    const decide = (input: Record<string, unknown>, headers = admin.headers) =>
      gql<{ decideLimitRequest: { request: { status: string } } }>(
        t.url,
        `mutation($input: DecideLimitRequestInput!) { decideLimitRequest(input: $input) { request { status } } }`,
        { input },
        headers,
      );
    expect(
      (await decide({ id: made.data!.requestLimitIncrease.request.id, approve: true, reason: "ok" }, u.headers))
        .errors?.[0].extensions.code,
    ).toBe("FORBIDDEN");
    const approved = await decide({
      id: made.data!.requestLimitIncrease.request.id,
      approve: true,
      reason: "Welcome to Pro.",
    });
    expect(approved.data!.decideLimitRequest.request.status).toBe("APPROVED");
    const limits = await gql<{ myLimits: { tier: { id: string } } }>(
      t.url,
      `{ myLimits { tier { id } } }`,
      {},
      u.headers,
    );
    expect(limits.data!.myLimits.tier.id).toBe("PRO");
    const messages = (await t.app.db.query(`SELECT kind, body FROM message WHERE account_id = $1`, [u.account.id])) as {
      kind: string;
      body: string;
    }[];
    expect(messages).toContainEqual({ kind: "limits.approved", body: "Welcome to Pro." });
    expect(
      (await decide({ id: made.data!.requestLimitIncrease.request.id, approve: false, reason: "again" })).errors?.[0]
        .extensions.code,
    ).toBe("CONFLICT");
  });

  const askAs = (u: SignedInUser, input: Record<string, unknown>) =>
    gql<{ requestLimitIncrease: { request: { id: string; status: string } } }>(
      t.url,
      `mutation($input: RequestLimitIncreaseInput!) { requestLimitIncrease(input: $input) { request { id status } } }`,
      { input },
      u.headers,
    );
  const decideAs = (input: Record<string, unknown>) =>
    gql<{ decideLimitRequest: { request: { status: string; decisionReason: string | null; decidedAt: string } } }>(
      t.url,
      `mutation($input: DecideLimitRequestInput!) { decideLimitRequest(input: $input) { request { status decisionReason decidedAt } } }`,
      { input },
      admin.headers,
    );
  const limitsOf = (u: SignedInUser) =>
    gql<{ myLimits: { tier: { id: string }; limits: LimitValues; overridden: string[] } }>(
      urls[1],
      `{ myLimits { tier { id } limits { requestsPerMinute tasksPerMinute concurrentTasks tasksPerDay uploadsPerDay dailySpendCap } overridden } }`,
      {},
      u.headers,
    );
  const messagesOf = async (accountId: string) =>
    (await t.app.db.query(`SELECT kind, title, body FROM message WHERE account_id = $1 AND kind LIKE 'limits.%'`, [
      accountId,
    ])) as { kind: string; title: string; body: string }[];

  it("a refusal marks the request REFUSED, changes nothing, and tells the account the reason", async () => {
    const u = await userOn("T_DAY");
    const before = (await limitsOf(u)).data!.myLimits;
    const made = await askAs(u, { reason: "Could I have the Pro tier for a campaign?", desiredTierId: "PRO" });
    const refused = await decideAs({
      id: made.data!.requestLimitIncrease.request.id,
      approve: false,
      reason: "Your current use fits your tier.",
    });
    expect(refused.errors).toBeUndefined();
    expect(refused.data!.decideLimitRequest.request).toMatchObject({
      status: "REFUSED",
      decisionReason: "Your current use fits your tier.",
    });
    expect(refused.data!.decideLimitRequest.request.decidedAt).toBeTruthy();
    expect((await limitsOf(u)).data!.myLimits).toEqual(before);
    expect(await messagesOf(u.account.id)).toEqual([
      { kind: "limits.refused", title: "Your limit request was declined", body: "Your current use fits your tier." },
    ]);
    const mine = await gql<{ myLimitRequests: { status: string; decisionReason: string }[] }>(
      urls[1],
      `{ myLimitRequests { status decisionReason } }`,
      {},
      u.headers,
    );
    expect(mine.data!.myLimitRequests).toEqual([
      { status: "REFUSED", decisionReason: "Your current use fits your tier." },
    ]);
    // A refused request no longer blocks a new one.
    expect(
      (await askAs(u, { reason: "Trying again next month, please.", desiredTierId: "PRO" })).errors,
    ).toBeUndefined();
  });

  it("approving a request for values applies them as overrides; the tier and other overrides stay", async () => {
    const u = await userOn("T_DAY", { uploadsPerDay: 7 });
    const made = await askAs(u, {
      reason: "I need more tasks a day and no spend cap for a client project.",
      desiredValues: { tasksPerDay: 40, concurrentTasks: 6, noDailySpendCap: true },
    });
    expect(made.errors).toBeUndefined();
    const approved = await decideAs({
      id: made.data!.requestLimitIncrease.request.id,
      approve: true,
      reason: "Granted.",
    });
    expect(approved.data!.decideLimitRequest.request.status).toBe("APPROVED");
    const { myLimits } = (await limitsOf(u)).data!;
    expect(myLimits.tier.id).toBe("T_DAY");
    expect(myLimits.limits).toMatchObject({
      tasksPerDay: 40,
      concurrentTasks: 6,
      uploadsPerDay: 7,
      dailySpendCap: null,
    });
    expect([...myLimits.overridden].sort()).toEqual([
      "concurrentTasks",
      "dailySpendCap",
      "tasksPerDay",
      "uploadsPerDay",
    ]);
    expect(await messagesOf(u.account.id)).toEqual([
      { kind: "limits.approved", title: "Your limits were raised", body: "Granted." },
    ]);
    // The new values are enforced: T_DAY allows 2 tasks a day, the override 40.
    for (let i = 0; i < 3; i++) expect((await create(u, i)).errors).toBeUndefined();
  });
});
