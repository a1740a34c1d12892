import type { Job, Queue } from "bullmq";
import type { SystemService } from "./system.service.js";

export const SYSTEM_HEARTBEAT_JOB = "system.heartbeat";

/** A repeatable job: its arrival proves queue → worker → Redis pub/sub → subscribers end to end. */
export async function scheduleSystemJobs(queue: Queue, heartbeatIntervalMs: number): Promise<void> {
  await queue.upsertJobScheduler(
    SYSTEM_HEARTBEAT_JOB,
    { every: heartbeatIntervalMs },
    { name: SYSTEM_HEARTBEAT_JOB, opts: { removeOnComplete: true, removeOnFail: 100 } },
  );
}

export function createSystemJobHandler(system: SystemService) {
  return async (job: Job): Promise<void> => {
    switch (job.name) {
      case SYSTEM_HEARTBEAT_JOB:
        system.publishHeartbeat("WORKER");
        return;
      default:
        throw new Error(`Unknown system job ${job.name}`);
    }
  };
}
