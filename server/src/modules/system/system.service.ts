import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../../infra/config.js";
import type { PubSubBus } from "../../infra/pubsub.js";
import { heartbeatStream, SYSTEM_HEARTBEAT, type HeartbeatEvent, type HeartbeatSourceName } from "./system.topics.js";

export const VERSION: string = (
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string }
).version;

export class SystemService {
  readonly version = VERSION;

  constructor(
    private readonly pubsub: PubSubBus,
    readonly heartbeatIntervalMs: number,
  ) {}

  publishHeartbeat(source: HeartbeatSourceName): HeartbeatEvent {
    const event: HeartbeatEvent = { at: new Date().toISOString(), source, intervalMs: this.heartbeatIntervalMs };
    this.pubsub.publish(SYSTEM_HEARTBEAT, event);
    return event;
  }

  heartbeats(): AsyncGenerator<HeartbeatEvent> {
    return heartbeatStream(this.pubsub, this.heartbeatIntervalMs);
  }
}
