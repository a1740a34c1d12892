import { Worker, type ConnectionOptions, type Job } from "bullmq";
import type { Services } from "./app.js";
import type { Logger } from "./infra/logger.js";
import { bullPrefix, QUEUE_NAMES } from "./infra/queue.js";
import {
  ASSETS_RETENTION_JOB,
  GENERATION_MAINTENANCE_JOB,
  GENERATION_RECONCILE_JOB,
  GENERATION_RUN_JOB,
} from "./modules/generation/generation.jobs.js";
import { createSystemJobHandler } from "./modules/system/system.jobs.js";
import { WEBHOOK_DELIVER_JOB } from "./modules/webhooks/webhook.service.js";

export interface WorkerDeps {
  connection: ConnectionOptions;
  prefix: string;
  logger: Logger;
  services: Services;
  concurrency: number;
  stalledIntervalMs: number;
  webhookConcurrency: number;
}

const UPLOAD_RETENTION_MS = 24 * 3_600_000;

/** The BullMQ workers of every module, run by the worker role (`ROLE=worker` or `all`). */
export function createWorkers(deps: WorkerDeps): Worker[] {
  const { connection, prefix, logger, services } = deps;
  const generation = async (job: Job) => {
    switch (job.name) {
      case GENERATION_RUN_JOB:
        return services.runner.run(job as Job<{ taskId: string }>);
      case GENERATION_RECONCILE_JOB:
        await services.tasks.reconcile();
        return;
      case ASSETS_RETENTION_JOB:
        await services.assets.applyRetention();
        return;
      case GENERATION_MAINTENANCE_JOB:
        await services.restrictions.notifyEnded();
        await services.uploads.deleteUnused(UPLOAD_RETENTION_MS);
        await services.tasks.forgetOldIdempotencyKeys();
        return;
      default:
        throw new Error(`Unknown generation job ${job.name}`);
    }
  };
  const workers = [
    new Worker(QUEUE_NAMES.system, createSystemJobHandler(services.system), {
      connection,
      prefix: bullPrefix(prefix),
      concurrency: 1,
    }),
    new Worker(QUEUE_NAMES.generation, generation, {
      connection,
      prefix: bullPrefix(prefix),
      concurrency: deps.concurrency,
      stalledInterval: deps.stalledIntervalMs,
      lockDuration: Math.max(deps.stalledIntervalMs, 5_000),
    }),
    // Its own queue and many slots: slow or hanging receivers never hold back tasks or other deliveries.
    new Worker(
      QUEUE_NAMES.webhooks,
      async (job: Job) => {
        if (job.name !== WEBHOOK_DELIVER_JOB) throw new Error(`Unknown webhooks job ${job.name}`);
        await services.webhooks.attempt(job as Job<{ deliveryId: string }>);
      },
      {
        connection,
        prefix: bullPrefix(prefix),
        concurrency: deps.webhookConcurrency,
        settings: { backoffStrategy: (attemptsMade: number) => services.webhooks.backoff(attemptsMade) },
      },
    ),
  ];
  for (const worker of workers) {
    worker.on("failed", (job, err) => logger.warn({ err: err.message, job: job?.name, jobId: job?.id }, "job failed"));
    worker.on("error", (err) => logger.warn({ err: err.message, queue: worker.name }, "worker error"));
  }
  return workers;
}
