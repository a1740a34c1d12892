import "reflect-metadata";
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { createDataSource } from "../src/infra/db.js";
import { runMigrations } from "../src/infra/migrate.js";
import { ADMIN_URL, databaseUrl, RELAX_TIERS_SQL } from "./database.js";
// @ts-expect-error: a plain .mjs script without types
import { ensureBuild } from "../../scripts/ensure-build.mjs";

declare module "vitest" {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}

/**
 * Migrates one template database per run; every test file then clones it (`CREATE DATABASE … TEMPLATE`),
 * which takes milliseconds, so files run in parallel on databases of their own.
 */
export default async function setup(project: TestProject) {
  // The process-level tests run the built server, exactly as `npm start` does.
  ensureBuild(["server"]);
  const template = `novart_tpl_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${template}`);
  const url = databaseUrl(template);
  const db = await createDataSource(url, 1);
  await db.initialize();
  await runMigrations(db, url);
  await db.query(RELAX_TIERS_SQL);
  await db.destroy();
  project.provide("templateDatabase", template);

  return async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
    await admin.end();
  };
}
