import { getMetadataStorage } from "type-graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser, recharge } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { AccountRole } from "../accounts/account.entity.js";
import { generateCode } from "../credits/code-format.js";
import { LedgerKind } from "../credits/ledger-entry.entity.js";

/** Every mutation whose @Authorized names ADMIN or MODERATOR, read from type-graphql's metadata. */
function privilegedMutations(): string[] {
  const storage = getMetadataStorage();
  return storage.mutations
    .filter((m) =>
      storage.authorizedFields.some(
        (a) =>
          a.target === m.target &&
          a.fieldName === m.methodName &&
          a.roles.some((r: string) => r === "ADMIN" || r === "MODERATOR"),
      ),
    )
    .map((m) => m.schemaName)
    .sort();
}

let t: TestApp;
let admin: SignedInUser;
let user: SignedInUser;

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  admin = await signedInUser(t, { role: AccountRole.ADMIN });
  user = await signedInUser(t);
  await recharge(t, user.account.id, 50);
});
afterAll(() => t?.close());

async function heldTask(prompt: string): Promise<string> {
  const res = await t.graphql<{ createTask: { task: { id: string } } }>(
    `mutation($p: String!) { createTask(input: { prompt: $p, model: "novart-sketch", width: 512, height: 512, count: 1 }) { task { id } } }`,
    { p: prompt },
    user.headers,
  );
  return res.body.data!.createTask.task.id;
}

/**
 * One valid call per privileged mutation. A new admin mutation without an entry here fails the first test,
 * and one that forgets `@UseMiddleware(Audited)` fails the second.
 */
const CALLS: Record<string, () => Promise<{ query: string; variables?: Record<string, unknown> }>> = {
  publishTermsOfUse: async () => ({
    query: `mutation { publishTermsOfUse(input: { title: "Terms v2", body: "These are the new terms of use, version two." }) { document { version } } }`,
  }),
  adjustBalance: async () => ({
    query: `mutation($id: ID!) { adjustBalance(input: { accountId: $id, paid: 5, bonus: 0, reason: "Goodwill", idempotencyKey: "audit-1" }) { applied } }`,
    variables: { id: user.account.id },
  }),
  createCodeBatch: async () => ({
    query: `mutation { createCodeBatch(input: { count: 2, credits: 10, kind: PAID, label: "Audit" }) { csv batch { id } } }`,
  }),
  disableCodeBatch: async () => {
    const { batch } = await t.app.services.redemptions.createBatch(admin.account.id, {
      count: 1,
      credits: 1,
      kind: "PAID" as never,
      label: "b",
      channel: "",
      maxRedemptionsPerCode: 1,
      perUserLimit: 1,
      expiresAt: null,
    });
    return {
      query: `mutation($id: ID!) { disableCodeBatch(input: { id: $id }) { batch { id } } }`,
      variables: { id: batch.id },
    };
  },
  disableCode: async () => {
    const { codes } = await t.app.services.redemptions.createBatch(admin.account.id, {
      count: 1,
      credits: 1,
      kind: "PAID" as never,
      label: "c",
      channel: "",
      maxRedemptionsPerCode: 1,
      perUserLimit: 1,
      expiresAt: null,
    });
    return {
      query: `mutation($code: String!) { disableCode(input: { code: $code }) { batch { id } } }`,
      variables: { code: codes[0] },
    };
  },
  updateModel: async () => {
    const [model] = await t.app.services.catalog.listEnabled();
    return {
      query: `mutation($id: ID!) { updateModel(input: { id: $id, creditsPerImage: 3 }) { model { id } } }`,
      variables: { id: model.id },
    };
  },
  removeAsset: async () => {
    const task = await t.app.db.query(
      `INSERT INTO task (account_id, status, prompt, model_id, width, height, count, seed, input_hash, cost)
       SELECT $1, 'SUCCEEDED', 'x', id, 512, 512, 1, 1, repeat('0', 64), 0 FROM generation_model LIMIT 1 RETURNING id`,
      [user.account.id],
    );
    const asset = await t.app.db.query(
      `INSERT INTO asset (task_id, account_id, index, width, height, bytes, content_type, sha256, storage_key, preview_key, thumbnail_key, expires_at)
       VALUES ($1, $2, 0, 1, 1, 1, 'image/png', repeat('0', 64), 'a/x.png', 'a/x.p.webp', 'a/x.t.webp', now() + interval '1 day') RETURNING id`,
      [(task as { id: string }[])[0].id, user.account.id],
    );
    return {
      query: `mutation($id: ID!) { removeAsset(input: { id: $id, reason: "Violation" }) { asset { id } } }`,
      variables: { id: (asset as { id: string }[])[0].id },
    };
  },
  saveModerationRule: async () => ({
    query: `mutation { saveModerationRule(input: { category: CUSTOM, matchType: TERM, pattern: "auditterm", action: BLOCK }) { rule { id } } }`,
  }),
  deleteModerationRule: async () => {
    const rule = await t.app.services.moderation.saveRule(null, {
      category: "CUSTOM" as never,
      matchType: "TERM" as never,
      pattern: "todelete",
      action: "BLOCK" as never,
      enabled: true,
    });
    return {
      query: `mutation($id: ID!) { deleteModerationRule(input: { id: $id }) { rule { id } } }`,
      variables: { id: rule.id },
    };
  },
  approveTask: async () => ({
    query: `mutation($id: ID!) { approveTask(input: { id: $id }) { task { id } } }`,
    variables: { id: await heldTask("a nude marble statue") },
  }),
  restrictAccount: async () => ({
    query: `mutation($id: ID!) { restrictAccount(input: { accountId: $id, scopes: [UPLOADS], durationMinutes: 5, reason: "Audit test" }) { restriction { id } } }`,
    variables: { id: (await signedInUser(t)).account.id },
  }),
  liftRestriction: async () => {
    const target = await signedInUser(t);
    const r = await t.app.services.restrictions.restrict(
      { accountId: admin.account.id, role: admin.account.role },
      {
        accountId: target.account.id,
        scopes: ["UPLOADS"],
        durationMinutes: 5,
        reason: "to lift",
        revokeApiKeys: false,
      },
    );
    return {
      query: `mutation($id: ID!) { liftRestriction(input: { id: $id, reason: "Lifted in audit test" }) { restriction { id } } }`,
      variables: { id: r.id },
    };
  },
  rejectTask: async () => ({
    query: `mutation($id: ID!) { rejectTask(input: { id: $id, reason: "Not allowed" }) { task { id } } }`,
    variables: { id: await heldTask("naked rocks at sunset") },
  }),
  decideAppeal: async () => {
    const target = await signedInUser(t);
    const r = await t.app.services.restrictions.restrict(
      { accountId: admin.account.id, role: admin.account.role },
      {
        accountId: target.account.id,
        scopes: ["TASKS"],
        durationMinutes: 60,
        reason: "to appeal",
        revokeApiKeys: false,
      },
    );
    await t.app.services.restrictions.appeal(target.account.id, r.id, "I did nothing wrong, please look again.");
    return {
      query: `mutation($id: ID!) { decideAppeal(input: { id: $id, accept: true, reason: "Fair enough" }) { restriction { id } } }`,
      variables: { id: r.id },
    };
  },
  saveTier: async () => ({
    query: `mutation { saveTier(input: { id: "AUDIT_TIER", name: "Audit", requestsPerMinute: 10, tasksPerMinute: 1, concurrentTasks: 1, tasksPerDay: 1, uploadsPerDay: 1 }) { tier { id } } }`,
  }),
  deleteTier: async () => {
    await t.app.services.limits.saveTier({
      id: "DOOMED",
      name: "Doomed",
      description: "",
      isDefault: false,
      sortOrder: 5,
      requestsPerMinute: 1,
      tasksPerMinute: 1,
      concurrentTasks: 1,
      tasksPerDay: 1,
      uploadsPerDay: 1,
      dailySpendCap: null,
    });
    return { query: `mutation { deleteTier(id: "DOOMED") { tier { id } } }` };
  },
  setAccountLimits: async () => ({
    query: `mutation($id: ID!) { setAccountLimits(input: { accountId: $id, tierId: "PRO", overrides: { tasksPerDay: 5 } }) { limits { tier { id } } } }`,
    variables: { id: (await signedInUser(t)).account.id },
  }),
  decideLimitRequest: async () => {
    const target = await signedInUser(t);
    const request = await t.app.services.limits.requestIncrease(target.account.id, {
      reason: "I need more tasks per day for my studio.",
      desiredTierId: "STANDARD",
    });
    return {
      query: `mutation($id: ID!) { decideLimitRequest(input: { id: $id, approve: false, reason: "Not now" }) { request { id } } }`,
      variables: { id: request.id },
    };
  },
  sendAnnouncement: async () => ({
    query: `mutation { sendAnnouncement(input: { title: "Maintenance", body: "Tonight at 22:00 UTC.", tierId: "PRO" }) { recipients } }`,
  }),
  revokeAccountApiKeys: async () => ({
    query: `mutation($id: ID!) { revokeAccountApiKeys(accountId: $id) { apiKeys { id } } }`,
    variables: { id: (await signedInUser(t)).account.id },
  }),
  updateRegistrationPolicy: async () => ({
    query: `mutation { updateRegistrationPolicy(input: { mode: OPEN, blockDisposableEmail: true }) { policy { mode } } }`,
  }),
  setAccountRole: async () => ({
    query: `mutation($id: ID!) { setAccountRole(accountId: $id, role: MODERATOR) { account { role } } }`,
    variables: { id: (await signedInUser(t)).account.id },
  }),
  createInviteCodes: async () => ({
    query: `mutation { createInviteCodes(count: 2) { codes } }`,
  }),
};

const WHOLE_CODE = /(?<![0-9A-Za-z-])[0-9A-Y]{4}(?:-[0-9A-Y]{4}){3}(?![0-9A-Za-z-])/;

describe("the audit log", () => {
  it("knows how to call every admin and moderator mutation of the schema", () => {
    expect(privilegedMutations()).toEqual(Object.keys(CALLS).sort());
  });

  it.each(Object.keys(CALLS))("records %s, and refuses it to a plain user", async (name) => {
    const call = await CALLS[name]();
    const denied = await t.graphql(call.query, call.variables, user.headers);
    expect(denied.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const before = (
      (await t.app.db.query(`SELECT count(*)::int AS n FROM audit_entry WHERE action = $1`, [name])) as { n: number }[]
    )[0].n;
    const res = await t.graphql(call.query, call.variables, admin.headers);
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    const entries = (await t.app.db.query(`SELECT actor_id, input, result FROM audit_entry WHERE action = $1`, [
      name,
    ])) as {
      actor_id: string;
      input: unknown;
      result: unknown;
    }[];
    expect(entries).toHaveLength(before + 1);
    expect(entries.at(-1)!.actor_id).toBe(admin.account.id);
    // Issued codes never reach the log. A code is a whole JSON string of four groups; the lookarounds keep
    // an all-digit stretch inside a UUID (8440-4977-8100-0317…) from matching.
    expect(JSON.stringify({ sample: generateCode() })).toMatch(WHOLE_CODE);
    expect(JSON.stringify(entries.at(-1))).not.toMatch(WHOLE_CODE);
    expect(JSON.stringify(entries.at(-1))).not.toMatch(/INVITE-[A-Z0-9_-]{6}/);
  });

  it("is append-only and readable by admins", async () => {
    await expect(t.app.db.query(`DELETE FROM audit_entry`)).rejects.toThrow(/append-only/);
    const res = await t.graphql<{ auditLog: { edges: { node: { action: string } }[] } }>(
      `{ auditLog(first: 100) { edges { node { action actorId target reason createdAt } } } }`,
      undefined,
      admin.headers,
    );
    expect(res.body.data!.auditLog.edges.length).toBeGreaterThanOrEqual(Object.keys(CALLS).length);
    const denied = await t.graphql(`{ auditLog { edges { cursor } } }`, undefined, user.headers);
    expect(denied.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });
});

type Entry = { action: string; target: string | null; before: unknown; result: unknown };

/** The newest entries on one target, read through the GraphQL field and its filter. */
async function entriesOn(targetId: string): Promise<Entry[]> {
  const res = await t.graphql<{ auditLog: { edges: { node: Entry }[] } }>(
    `query($targetId: String) { auditLog(targetId: $targetId, first: 20) { edges { node { action target before result } } } }`,
    { targetId },
    admin.headers,
  );
  expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
  return res.body.data!.auditLog.edges.map((e) => e.node);
}

describe("before values", () => {
  it("adjustBalance records the balance before, and auditLog filters by target", async () => {
    const target = await signedInUser(t);
    await t.app.services.ledger.credit({
      accountId: target.account.id,
      kind: LedgerKind.RECHARGE,
      paid: 40,
      bonus: 0,
      reference: `before:${target.account.id}`,
    });
    const res = await t.graphql(
      `mutation($id: ID!) { adjustBalance(input: { accountId: $id, paid: 7, bonus: 3, reason: "Make good", idempotencyKey: "before-1" }) { applied } }`,
      { id: target.account.id },
      admin.headers,
    );
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    const entries = await entriesOn(target.account.id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      action: "adjustBalance",
      target: target.account.id,
      before: { paid: 40, bonus: 0 },
    });
    expect(await t.app.services.ledger.balance(target.account.id)).toEqual({ paid: 47, bonus: 3 });
  });

  it("setAccountLimits records the tier and overrides it replaced", async () => {
    const target = await signedInUser(t);
    await t.app.services.limits.setAccountLimits(target.account.id, {
      tierId: "STANDARD",
      overrides: { tasksPerDay: 3 },
    });
    const res = await t.graphql(
      `mutation($id: ID!) { setAccountLimits(input: { accountId: $id, tierId: "PRO", overrides: { uploadsPerDay: 9 } }) { limits { tier { id } } } }`,
      { id: target.account.id },
      admin.headers,
    );
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    const [entry] = await entriesOn(target.account.id);
    expect(entry.action).toBe("setAccountLimits");
    expect(entry.before).toEqual({ tierId: "STANDARD", overrides: { tasksPerDay: 3 } });
    // An account that never had its own settings: the default tier, no overrides.
    const fresh = await signedInUser(t);
    await t.graphql(
      `mutation($id: ID!) { setAccountLimits(input: { accountId: $id, tierId: "PRO" }) { limits { tier { id } } } }`,
      { id: fresh.account.id },
      admin.headers,
    );
    expect((await entriesOn(fresh.account.id))[0].before).toEqual({ tierId: null, overrides: {} });
  });

  it("updateModel records the changed fields as they were, and setAccountRole the role before", async () => {
    const [model] = await t.app.services.catalog.listEnabled();
    const old = { creditsPerImage: model.creditsPerImage, description: model.description };
    const res = await t.graphql(
      `mutation($id: ID!, $price: Int!) { updateModel(input: { id: $id, creditsPerImage: $price, description: "Changed for the audit test" }) { model { id } } }`,
      { id: model.id, price: model.creditsPerImage + 4 },
      admin.headers,
    );
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    const [entry] = await entriesOn(model.id);
    expect(entry.action).toBe("updateModel");
    expect(entry.before).toEqual({ id: model.id, slug: model.slug, ...old });
    expect(entry.result).toMatchObject({ model: { id: model.id } });

    const target = await signedInUser(t);
    await t.graphql(
      `mutation($id: ID!) { setAccountRole(accountId: $id, role: MODERATOR) { account { role } } }`,
      { id: target.account.id },
      admin.headers,
    );
    expect((await entriesOn(target.account.id))[0]).toMatchObject({
      action: "setAccountRole",
      before: { role: "USER" },
    });
  });

  it("liftRestriction records the restriction as it stood", async () => {
    const target = await signedInUser(t);
    const r = await t.app.services.restrictions.restrict(
      { accountId: admin.account.id, role: admin.account.role },
      {
        accountId: target.account.id,
        scopes: ["UPLOADS"],
        durationMinutes: 5,
        reason: "before test",
        revokeApiKeys: false,
      },
    );
    await t.graphql(
      `mutation($id: ID!) { liftRestriction(input: { id: $id, reason: "Lifted early" }) { restriction { id } } }`,
      { id: r.id },
      admin.headers,
    );
    const [entry] = await entriesOn(r.id);
    expect(entry).toMatchObject({ action: "liftRestriction", before: { scopes: ["UPLOADS"], liftedAt: null } });
  });
});
