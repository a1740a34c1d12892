import { describe, expect, it } from "vitest";
import { liveDetails, liveState, type LiveInput } from "./live-status";

const base: LiveInput = {
  connection: "connected",
  connectedAt: 0,
  lastHeartbeatAt: null,
  lastWorkerAt: null,
  intervalMs: 5000,
  now: 1000,
};

describe("liveState", () => {
  it("is live while heartbeats keep arriving within three intervals", () => {
    expect(liveState({ ...base, lastHeartbeatAt: 0, now: 15_000 })).toBe("live");
    expect(liveState({ ...base, lastHeartbeatAt: 0, now: 15_001 })).toBe("offline");
  });

  it("follows the interval the server announces", () => {
    expect(liveState({ ...base, lastHeartbeatAt: 0, intervalMs: 60_000, now: 100_000 })).toBe("live");
    expect(liveState({ ...base, lastHeartbeatAt: 0, intervalMs: 200, now: 1000 })).toBe("offline");
  });

  it("is connecting right after a (re)connection until the first heartbeat", () => {
    expect(liveState({ ...base, connection: "connecting" })).toBe("connecting");
    expect(liveState({ ...base, connectedAt: 0, now: 2000 })).toBe("connecting");
  });

  it("is offline while the socket is reconnecting, even with a recent heartbeat", () => {
    expect(liveState({ ...base, connection: "reconnecting", lastHeartbeatAt: 900 })).toBe("offline");
  });
});

describe("liveDetails", () => {
  it("says whether a worker heartbeat was seen recently", () => {
    expect(liveDetails({ ...base, lastHeartbeatAt: 500, lastWorkerAt: 500 })).toContain("worker online");
    expect(liveDetails({ ...base, lastHeartbeatAt: 500 })).toContain("no worker heartbeat yet");
  });
});
