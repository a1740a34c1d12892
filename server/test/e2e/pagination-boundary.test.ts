import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LedgerKind } from "../../src/modules/credits/ledger-entry.entity.js";
import { signedInUser, type SignedInUser } from "../factories.js";
import { startTestApp, type TestApp } from "../harness.js";

/**
 * Lists page by (created_at, id); a cursor carries milliseconds, the column microseconds. Rows written within one
 * millisecond (a welcome bonus and a referral bonus in one transaction, tasks created in a burst) must all be
 * listed, page by page, each once.
 */
let t: TestApp;
let user: SignedInUser;

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  user = await signedInUser(t);
});
afterAll(() => t?.close());

interface Page {
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
  edges: { node: { id: string } }[];
}

/** Every id of a list, one row per page. */
async function pageThrough(field: string, selection = "id"): Promise<string[]> {
  const seen: string[] = [];
  let after: string | null = null;
  for (let i = 0; i < 10; i++) {
    const res: { body: { data?: Record<string, Page>; errors?: unknown[] } } = await t.graphql<Record<string, Page>>(
      `query($after: String) { ${field}(first: 1, after: $after) { pageInfo { endCursor hasNextPage } edges { node { ${selection} } } } }`,
      { after },
      user.headers,
    );
    expect(res.body.errors).toBeUndefined();
    const page: Page = res.body.data![field];
    seen.push(...page.edges.map((e) => e.node.id));
    if (!page.pageInfo.hasNextPage) return seen;
    after = page.pageInfo.endCursor;
  }
  throw new Error(`${field}: more pages than rows`);
}

/** Puts the rows in one millisecond, microseconds apart, so a millisecond cursor falls between them. */
async function sameMillisecond(table: string, ids: string[]) {
  for (const [i, id] of ids.entries()) {
    await t.app.db.query(
      `UPDATE ${table} SET created_at = timestamptz '2026-03-01 12:00:00.500000+00' + $2 * interval '211 microseconds' WHERE id = $1`,
      [id, i + 1],
    );
  }
}

describe("pagination within one millisecond", () => {
  it("lists every ledger entry, task and message once, one per page", async () => {
    // Entries of one transaction share its time (a welcome and a referral bonus at sign-up); the ledger is
    // append-only, so they are written that way rather than moved.
    await t.app.db.transaction(async (manager) => {
      for (const paid of [50, 30, 20]) {
        await t.app.services.ledger.credit(
          {
            accountId: user.account.id,
            kind: LedgerKind.RECHARGE,
            paid,
            bonus: 0,
            reference: `boundary:${user.account.id}:${paid}`,
          },
          manager,
        );
      }
    });
    const entries = (
      (await t.app.db.query(`SELECT id FROM ledger_entry WHERE account_id = $1`, [user.account.id])) as {
        id: string;
      }[]
    ).map((r) => r.id);
    expect(entries.length).toBeGreaterThanOrEqual(3);
    expect((await pageThrough("ledger")).sort()).toEqual([...entries].sort());

    for (let i = 0; i < 3; i++) {
      const res = await t.graphql(
        `mutation { createTask(input: { prompt: "a lantern ${i}", model: "novart-sketch", width: 512, height: 512 }) { task { id } } }`,
        undefined,
        user.headers,
      );
      expect(res.body.errors).toBeUndefined();
    }
    const tasks = (
      (await t.app.db.query(`SELECT id FROM task WHERE account_id = $1`, [user.account.id])) as {
        id: string;
      }[]
    ).map((r) => r.id);
    expect(tasks).toHaveLength(3);
    await sameMillisecond("task", tasks);
    expect((await pageThrough("tasks")).sort()).toEqual([...tasks].sort());

    for (const n of [1, 2, 3]) {
      await t.app.services.messages.send(user.account.id, {
        kind: "account.notice",
        title: `Notice ${n}`,
        body: "Within one millisecond.",
        link: "/",
      });
    }
    const messages = (
      (await t.app.db.query(`SELECT id FROM message WHERE account_id = $1`, [user.account.id])) as {
        id: string;
      }[]
    ).map((r) => r.id);
    expect(messages.length).toBeGreaterThanOrEqual(3);
    await sameMillisecond("message", messages);
    expect((await pageThrough("messages")).sort()).toEqual([...messages].sort());
  });

  it("refuses a cursor that is not one of ours with BAD_USER_INPUT", async () => {
    const cursors = [
      Buffer.from(`2026-03-01T12:00:00.500Z|${"-".repeat(36)}`).toString("base64url"),
      Buffer.from(`+275000-01-01T00:00:00.000Z|00000000-0000-0000-0000-000000000000`).toString("base64url"),
      "not a cursor",
    ];
    for (const after of cursors) {
      const res = await t.graphql(
        `query($after: String) { ledger(first: 1, after: $after) { edges { cursor } } }`,
        { after },
        user.headers,
      );
      expect(res.body.errors?.[0]?.extensions?.code, after).toBe("BAD_USER_INPUT");
    }
  });
});
