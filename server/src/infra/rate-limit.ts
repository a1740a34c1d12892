import type { RedisClient } from "./redis.js";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { AppError } from "./errors.js";

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super("RATE_LIMITED", `Too many attempts. Try again in ${retryAfterSeconds} s.`, {
      retryAfter: retryAfterSeconds,
    });
  }
}

export interface LimitRule {
  /** Attempts allowed per window. */
  points: number;
  windowSeconds: number;
}

/**
 * Named Redis-backed limiters shared by every API process (rate-limiter-flexible). `consume` throws
 * RATE_LIMITED with `retryAfter` (seconds) in the error extensions when a key is over its budget.
 */
export class RateLimits<Name extends string> {
  private readonly limiters: Record<Name, RateLimiterRedis>;

  constructor(redis: RedisClient, prefix: string, rules: Record<Name, LimitRule>) {
    this.limiters = Object.fromEntries(
      Object.entries<LimitRule>(rules).map(([name, rule]) => [
        name,
        new RateLimiterRedis({
          storeClient: redis,
          keyPrefix: `${prefix}:rl:${name}`,
          points: rule.points,
          duration: rule.windowSeconds,
          // While Redis is down each process counts on its own instead of failing (or waiting on) every request.
          rejectIfRedisNotReady: true,
          insuranceLimiter: new RateLimiterMemory({ points: rule.points, duration: rule.windowSeconds }),
        }),
      ]),
    ) as Record<Name, RateLimiterRedis>;
  }

  async consume(name: Name, key: string): Promise<void> {
    try {
      await this.limiters[name].consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw new RateLimitedError(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
      throw err;
    }
  }

  /** Throws RATE_LIMITED when the key's budget is already spent, without spending any (failure counters). */
  async check(name: Name, key: string): Promise<void> {
    const limiter = this.limiters[name];
    const state = await limiter.get(key);
    if (state && state.consumedPoints >= limiter.points) {
      throw new RateLimitedError(Math.max(1, Math.ceil(state.msBeforeNext / 1000)));
    }
  }

  /** Spends one point and answers the budget left (for RateLimit-* headers); throws when none is left. */
  async take(name: Name, key: string): Promise<{ limit: number; remaining: number; resetSeconds: number }> {
    const limiter = this.limiters[name];
    try {
      const res = await limiter.consume(key);
      return {
        limit: limiter.points,
        remaining: res.remainingPoints,
        resetSeconds: Math.ceil(res.msBeforeNext / 1000),
      };
    } catch (err) {
      if (err instanceof RateLimiterRes) throw new RateLimitedError(Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
      throw err;
    }
  }

  async reset(name: Name, key: string): Promise<void> {
    await this.limiters[name].delete(key);
  }
}
