import "reflect-metadata";
import { ConfigError, loadConfig } from "../infra/config.js";
import { createDataSource, ensureDatabase } from "../infra/db.js";
import { runMigrations } from "../infra/migrate.js";
import { checkServices } from "../infra/preflight.js";

/** `npm run migrate`: create the database when missing and apply pending migrations. */
try {
  const config = loadConfig();
  const problems = await checkServices(config);
  if (problems.length) {
    for (const line of problems) console.error(line);
    process.exit(1);
  }
  await ensureDatabase(config.DATABASE_URL);
  const db = await createDataSource(config.DATABASE_URL, 1);
  await db.initialize();
  const applied = await runMigrations(db, config.DATABASE_URL);
  await db.destroy();
  console.log(applied.length ? `applied: ${applied.join(", ")}` : "no pending migrations");
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
