import pg from "pg";
import type { DataSource } from "typeorm";

/** Any constant shared by every process of an installation; serialises migrations across processes. */
const MIGRATION_LOCK_KEY = 4_200_113;

/**
 * Applies pending migrations while holding a PostgreSQL advisory lock, so that API and worker processes
 * starting together do not race on the same migration. Returns the names applied.
 */
export async function runMigrations(db: DataSource, url: string): Promise<string[]> {
  const lock = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await lock.connect();
  try {
    await lock.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    const applied = await db.runMigrations({ transaction: "each" });
    return applied.map((m) => m.name);
  } finally {
    await lock.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lock.end();
  }
}
