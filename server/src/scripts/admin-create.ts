import "reflect-metadata";
import { parseArgs } from "node:util";
import { createApp } from "../app.js";
import { AppError } from "../infra/errors.js";
import { ConfigError, loadConfig } from "../infra/config.js";
import { createLogger } from "../infra/logger.js";
import { checkServices } from "../infra/preflight.js";

/**
 * `npm run admin:create -- --email admin@example.com [--password …]`: creates a verified admin account, or
 * promotes an existing account to admin. The password may also come from ADMIN_PASSWORD.
 */
const { values } = parseArgs({ options: { email: { type: "string" }, password: { type: "string" } } });
try {
  const config = { ...loadConfig(), ROLE: "worker" as const, MIGRATE_ON_START: false };
  const email = values.email;
  if (!email) {
    console.error("usage: npm run admin:create -- --email <address> [--password <password>]");
    process.exit(2);
  }
  const problems = await checkServices(config);
  if (problems.length) {
    for (const line of problems) console.error(line);
    process.exit(1);
  }
  const app = await createApp(config, createLogger("warn"));
  try {
    const { account, created } = await app.services.accounts.ensureAdmin(
      email,
      values.password ?? process.env.ADMIN_PASSWORD ?? null,
    );
    console.log(`${created ? "created" : "promoted"} admin ${account.email}`);
  } finally {
    await app.stop();
  }
} catch (err) {
  if (err instanceof ConfigError || err instanceof AppError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
