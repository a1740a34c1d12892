import {
  abortedError,
  ProviderError,
  throwIfAborted,
  toProviderError,
  type GenerateParams,
  type GeneratedImage,
  type ImageProvider,
  type ProgressCallback,
  type ProviderErrorCode,
} from "./provider.js";

/** One way to serve a model: a provider instance (an upstream account or vendor) and its model name there. */
export interface ProviderChannel {
  /** Unique and stable across restarts: health and stats are keyed by it. */
  id: string;
  provider: ImageProvider;
  /** The provider-side model name. */
  model: string;
  /** Lower is tried first. */
  priority: number;
  /** Share of traffic among available channels of the same priority; > 0. */
  weight: number;
}

export type CircuitState = "closed" | "open" | "half-open";

export interface ChannelStats {
  id: string;
  state: CircuitState;
  /** Over the rolling window; null before the first call. */
  successRate: number | null;
  /** Latency of successful calls in the window; null when there are none. */
  p50LatencyMs: number | null;
  p95LatencyMs: number | null;
  calls: number;
  lastError?: { code: ProviderErrorCode; message: string; at: Date };
}

export interface ProviderRouterOptions {
  /** Consecutive failures that open a channel's circuit. */
  failureThreshold?: number;
  cooldownMs?: number;
  windowSize?: number;
  windowMs?: number;
  now?: () => number;
  random?: () => number;
}

interface Call {
  at: number;
  ok: boolean;
  latencyMs: number;
}

interface Health {
  consecutiveFailures: number;
  openedAt: number | null;
  /** Half-open admits a single trial call; concurrent tasks skip the channel meanwhile. */
  trialInFlight: boolean;
  calls: Call[];
  lastError?: ChannelStats["lastError"];
}

/**
 * Errors about the request itself: another channel would refuse or cancel it just the same, and they say
 * nothing about the channel's health. Every other error (transient or a misconfigured channel) moves on.
 */
const REQUEST_ERRORS: ReadonlySet<ProviderErrorCode> = new Set(["CONTENT_REJECTED", "ABORTED"]);

/**
 * Chooses a channel per call: best priority first, weighted random within it, falling back to the next
 * channel on failure, with a circuit breaker per channel. Health lives in this process only (one router per
 * worker process): each worker learns on its own that a channel is failing, which costs at most
 * `failureThreshold` calls per process and needs no shared state.
 */
export class ProviderRouter {
  private readonly failureThreshold: number;
  private readonly cooldownMs: number;
  private readonly windowSize: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly health = new Map<string, Health>();

  constructor(options: ProviderRouterOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 3;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.windowSize = options.windowSize ?? 100;
    this.windowMs = options.windowMs ?? 15 * 60_000;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  async generate(
    channels: readonly ProviderChannel[],
    params: Omit<GenerateParams, "model">,
    signal: AbortSignal,
    onProgress: ProgressCallback,
  ): Promise<GeneratedImage[]> {
    if (channels.length === 0 || channels.some((c) => !(c.weight > 0) || !Number.isFinite(c.weight))) {
      throw new ProviderError("MISCONFIGURED", "This model has no usable provider channel", false);
    }
    // A fallback channel starts again from 0; the caller only ever sees progress move forward.
    let reported = 0;
    const forward: ProgressCallback = (fraction) => {
      if (fraction > reported) onProgress((reported = Math.min(1, fraction)));
    };
    const tried = new Set<string>();
    const failures: ProviderError[] = [];
    for (;;) {
      throwIfAborted(signal);
      const channel = this.choose(channels.filter((c) => !tried.has(c.id) && this.isAvailable(c.id)));
      if (!channel) break;
      tried.add(channel.id);
      const health = this.healthOf(channel.id);
      const isTrial = this.stateOf(health) === "half-open";
      if (isTrial) health.trialInFlight = true;
      const startedAt = this.now();
      try {
        const images = await channel.provider.generate({ ...params, model: channel.model }, signal, forward);
        this.recordSuccess(health, startedAt);
        return images;
      } catch (caught) {
        const error = signal.aborted ? abortedError() : toProviderError(caught);
        if (error.code === "ABORTED") {
          health.trialInFlight = false;
          throw error;
        }
        if (REQUEST_ERRORS.has(error.code)) {
          // The channel answered properly; a refusal is not a failure of the channel.
          this.recordSuccess(health, startedAt);
          throw error;
        }
        this.recordFailure(health, startedAt, error, isTrial);
        failures.push(error);
      }
    }
    // Prefer a transient error so the caller retries later: a channel that timed out may recover, one with
    // a revoked key will not, but the task should not fail for good while any channel could still serve it.
    const transient = failures.filter((e) => e.transient);
    const last = transient.at(-1) ?? failures.at(-1);
    throw last ?? new ProviderError("UPSTREAM_ERROR", "No provider channel is available", true);
  }

  /** Every channel seen so far, or exactly `ids` in that order (channels never called report zeros). */
  stats(ids?: readonly string[]): ChannelStats[] {
    return (ids ?? [...this.health.keys()]).map((id) => {
      const health = this.healthOf(id);
      this.trim(health);
      const latencies = health.calls
        .filter((c) => c.ok)
        .map((c) => c.latencyMs)
        .sort((a, b) => a - b);
      const calls = health.calls.length;
      return {
        id,
        state: this.stateOf(health),
        successRate: calls === 0 ? null : latencies.length / calls,
        p50LatencyMs: percentile(latencies, 0.5),
        p95LatencyMs: percentile(latencies, 0.95),
        calls,
        ...(health.lastError ? { lastError: health.lastError } : {}),
      };
    });
  }

  private choose(candidates: ProviderChannel[]): ProviderChannel | undefined {
    if (candidates.length === 0) return undefined;
    const best = Math.min(...candidates.map((c) => c.priority));
    const pool = candidates.filter((c) => c.priority === best);
    const total = pool.reduce((sum, c) => sum + c.weight, 0);
    let target = this.random() * total;
    for (const channel of pool) {
      target -= channel.weight;
      if (target < 0) return channel;
    }
    return pool.at(-1);
  }

  private isAvailable(id: string): boolean {
    const health = this.healthOf(id);
    const state = this.stateOf(health);
    return state === "closed" || (state === "half-open" && !health.trialInFlight);
  }

  private stateOf(health: Health): CircuitState {
    if (health.openedAt === null) return "closed";
    return this.now() < health.openedAt + this.cooldownMs ? "open" : "half-open";
  }

  private recordSuccess(health: Health, startedAt: number): void {
    health.consecutiveFailures = 0;
    health.openedAt = null;
    health.trialInFlight = false;
    this.record(health, { at: this.now(), ok: true, latencyMs: this.now() - startedAt });
  }

  private recordFailure(health: Health, startedAt: number, error: ProviderError, wasTrial: boolean): void {
    const at = this.now();
    health.consecutiveFailures += 1;
    health.trialInFlight = false;
    // A failed half-open trial re-opens at once: the channel has not recovered.
    if (wasTrial || health.consecutiveFailures >= this.failureThreshold) health.openedAt = at;
    health.lastError = { code: error.code, message: error.message, at: new Date(at) };
    this.record(health, { at, ok: false, latencyMs: at - startedAt });
  }

  private record(health: Health, call: Call): void {
    health.calls.push(call);
    this.trim(health);
  }

  private trim(health: Health): void {
    const cutoff = this.now() - this.windowMs;
    const firstRecent = health.calls.findIndex((c) => c.at >= cutoff);
    const start = Math.max(
      firstRecent === -1 ? health.calls.length : firstRecent,
      health.calls.length - this.windowSize,
    );
    if (start > 0) health.calls.splice(0, start);
  }

  private healthOf(id: string): Health {
    let health = this.health.get(id);
    if (!health) {
      health = { consecutiveFailures: 0, openedAt: null, trialInFlight: false, calls: [] };
      this.health.set(id, health);
    }
    return health;
  }
}

/** Nearest-rank percentile of an ascending list. */
function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}
