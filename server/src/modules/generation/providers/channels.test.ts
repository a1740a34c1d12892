import { describe, expect, it } from "vitest";
import { ProviderRouter, type ProviderChannel } from "./channels.js";
import {
  ProviderError,
  type GenerateParams,
  type GeneratedImage,
  type ImageProvider,
  type ProgressCallback,
} from "./provider.js";

type Behaviour = (
  params: GenerateParams,
  signal: AbortSignal,
  onProgress: ProgressCallback,
) => Promise<GeneratedImage[]>;

/** A test double at the edge: answers with whatever the test scripts, and records the models it was asked for. */
class FakeProvider implements ImageProvider {
  readonly calls: string[] = [];
  constructor(
    readonly name: string,
    public behaviour: Behaviour = ok(),
  ) {}
  generate(params: GenerateParams, signal: AbortSignal, onProgress: ProgressCallback) {
    this.calls.push(params.model);
    return this.behaviour(params, signal, onProgress);
  }
}

const IMAGE: GeneratedImage = { data: Buffer.from("png"), contentType: "image/png" };

function ok(clock?: FakeClock, latencyMs = 0): Behaviour {
  return async (_params, _signal, onProgress) => {
    clock?.advance(latencyMs);
    onProgress(1);
    return [IMAGE];
  };
}

function failing(code: ProviderError["code"] = "UPSTREAM_ERROR", transient = true, clock?: FakeClock): Behaviour {
  return async () => {
    clock?.advance(10);
    throw new ProviderError(code, `fake ${code}`, transient);
  };
}

class FakeClock {
  constructor(public time = 1_000_000) {}
  now = () => this.time;
  advance(ms: number) {
    this.time += ms;
  }
}

function channel(id: string, provider: ImageProvider, overrides: Partial<ProviderChannel> = {}): ProviderChannel {
  return { id, provider, model: `${id}-model`, priority: 0, weight: 1, ...overrides };
}

const PARAMS: Omit<GenerateParams, "model"> = {
  prompt: "p",
  negativePrompt: null,
  width: 64,
  height: 64,
  count: 1,
  seed: 1,
  references: [],
};
const never = () => new AbortController().signal;

async function run(
  router: ProviderRouter,
  channels: ProviderChannel[],
  onProgress: ProgressCallback = () => undefined,
) {
  return router.generate(channels, PARAMS, never(), onProgress).then(
    (images) => ({ images, error: null }),
    (error: unknown) => ({ images: null, error: error as ProviderError }),
  );
}

describe("ProviderRouter", () => {
  it("splits traffic within the best priority by weight and passes the channel's model", async () => {
    let i = 0;
    // An evenly spread sequence makes the split exact instead of merely likely.
    const router = new ProviderRouter({ random: () => ((i++ * 7919) % 1000) / 1000 });
    const [a, b, backup] = [new FakeProvider("a"), new FakeProvider("b"), new FakeProvider("backup")];
    const channels = [
      channel("a", a, { weight: 3 }),
      channel("b", b, { weight: 1 }),
      channel("backup", backup, { priority: 1, weight: 100 }),
    ];
    for (let n = 0; n < 1000; n++) await run(router, channels);
    expect(a.calls.length).toBe(750);
    expect(b.calls.length).toBe(250);
    expect(backup.calls).toHaveLength(0);
    expect(a.calls[0]).toBe("a-model");
  });

  it("falls back to the next channel on a transient failure, keeping progress monotonic", async () => {
    const primary = new FakeProvider("primary", async (_p, _s, onProgress) => {
      onProgress(0.6);
      throw new ProviderError("RATE_LIMITED", "busy", true, 1000);
    });
    const secondary = new FakeProvider("secondary", async (_p, _s, onProgress) => {
      [0.2, 0.7, 1].forEach(onProgress);
      return [IMAGE];
    });
    const progress: number[] = [];
    const router = new ProviderRouter();
    const result = await run(
      router,
      [channel("primary", primary), channel("secondary", secondary, { priority: 5 })],
      (f) => progress.push(f),
    );
    expect(result.images).toEqual([IMAGE]);
    expect([primary.calls.length, secondary.calls.length]).toEqual([1, 1]);
    expect(progress).toEqual([0.6, 0.7, 1]);
  });

  it("also moves on from a misconfigured channel, but stops at once on CONTENT_REJECTED and ABORTED", async () => {
    const revoked = new FakeProvider("revoked", failing("MISCONFIGURED", false));
    const good = new FakeProvider("good");
    expect(
      (await run(new ProviderRouter(), [channel("revoked", revoked), channel("good", good, { priority: 1 })])).images,
    ).toEqual([IMAGE]);

    for (const code of ["CONTENT_REJECTED", "ABORTED"] as const) {
      const refusing = new FakeProvider("refusing", failing(code, false));
      const other = new FakeProvider("other");
      const router = new ProviderRouter();
      const { error } = await run(router, [channel("refusing", refusing), channel("other", other, { priority: 1 })]);
      expect(error?.code).toBe(code);
      expect(other.calls).toHaveLength(0);
    }
  });

  it("rejects with ABORTED without calling anyone when the signal already fired", async () => {
    const controller = new AbortController();
    controller.abort();
    const provider = new FakeProvider("p");
    const error = await new ProviderRouter()
      .generate([channel("p", provider)], PARAMS, controller.signal, () => undefined)
      .catch((e: unknown) => e);
    expect((error as ProviderError).code).toBe("ABORTED");
    expect(provider.calls).toHaveLength(0);
  });

  it("throws the last transient error when every channel fails", async () => {
    const router = new ProviderRouter();
    const channels = [
      channel("timeout", new FakeProvider("t", failing("TIMEOUT", true))),
      channel("revoked", new FakeProvider("r", failing("MISCONFIGURED", false)), { priority: 1 }),
    ];
    const { error } = await run(router, channels);
    expect([error?.code, error?.transient]).toEqual(["TIMEOUT", true]);
    const misconfigured = await run(new ProviderRouter(), [channels[1]!]);
    expect([misconfigured.error?.code, misconfigured.error?.transient]).toEqual(["MISCONFIGURED", false]);
  });

  it("opens a channel's circuit after N consecutive failures, skips it during the cool-down, then tries it once", async () => {
    const clock = new FakeClock();
    const router = new ProviderRouter({ now: clock.now, failureThreshold: 3, cooldownMs: 30_000 });
    const flaky = new FakeProvider("flaky", failing("UPSTREAM_ERROR", true, clock));
    const steady = new FakeProvider("steady");
    const channels = [channel("flaky", flaky), channel("steady", steady, { priority: 1 })];

    for (let n = 0; n < 3; n++) expect((await run(router, channels)).images).toEqual([IMAGE]);
    expect(flaky.calls).toHaveLength(3);
    expect(router.stats(["flaky"])[0]!.state).toBe("open");

    clock.advance(29_000);
    await run(router, channels);
    expect(flaky.calls).toHaveLength(3);

    // After the cool-down: half-open, one trial; failing it re-opens the circuit at once.
    clock.advance(1_000);
    expect(router.stats(["flaky"])[0]!.state).toBe("half-open");
    await run(router, channels);
    expect(flaky.calls).toHaveLength(4);
    expect(router.stats(["flaky"])[0]!.state).toBe("open");

    // The next trial succeeds and closes it again.
    clock.advance(30_000);
    flaky.behaviour = ok();
    await run(router, channels);
    expect(flaky.calls).toHaveLength(5);
    expect(router.stats(["flaky"])[0]!.state).toBe("closed");
  });

  it("admits a single trial call while half-open, even with calls in flight", async () => {
    const clock = new FakeClock();
    const router = new ProviderRouter({ now: clock.now, failureThreshold: 1, cooldownMs: 1_000 });
    const provider = new FakeProvider("p", failing());
    const backup = new FakeProvider("backup");
    const channels = [channel("p", provider), channel("backup", backup, { priority: 1 })];
    await run(router, channels);
    clock.advance(1_000);
    let release: () => void = () => undefined;
    provider.behaviour = () => new Promise((resolve) => (release = () => resolve([IMAGE])));
    const trial = run(router, channels);
    await run(router, channels);
    expect([provider.calls.length, backup.calls.length]).toEqual([2, 2]);
    release();
    expect((await trial).images).toEqual([IMAGE]);
    expect(router.stats(["p"])[0]!.state).toBe("closed");
  });

  it("says so when every channel is open", async () => {
    const clock = new FakeClock();
    const router = new ProviderRouter({ now: clock.now, failureThreshold: 1 });
    const provider = new FakeProvider("p", failing("RATE_LIMITED"));
    await run(router, [channel("p", provider)]);
    const { error } = await run(router, [channel("p", provider)]);
    expect([error?.code, error?.transient, error?.message]).toEqual([
      "UPSTREAM_ERROR",
      true,
      "No provider channel is available",
    ]);
    expect(provider.calls).toHaveLength(1);
  });

  it("reports success rate, latency percentiles and the last error over a rolling window", async () => {
    const clock = new FakeClock();
    const router = new ProviderRouter({ now: clock.now, failureThreshold: 100, windowMs: 15 * 60_000 });
    const provider = new FakeProvider("p");
    const channels = [channel("p", provider)];
    for (let latency = 10; latency <= 200; latency += 10) {
      provider.behaviour = ok(clock, latency);
      await run(router, channels);
    }
    provider.behaviour = failing("TIMEOUT", true, clock);
    for (let n = 0; n < 5; n++) await run(router, channels);

    const [stats] = router.stats(["p"]);
    expect(stats).toMatchObject({
      id: "p",
      state: "closed",
      calls: 25,
      successRate: 0.8,
      p50LatencyMs: 100,
      p95LatencyMs: 190,
    });
    expect(stats!.lastError).toMatchObject({ code: "TIMEOUT", message: "fake TIMEOUT", at: new Date(clock.time) });
    expect(router.stats(["unused"])).toEqual([
      { id: "unused", state: "closed", successRate: null, p50LatencyMs: null, p95LatencyMs: null, calls: 0 },
    ]);

    // Calls older than the window drop out; so do calls beyond the last 100.
    clock.advance(15 * 60_000 + 1);
    expect(router.stats(["p"])[0]!.calls).toBe(0);
    provider.behaviour = ok();
    for (let n = 0; n < 120; n++) await run(router, channels);
    expect(router.stats(["p"])[0]).toMatchObject({ calls: 100, successRate: 1 });
  });

  it("refuses an empty channel list or a non-positive weight as MISCONFIGURED", async () => {
    const router = new ProviderRouter();
    expect((await run(router, [])).error?.code).toBe("MISCONFIGURED");
    expect((await run(router, [channel("p", new FakeProvider("p"), { weight: 0 })])).error?.code).toBe("MISCONFIGURED");
  });
});
