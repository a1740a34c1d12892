import type { Worker } from "bullmq";
import type { DataSource } from "typeorm";
import { createApiServer, type ApiServer } from "./api.js";
import { ipLimitKey } from "./infra/client-ip.js";
import type { Config } from "./infra/config.js";
import type { Context, ContextSource } from "./infra/context.js";
import { createDataSource } from "./infra/db.js";
import { RedisWriteMarks, useReadReplicas } from "./infra/read-replica.js";
import type { Logger } from "./infra/logger.js";
import { PubSubBus } from "./infra/pubsub.js";
import { createQueues, type QueueName } from "./infra/queue.js";
import { createRedis, redisTarget, type RedisClient } from "./infra/redis.js";
import type { Queue } from "bullmq";
import { MailService } from "./infra/mail.js";
import { RateLimitedError, RateLimits } from "./infra/rate-limit.js";
import { ACCOUNT_LIMITS, AccountService } from "./modules/accounts/account.service.js";
import { AccountsResolver } from "./modules/accounts/accounts.resolver.js";
import { ApiKeysResolver } from "./modules/accounts/api-keys.resolver.js";
import { ApiKeyService } from "./modules/accounts/api-key.service.js";
import { AuthService } from "./modules/accounts/auth.service.js";
import { MessageService } from "./modules/accounts/message.service.js";
import { SessionService } from "./modules/accounts/session.service.js";
import { TermsService } from "./modules/accounts/terms.service.js";
import { CreditsResolver } from "./modules/credits/credits.resolver.js";
import { CreditsService } from "./modules/credits/credits.service.js";
import { LedgerService } from "./modules/credits/ledger.service.js";
import { createRechargeRouter, parseStores } from "./modules/credits/recharge.routes.js";
import { RedemptionResolver } from "./modules/credits/redemption.resolver.js";
import { ReferralResolver } from "./modules/credits/referral.resolver.js";
import { ReferralService } from "./modules/credits/referral.service.js";
import { REDEMPTION_LIMITS, RedemptionService } from "./modules/credits/redemption.service.js";
import { randomBytes } from "node:crypto";
import { AssetService } from "./modules/assets/asset.service.js";
import { AssetsResolver } from "./modules/assets/assets.resolver.js";
import { createZipRouter } from "./modules/assets/zip.routes.js";
import { S3Storage } from "./modules/assets/storage/s3.storage.js";
import type { Storage } from "./modules/assets/storage/storage.js";
import { createFileRouter } from "./modules/assets/file.routes.js";
import { AssetUrls, FileUrlSigner } from "./modules/assets/file-urls.js";
import { LocalStorage } from "./modules/assets/storage/local.storage.js";
import { ProviderRegistry } from "./modules/generation/provider-registry.js";
import { ProviderStatsBoard, ProviderStatsResolver } from "./modules/generation/provider-stats.js";
import { scheduleGenerationJobs } from "./modules/generation/generation.schedules.js";
import { TaskResolver } from "./modules/generation/task.resolver.js";
import { TaskRunner } from "./modules/generation/task.runner.js";
import { TaskService } from "./modules/generation/task.service.js";
import { createUploadRouter } from "./modules/generation/upload.routes.js";
import { UploadService } from "./modules/generation/upload.service.js";
import { ModelCatalogResolver } from "./modules/generation/model-catalog.resolver.js";
import { UsageService } from "./modules/webhooks/usage.service.js";
import { ModerationResolver } from "./modules/risk/moderation.resolver.js";
import { ModerationService } from "./modules/risk/moderation.service.js";
import { OpenAICompatibleModeration } from "./modules/risk/moderation-provider.js";
import type { ModerationAction } from "./modules/risk/moderation.entities.js";
import { AuditResolver, AuditService } from "./modules/risk/audit.js";
import { RestrictionResolver } from "./modules/risk/restriction.resolver.js";
import { RestrictionService } from "./modules/risk/restriction.service.js";
import { RestrictionScope } from "./modules/risk/restriction.entity.js";
import { LimitsService } from "./modules/risk/limits.service.js";
import { LimitsResolver } from "./modules/risk/limits.resolver.js";
import { AdminAccountsResolver } from "./modules/risk/admin-accounts.resolver.js";
import { AdminAccountService } from "./modules/risk/admin-accounts.service.js";
import { RegistrationResolver } from "./modules/accounts/registration.resolver.js";
import { RegistrationPolicyService } from "./modules/accounts/registration-policy.service.js";
import { WebhookSender } from "./modules/webhooks/webhook.sender.js";
import { WebhookService } from "./modules/webhooks/webhook.service.js";
import { WebhooksResolver } from "./modules/webhooks/webhooks.resolver.js";
import { createLoaders } from "./loaders.js";
import { ModelCatalogService } from "./modules/generation/model-catalog.service.js";
import { scheduleSystemJobs } from "./modules/system/system.jobs.js";
import { SystemResolver } from "./modules/system/system.resolver.js";
import { SystemService } from "./modules/system/system.service.js";
import { createRoutes } from "./routes.js";
import { storageImageOrigins } from "./infra/security-headers.js";
import { buildAppSchema, type ResolverInstances } from "./schema.js";
import { loadTrustedDocuments } from "./infra/graphql/fast-path.js";
import { createWorkers } from "./worker.js";

export interface Services {
  system: SystemService;
  catalog: ModelCatalogService;
  mail: MailService;
  sessions: SessionService;
  apiKeys: ApiKeyService;
  auth: AuthService;
  messages: MessageService;
  terms: TermsService;
  accounts: AccountService;
  ledger: LedgerService;
  credits: CreditsService;
  redemptions: RedemptionService;
  referrals: ReferralService;
  assets: AssetService;
  fileUrls: FileUrlSigner;
  assetUrls: AssetUrls;
  uploads: UploadService;
  tasks: TaskService;
  runner: TaskRunner;
  providers: ProviderRegistry;
  providerStats: ProviderStatsBoard;
  webhooks: WebhookService;
  usage: UsageService;
  moderation: ModerationService;
  audit: AuditService;
  restrictions: RestrictionService;
  limits: LimitsService;
  adminAccounts: AdminAccountService;
  registration: RegistrationPolicyService;
}

export interface Infrastructure {
  db: DataSource;
  redis: RedisClient;
  pubsub: PubSubBus;
  logger: Logger;
  queues: Record<QueueName, Queue>;
}

/** Constructs every service of the platform: the one place where wiring happens. */
export function createServices({ db, redis, pubsub, logger, queues }: Infrastructure, config: Config): Services {
  const mail = new MailService(config.SMTP_URL, config.MAIL_FROM, logger);
  const sessions = new SessionService(db, pubsub, config.SESSION_TTL_DAYS);
  const apiKeys = new ApiKeyService(db, sessions);
  const messages = new MessageService(db, pubsub);
  const terms = new TermsService(db);
  const limits = new RateLimits(redis, config.REDIS_PREFIX, ACCOUNT_LIMITS);
  const restrictions = new RestrictionService(db, sessions, apiKeys, messages);
  const tierLimits = new LimitsService(db, redis, config.REDIS_PREFIX, messages);
  const registration = new RegistrationPolicyService(db);
  const ledger = new LedgerService(db);
  const credits = new CreditsService(db, ledger, messages, config.WELCOME_BONUS_CREDITS);
  const referrals = new ReferralService(db, ledger, messages, {
    rewardCredits: config.REFERRAL_REWARD_CREDITS,
    welcomeCredits: config.REFERRAL_WELCOME_CREDITS,
    monthlyCap: config.REFERRAL_MONTHLY_CAP,
  });
  const catalog = new ModelCatalogService(db);
  const storage: Storage =
    config.STORAGE_DRIVER === "s3"
      ? new S3Storage({
          bucket: config.S3_BUCKET!,
          region: config.S3_REGION,
          endpoint: config.S3_ENDPOINT,
          forcePathStyle: config.S3_FORCE_PATH_STYLE,
          accessKeyId: config.S3_ACCESS_KEY_ID,
          secretAccessKey: config.S3_SECRET_ACCESS_KEY,
          prefix: config.S3_PREFIX,
        })
      : new LocalStorage(config.DATA_DIR);
  const assets = new AssetService(db, storage, messages, logger, {
    days: config.ASSET_RETENTION_DAYS,
    warningDays: config.ASSET_EXPIRY_WARNING_DAYS,
  });
  const fileUrls = new FileUrlSigner(config.FILES_SECRET ?? randomBytes(32).toString("hex"));
  if (!config.FILES_SECRET && config.ROLE !== "worker") {
    logger.warn("FILES_SECRET is not set: file links are signed with a random key of this process only");
  }
  const assetUrls = new AssetUrls(fileUrls, storage, config.FILE_URL_TTL_SECONDS);
  const moderation = new ModerationService(db, logger, {
    classifier: config.MODERATION_API_URL
      ? new OpenAICompatibleModeration({
          url: config.MODERATION_API_URL,
          apiKey: config.MODERATION_API_KEY,
          model: config.MODERATION_API_MODEL,
          timeoutMs: config.MODERATION_API_TIMEOUT_MS,
        })
      : undefined,
    classifierAction: config.MODERATION_API_ACTION as ModerationAction,
    classifyImages: config.MODERATION_API_IMAGES,
    escalation: {
      blocks: config.MODERATION_ESCALATION_BLOCKS,
      windowHours: config.MODERATION_ESCALATION_WINDOW_HOURS,
      restrictHours: config.MODERATION_ESCALATION_RESTRICT_HOURS,
    },
    restrictTasks: async (accountId, minutes, reason) => {
      const active = await restrictions.active(accountId);
      if (active.some((r) => r.scopes.includes(RestrictionScope.TASKS) || r.scopes.includes(RestrictionScope.ALL)))
        return;
      await restrictions.restrict(null, {
        accountId,
        scopes: [RestrictionScope.TASKS],
        durationMinutes: minutes,
        reason,
        revokeApiKeys: false,
      });
    },
  });
  const webhooks = new WebhookService(
    db,
    queues.webhooks,
    new WebhookSender(config.WEBHOOK_TIMEOUT_MS, config.WEBHOOK_ALLOW_PRIVATE),
    assets,
    assetUrls,
    messages,
    logger,
    {
      publicUrl: config.PUBLIC_URL,
      scheduleMs: config.WEBHOOK_RETRY_SCHEDULE_MS,
      disableAfterMs: config.WEBHOOK_DISABLE_AFTER_MS,
      assetUrlTtlSeconds: config.WEBHOOK_ASSET_URL_TTL_SECONDS,
    },
    pubsub,
  );
  const tasks = new TaskService(
    db,
    queues.generation,
    pubsub,
    catalog,
    ledger,
    messages,
    logger,
    { runningLimit: config.TASK_RUNNING_LIMIT, attempts: config.TASK_ATTEMPTS, backoffMs: config.TASK_BACKOFF_MS },
    (input) => moderation.checkPrompt(input),
    // Generation must not depend on webhooks: webhooks hear task events through this hook.
    {
      admit: (accountId, task, manager, lock) => tierLimits.admitTask(accountId, task, manager, lock),
      onEvent: [(task, type) => webhooks.taskEvent(task, type)],
    },
  );
  const providers = new ProviderRegistry({
    localStepDelayMs: config.LOCAL_PROVIDER_STEP_MS,
    upstream: config.OPENAI_CHANNELS ?? [],
  });
  const services: Services = {
    system: new SystemService(pubsub, config.HEARTBEAT_INTERVAL_MS),
    catalog,
    assets,
    fileUrls,
    assetUrls,
    webhooks,
    usage: new UsageService(db),
    moderation,
    audit: new AuditService(db),
    restrictions,
    limits: tierLimits,
    registration,
    adminAccounts: new AdminAccountService(db, messages),
    uploads: new UploadService(db, storage, logger, (accountId, png) =>
      moderation.checkImage(accountId, png, "image/png"),
    ),
    tasks,
    runner: new TaskRunner(db, tasks, providers, assets, pubsub, logger, {
      timeoutMs: config.TASK_TIMEOUT_MS,
      maxStarts: config.TASK_ATTEMPTS + 2,
    }),
    providers,
    providerStats: new ProviderStatsBoard(redis, config.REDIS_PREFIX),
    mail,
    sessions,
    apiKeys,
    auth: new AuthService(sessions, apiKeys, async (accountId) => restrictions.active(accountId)),
    messages,
    terms,
    accounts: new AccountService(db, logger, mail, limits, sessions, apiKeys, messages, terms, config.PUBLIC_URL, {
      // Accounts must not depend on credits: credits joins the verification transaction through this hook.
      beforeSignIn: (accountId) => restrictions.assertAllowed(accountId, RestrictionScope.SIGN_IN),
      registration,
      // Resolved lazily: tasks and assets are built below, and deletion happens long after wiring.
      onAccountDeleted: [
        (accountId) =>
          services.tasks.eraseAccount(accountId, { delete: (key) => services.assets.fileDeletions.delete([key]) }),
        (accountId) => services.assets.deleteAllOf(accountId),
      ],
      onEmailVerified: [
        (accountId, manager) => credits.grantWelcomeBonus(accountId, manager),
        (accountId, manager) => referrals.rewardVerifiedReferral(accountId, manager),
      ],
    }),
    ledger,
    credits,
    referrals,
    redemptions: new RedemptionService(
      db,
      ledger,
      messages,
      new RateLimits(redis, config.REDIS_PREFIX, REDEMPTION_LIMITS),
    ),
  };
  return services;
}

export function createResolvers(
  services: Services,
  config: Pick<Config, "SESSION_TTL_DAYS" | "PUBLIC_URL" | "FILE_URL_TTL_SECONDS">,
): ResolverInstances {
  return new Map<Function, object>([
    [SystemResolver, new SystemResolver(services.system)],
    [ModelCatalogResolver, new ModelCatalogResolver(services.catalog)],
    [
      AccountsResolver,
      new AccountsResolver(
        services.accounts,
        services.sessions,
        services.messages,
        services.terms,
        config.SESSION_TTL_DAYS,
      ),
    ],
    [ApiKeysResolver, new ApiKeysResolver(services.apiKeys)],
    [CreditsResolver, new CreditsResolver(services.ledger, services.credits)],
    [RedemptionResolver, new RedemptionResolver(services.redemptions)],
    [ReferralResolver, new ReferralResolver(services.referrals, config.PUBLIC_URL)],
    [TaskResolver, new TaskResolver(services.tasks)],
    [AssetsResolver, new AssetsResolver(services.assets, services.assetUrls)],
    [ProviderStatsResolver, new ProviderStatsResolver(services.providerStats)],
    [WebhooksResolver, new WebhooksResolver(services.webhooks, services.usage)],
    [ModerationResolver, new ModerationResolver(services.moderation, services.tasks)],
    [AuditResolver, new AuditResolver(services.audit)],
    [RestrictionResolver, new RestrictionResolver(services.restrictions, services.tasks)],
    [LimitsResolver, new LimitsResolver(services.limits)],
    [
      AdminAccountsResolver,
      new AdminAccountsResolver(
        services.adminAccounts,
        services.limits,
        services.apiKeys,
        services.restrictions,
        services.tasks,
        services.terms,
        services.accounts,
      ),
    ],
    [RegistrationResolver, new RegistrationResolver(services.registration)],
  ]);
}

export interface App {
  config: Config;
  logger: Logger;
  db: DataSource;
  redis: RedisClient;
  pubsub: PubSubBus;
  queues: Record<QueueName, Queue>;
  services: Services;
  api?: ApiServer;
  /** The URL the API listens on, once started with an API role. */
  url?: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Opens the connections and builds the services; `start()` then runs the roles named by ROLE. */
export async function createApp(config: Config, logger: Logger): Promise<App> {
  const db = await createDataSource(config.DATABASE_URL, config.DATABASE_POOL_SIZE, config.DATABASE_REPLICA_URLS);
  await db.initialize();

  const redisErrors = (name: string) => (err: Error) =>
    logger.warn({ err: err.message, connection: name }, "redis error");
  const target = redisTarget(config);
  // Commands of concurrent requests (each request's budget, above all) go out in one write per tick.
  const redis = createRedis(target, { enableAutoPipelining: true }).on("error", redisErrors("command"));
  // List queries on the replicas of DATABASE_REPLICA_URLS, if any; accounts' fresh writes are marked in Redis.
  useReadReplicas(db, new RedisWriteMarks(redis, config.REDIS_PREFIX), logger);
  // Not auto-pipelined: an event goes out at once, so a task's QUEUED event reaches Redis before its job does
  // (auto-pipelining holds a PUBLISH for a tick, and behind a batch still in flight, while the job goes ahead).
  const publishClient = createRedis(target).on("error", redisErrors("publish"));
  // In subscriber mode Redis refuses INFO, which ioredis's ready check sends on reconnect.
  const subscribeClient = createRedis(target, { enableReadyCheck: false }).on("error", redisErrors("subscribe"));
  const bullConnection = createRedis(target, { maxRetriesPerRequest: null }).on("error", redisErrors("queue"));

  const pubsub = new PubSubBus(publishClient, subscribeClient, config.REDIS_PREFIX);
  const queues = createQueues(bullConnection, config.REDIS_PREFIX);
  for (const queue of Object.values(queues)) queue.on("error", redisErrors(`queue ${queue.name}`));
  const services = createServices({ db, redis, pubsub, logger, queues }, config);

  const runsApi = config.ROLE === "all" || config.ROLE === "api";
  const runsWorker = config.ROLE === "all" || config.ROLE === "worker";
  let workers: Worker[] = [];
  let apiHeartbeat: NodeJS.Timeout | undefined;

  const app: App = {
    config,
    logger,
    db,
    redis,
    pubsub,
    queues,
    services,
    async start() {
      if (runsWorker) {
        workers = createWorkers({
          connection: bullConnection,
          prefix: config.REDIS_PREFIX,
          logger,
          services,
          concurrency: config.WORKER_CONCURRENCY,
          stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
          webhookConcurrency: config.WEBHOOK_CONCURRENCY,
        });
        services.runner.start();
        services.providerStats.startPublishing(services.providers);
        const schedule = async () => {
          await scheduleSystemJobs(queues.system, config.HEARTBEAT_INTERVAL_MS);
          await scheduleGenerationJobs(queues.generation, config.RECONCILE_INTERVAL_MS, config.RETENTION_INTERVAL_MS);
        };
        await schedule();
        // The schedules live in Redis: one that restarts empty (no persistence) would take the reconciler with
        // it, and lost tasks would wait forever. Upserted again on every reconnection (a no-op when they survived).
        bullConnection.on("ready", () => {
          schedule().catch((err: unknown) =>
            logger.warn({ err: (err as Error).message }, "job schedules not restored"),
          );
        });
      }
      if (runsApi) {
        const schema = await buildAppSchema(createResolvers(services, config), pubsub.pubSub as never);
        const anonymousLimits = new RateLimits(redis, config.REDIS_PREFIX, {
          anonymous: { points: config.RATE_LIMIT_ANONYMOUS_PER_MINUTE, windowSeconds: 60 },
        });
        const createContext = async (source: ContextSource): Promise<Context> => {
          const viewer = source.viewer !== undefined ? source.viewer : await services.auth.authenticate(source.headers);
          if (!source.live) {
            // The request budget, per account by its tier (or per IP when anonymous), shared by every API process
            // and every transport (queries and mutations over graphql-ws spend it too). A refusal (429) carries
            // the headers as well: nothing remaining, the budget back after Retry-After.
            let budget: { limit: number; remaining: number; resetSeconds: number };
            try {
              budget = viewer
                ? await services.limits.takeRequest(viewer.accountId)
                : await anonymousLimits.take("anonymous", ipLimitKey(source.ip));
            } catch (err) {
              if (!(err instanceof RateLimitedError) || !source.setHeader) throw err;
              const limit = viewer
                ? (await services.limits.effective(viewer.accountId)).values.requestsPerMinute
                : config.RATE_LIMIT_ANONYMOUS_PER_MINUTE;
              source.setHeader("ratelimit-limit", String(limit));
              source.setHeader("ratelimit-remaining", "0");
              source.setHeader("ratelimit-reset", String(err.details.retryAfter));
              throw err;
            }
            source.setHeader?.("ratelimit-limit", String(budget.limit));
            source.setHeader?.("ratelimit-remaining", String(budget.remaining));
            source.setHeader?.("ratelimit-reset", String(budget.resetSeconds));
          }
          return buildContext(source, viewer);
        };
        const buildContext = (source: ContextSource, viewer: Context["viewer"]): Context => ({
          requestId: source.requestId,
          logger: logger.child({ reqId: source.requestId }),
          pubsub,
          viewer,
          ip: source.ip,
          userAgent: String(source.headers["user-agent"] ?? "").slice(0, 512),
          secure: source.secure,
          setCookie: source.setCookie ?? (() => undefined),
          services,
          loaders: createLoaders(services, { cache: !source.live }),
        });
        const routes = createRoutes({
          logger,
          studioDir: config.STUDIO_DIR,
          // With S3 the studio shows images from the store's presigned URLs: the page CSP must allow them.
          imageOrigins: storageImageOrigins(config),
          readiness: [
            { name: "postgres", check: async () => void (await db.query("SELECT 1")) },
            { name: "redis", check: async () => void (await redis.ping()) },
          ],
          rootRouters: [createFileRouter({ assets: services.assets, signer: services.fileUrls, logger })],
          apiRouters: [
            createUploadRouter({
              auth: services.auth,
              uploads: services.uploads,
              admit: (accountId, manager) => services.limits.admitUpload(accountId, manager),
            }),
            createZipRouter({
              auth: services.auth,
              assets: services.assets,
              logger,
              redis,
              redisPrefix: config.REDIS_PREFIX,
            }),
            createRechargeRouter({
              db,
              ledger: services.ledger,
              messages: services.messages,
              logger,
              stores: parseStores(config.RECHARGE_STORES),
            }),
          ],
        });
        app.api = await createApiServer({
          schema,
          logger,
          createContext,
          routes,
          bodyLimit: config.GRAPHQL_BODY_LIMIT_BYTES,
          trustProxy: config.TRUST_PROXY,
          publicUrl: config.PUBLIC_URL,
          corsOrigins: config.CORS_ORIGINS,
          authenticate: (headers) => services.auth.authenticate(headers),
          pubsub,
          trustedDocuments: loadTrustedDocuments(config.PERSISTED_DOCUMENTS_FILE, logger),
        });
        const address = await app.api.listen(config.PORT, config.HOST);
        const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
        app.url = `http://${host === "0.0.0.0" || host === "[::]" ? "localhost" : host}:${address.port}`;
        apiHeartbeat = setInterval(() => services.system.publishHeartbeat("API"), config.HEARTBEAT_INTERVAL_MS);
        apiHeartbeat.unref();
      }
    },
    async stop() {
      clearInterval(apiHeartbeat);
      const timeout = config.SHUTDOWN_TIMEOUT_MS;
      // Stop taking work first (HTTP, sockets, new jobs), then let active jobs finish, then close pools.
      // A worker pauses (no new job; waits for its active ones) for at most `timeout`, then closes without
      // waiting: a job still running is given up, and another worker takes it over once its lock expires.
      // (`close()` then `close(true)` would not do: BullMQ's second close returns the first, still waiting.)
      await Promise.all([
        app.api?.close(timeout).then(() => logger.debug("api closed")),
        ...workers.map(async (w) => {
          await withDeadline(w.pause(), timeout, async () => {
            logger.warn({ queue: w.name }, "jobs still running at the shutdown deadline: giving them back");
          });
          await w.close(true);
          logger.debug(`worker ${w.name} closed`);
        }),
      ]);
      await services.runner.stop();
      services.providerStats.stop();
      await Promise.all(Object.values(queues).map((q) => q.close()));
      logger.debug("queues closed");
      for (const client of [redis, publishClient, subscribeClient, bullConnection]) client.disconnect();
      services.mail.close();
      await db.destroy();
    },
  };
  return app;
}

async function withDeadline(work: Promise<void>, ms: number, onLate: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), ms)));
  const outcome = await Promise.race([work.then(() => "done" as const), late]);
  clearTimeout(timer);
  if (outcome === "late") await onLate();
}
