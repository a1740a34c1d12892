import { randomUUID } from "node:crypto";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountRole } from "../../src/modules/accounts/account.entity.js";
import { API_SCOPES } from "../../src/modules/accounts/viewer.js";
import { LedgerKind } from "../../src/modules/credits/ledger-entry.entity.js";
import { TaskEntity } from "../../src/modules/generation/task.entity.js";
import {
  createApiKey,
  signedInUser,
  wsClient,
  type ApiKeyScopeName,
  type SignedInUser,
  type TestWsClient,
} from "../factories.js";
import { startTestApp, type TestApp } from "../harness.js";
import { authRequirements, fetchSchema, idArguments, type IdArgument } from "../schema-documents.js";

/**
 * Account B names account A's things by id, through every operation that takes an id: the answer is the one a
 * random id gets (NOT_FOUND, null or an empty list: no way to tell that the id exists), and A's rows are
 * unchanged. The id-taking arguments are enumerated from the schema, so a new one needs a case here.
 */

type Owned =
  | "task"
  | "finishedTask"
  | "asset"
  | "apiKey"
  | "session"
  | "account"
  | "endpoint"
  | "delivery"
  | "restriction"
  | "message"
  | "upload";

interface Answer {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

interface CrossCase {
  object: Owned;
  query: string;
  /** Checks B's answer for A's id; returns what is wrong, or null. */
  expect: (answer: Answer) => string | null;
}

const code = (wanted: string) => (a: Answer) =>
  a.errors?.[0]?.extensions?.code === wanted ? null : `expected ${wanted}, got ${JSON.stringify(a)}`;
const notFound = code("NOT_FOUND");
const nullField = (field: string) => (a: Answer) =>
  !a.errors && a.data?.[field] === null ? null : `expected ${field}: null, got ${JSON.stringify(a)}`;
const emptyConnection = (field: string) => (a: Answer) =>
  !a.errors && (a.data?.[field] as { edges: unknown[] } | undefined)?.edges.length === 0
    ? null
    : `expected no ${field}, got ${JSON.stringify(a)}`;
const noError = (a: Answer) => (a.errors ? `expected an answer, got ${JSON.stringify(a.errors)}` : null);

/** Every argument that names an owned thing by id, keyed as `idArguments` names them. */
const CASES: Record<string, CrossCase> = {
  "Query.task(id)": { object: "task", query: `query($id: ID!) { task(id: $id) { id } }`, expect: nullField("task") },
  "Query.asset(id)": {
    object: "asset",
    query: `query($id: ID!) { asset(id: $id) { id } }`,
    expect: nullField("asset"),
  },
  "Query.assets(filter.taskId)": {
    object: "finishedTask",
    query: `query($id: ID!) { assets(filter: { taskId: $id }) { edges { node { id } } } }`,
    expect: emptyConnection("assets"),
  },
  // Naming another account is an admin's privilege (the authorization matrix checks the gate itself).
  "Query.ledger(accountId)": {
    object: "account",
    query: `query($id: ID!) { ledger(accountId: $id) { edges { node { id } } } }`,
    expect: code("FORBIDDEN"),
  },
  "Query.webhookDeliveries(endpointId)": {
    object: "endpoint",
    query: `query($id: ID!) { webhookDeliveries(endpointId: $id) { edges { node { id } } } }`,
    expect: emptyConnection("webhookDeliveries"),
  },
  "Query.webhookDeliveries(taskId)": {
    object: "finishedTask",
    query: `query($id: ID!) { webhookDeliveries(taskId: $id) { edges { node { id } } } }`,
    expect: emptyConnection("webhookDeliveries"),
  },
  "Mutation.cancelTask(input.id)": {
    object: "task",
    query: `mutation($id: ID!) { cancelTask(input: { id: $id }) { __typename } }`,
    expect: notFound,
  },
  "Mutation.createTask(input.referenceIds)": {
    object: "upload",
    query: `mutation($id: ID!) { createTask(input: { prompt: "a lighthouse", model: "novart-sketch", width: 512, height: 512, referenceIds: [$id] }) { __typename } }`,
    expect: notFound,
  },
  "Mutation.deleteAssets(input.ids)": {
    object: "asset",
    query: `mutation($id: ID!) { deleteAssets(input: { ids: [$id] }) { deletedCount } }`,
    expect: notFound,
  },
  "Mutation.setFavorite(input.id)": {
    object: "asset",
    query: `mutation($id: ID!) { setFavorite(input: { id: $id, favorite: true }) { __typename } }`,
    expect: notFound,
  },
  "Mutation.revokeApiKey(input.id)": {
    object: "apiKey",
    query: `mutation($id: ID!) { revokeApiKey(input: { id: $id }) { __typename } }`,
    expect: notFound,
  },
  "Mutation.revokeSession(input.id)": {
    object: "session",
    query: `mutation($id: ID!) { revokeSession(input: { id: $id }) { __typename } }`,
    expect: notFound,
  },
  "Mutation.updateWebhookEndpoint(input.id)": {
    object: "endpoint",
    query: `mutation($id: ID!) { updateWebhookEndpoint(input: { id: $id, url: "https://intruder.example/hook", enabled: false }) { __typename } }`,
    expect: notFound,
  },
  "Mutation.deleteWebhookEndpoint(input.id)": {
    object: "endpoint",
    query: `mutation($id: ID!) { deleteWebhookEndpoint(input: { id: $id }) { __typename } }`,
    expect: notFound,
  },
  "Mutation.rotateWebhookSecret(input.id)": {
    object: "endpoint",
    query: `mutation($id: ID!) { rotateWebhookSecret(input: { id: $id }) { secret } }`,
    expect: notFound,
  },
  "Mutation.sendTestWebhook(input.id)": {
    object: "endpoint",
    query: `mutation($id: ID!) { sendTestWebhook(input: { id: $id }) { __typename } }`,
    expect: notFound,
  },
  "Mutation.redeliverWebhook(input.id)": {
    object: "delivery",
    query: `mutation($id: ID!) { redeliverWebhook(input: { id: $id }) { __typename } }`,
    expect: notFound,
  },
  "Mutation.appealRestriction(input.id)": {
    object: "restriction",
    query: `mutation($id: ID!) { appealRestriction(input: { id: $id, message: "This was a mistake, please lift it." }) { __typename } }`,
    expect: notFound,
  },
  // Marking read is idempotent and per account: ids that are not the caller's are skipped, as unknown ones
  // are, and the answer (the caller's own unread count) says nothing about them.
  "Mutation.markMessagesRead(input.ids)": {
    object: "message",
    query: `mutation($id: ID!) { markMessagesRead(input: { ids: [$id] }) { unreadCount } }`,
    expect: noError,
  },
  "Subscription.taskUpdated(id)": {
    object: "task",
    query: `subscription($id: ID!) { taskUpdated(id: $id) { id } }`,
    expect: notFound,
  },
};

/** Id-taking arguments that need no cross-account case, with the reason. */
const EXEMPT: Record<string, string> = {
  "Mutation.requestLimitIncrease(input.desiredTierId)": "tiers are one catalogue for everybody, owned by no account",
};

/** Operations that need ADMIN or MODERATOR act on every account by design; the matrix keeps others out. */
const isPrivileged = (arg: IdArgument) => {
  const roles = authRequirements(arg.op) ?? [];
  return roles.includes("ADMIN") || roles.includes("MODERATOR");
};

let t: TestApp;
let owner: SignedInUser;
let intruder: SignedInUser;
let intruderKey: { headers: Record<string, string>; secret: string };
/** Keys of a moderator's and an admin's account: keys never act as staff, so they are intruders like B's. */
let staffKeys: { label: string; headers: Record<string, string>; token: string }[];
let ids: Record<Owned, string>;
let ownerKey: { headers: Record<string, string> };
let idArgs: IdArgument[];
const sockets: TestWsClient[] = [];

async function credit(accountId: string) {
  await t.app.services.ledger.credit({
    accountId,
    kind: LedgerKind.RECHARGE,
    paid: 100,
    bonus: 0,
    reference: `cross:${accountId}`,
  });
}

async function asOwner<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await t.graphql<T>(query, variables, owner.headers);
  if (res.body.errors) throw new Error(`${query}: ${JSON.stringify(res.body.errors)}`);
  return res.body.data!;
}

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  idArgs = idArguments(await fetchSchema(t.url));
  const admin = await signedInUser(t, { role: AccountRole.ADMIN });
  const moderator = await signedInUser(t, { role: AccountRole.MODERATOR });
  [owner, intruder] = await Promise.all([signedInUser(t), signedInUser(t)]);
  await Promise.all([credit(owner.account.id), credit(intruder.account.id)]);
  const everyScope = API_SCOPES.map((s) => s.toUpperCase().replace(":", "_") as ApiKeyScopeName);
  intruderKey = await createApiKey(t, intruder, everyScope);
  staffKeys = await Promise.all(
    [
      { label: "a moderator's API key", user: moderator },
      { label: "an admin's API key", user: admin },
    ].map(async ({ label, user }) => {
      const key = await createApiKey(t, user, everyScope);
      return { label, headers: key.headers, token: key.secret };
    }),
  );

  // A's things: a queued task (no worker runs here), a finished one with an image and a webhook delivery, a
  // key, an endpoint with a test delivery, a restriction, a message and an uploaded reference image.
  const task = await asOwner<{ createTask: { task: { id: string } } }>(
    `mutation { createTask(input: { prompt: "a quiet harbour", model: "novart-sketch", width: 512, height: 512 }) { task { id } } }`,
  );
  const [finished] = (await t.app.db.query(
    `INSERT INTO task (account_id, status, prompt, model_id, width, height, count, seed, input_hash, cost)
     SELECT $1, 'SUCCEEDED', 'x', id, 512, 512, 1, 1, repeat('0', 64), 0 FROM generation_model LIMIT 1 RETURNING id`,
    [owner.account.id],
  )) as { id: string }[];
  const [asset] = (await t.app.db.query(
    `INSERT INTO asset (task_id, account_id, index, width, height, bytes, content_type, sha256, storage_key, preview_key, thumbnail_key, expires_at)
     VALUES ($1, $2, 0, 1, 1, 1, 'image/png', repeat('0', 64), 'a/x.png', 'a/x.p.webp', 'a/x.t.webp', now() + interval '1 day') RETURNING id`,
    [finished.id, owner.account.id],
  )) as { id: string }[];
  const apiKey = await createApiKey(t, owner, ["ACCOUNT_READ"]);
  ownerKey = apiKey;
  const endpoint = await asOwner<{ createWebhookEndpoint: { endpoint: { id: string } } }>(
    `mutation { createWebhookEndpoint(input: { url: "https://example.com/hook", events: ["task.succeeded"] }) { endpoint { id } } }`,
  );
  const endpointId = endpoint.createWebhookEndpoint.endpoint.id;
  const delivery = await asOwner<{ sendTestWebhook: { delivery: { id: string } } }>(
    `mutation($id: ID!) { sendTestWebhook(input: { id: $id }) { delivery { id } } }`,
    { id: endpointId },
  );
  await t.app.services.webhooks.taskEvent(
    await t.app.db.getRepository(TaskEntity).findOneByOrFail({ id: finished.id }),
    "task.succeeded",
  );
  const restriction = await t.app.services.restrictions.restrict(
    { accountId: admin.account.id, role: admin.account.role },
    {
      accountId: owner.account.id,
      scopes: ["UPLOADS"],
      durationMinutes: 60,
      reason: "cross-account test",
      revokeApiKeys: false,
    },
  );
  const message = await t.app.services.messages.send(owner.account.id, { kind: "k", title: "For A", body: "b" });
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#808080" } })
    .png()
    .toBuffer();
  const upload = await t.app.services.uploads.accept(owner.account.id, png);
  ids = {
    task: task.createTask.task.id,
    finishedTask: finished.id,
    asset: asset.id,
    apiKey: apiKey.id,
    session: owner.sessionId,
    account: owner.account.id,
    endpoint: endpointId,
    delivery: delivery.sendTestWebhook.delivery.id,
    restriction: restriction.id,
    message: message.id,
    upload: upload.id,
  };
});
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  await t?.close();
});

/** Every row of A in every table with an `account_id`, and A's account row; times of use left out. */
async function ownerRows(): Promise<Record<string, unknown[]>> {
  const tables = (await t.app.db.query(
    `SELECT table_name FROM information_schema.columns
     WHERE table_schema = 'public' AND column_name = 'account_id' ORDER BY table_name`,
  )) as { table_name: string }[];
  const rows: Record<string, unknown[]> = {
    account: await t.app.db.query(`SELECT * FROM account WHERE id = $1`, [owner.account.id]),
  };
  for (const { table_name: table } of tables) {
    const found = (await t.app.db.query(`SELECT * FROM "${table}" WHERE account_id = $1`, [
      owner.account.id,
    ])) as Record<string, unknown>[];
    rows[table] = found
      .map((row) => Object.fromEntries(Object.entries(row).filter(([column]) => !/^last_(used|seen)_at$/.test(column))))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  }
  return rows;
}

async function ask(query: string, id: string, headers: Record<string, string>, token: string): Promise<Answer> {
  if (!query.startsWith("subscription")) return (await t.graphql(query, { id }, headers)).body as Answer;
  const ws = wsClient(t, token);
  sockets.push(ws);
  const events = ws.client.iterate({ query, variables: { id } });
  const answer = await events.next().then(
    (r) => r.value as Answer,
    (errors: unknown) => ({ errors: errors as Answer["errors"] }),
  );
  await events.return?.();
  return answer;
}

describe("ids of another account", () => {
  it("are all covered: every id-taking argument has a case, an exemption, or needs ADMIN/MODERATOR", () => {
    const keys = idArgs.map((a) => a.key);
    const uncovered = idArgs.filter((a) => !CASES[a.key] && !EXEMPT[a.key] && !isPrivileged(a)).map((a) => a.key);
    expect(uncovered, "add a case to CASES (or an exemption with its reason)").toEqual([]);
    const stale = [...Object.keys(CASES), ...Object.keys(EXEMPT)].filter((k) => !keys.includes(k));
    expect(stale, "cases for arguments the schema no longer has").toEqual([]);
  });

  it("get the answer a random id gets, through a session and API keys (staff's too), and change nothing of A's", async () => {
    const before = await ownerRows();
    const wrong: string[] = [];
    for (const [key, c] of Object.entries(CASES)) {
      const arg = idArgs.find((a) => a.key === key);
      if (!arg) continue;
      const sessionOnly = (authRequirements(arg.op) ?? []).includes("SESSION");
      const callers = [
        { label: "B's session", headers: intruder.headers, token: intruder.token },
        ...(sessionOnly
          ? []
          : [{ label: "B's API key", headers: intruderKey.headers, token: intruderKey.secret }, ...staffKeys]),
      ];
      for (const caller of callers) {
        const theirs = await ask(c.query, ids[c.object], caller.headers, caller.token);
        const problem = c.expect(theirs);
        if (problem) wrong.push(`${key} as ${caller.label}: ${problem}`);
        const random = await ask(c.query, randomUUID(), caller.headers, caller.token);
        const same = (a: Answer) =>
          JSON.stringify({ data: a.data, errors: a.errors?.map((e) => [e.message, e.extensions]) });
        if (same(theirs) !== same(random)) {
          wrong.push(`${key} as ${caller.label}: A's id answers ${same(theirs)}, a random one ${same(random)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(await ownerRows()).toEqual(before);
    // A's credentials still work.
    expect((await t.graphql(`{ me { id } }`, undefined, owner.headers)).body.data).toBeTruthy();
    expect((await t.graphql(`{ me { id } }`, undefined, ownerKey.headers)).body.data).toBeTruthy();
  });
});

/** The cases that change or end A's things, in the order they run after every other case (as the owner). */
const DESTRUCTIVE_LAST = [
  "Mutation.cancelTask(input.id)",
  "Mutation.deleteAssets(input.ids)",
  "Mutation.revokeApiKey(input.id)",
  "Mutation.deleteWebhookEndpoint(input.id)",
  "Mutation.revokeSession(input.id)",
];

/** What is wrong with the owner's answer: an error, a null field, an empty list. */
function ownerProblem(a: Answer | "open"): string | null {
  if (a === "open") return null; // a subscription that was accepted and waits for its next event
  if (a.errors?.length) return `errors ${JSON.stringify(a.errors.map((e) => [e.message, e.extensions?.code]))}`;
  const value = Object.values(a.data ?? {})[0] as { edges?: unknown[] } | null | undefined;
  if (value === null || value === undefined) return `no answer: ${JSON.stringify(a)}`;
  if (Array.isArray(value.edges) && value.edges.length === 0) return `an empty list: ${JSON.stringify(a)}`;
  return null;
}

describe("ids of one's own account", () => {
  it("answer their owner: each case as A on A's things succeeds (the destructive ones last)", async () => {
    expect(DESTRUCTIVE_LAST.filter((k) => !CASES[k])).toEqual([]);
    const order = Object.keys(CASES).sort((a, b) => DESTRUCTIVE_LAST.indexOf(a) - DESTRUCTIVE_LAST.indexOf(b));
    const wrong: string[] = [];
    for (const key of order) {
      const c = CASES[key];
      if (!idArgs.some((a) => a.key === key)) continue;
      // The owner's ledger is an admin's question only for other accounts; a subscription may just stay open.
      let answer: Answer | "open";
      if (c.query.startsWith("subscription")) {
        const ws = wsClient(t, owner.token);
        sockets.push(ws);
        const events = ws.client.iterate({ query: c.query, variables: { id: ids[c.object] } });
        let timer: NodeJS.Timeout | undefined;
        answer = await Promise.race([
          events.next().then(
            (r) => r.value as Answer,
            (errors: unknown) => ({ errors: errors as Answer["errors"] }),
          ),
          new Promise<"open">((resolve) => (timer = setTimeout(() => resolve("open"), 2_000))),
        ]);
        clearTimeout(timer);
        await events.return?.();
      } else {
        answer = (await t.graphql(c.query, { id: ids[c.object] }, owner.headers)).body as Answer;
      }
      const problem = ownerProblem(answer);
      if (problem) wrong.push(`${key} as A: ${problem}`);
    }
    expect(wrong).toEqual([]);
  });
});
