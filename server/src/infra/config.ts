import path from "node:path";
import { z } from "zod";

/** Repository root, found from this file's place in both the sources and the build. */
export const REPO_ROOT = findRepoRoot(import.meta.dirname);

function findRepoRoot(dir: string): string {
  // src/infra → ../../..  |  dist/server/src/infra → ../../../../..
  return dir.includes(`${path.sep}dist${path.sep}`)
    ? path.resolve(dir, "../../../../..")
    : path.resolve(dir, "../../..");
}

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");

/**
 * Every environment variable the server reads. The README's configuration table and `.env.example`
 * list the same names; a test keeps the three in agreement.
 */
export const configSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  ROLE: z.enum(["all", "api", "worker"]).default("all"),
  HOST: z.string().min(1).default("0.0.0.0"),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL")
    .default("postgres://postgres:novart@127.0.0.1:5432/novart"),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  /** Streaming replicas that serve the list queries (empty: every query goes to DATABASE_URL). */
  DATABASE_REPLICA_URLS: z
    .string()
    .default("")
    .transform((list) =>
      list
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^postgres(ql)?:\/\//, "each must be a postgres:// URL"))),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL")
    .default("redis://127.0.0.1:6379"),
  REDIS_SENTINELS: z
    .string()
    .regex(/^\s*[^,\s]+:\d+(\s*,\s*[^,\s]+:\d+)*\s*$/, "must be host:port,host:port")
    .optional(),
  REDIS_SENTINEL_NAME: z.string().min(1).default("mymaster"),
  REDIS_CLUSTER_NODES: z
    .string()
    .regex(/^\s*[^,\s]+:\d+(\s*,\s*[^,\s]+:\d+)*\s*$/, "must be host:port,host:port")
    .optional(),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.', '-' only")
    .default("novart"),
  PUBLIC_URL: z
    .url()
    .transform((u) => u.replace(/\/+$/, ""))
    .default("http://localhost:4000"),
  TRUST_PROXY: bool.default(false),
  CORS_ORIGINS: z
    .string()
    .default("")
    .transform((list) =>
      list
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.url().regex(/^https?:\/\/[^/]+$/, "each origin is scheme://host[:port], no path"))),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, "must be an smtp:// or smtps:// URL")
    .optional(),
  MAIL_FROM: z.string().min(3).default("Novart Studio <no-reply@localhost>"),
  RECHARGE_STORES: z
    .string()
    .regex(
      /^\s*[a-z0-9][a-z0-9_.-]{0,63}=whsec_[A-Za-z0-9+/=]+\s*(,\s*[a-z0-9][a-z0-9_.-]{0,63}=whsec_[A-Za-z0-9+/=]+\s*)*$/,
      "must be store=whsec_… pairs separated by commas",
    )
    .optional(),
  REFERRAL_REWARD_CREDITS: z.coerce.number().int().min(0).max(1_000_000).default(50),
  REFERRAL_WELCOME_CREDITS: z.coerce.number().int().min(0).max(1_000_000).default(20),
  REFERRAL_MONTHLY_CAP: z.coerce.number().int().min(0).max(100_000).default(20),
  WELCOME_BONUS_CREDITS: z.coerce.number().int().min(0).max(1_000_000).default(100),
  SESSION_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  ADMIN_EMAIL: z.email().optional(),
  ADMIN_PASSWORD: z.string().min(8).max(128).optional(),
  DATA_DIR: z.string().min(1).default(path.join(REPO_ROOT, "data")),
  STORAGE_DRIVER: z.enum(["local", "s3"]).default("local"),
  S3_BUCKET: z.string().min(1).optional(),
  S3_REGION: z.string().min(1).default("us-east-1"),
  S3_ENDPOINT: z.url().optional(),
  S3_FORCE_PATH_STYLE: bool.default(false),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9._-]+\/)*$/, "must be empty or end with /")
    .default(""),
  ASSET_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  ASSET_EXPIRY_WARNING_DAYS: z.coerce.number().int().min(0).max(60).default(3),
  RETENTION_INTERVAL_MS: z.coerce.number().int().min(100).max(86_400_000).default(3_600_000),
  FILES_SECRET: z.string().min(32, "must have at least 32 characters").optional(),
  FILE_URL_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(10)
    .max(7 * 86_400)
    .default(900),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(200).default(4),
  TASK_RUNNING_LIMIT: z.coerce.number().int().min(1).max(100).default(2),
  TASK_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
  TASK_BACKOFF_MS: z.coerce.number().int().min(10).max(600_000).default(2000),
  TASK_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(300_000),
  LOCAL_PROVIDER_STEP_MS: z.coerce.number().int().min(0).max(10_000).default(60),
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(15_000),
  WORKER_STALLED_INTERVAL_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  OPENAI_CHANNELS: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "must be JSON" });
        return z.NEVER;
      }
    })
    .pipe(
      z.array(
        z.object({
          id: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/),
          baseUrl: z.url(),
          apiKey: z.string().default(""),
          model: z.string().min(1).optional(),
          priority: z.number().int().default(0),
          weight: z.number().positive().default(1),
          timeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000),
          allowPrivateImageUrls: z.boolean().default(false),
        }),
      ),
    )
    .optional(),
  WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  WEBHOOK_RETRY_SCHEDULE_MS: z
    .string()
    .regex(/^\d+(,\d+)*$/, "must be comma-separated milliseconds")
    .default("0,5000,300000,1800000,7200000,18000000,36000000,36000000")
    .transform((s) => s.split(",").map(Number)),
  WEBHOOK_DISABLE_AFTER_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(5 * 86_400_000),
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(500).default(20),
  WEBHOOK_ASSET_URL_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(7 * 86_400)
    .default(86_400),
  MODERATION_ESCALATION_BLOCKS: z.coerce.number().int().min(0).max(1000).default(5),
  MODERATION_ESCALATION_WINDOW_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 365)
    .default(24),
  MODERATION_ESCALATION_RESTRICT_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 365)
    .default(24),
  MODERATION_API_URL: z.url({ protocol: /^https?$/ }).optional(),
  MODERATION_API_KEY: z.string().optional(),
  MODERATION_API_MODEL: z.string().min(1).default("omni-moderation-latest"),
  MODERATION_API_ACTION: z.enum(["BLOCK", "REVIEW"]).default("BLOCK"),
  MODERATION_API_IMAGES: bool.default(false),
  MODERATION_API_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  RATE_LIMIT_ANONYMOUS_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(120),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  STUDIO_DIR: z.string().default(path.join(REPO_ROOT, "client", "build")),
  /** The studio's trusted documents (codegen's manifest); empty to trust none. */
  PERSISTED_DOCUMENTS_FILE: z
    .string()
    .default(path.join(REPO_ROOT, "client", "src", "lib", "graphql", "generated", "persisted-documents.json")),
  GRAPHQL_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(10_000_000).default(100_000),
  HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(8000),
  MIGRATE_ON_START: bool.default(true),
});

export type Config = z.infer<typeof configSchema>;

/** Cross-field rules zod's object shape cannot say. */
function crossCheck(config: Config): string[] {
  return config.STORAGE_DRIVER === "s3" && !config.S3_BUCKET ? ["S3_BUCKET: required when STORAGE_DRIVER=s3"] : [];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Reads and validates the configuration; empty strings count as unset. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== "") input[key] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  }
  const problems = crossCheck(parsed.data);
  if (problems.length) throw new ConfigError(problems);
  return parsed.data;
}
