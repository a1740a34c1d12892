import type { Queue } from "bullmq";
import { ASSETS_RETENTION_JOB, GENERATION_MAINTENANCE_JOB, GENERATION_RECONCILE_JOB } from "./generation.jobs.js";

/** The repeatable jobs of the generation module (upserted by every worker at start; BullMQ keeps one). */
export async function scheduleGenerationJobs(
  queue: Queue,
  reconcileIntervalMs: number,
  retentionIntervalMs: number,
): Promise<void> {
  await queue.upsertJobScheduler(
    ASSETS_RETENTION_JOB,
    { every: retentionIntervalMs },
    { name: ASSETS_RETENTION_JOB, opts: { removeOnComplete: true, removeOnFail: 100 } },
  );
  await queue.upsertJobScheduler(
    GENERATION_RECONCILE_JOB,
    { every: reconcileIntervalMs },
    { name: GENERATION_RECONCILE_JOB, opts: { removeOnComplete: true, removeOnFail: 100 } },
  );
  await queue.upsertJobScheduler(
    GENERATION_MAINTENANCE_JOB,
    { every: 3_600_000 },
    { name: GENERATION_MAINTENANCE_JOB, opts: { removeOnComplete: true, removeOnFail: 100 } },
  );
}
