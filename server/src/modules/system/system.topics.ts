import type { PubSubBus } from "../../infra/pubsub.js";

/** Published by every API process and by the worker's `system.heartbeat` job. */
export const SYSTEM_HEARTBEAT = "SYSTEM_HEARTBEAT";

export type HeartbeatSourceName = "API" | "WORKER";

export interface HeartbeatEvent {
  /** ISO time; payloads cross Redis as JSON. */
  at: string;
  source: HeartbeatSourceName;
  /** The sender's interval: the next heartbeat from it is due within this many milliseconds. */
  intervalMs: number;
}

/** The first event comes from this process at once, so a client knows its connection is up. */
export async function* heartbeatStream(pubsub: PubSubBus, intervalMs: number): AsyncGenerator<HeartbeatEvent> {
  const events = pubsub.subscribe<HeartbeatEvent>(SYSTEM_HEARTBEAT)[Symbol.asyncIterator]();
  try {
    yield { at: new Date().toISOString(), source: "API", intervalMs };
    for (let next = await events.next(); !next.done; next = await events.next()) yield next.value;
  } finally {
    // Also reached when the client leaves before the first Redis event: release the listener.
    await events.return?.();
  }
}
