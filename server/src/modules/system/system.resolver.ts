import { Query, Resolver, Root, Subscription } from "type-graphql";
import type { Context } from "../../infra/context.js";
import type { HeartbeatEvent } from "./system.topics.js";
import { Heartbeat, HeartbeatSource, ServerInfo } from "./system.types.js";
import type { SystemService } from "./system.service.js";

@Resolver()
export class SystemResolver {
  constructor(private readonly system: SystemService) {}

  @Query(() => ServerInfo, { description: "Facts about the running server." })
  serverInfo(): ServerInfo {
    return { version: this.system.version };
  }

  @Subscription(() => Heartbeat, {
    description:
      "Heartbeats from the platform: one at once from the API process, then one per interval from every " +
      "API process and from the worker pool. Clients use it to show that their live connection is up.",
    subscribe: ({ context }) => (context as Context).services.system.heartbeats(),
  })
  heartbeat(@Root() event: HeartbeatEvent): Heartbeat {
    return { at: new Date(event.at), source: HeartbeatSource[event.source], intervalMs: event.intervalMs };
  }
}
