import { parseInput } from "../../infra/validation.js";
import { randomBytes, randomUUID } from "node:crypto";
import type { Job, Queue } from "bullmq";
import { Webhook } from "standardwebhooks";
import type { DataSource } from "typeorm";
import { z } from "zod";
import { AppError, BadUserInputError, NotFoundError } from "../../infra/errors.js";
import type { Logger } from "../../infra/logger.js";
import type { PubSubBus } from "../../infra/pubsub.js";
import { pastCursorSql, CURSOR_PARAMS, decodeCursor, pageSize } from "../../infra/pagination.js";
import { readList, wroteFor } from "../../infra/read-replica.js";
import type { MessageService } from "../accounts/message.service.js";
import type { AssetService } from "../assets/asset.service.js";
import type { AssetUrls } from "../assets/file-urls.js";
import { toAsset } from "../assets/assets.types.js";
import { GenerationModelEntity } from "../generation/generation-model.entity.js";
import { toTask } from "../generation/generation.types.js";
import type { TaskEntity } from "../generation/task.entity.js";
import { WebhookEndpointCache, type EnabledEndpoint } from "./webhook-endpoint-cache.js";
import type { WebhookSender } from "./webhook.sender.js";
import {
  DeliveryStatus,
  DeliveryTarget,
  TaskWebhookSecretEntity,
  WebhookAttemptEntity,
  WebhookDeliveryEntity,
  WebhookEndpointEntity,
} from "./webhook.entities.js";

export const WEBHOOK_EVENTS = ["task.running", "task.succeeded", "task.failed", "task.canceled"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
export const WEBHOOK_DELIVER_JOB = "webhooks.deliver";

const MAX_ENDPOINTS = 20;
const ROTATION_OVERLAP_MS = 24 * 3_600_000;

const urlSchema = z
  .url({ protocol: /^https?$/, message: "The URL must be an http(s) URL." })
  .max(2000)
  // zod runs refinements after a failed format check too: a string that is no URL must not reach `new URL`.
  .refine(
    (u) => !URL.canParse(u) || (!new URL(u).username && !new URL(u).password),
    "The URL must not contain credentials.",
  );

const endpointSchema = z.object({
  url: urlSchema,
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1, "Choose at least one event."),
  description: z.string().trim().max(200),
});

export interface WebhookSettings {
  publicUrl: string;
  /** Delays before each attempt; the first is normally 0. */
  scheduleMs: number[];
  disableAfterMs: number;
  assetUrlTtlSeconds: number;
}

/** Redelivery of a delivery whose endpoint was deleted (its URL is no receiver of this account any more). */
export class WebhookEndpointDeletedError extends AppError {
  constructor() {
    super("WEBHOOK_ENDPOINT_DELETED", "The endpoint of this delivery was deleted: it cannot be sent again.");
  }
}

const newSecret = () => `whsec_${randomBytes(24).toString("base64")}`;

/** Signed webhooks (Standard Webhooks): endpoints, per-task URLs, deliveries with retries, and their log. */
export class WebhookService {
  constructor(
    private readonly db: DataSource,
    private readonly queue: Queue,
    private readonly sender: WebhookSender,
    private readonly assets: AssetService,
    private readonly assetUrls: AssetUrls,
    private readonly messages: MessageService,
    private readonly logger: Logger,
    private readonly settings: WebhookSettings,
    /** Carries endpoint changes to every process's endpoint cache. */
    pubsub: PubSubBus,
  ) {
    this.endpointCache = new WebhookEndpointCache(pubsub);
  }

  private readonly endpointCache: WebhookEndpointCache;

  private get endpoints() {
    return this.db.getRepository(WebhookEndpointEntity);
  }

  async createEndpoint(accountId: string, input: { url: string; events: string[]; description?: string | null }) {
    const data = parseInput(endpointSchema, { ...input, description: input.description ?? "" });
    const count = await this.endpoints.countBy({ accountId });
    if (count >= MAX_ENDPOINTS) throw new BadUserInputError(`At most ${MAX_ENDPOINTS} endpoints per account.`);
    const secret = newSecret();
    const endpoint = await this.endpoints.save(
      this.endpoints.create({ accountId, ...data, events: [...new Set(data.events)], secret, enabled: true }),
    );
    this.endpointCache.changed(accountId);
    return { endpoint, secret };
  }

  list(accountId: string) {
    return this.endpoints.find({ where: { accountId }, order: { createdAt: "DESC" } });
  }

  private async owned(accountId: string, id: string): Promise<WebhookEndpointEntity> {
    const endpoint = /^[0-9a-f-]{36}$/i.test(id) ? await this.endpoints.findOneBy({ id, accountId }) : null;
    if (!endpoint) throw new NotFoundError("Webhook endpoint");
    return endpoint;
  }

  async update(
    accountId: string,
    id: string,
    input: { url?: string | null; events?: string[] | null; description?: string | null; enabled?: boolean | null },
  ) {
    const endpoint = await this.owned(accountId, id);
    const data = parseInput(endpointSchema.partial(), {
      url: input.url ?? undefined,
      events: input.events ?? undefined,
      description: input.description ?? undefined,
    });
    // Only the fields that were given: zod's partial() keeps absent ones as undefined.
    Object.assign(endpoint, Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)));
    if (input.enabled != null) {
      endpoint.enabled = input.enabled;
      if (input.enabled) Object.assign(endpoint, { disabledReason: null, failingSince: null });
    }
    const saved = await this.endpoints.save(endpoint);
    this.endpointCache.changed(accountId);
    return saved;
  }

  /** Deletes an endpoint; its deliveries still waiting for a try end FAILED, in the same transaction. */
  async remove(accountId: string, id: string): Promise<void> {
    const endpoint = await this.owned(accountId, id);
    await this.db.transaction(async (manager) => {
      await manager.query(
        `UPDATE webhook_delivery SET status = 'FAILED', error = 'endpoint deleted'
          WHERE endpoint_id = $1 AND status = 'PENDING'`,
        [endpoint.id],
      );
      await manager.delete(WebhookEndpointEntity, { id: endpoint.id });
    });
    this.endpointCache.changed(accountId);
    await wroteFor(this.db, accountId);
  }

  /** A new secret; the old one keeps signing, beside it, for 24 h so receivers can switch over. */
  async rotateSecret(accountId: string, id: string) {
    const endpoint = await this.owned(accountId, id);
    const secret = newSecret();
    Object.assign(endpoint, {
      previousSecret: endpoint.secret,
      previousSecretExpiresAt: new Date(Date.now() + ROTATION_OVERLAP_MS),
      secret,
    });
    return { endpoint: await this.endpoints.save(endpoint), secret };
  }

  /** The secret that signs deliveries to tasks' own `webhookUrl`s. */
  async taskSecret(accountId: string): Promise<string> {
    const repo = this.db.getRepository(TaskWebhookSecretEntity);
    await this.db.query(`INSERT INTO task_webhook_secret (account_id, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
      accountId,
      newSecret(),
    ]);
    return (await repo.findOneByOrFail({ accountId })).secret;
  }

  async rotateTaskSecret(accountId: string): Promise<string> {
    const secret = newSecret();
    await this.db.query(
      `INSERT INTO task_webhook_secret (account_id, secret) VALUES ($1, $2)
       ON CONFLICT (account_id) DO UPDATE SET secret = EXCLUDED.secret`,
      [accountId, secret],
    );
    return secret;
  }

  /** Called after a task's state changed: one delivery per subscribed endpoint and for the task's own URL. */
  async taskEvent(task: TaskEntity, type: WebhookEvent): Promise<void> {
    const endpoints = (await this.enabledEndpoints(task.accountId)).filter((e) => e.events.includes(type));
    if (!endpoints.length && !task.webhookUrl) return;
    const payload = JSON.stringify({ type, timestamp: new Date().toISOString(), data: await this.taskData(task) });
    const targets = [
      ...endpoints.map((e) => ({
        endpointId: e.id,
        target: DeliveryTarget.ENDPOINT,
        url: e.url,
        key: `${type}:${task.id}:${e.id}`,
      })),
      ...(task.webhookUrl
        ? [
            {
              endpointId: null,
              target: DeliveryTarget.TASK_URL,
              url: task.webhookUrl,
              key: `${type}:${task.id}:task-url`,
            },
          ]
        : []),
    ];
    for (const target of targets) {
      const rows = (await this.db.query(
        `INSERT INTO webhook_delivery (account_id, endpoint_id, target, task_id, dedupe_key, url, event_type, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
        [task.accountId, target.endpointId, target.target, task.id, target.key, target.url, type, payload],
      )) as { id: string }[];
      if (rows[0]) await this.enqueue(rows[0].id);
    }
  }

  /** The account's enabled endpoints, from the process's cache (a task's events would read them each time). */
  private enabledEndpoints(accountId: string): Promise<EnabledEndpoint[]> {
    return this.endpointCache.get(accountId, () =>
      this.db.query(
        `SELECT id, url, events FROM webhook_endpoint WHERE account_id = $1 AND enabled ORDER BY created_at`,
        [accountId],
      ),
    );
  }

  /**
   * The task with the GraphQL `Task`'s field names and values (what `task(id)` answers for these fields),
   * except that `assets[].url` is the original's download link, signed for WEBHOOK_ASSET_URL_TTL_SECONDS.
   */
  private async taskData(task: TaskEntity): Promise<Record<string, unknown>> {
    const [assets, model] = await Promise.all([
      this.assets.byTask(task.id),
      this.db.getRepository(GenerationModelEntity).findOneBy({ id: task.modelId }),
    ]);
    // Not fields: the ids and version the field resolvers use.
    const { accountId: _account, modelId: _model, version: _version, ...fields } = toTask(task);
    return {
      ...fields,
      model: model ? { id: model.id, slug: model.slug, name: model.name } : null,
      // Events are sent once a task left the queue.
      queuePosition: null,
      assets: await Promise.all(
        assets.map(async (a) => {
          const { entity: _entity, ...asset } = toAsset(a);
          const url = await this.assetUrls.url(a, "ORIGINAL", true, this.settings.assetUrlTtlSeconds);
          return { ...asset, url: url.startsWith("/") ? this.settings.publicUrl + url : url };
        }),
      ),
    };
  }

  async sendTest(accountId: string, endpointId: string): Promise<WebhookDeliveryEntity> {
    const endpoint = await this.owned(accountId, endpointId);
    const payload = JSON.stringify({
      type: "webhook.test",
      timestamp: new Date().toISOString(),
      data: { endpointId: endpoint.id, message: "This is a test delivery from Novart Studio." },
    });
    const delivery = await this.db.getRepository(WebhookDeliveryEntity).save({
      accountId,
      endpointId: endpoint.id,
      taskId: null,
      target: DeliveryTarget.ENDPOINT,
      dedupeKey: `test:${randomUUID()}`,
      url: endpoint.url,
      eventType: "webhook.test",
      payload,
      status: DeliveryStatus.PENDING,
    });
    await wroteFor(this.db, accountId);
    await this.enqueue(delivery.id);
    return delivery;
  }

  /** Sends a delivery again from its first attempt (after a receiver was fixed). */
  async redeliver(accountId: string, deliveryId: string): Promise<WebhookDeliveryEntity> {
    const delivery = await this.delivery(accountId, deliveryId);
    if (!delivery) throw new NotFoundError("Webhook delivery");
    if (delivery.target === DeliveryTarget.ENDPOINT && !delivery.endpointId) throw new WebhookEndpointDeletedError();
    await this.db.query(`UPDATE webhook_delivery SET status = 'PENDING', error = NULL WHERE id = $1`, [delivery.id]);
    await wroteFor(this.db, accountId);
    await this.enqueue(delivery.id, `${delivery.id}-r${Date.now()}`); // BullMQ job ids may not contain ":"
    return { ...delivery, status: DeliveryStatus.PENDING, error: null } as WebhookDeliveryEntity;
  }

  private async enqueue(deliveryId: string, jobId = deliveryId): Promise<void> {
    await this.queue.add(
      WEBHOOK_DELIVER_JOB,
      { deliveryId },
      {
        jobId,
        attempts: this.settings.scheduleMs.length,
        backoff: { type: "webhook-schedule" },
        delay: this.settings.scheduleMs[0] ?? 0,
        removeOnComplete: true,
        removeOnFail: true,
      },
    );
  }

  /** The delay before attempt `attemptsMade + 1` (BullMQ's custom backoff). */
  backoff(attemptsMade: number): number {
    const schedule = this.settings.scheduleMs;
    return schedule[Math.min(attemptsMade, schedule.length - 1)] ?? 0;
  }

  /** One attempt (the job handler). Throws to let BullMQ retry on the schedule while attempts remain. */
  async attempt(job: Job<{ deliveryId: string }>): Promise<void> {
    const repo = this.db.getRepository(WebhookDeliveryEntity);
    const delivery = await repo.findOneBy({ id: job.data.deliveryId });
    if (!delivery || delivery.status !== DeliveryStatus.PENDING) return;
    // A delivery to an endpoint never falls back to the task's URL and secret: a deleted endpoint ends it.
    const toEndpoint = delivery.target === DeliveryTarget.ENDPOINT;
    const endpoint =
      toEndpoint && delivery.endpointId ? await this.endpoints.findOneBy({ id: delivery.endpointId }) : null;
    if (toEndpoint && (!endpoint || !endpoint.enabled)) {
      await this.finish(delivery.id, DeliveryStatus.FAILED, endpoint ? "endpoint disabled" : "endpoint deleted");
      return;
    }
    const secrets = endpoint
      ? [
          endpoint.secret,
          ...(endpoint.previousSecret && endpoint.previousSecretExpiresAt! > new Date()
            ? [endpoint.previousSecret]
            : []),
        ]
      : [await this.taskSecret(delivery.accountId)];
    const messageId = `msg_${delivery.id.replace(/-/g, "")}`;
    const now = new Date();
    const signature = secrets.map((s) => new Webhook(s).sign(messageId, now, delivery.payload)).join(" ");
    const result = await this.sender.send(delivery.url, delivery.payload, {
      "webhook-id": messageId,
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": signature,
    });
    await this.db.getRepository(WebhookAttemptEntity).insert({
      deliveryId: delivery.id,
      attemptedAt: now,
      statusCode: result.statusCode,
      latencyMs: result.latencyMs,
      responseSnippet: result.snippet,
      error: result.error,
    });
    await this.db.query(`UPDATE webhook_delivery SET attempts = attempts + 1, last_attempt_at = $2 WHERE id = $1`, [
      delivery.id,
      now,
    ]);
    if (!result.error) {
      await this.finish(delivery.id, DeliveryStatus.SUCCEEDED);
      if (endpoint?.failingSince) await this.endpoints.update({ id: endpoint.id }, { failingSince: null });
      return;
    }
    if (endpoint && !endpoint.failingSince) await this.endpoints.update({ id: endpoint.id }, { failingSince: now });
    if (job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw new Error(result.error);
    await this.finish(delivery.id, DeliveryStatus.FAILED);
    if (endpoint) await this.disableIfFailingTooLong(endpoint.id);
  }

  /** Ends a delivery still PENDING (one ended meanwhile, by deleting its endpoint, keeps its end). */
  private async finish(deliveryId: string, status: DeliveryStatus, error: string | null = null): Promise<void> {
    await this.db.query(`UPDATE webhook_delivery SET status = $2, error = $3 WHERE id = $1 AND status = 'PENDING'`, [
      deliveryId,
      status,
      error,
    ]);
  }

  private async disableIfFailingTooLong(endpointId: string): Promise<void> {
    const rows = (await this.db.query(
      `UPDATE webhook_endpoint SET enabled = false, disabled_reason = 'Deliveries kept failing', updated_at = now()
        WHERE id = $1 AND enabled AND failing_since IS NOT NULL AND failing_since <= now() - make_interval(secs => $2)
        RETURNING account_id, url`,
      [endpointId, this.settings.disableAfterMs / 1000],
    )) as [{ account_id: string; url: string }[], number];
    const disabled = rows[0][0];
    if (!disabled) return;
    this.endpointCache.changed(disabled.account_id);
    this.logger.info({ endpointId }, "disabled a webhook endpoint that kept failing");
    await this.messages.send(disabled.account_id, {
      kind: "webhook.disabled",
      title: "A webhook endpoint was disabled",
      body: `Deliveries to ${disabled.url} failed for days, so the endpoint was disabled. Fix the receiver, then enable it again in the Developer Center.`,
      link: "/developer",
    });
  }

  async delivery(accountId: string, id: string): Promise<WebhookDeliveryEntity | null> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
    return this.db.getRepository(WebhookDeliveryEntity).findOneBy({ id, accountId });
  }

  async deliveries(
    accountId: string,
    args: {
      endpointId?: string | null;
      taskId?: string | null;
      status?: DeliveryStatus | null;
      first?: number;
      after?: string | null;
    },
  ) {
    const limit = pageSize(args.first);
    const qb = this.db
      .getRepository(WebhookDeliveryEntity)
      .createQueryBuilder("d")
      .where("d.account_id = :accountId", { accountId })
      .orderBy("d.created_at", "DESC")
      .addOrderBy("d.id", "DESC")
      .take(limit + 1);
    if (args.endpointId) qb.andWhere("d.endpoint_id = :endpointId", { endpointId: args.endpointId });
    if (args.taskId) qb.andWhere("d.task_id = :taskId", { taskId: args.taskId });
    if (args.status) qb.andWhere("d.status = :status", { status: args.status });
    if (args.after) {
      qb.andWhere(
        pastCursorSql("d", "webhook_delivery", CURSOR_PARAMS, "account_id = :accountId"),
        decodeCursor(args.after),
      );
    }
    // A list: read from a replica when one is configured and has this account's latest write.
    const rows = await readList(this.db, accountId, (on) =>
      (on.runner ? qb.clone().setQueryRunner(on.runner) : qb).getMany(),
    );
    return { rows, limit };
  }

  attempts(deliveryIds: readonly string[]): Promise<WebhookAttemptEntity[]> {
    return this.db
      .getRepository(WebhookAttemptEntity)
      .createQueryBuilder("a")
      .where("a.delivery_id = ANY(:ids)", { ids: deliveryIds })
      .orderBy("a.attempted_at", "ASC")
      .getMany();
  }
}
