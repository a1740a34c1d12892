import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { AccountRole } from "../accounts/account.entity.js";
import { LedgerKind } from "../credits/ledger-entry.entity.js";

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
  await t.app.services.ledger.credit({
    accountId: u.account.id,
    kind: LedgerKind.RECHARGE,
    paid: 20,
    bonus: 0,
    reference: `s:${u.account.id}`,
  });
  return u;
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

  it("under ALL refuses everything but reading the restriction and appealing (once), and closes open subscriptions", async () => {
    const user = await fundedUser();
    const ws = createClient({
      url: t.url.replace("http", "ws") + "/graphql",
      webSocketImpl: WebSocket,
      connectionParams: { authorization: user.headers.authorization },
      retryAttempts: 0,
    });
    let closeCode = 0;
    ws.on("closed", (e) => (closeCode = (e as { code: number }).code));
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
    await expect.poll(() => closeCode, { timeout: 5000 }).toBe(4401);
    expect(
      (await t.graphql(`{ tasks { edges { cursor } } }`, undefined, user.headers)).body.errors?.[0].extensions?.code,
    ).toBe("ACCOUNT_RESTRICTED");
    const mine = await t.graphql<{ myRestrictions: { id: string; active: boolean; endsAt: string | null }[] }>(
      `{ myRestrictions { id active endsAt reason } }`,
      undefined,
      user.headers,
    );
    expect(mine.body.data?.myRestrictions[0]).toMatchObject({ id, active: true, endsAt: null });
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
    expect((await t.graphql(`{ tasks { edges { cursor } } }`, undefined, user.headers)).body.errors).toBeUndefined();
    await ws.dispose();
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
});
