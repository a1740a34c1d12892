import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { encodeCursor } from "../../infra/pagination.js";
import { AssetEntity } from "../assets/asset.entity.js";
import { TaskEntity, TaskStatus } from "./task.entity.js";

let t: TestApp;
let user: SignedInUser;

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  user = await signedInUser(t);
  // 12 tasks with odd microseconds (the JSON path must round them like pg does), mixed states and models,
  // 0 to 2 assets each, some of them no longer ACTIVE.
  await t.app.db.query(
    `WITH t AS (
       INSERT INTO task (account_id, status, prompt, model_id, width, height, count, seed, input_hash, cost, progress,
                         reference_ids, error_code, finished_at, created_at)
       SELECT $1, (ARRAY['SUCCEEDED', 'FAILED', 'QUEUED']::task_status[])[1 + g % 3], 'p ' || g,
              (SELECT id FROM generation_model WHERE slug = CASE WHEN g % 2 = 0 THEN 'novart-sketch' ELSE 'novart-mosaic' END),
              512, 512, 2, g, repeat('0', 64), g, 0.25 * (g % 4), ARRAY[gen_random_uuid()],
              CASE WHEN g % 3 = 1 THEN 'TIMEOUT' END, now(),
              timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute' + (g * 287001) * interval '1 microsecond'
         FROM generate_series(1, 12) g RETURNING id, account_id, seed)
     INSERT INTO asset (task_id, account_id, index, width, height, bytes, content_type, sha256, storage_key, preview_key,
                        thumbnail_key, expires_at, status, created_at)
     SELECT t.id, t.account_id, i, 512, 256, 100 + i, 'image/png', repeat('0', 64), 'k' || i, 'p', 'th',
            timestamptz '2026-02-01 00:00:00.123456+00', CASE WHEN t.seed % 4 = 0 AND i = 1 THEN 'DELETED' ELSE 'ACTIVE' END::asset_status,
            timestamptz '2026-01-01 00:00:00.287999+00' + t.seed * interval '1 second'
       FROM t, generate_series(0, 1) i WHERE i < t.seed % 3`,
    [user.account.id],
  );
});
afterAll(() => t?.close());

/** The list as TypeORM's query builder reads it (what the service did before its prepared statement). */
function reference(filter: (qb: ReturnType<typeof taskQuery>) => void = () => undefined, take = 21) {
  const qb = taskQuery();
  filter(qb);
  return qb.orderBy("t.created_at", "DESC").addOrderBy("t.id", "DESC").take(take).getMany();
}
const taskQuery = () =>
  t.app.db.getRepository(TaskEntity).createQueryBuilder("t").where("t.account_id = :id", { id: user.account.id });

describe("TaskService.list", () => {
  it("reads the same entities as TypeORM, with every filter and the cursor", async () => {
    const tasks = t.app.services.tasks;
    const all = await reference();
    expect(all).toHaveLength(12);
    const page = await tasks.list(user.account.id, {});
    expect(page.rows).toStrictEqual(all);
    expect(page.rows.every((r) => r instanceof TaskEntity)).toBe(true);
    expect(page.owner).toEqual({ id: user.account.id, displayName: user.account.displayName });

    const after = encodeCursor(all[3]);
    expect((await tasks.list(user.account.id, { first: 4, after })).rows).toStrictEqual(
      await reference((qb) => qb.andWhere("(t.created_at, t.id) < (:c, :i)", { c: all[3].createdAt, i: all[3].id }), 5),
    );
    const filtered = await tasks.list(user.account.id, {
      filter: {
        status: TaskStatus.SUCCEEDED,
        model: "novart-sketch",
        createdAfter: all[10].createdAt,
        createdBefore: all[1].createdAt,
      },
    });
    expect(filtered.rows.length).toBeGreaterThan(0);
    expect(filtered.rows).toStrictEqual(
      await reference((qb) =>
        qb
          .andWhere("t.status = 'SUCCEEDED'")
          .andWhere("t.model_id = (SELECT id FROM generation_model WHERE slug = 'novart-sketch')")
          .andWhere("t.created_at > :a AND t.created_at < :b", { a: all[10].createdAt, b: all[1].createdAt }),
      ),
    );
    expect((await tasks.list(user.account.id, { filter: { model: "no-such-model" } })).rows).toEqual([]);
  });

  it("brings each task's active assets exactly as the assets loader reads them", async () => {
    const page = await t.app.services.tasks.list(user.account.id, { first: 12 }, { assets: true });
    const ids = page.rows.map((r) => r.id);
    const loaded = await t.app.services.assets.byTasks(ids);
    expect([...page.assets!.keys()]).toEqual(ids);
    for (const id of ids) expect(page.assets!.get(id)).toStrictEqual(loaded.get(id) ?? []);
    const all = [...page.assets!.values()].flat();
    expect(all.length).toBeGreaterThan(4);
    expect(all.every((a) => a instanceof AssetEntity && a.status === "ACTIVE")).toBe(true);
    expect((await t.app.services.tasks.list(user.account.id, {})).assets).toBeUndefined();
  });
});

describe("tasks query", () => {
  /**
   * SQL statements sent while one GraphQL request runs, right after a first one, which fills the caches (the
   * session, tier limits): the fewest of three requests, as a cache refresh may fall into one on a busy machine.
   */
  async function countStatements(query: string) {
    await t.graphql(query, {}, user.headers);
    const original = pg.Client.prototype.query;
    let statements = 0;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      statements++;
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      const counts: number[] = [];
      let edges: { node: { assets: unknown[] } }[] = [];
      for (let i = 0; i < 3; i++) {
        statements = 0;
        const res = await t.graphql<{ tasks: { edges: { node: { assets: unknown[] } }[] } }>(query, {}, user.headers);
        expect(res.body.errors).toBeUndefined();
        counts.push(statements);
        edges = res.body.data!.tasks.edges;
      }
      return { statements: Math.min(...counts), edges };
    } finally {
      pg.Client.prototype.query = original;
    }
  }

  it("answers a page with owners and assets in one statement (the session is cached), through fragments too", async () => {
    const plain = await countStatements(
      `{ tasks(first: 12) { edges { node { id owner { id displayName } assets { id width height createdAt } } } } }`,
    );
    const fragments = await countStatements(
      `query { tasks(first: 12) { ...Page } }
       fragment Page on TaskConnection { edges { ... on TaskEdge { node { id ...Images owner { displayName } } } } }
       fragment Images on Task { assets { id width height createdAt } }`,
    );
    expect(plain.statements).toBe(1);
    expect(fragments.statements).toBe(1);
    expect(fragments.edges.map((e) => e.node.assets)).toEqual(plain.edges.map((e) => e.node.assets));
    const loaded = await t.app.services.assets.byTasks(
      plain.edges.map((e) => (e.node as unknown as { id: string }).id),
    );
    expect(plain.edges.map((e) => e.node.assets.length)).toEqual(
      plain.edges.map((e) => loaded.get((e.node as unknown as { id: string }).id)?.length ?? 0),
    );
  });

  it("reads only the columns the operation selects, and answers exactly what task(id) answers", async () => {
    const fields = `id status prompt negativePrompt width height count seed progress cost error { code message }
      referenceIds webhookUrl clientReference startedAt finishedAt createdAt queuePosition model { slug }
      owner { id displayName }
      assets { id taskId index width height bytes contentType sha256 status favorite expiresAt createdAt }`;
    const original = pg.Client.prototype.query;
    const sent: string[] = [];
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const text = typeof args[0] === "string" ? args[0] : (args[0] as { text?: string })?.text;
      if (text) sent.push(text);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    type Node = Record<string, unknown> & { id: string };
    let page: Node[];
    let narrow: string[];
    try {
      const res = await t.graphql<{ tasks: { edges: { node: Node }[] } }>(
        `{ tasks(first: 12) { edges { node { ${fields} } } } }`,
        {},
        user.headers,
      );
      expect(res.body.errors).toBeUndefined();
      page = res.body.data!.tasks.edges.map((e) => e.node);
      sent.length = 0;
      await t.graphql(`{ tasks(first: 12) { edges { node { id prompt assets { id width } } } } }`, {}, user.headers);
      narrow = sent.filter((text) => /FROM task t/.test(text));
    } finally {
      pg.Client.prototype.query = original;
    }
    expect(page).toHaveLength(12);
    for (const node of page) {
      const one = await t.graphql<{ task: Node }>(
        `query ($id: ID!) { task(id: $id) { ${fields} } }`,
        { id: node.id },
        user.headers,
      );
      expect(one.body.errors).toBeUndefined();
      expect(node).toEqual(one.body.data!.task);
    }
    // The narrow page read neither the task's other columns nor the asset's storage keys.
    expect(narrow).toHaveLength(1);
    expect(narrow[0]).not.toMatch(/t\.\*|input_hash|negative_prompt/);
    expect(narrow[0]).not.toMatch(/storage_key|json_agg\(a /);
  });
});
