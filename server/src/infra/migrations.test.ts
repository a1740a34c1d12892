import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataSource } from "./db.js";
import { createTestDatabase, type TestDatabase } from "../../test/database.js";
import { inject } from "vitest";
import type { DataSource } from "typeorm";

let database: TestDatabase;
let db: DataSource;
beforeAll(async () => {
  database = await createTestDatabase(inject("templateDatabase"));
  db = await createDataSource(database.url, 1);
  await db.initialize();
});
afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

describe("migrations", () => {
  it("describe exactly the entities: generating a migration now would produce nothing", async () => {
    const sql = await db.driver.createSchemaBuilder().log();
    expect(sql.upQueries.map((q) => q.query)).toEqual([]);
  });

  it("can be reverted and re-applied", async () => {
    const applied = (await db.query(`SELECT count(*)::int AS n FROM migration`)) as { n: number }[];
    for (let i = 0; i < applied[0].n; i++) await db.undoLastMigration({ transaction: "each" });
    expect(await db.query(`SELECT to_regclass('generation_model') AS t`)).toEqual([{ t: null }]);
    await db.runMigrations({ transaction: "each" });
    const models = (await db.query(`SELECT count(*)::int AS n FROM generation_model`)) as { n: number }[];
    expect(models[0].n).toBeGreaterThan(0);
  });
});
