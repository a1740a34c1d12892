import "reflect-metadata";
import fs from "node:fs";
import path from "node:path";
import { loadConfig, REPO_ROOT } from "../infra/config.js";
import { createDataSource, ensureDatabase } from "../infra/db.js";
import { runMigrations } from "../infra/migrate.js";

/**
 * `npm run migration:generate -- <Name>`: applies the existing migrations to the configured database, then
 * writes `migrations/<timestamp>-<Name>.ts` with the SQL TypeORM finds between the entities and that
 * database. Read the SQL before committing it.
 */
const name = process.argv[2];
if (!name || !/^[A-Z][A-Za-z0-9]*$/.test(name)) {
  console.error("usage: npm run migration:generate -- <PascalCaseName>");
  process.exit(2);
}
const config = loadConfig();
await ensureDatabase(config.DATABASE_URL);
const db = await createDataSource(config.DATABASE_URL, 1);
await db.initialize();
await runMigrations(db, config.DATABASE_URL);
const sql = await db.driver.createSchemaBuilder().log();
await db.destroy();
if (sql.upQueries.length === 0) {
  console.log("no changes: the entities match the migrations");
  process.exit(0);
}
const quote = (text: string) => "`" + text.replace(/\\/g, "\\\\").replace(/`/g, "\\`").replace(/\$\{/g, "\\${") + "`";
const line = (q: { query: string; parameters?: unknown[] }) =>
  `    await q.query(${quote(q.query)}${q.parameters?.length ? `, ${JSON.stringify(q.parameters)}` : ""});`;
const timestamp = Date.now();
const source = `import type { MigrationInterface, QueryRunner } from "typeorm";

export class ${name}${timestamp} implements MigrationInterface {
  name = "${name}${timestamp}";

  public async up(q: QueryRunner): Promise<void> {
${sql.upQueries.map(line).join("\n")}
  }

  public async down(q: QueryRunner): Promise<void> {
${sql.downQueries.reverse().map(line).join("\n")}
  }
}
`;
const file = path.join(REPO_ROOT, "migrations", `${timestamp}-${name}.ts`);
fs.writeFileSync(file, source);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
