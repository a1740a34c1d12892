import { Queue, type ConnectionOptions } from "bullmq";

/** One BullMQ queue per kind of background work; jobs are named `<domain>.<verb>`. */
export const QUEUE_NAMES = { system: "system", generation: "generation", webhooks: "webhooks" } as const;

export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

/**
 * BullMQ's key prefix. The `{bull}` hash tag keeps every key of the queues in one Cluster slot, which
 * BullMQ's multi-key scripts need; on a single Redis it is just part of the name.
 */
export function bullPrefix(prefix: string): string {
  return `${prefix}:{bull}`;
}

export function createQueues(connection: ConnectionOptions, prefix: string): Record<QueueName, Queue> {
  return {
    system: new Queue(QUEUE_NAMES.system, { connection, prefix: bullPrefix(prefix) }),
    generation: new Queue(QUEUE_NAMES.generation, { connection, prefix: bullPrefix(prefix) }),
    webhooks: new Queue(QUEUE_NAMES.webhooks, { connection, prefix: bullPrefix(prefix) }),
  };
}
