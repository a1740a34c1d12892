import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { DataSource, DefaultNamingStrategy, type MixedList, type NamingStrategyInterface } from "typeorm";
import { AccountTokenEntity } from "../modules/accounts/account-token.entity.js";
import { AccountEntity } from "../modules/accounts/account.entity.js";
import { ApiKeyEntity } from "../modules/accounts/api-key.entity.js";
import { MessageEntity } from "../modules/accounts/message.entity.js";
import { SessionEntity } from "../modules/accounts/session.entity.js";
import { TermsDocumentEntity } from "../modules/accounts/terms-document.entity.js";
import { CodeBatchEntity } from "../modules/credits/code-batch.entity.js";
import { CodeRedemptionEntity } from "../modules/credits/code-redemption.entity.js";
import { CreditAccountEntity } from "../modules/credits/credit-account.entity.js";
import { RedemptionCodeEntity } from "../modules/credits/redemption-code.entity.js";
import { LedgerEntryEntity } from "../modules/credits/ledger-entry.entity.js";
import { GenerationModelEntity } from "../modules/generation/generation-model.entity.js";
import { ModelChangeEntity } from "../modules/generation/model-change.entity.js";
import { TaskEntity } from "../modules/generation/task.entity.js";
import { UploadEntity } from "../modules/generation/upload.entity.js";
import { AssetEntity } from "../modules/assets/asset.entity.js";
import { FileDeletionEntity } from "../modules/assets/file-deletion.entity.js";
import { ModerationEventEntity, ModerationRuleEntity } from "../modules/risk/moderation.entities.js";
import { AuditEntryEntity } from "../modules/risk/audit.entity.js";
import { RestrictionEntity } from "../modules/risk/restriction.entity.js";
import { AccountLimitsEntity, LimitRequestEntity, TierEntity } from "../modules/risk/limits.entities.js";
import { RegistrationInviteEntity, RegistrationPolicyEntity } from "../modules/accounts/registration.entities.js";
import {
  TaskWebhookSecretEntity,
  WebhookAttemptEntity,
  WebhookDeliveryEntity,
  WebhookEndpointEntity,
} from "../modules/webhooks/webhook.entities.js";

/** Every entity of every module; the composition of the data layer lives here and nowhere else. */
export const ENTITIES = [
  GenerationModelEntity,
  AccountEntity,
  SessionEntity,
  AccountTokenEntity,
  ApiKeyEntity,
  MessageEntity,
  TermsDocumentEntity,
  CreditAccountEntity,
  LedgerEntryEntity,
  CodeBatchEntity,
  RedemptionCodeEntity,
  CodeRedemptionEntity,
  ModelChangeEntity,
  TaskEntity,
  UploadEntity,
  AssetEntity,
  FileDeletionEntity,
  WebhookEndpointEntity,
  WebhookDeliveryEntity,
  WebhookAttemptEntity,
  TaskWebhookSecretEntity,
  ModerationRuleEntity,
  ModerationEventEntity,
  AuditEntryEntity,
  RestrictionEntity,
  TierEntity,
  AccountLimitsEntity,
  LimitRequestEntity,
  RegistrationPolicyEntity,
  RegistrationInviteEntity,
];

/** snake_case columns and singular snake_case tables (`ledger_entry`), whatever the class names. */
export class SnakeNamingStrategy extends DefaultNamingStrategy implements NamingStrategyInterface {
  override tableName(className: string, customName?: string): string {
    return customName ?? snake(className.replace(/Entity$/, ""));
  }
  override columnName(propertyName: string, customName: string | undefined, prefixes: string[]): string {
    return customName ?? snake([...prefixes, propertyName].join("_"));
  }
  override relationName(propertyName: string): string {
    return snake(propertyName);
  }
  override joinColumnName(relationName: string, referencedColumnName: string): string {
    return snake(`${relationName}_${referencedColumnName}`);
  }
  override joinTableName(first: string, second: string, firstProperty: string): string {
    return snake(`${first}_${firstProperty.replace(/\./g, "_")}_${second}`);
  }
  override joinTableColumnName(tableName: string, propertyName: string, columnName?: string): string {
    return snake(`${tableName}_${columnName ?? propertyName}`);
  }
}

function snake(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}

/**
 * The migrations folder: `<repo>/migrations` for the sources (dev, tests) and `server/dist/migrations`
 * for the build. Both sit three levels above this file.
 */
export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, "../../../migrations");

/**
 * Loads the migration classes ourselves instead of giving TypeORM a glob: TypeORM's own `import()` cannot
 * load `.ts` files under vitest or the dev runner, while ours goes through whichever loader runs this file.
 */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<MixedList<Function>> {
  const ext = import.meta.filename.endsWith(".ts") ? ".ts" : ".js";
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(ext) && !f.endsWith(".d.ts"))
    .sort();
  const classes: Function[] = [];
  for (const file of files) {
    const mod = (await import(path.join(dir, file))) as Record<string, unknown>;
    for (const value of Object.values(mod)) if (typeof value === "function") classes.push(value);
  }
  return classes;
}

/**
 * The data source. With `replicaUrls`, TypeORM's replication holds one pool per streaming replica next to
 * the primary's; every query still goes to the primary (`defaultMode: "master"`) unless a list read asks
 * for a replica through `read-replica.ts`. Replica pools connect lazily: a replica that is down when the
 * process starts must not keep it from starting (TypeORM's own pools open a first connection at once).
 */
export async function createDataSource(url: string, poolSize = 10, replicaUrls: string[] = []): Promise<DataSource> {
  const replicas = replicaUrls.map((replicaUrl) => ({ url: replicaUrl }));
  const db = new DataSource({
    type: "postgres",
    ...(replicas.length ? { replication: { master: { url }, slaves: replicas, defaultMode: "master" } } : { url }),
    entities: ENTITIES,
    migrations: await loadMigrations(),
    migrationsTableName: "migration",
    migrationsTransactionMode: "each",
    namingStrategy: new SnakeNamingStrategy(),
    uuidExtension: "pgcrypto",
    synchronize: false,
    logging: false,
    extra: { max: poolSize, connectionTimeoutMillis: 5000 },
  });
  if (replicas.length) {
    const driver = db.driver as unknown as { createPool(options: unknown, credentials: unknown): Promise<pg.Pool> };
    const createPool = driver.createPool.bind(driver);
    driver.createPool = (options, credentials) => {
      const replica = replicas.find((r) => r === credentials);
      return replica ? Promise.resolve(replicaPool(replica.url, poolSize)) : createPool(options, credentials);
    };
  }
  return db;
}

/** A replica's pool: connects on first use, and gives up on an unreachable replica sooner than the primary's. */
function replicaPool(url: string, poolSize: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 1000 });
  // An idle connection dropped by a replica that stops: the next checkout opens a new one.
  pool.on("error", () => undefined);
  return pool;
}

/** Creates the database named in `url` when it does not exist yet (connecting to `postgres`). */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ""));
  if (!name) return false;
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount) return false;
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    return true;
  } catch (err) {
    // Two processes starting at once: the loser sees duplicate_database, which is fine.
    const code = (err as { code?: string }).code;
    if (code === "42P04" || code === "23505") return false;
    throw err;
  } finally {
    await client.end();
  }
}
