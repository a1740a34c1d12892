import "reflect-metadata";
import { ConfigError, loadConfig } from "../infra/config.js";
import { createDataSource } from "../infra/db.js";
import { checkServices } from "../infra/preflight.js";
import { LedgerService } from "../modules/credits/ledger.service.js";

/**
 * `npm run ledger:verify`: checks every account's balance against the sum of its ledger entries and the
 * running balances of the entries. Prints each mismatch and exits 1 when there is any.
 */
try {
  const config = loadConfig();
  const problems = await checkServices(config);
  if (problems.some((p) => p.startsWith("PostgreSQL"))) {
    for (const line of problems) console.error(line);
    process.exit(1);
  }
  const db = await createDataSource(config.DATABASE_URL, 2);
  await db.initialize();
  const mismatches = await new LedgerService(db).verify();
  const accounts = (await db.query(`SELECT count(*)::int AS n FROM credit_account`)) as { n: number }[];
  await db.destroy();
  for (const m of mismatches) console.error(`account ${m.accountId}: ${m.problem}`);
  if (mismatches.length) {
    console.error(`ledger:verify: ${mismatches.length} problem(s)`);
    process.exit(1);
  }
  console.log(`ledger:verify: ${accounts[0].n} account(s), every balance equals its ledger`);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
