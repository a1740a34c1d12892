import os from "node:os";
import type { RedisClient } from "../../infra/redis.js";
import { Field, Float, Int, ObjectType, Query, Resolver, Authorized } from "type-graphql";
import { GraphQLDateTimeISO } from "graphql-scalars";
import type { ChannelStats } from "./providers/channels.js";
import type { ProviderRegistry } from "./provider-registry.js";

const PUBLISH_INTERVAL_MS = 10_000;
const SNAPSHOT_TTL_SECONDS = 60;

/**
 * Channel health lives in each worker's memory; every worker writes a snapshot to Redis (expiring, so a
 * dead worker disappears) and the API reads them all for the admins.
 */
export class ProviderStatsBoard {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private key(worker: string) {
    return `${this.prefix}:provider-stats:${worker}`;
  }

  startPublishing(registry: ProviderRegistry): void {
    const worker = `${os.hostname()}:${process.pid}`;
    const publish = () =>
      void this.redis
        .set(
          this.key(worker),
          JSON.stringify({ at: new Date().toISOString(), channels: registry.stats() }),
          "EX",
          SNAPSHOT_TTL_SECONDS,
        )
        .catch(() => undefined);
    publish();
    this.timer = setInterval(publish, PUBLISH_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async read(): Promise<{ worker: string; at: string; channels: ChannelStats[] }[]> {
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, found] = await this.redis.scan(cursor, "MATCH", this.key("*"), "COUNT", 200);
      cursor = next;
      keys.push(...found);
    } while (cursor !== "0");
    if (!keys.length) return [];
    const values = await this.redis.mget(...keys);
    return keys.flatMap((key, i) => {
      const value = values[i];
      if (!value) return [];
      const parsed = JSON.parse(value) as { at: string; channels: ChannelStats[] };
      return [{ worker: key.slice(this.key("").length), ...parsed }];
    });
  }
}

@ObjectType({ description: "Recent health of one provider channel, as one worker sees it.", simpleResolvers: true })
export class ProviderChannelHealth {
  @Field({ description: "The worker process (host:pid)." })
  worker: string;

  @Field({ description: "Channel id (`local`, or an id from OPENAI_CHANNELS)." })
  channel: string;

  @Field({ description: "Circuit breaker state: closed (in use), open (cooling down), half-open (on trial)." })
  state: string;

  @Field(() => Float, { nullable: true, description: "Share of successful calls in the recent window." })
  successRate: number | null;

  @Field(() => Float, { nullable: true, description: "Median latency of successful calls, ms." })
  p50LatencyMs: number | null;

  @Field(() => Float, { nullable: true, description: "95th percentile latency of successful calls, ms." })
  p95LatencyMs: number | null;

  @Field(() => Int, { description: "Calls in the recent window." })
  calls: number;

  @Field(() => String, { nullable: true, description: "Code of the last error." })
  lastErrorCode: string | null;

  @Field(() => GraphQLDateTimeISO, { description: "When the worker reported this." })
  reportedAt: Date;
}

@Resolver()
export class ProviderStatsResolver {
  constructor(private readonly board: ProviderStatsBoard) {}

  @Authorized("ADMIN")
  @Query(() => [ProviderChannelHealth], {
    description: "Provider channels' recent success rate and latency, per worker.",
  })
  async providerChannels(): Promise<ProviderChannelHealth[]> {
    return (await this.board.read()).flatMap((snapshot) =>
      snapshot.channels.map((c) => ({
        worker: snapshot.worker,
        channel: c.id,
        state: c.state,
        successRate: c.successRate,
        p50LatencyMs: c.p50LatencyMs,
        p95LatencyMs: c.p95LatencyMs,
        calls: c.calls,
        lastErrorCode: c.lastError?.code ?? null,
        reportedAt: new Date(snapshot.at),
      })),
    );
  }
}
