import { existsSync } from "node:fs";
import path from "node:path";
import { createClient, type Client } from "graphql-ws";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { signedInUser, wsClient, type SignedInUser, recharge } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { AccountRole } from "../accounts/account.entity.js";

let t: TestApp;
let moderator: SignedInUser;

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  moderator = await signedInUser(t, { role: AccountRole.MODERATOR });
});
afterAll(() => t?.close());

const RESTRICT = `mutation($input: RestrictAccountInput!) { restrictAccount(input: $input) { restriction { id active endsAt scopes } } }`;
const CREATE = `mutation { createTask(input: { prompt: "a quiet pond", model: "novart-sketch", width: 512, height: 512, count: 1 }) { task { id status } } }`;

async function fundedUser() {
  const u = await signedInUser(t);
  await recharge(t, u.account.id, 20);
  return u;
}

interface WsResult {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** The first answer of an operation sent over a graphql-ws connection: its result, or its `error` message. */
function firstOver(client: Client, query: string): Promise<WsResult> {
  return client
    .iterate({ query })
    .next()
    .then(
      (r) => r.value as WsResult,
      (errors: unknown) => ({ errors: errors as WsResult["errors"] }),
    );
}

describe("restrictions", () => {
  it("stops task creation under TASKS with the reason and end time, cancels and refunds running tasks, and lifts by itself", async () => {
    const user = await fundedUser();
    const queued = await t.graphql<{ createTask: { task: { id: string } } }>(CREATE, undefined, user.headers);
    expect(queued.body.errors).toBeUndefined();
    const res = await t.graphql<{ restrictAccount: { restriction: { id: string } } }>(
      RESTRICT,
      {
        input: {
          accountId: user.account.id,
          scopes: ["TASKS"],
          durationMinutes: 60,
          reason: "Too many flagged prompts",
          cancelRunningTasks: true,
        },
      },
      moderator.headers,
    );
    expect(res.body.errors).toBeUndefined();
    expect(await t.app.services.ledger.balance(user.account.id)).toEqual({ paid: 20, bonus: 0 });
    const refused = await t.graphql(CREATE, undefined, user.headers);
    expect(refused.body.errors?.[0].extensions).toMatchObject({
      code: "ACCOUNT_RESTRICTED",
      reason: "Too many flagged prompts",
      scopes: ["TASKS"],
    });
    expect(refused.body.errors?.[0].extensions?.endsAt).toBeTruthy();
    // Other operations still work under TASKS.
    expect((await t.graphql(`{ me { email } }`, undefined, user.headers)).body.errors).toBeUndefined();

    // The clock moves past the end: the restriction is simply no longer in force.
    await t.app.db.query(`UPDATE account_restriction SET ends_at = now() - interval '1 second' WHERE account_id = $1`, [
      user.account.id,
    ]);
    expect((await t.graphql(CREATE, undefined, user.headers)).body.errors).toBeUndefined();
    expect(await t.app.services.restrictions.notifyEnded()).toBeGreaterThanOrEqual(1);
    const kinds = (await t.app.db.query(`SELECT kind FROM message WHERE account_id = $1 ORDER BY created_at`, [
      user.account.id,
    ])) as { kind: string }[];
    expect(kinds.map((k) => k.kind)).toEqual(expect.arrayContaining(["restriction.started", "restriction.ended"]));
  });

  it("under ALL refuses everything but reading the account, its restrictions and messages, and appealing (once); closes open subscriptions", async () => {
    const user = await fundedUser();
    const ws = createClient({
      url: t.url.replace("http", "ws") + "/graphql",
      webSocketImpl: WebSocket,
      connectionParams: { authorization: user.headers.authorization },
      retryAttempts: 0,
    });
    let closeCode = 0;
    let closeReason = "";
    ws.on("closed", (e) => {
      closeCode = (e as { code: number }).code;
      closeReason = (e as { reason: string }).reason;
    });
    const events = ws.iterate({ query: `subscription { messageReceived { id } } ` });
    void events.next().catch(() => undefined);
    await expect
      .poll(
        () =>
          t.app.redis
            .pubsub("NUMSUB", `${t.app.config.REDIS_PREFIX}:MESSAGE_RECEIVED:${user.account.id}`)
            .then((r) => Number((r as unknown[])[1])),
        { timeout: 5000 },
      )
      .toBeGreaterThan(0);

    const res = await t.graphql<{ restrictAccount: { restriction: { id: string } } }>(
      RESTRICT,
      { input: { accountId: user.account.id, scopes: ["ALL"], reason: "Abuse of the service" } },
      moderator.headers,
    );
    const id = res.body.data!.restrictAccount.restriction.id;
    // Closed by the restriction, with its own code (a revoked credential closes with 4401).
    await expect.poll(() => closeCode, { timeout: 5000 }).toBe(4403);
    expect(closeReason).toBe("Account restricted");
    expect(
      (await t.graphql(`{ tasks { edges { cursor } } }`, undefined, user.headers)).body.errors?.[0].extensions?.code,
    ).toBe("ACCOUNT_RESTRICTED");
    const mine = await t.graphql<{ myRestrictions: { id: string; active: boolean; endsAt: string | null }[] }>(
      `{ myRestrictions { id active endsAt reason } }`,
      undefined,
      user.headers,
    );
    expect(mine.body.data?.myRestrictions[0]).toMatchObject({ id, active: true, endsAt: null });
    // The moderators' messages stay readable, live too: the end of the restriction is announced there.
    const inbox = await t.graphql<{ unreadMessageCount: number; messages: { edges: { node: { kind: string } }[] } }>(
      `{ unreadMessageCount messages(first: 5) { edges { node { kind } } } }`,
      undefined,
      user.headers,
    );
    expect(inbox.body.errors).toBeUndefined();
    expect(inbox.body.data?.messages.edges.map((e) => e.node.kind)).toContain("restriction.started");
    const listeners = () =>
      t.app.redis
        .pubsub("NUMSUB", `${t.app.config.REDIS_PREFIX}:MESSAGE_RECEIVED:${user.account.id}`)
        .then((r) => Number((r as unknown[])[1]));
    // The closed connection's subscription is gone first, so the count below is the new one's.
    await expect.poll(listeners, { timeout: 5000 }).toBe(0);
    const live = wsClient(t, user.token);
    const refusedLive = await firstOver(live.client, `subscription { myTaskUpdates { id } }`);
    expect(refusedLive.errors?.[0].extensions).toMatchObject({ code: "ACCOUNT_RESTRICTED" });
    const messages = live.client.iterate<{ messageReceived: { kind: string } }>({
      query: `subscription { messageReceived { kind } }`,
    });
    const nextMessage = messages.next();
    await expect.poll(listeners, { timeout: 5000 }).toBeGreaterThan(0);
    const APPEAL = `mutation($input: AppealRestrictionInput!) { appealRestriction(input: $input) { restriction { appealMessage } } }`;
    const appeal = await t.graphql(
      APPEAL,
      { input: { id, message: "I think this was a mistake, please look again." } },
      user.headers,
    );
    expect(appeal.body.errors).toBeUndefined();
    const again = await t.graphql(APPEAL, { input: { id, message: "Second appeal should be refused." } }, user.headers);
    expect(again.body.errors?.[0].extensions?.code).toBe("CONFLICT");

    const lifted = await t.graphql(
      `mutation($input: LiftRestrictionInput!) { liftRestriction(input: $input) { restriction { active } } }`,
      { input: { id, reason: "Appeal accepted" } },
      moderator.headers,
    );
    expect(lifted.body.data).toEqual({ liftRestriction: { restriction: { active: false } } });
    expect((await nextMessage).value?.data?.messageReceived.kind).toBe("restriction.ended");
    await live.dispose();
    expect((await t.graphql(`{ tasks { edges { cursor } } }`, undefined, user.headers)).body.errors).toBeUndefined();
    await ws.dispose();
  });

  it("lets only administrators restrict staff, and nobody lift their own restriction or revoke their own keys", async () => {
    const LIFT = `mutation($input: LiftRestrictionInput!) { liftRestriction(input: $input) { restriction { active } } }`;
    const REVOKE_KEYS = `mutation($id: ID!) { revokeAccountApiKeys(accountId: $id) { apiKeys { id } } }`;
    const admin = await signedInUser(t, { role: AccountRole.ADMIN });
    const otherModerator = await signedInUser(t, { role: AccountRole.MODERATOR });
    const input = (accountId: string) => ({ accountId, scopes: ["ALL"], reason: "Locking staff out" });
    // A moderator cannot restrict an administrator or another moderator, nor revoke their keys.
    for (const target of [admin, otherModerator]) {
      const refused = await t.graphql(RESTRICT, { input: input(target.account.id) }, moderator.headers);
      expect(refused.body.errors?.[0].extensions).toMatchObject({ code: "FORBIDDEN", requires: "ADMIN" });
      const keys = await t.graphql(REVOKE_KEYS, { id: target.account.id }, moderator.headers);
      expect(keys.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    }
    expect(await t.app.services.restrictions.active(admin.account.id)).toEqual([]);
    // An administrator can restrict a moderator; that moderator cannot lift it, another moderator cannot
    // either (a staff account's restriction), an administrator can.
    const res = await t.graphql<{ restrictAccount: { restriction: { id: string } } }>(
      RESTRICT,
      { input: { ...input(otherModerator.account.id), scopes: ["TASKS"] } },
      admin.headers,
    );
    const id = res.body.data!.restrictAccount.restriction.id;
    const lift = { input: { id, reason: "Lifting my own" } };
    expect((await t.graphql(LIFT, lift, otherModerator.headers)).body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect((await t.graphql(LIFT, lift, moderator.headers)).body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    expect((await t.graphql(LIFT, lift, admin.headers)).body.data).toEqual({
      liftRestriction: { restriction: { active: false } },
    });
    // Nobody restricts their own account.
    const self = await t.graphql(RESTRICT, { input: input(admin.account.id) }, admin.headers);
    expect(self.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });

  it("refuses sign-in under SIGN_IN, API-key requests under API, and is moderator-only", async () => {
    const user = await fundedUser();
    const { secret } = await t.app.services.apiKeys.create(user.account.id, { name: "k", scopes: ["account:read"] });
    await t.graphql(
      RESTRICT,
      { input: { accountId: user.account.id, scopes: ["SIGN_IN", "API"], reason: "Credential sharing" } },
      moderator.headers,
    );
    const signIn = await t.graphql(`mutation($input: SignInInput!) { signIn(input: $input) { token } }`, {
      input: { email: user.email, password: user.password },
    });
    expect(signIn.body.errors?.[0].extensions?.code).toBe("ACCOUNT_RESTRICTED");
    const byKey = await t.graphql(`{ me { email } }`, undefined, { authorization: `Bearer ${secret}` });
    expect(byKey.body.errors?.[0].extensions?.code).toBe("ACCOUNT_RESTRICTED");
    const denied = await t.graphql(
      RESTRICT,
      { input: { accountId: moderator.account.id, scopes: ["ALL"], reason: "Nope nope" } },
      user.headers,
    );
    expect(denied.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });
  it("reaches operations on a WebSocket opened before the restriction, and subscriptions started on it", async () => {
    const user = await fundedUser();
    const socket = wsClient(t, user.token);
    try {
      await socket.connected;
      const before = await firstOver(socket.client, `{ me { id } }`);
      expect(before).toEqual({ data: { me: { id: user.account.id } } });

      const res = await t.graphql(
        RESTRICT,
        { input: { accountId: user.account.id, scopes: ["TASKS"], durationMinutes: 60, reason: "Prompt flooding" } },
        moderator.headers,
      );
      expect(res.body.errors).toBeUndefined();
      // The same socket, opened while the account was free: the mutation sees the restriction in force now.
      const refused = await firstOver(socket.client, CREATE);
      expect(refused.errors?.[0].extensions).toMatchObject({
        code: "ACCOUNT_RESTRICTED",
        reason: "Prompt flooding",
        scopes: ["TASKS"],
      });
      expect(refused.errors?.[0].extensions?.endsAt).toBeTruthy();
      expect(await t.app.db.query(`SELECT id FROM task WHERE account_id = $1`, [user.account.id])).toEqual([]);
      // TASKS leaves the rest alone: the socket stays open and reads still work on it.
      expect(await firstOver(socket.client, `{ me { id } }`)).toEqual({ data: { me: { id: user.account.id } } });

      // An ALL restriction written around the services (no announcement closes the socket): a subscription
      // started on the open socket is judged by the restrictions in force when it starts.
      await t.app.db.query(`INSERT INTO account_restriction (account_id, scopes, reason) VALUES ($1, $2, $3)`, [
        user.account.id,
        ["ALL"],
        "Written by hand",
      ]);
      const subscription = await firstOver(socket.client, `subscription { myTaskUpdates { id } }`);
      expect(subscription.errors?.[0].extensions).toMatchObject({ code: "ACCOUNT_RESTRICTED" });
    } finally {
      await socket.dispose();
    }
  });

  it("refuses uploads under UPLOADS (403, nothing stored) and ZIP downloads under ALL (403)", async () => {
    const user = await fundedUser();
    await t.graphql(
      RESTRICT,
      { input: { accountId: user.account.id, scopes: ["UPLOADS"], durationMinutes: 30, reason: "Uploaded documents" } },
      moderator.headers,
    );
    const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: "#336699" } })
      .png()
      .toBuffer();
    const upload = await fetch(`${t.url}/api/uploads`, {
      method: "POST",
      headers: { "content-type": "image/png", ...user.headers },
      body: png,
    });
    expect(upload.status).toBe(403);
    expect(upload.headers.get("content-type")).toMatch(/^application\/json/);
    expect(((await upload.json()) as { error: Record<string, unknown> }).error).toMatchObject({
      code: "ACCOUNT_RESTRICTED",
      reason: "Uploaded documents",
      scopes: ["UPLOADS"],
    });
    expect(await t.app.db.query(`SELECT id FROM upload WHERE account_id = $1`, [user.account.id])).toEqual([]);
    expect(existsSync(path.join(t.app.config.DATA_DIR, "uploads", user.account.id))).toBe(false);
    // UPLOADS alone leaves tasks alone.
    expect((await t.graphql(CREATE, undefined, user.headers)).body.errors).toBeUndefined();

    await t.graphql(
      RESTRICT,
      { input: { accountId: user.account.id, scopes: ["ALL"], reason: "Everything stops" } },
      moderator.headers,
    );
    const zip = await fetch(`${t.url}/api/assets/zip`, {
      method: "POST",
      headers: { "content-type": "application/json", ...user.headers },
      body: JSON.stringify({ ids: [crypto.randomUUID()] }),
    });
    expect(zip.status).toBe(403);
    expect(((await zip.json()) as { error: Record<string, unknown> }).error).toMatchObject({
      code: "ACCOUNT_RESTRICTED",
      reason: "Everything stops",
    });
  });
});
