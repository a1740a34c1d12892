import { randomBytes } from "node:crypto";
import pg from "pg";

/** The PostgreSQL server tests use; `TEST_DATABASE_URL` points elsewhere (its path is ignored). */
const BASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export const ADMIN_URL = databaseUrl("postgres");

export function databaseUrl(name: string): string {
  const url = new URL(BASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh, migrated database cloned from the run's template. */
export async function createTestDatabase(template: string): Promise<TestDatabase> {
  const name = `novart_t_${randomBytes(6).toString("hex")}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  return {
    name,
    url: databaseUrl(name),
    drop: () => withAdmin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}

/** A database name that does not exist yet, for tests of the start-up path that creates it. */
export function freshDatabaseName(): string {
  return `novart_t_${randomBytes(6).toString("hex")}`;
}

export async function dropDatabase(name: string): Promise<void> {
  await withAdmin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)));
}

/**
 * Tests send far more requests and tasks than any tier allows; the limits have tests of their own, which
 * set the tier values they need. Raises every tier's limits in one database.
 */
export const RELAX_TIERS_SQL = `UPDATE tier SET requests_per_minute = 1000000, tasks_per_minute = 1000000,
  concurrent_tasks = 100000, tasks_per_day = 1000000, uploads_per_day = 1000000, daily_spend_cap = NULL`;

/** Raises the tiers of a database a server process is migrating right now (retries until the table exists). */
export async function relaxTiersWhenMigrated(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query(RELAX_TIERS_SQL);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
