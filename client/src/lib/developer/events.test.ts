import { describe, expect, it } from "vitest";
import type { WebhookDeliveryRowFragment } from "$lib/graphql/generated/graphql";
import { attemptSummary, endpointStatus, mergeDeliveries, parseDeliveryStatus, prettyJson } from "./events";

const delivery = (id: string, createdAt: string, status: WebhookDeliveryRowFragment["status"] = "PENDING") =>
  ({ id, createdAt, status, attempts: [] }) as unknown as WebhookDeliveryRowFragment;

describe("webhook helpers", () => {
  it("tells an endpoint's status", () => {
    expect(endpointStatus({ enabled: true, failingSince: null })).toBe("active");
    expect(endpointStatus({ enabled: true, failingSince: "2026-03-01T00:00:00Z" })).toBe("failing");
    expect(endpointStatus({ enabled: false, failingSince: "2026-03-01T00:00:00Z" })).toBe("disabled");
  });

  it("merges a refreshed page: changed deliveries in place, new ones on top", () => {
    const known = [delivery("b", "2026-03-01T10:00:00Z"), delivery("a", "2026-03-01T09:00:00Z")];
    const merged = mergeDeliveries(known, [
      delivery("c", "2026-03-01T11:00:00Z"),
      delivery("b", "2026-03-01T10:00:00Z", "SUCCEEDED"),
    ]);
    expect(merged.map((d) => [d.id, d.status])).toEqual([
      ["c", "PENDING"],
      ["b", "SUCCEEDED"],
      ["a", "PENDING"],
    ]);
  });

  it("reads a status filter and words an attempt", () => {
    expect(parseDeliveryStatus("failed")).toBe("FAILED");
    expect(parseDeliveryStatus("nope")).toBeNull();
    expect(attemptSummary({ statusCode: 200, latencyMs: 12 })).toBe("HTTP 200 in 12 ms");
    expect(attemptSummary({ statusCode: null, latencyMs: 10000, error: "Timed out" })).toBe(
      "Timed out after 10,000 ms",
    );
    expect(prettyJson('{"a":1}')).toBe('{\n  "a": 1\n}');
    expect(prettyJson("not json")).toBe("not json");
  });
});
