import "reflect-metadata";
import { ConfigError, loadConfig, type Config } from "./infra/config.js";
import { createLogger } from "./infra/logger.js";
import { checkServices } from "./infra/preflight.js";

function fail(lines: string[]): never {
  for (const line of lines) process.stderr.write(`${line}\n`);
  process.exit(1);
}

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) fail(err.problems.map((p) => `Configuration error: ${p}`));
  throw err;
}

const logger = createLogger(config.LOG_LEVEL, { role: config.ROLE });

const problems = await checkServices(config);
if (problems.length) fail(problems);

// The application (TypeORM, the schema, every module) is loaded only once the services answer: a missing
// service is reported without waiting for it, which on a busy machine takes seconds.
const [{ createApp }, { createDataSource, ensureDatabase }, { runMigrations }] = await Promise.all([
  import("./app.js"),
  import("./infra/db.js"),
  import("./infra/migrate.js"),
]);

if (config.MIGRATE_ON_START) {
  if (await ensureDatabase(config.DATABASE_URL)) logger.info("created the database");
  const db = await createDataSource(config.DATABASE_URL, 1);
  await db.initialize();
  const applied = await runMigrations(db, config.DATABASE_URL);
  await db.destroy();
  if (applied.length) logger.info({ applied }, "applied migrations");
}

const app = await createApp(config, logger);
if (config.ADMIN_EMAIL) {
  // Idempotent: creates the first admin, or promotes the account; a password is needed only to create.
  const { account, created } = await app.services.accounts.ensureAdmin(
    config.ADMIN_EMAIL,
    config.ADMIN_PASSWORD ?? null,
  );
  logger.info({ email: account.email, created }, "admin account ready (ADMIN_EMAIL)");
}
await app.start();
logger.info({ url: app.url }, "Novart Studio is running");

let stoppingSince = 0;
async function shutdown(signal: string) {
  if (stoppingSince) {
    // A terminal's Ctrl+C reaches both npm and this process: ignore the echo, honour a real second signal.
    if (Date.now() - stoppingSince < 1000) return;
    logger.warn({ signal }, "second signal: exiting now");
    process.exit(1);
  }
  stoppingSince = Date.now();
  logger.info({ signal }, "shutting down");
  const hardStop = setTimeout(() => {
    logger.error("shutdown took too long: exiting");
    process.exit(1);
  }, config.SHUTDOWN_TIMEOUT_MS + 1500);
  hardStop.unref();
  try {
    await app.stop();
    process.exit(0);
  } catch (err) {
    logger.error({ err }, "shutdown failed");
    process.exit(1);
  }
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
