import { describe, expect, it } from "vitest";
import {
  blankValues,
  inForce,
  inHoursMinutes,
  meter,
  parseLimit,
  requestedLines,
  scopeWords,
  secondsToUtcMidnight,
  valuesInput,
} from "./limits";

describe("limits in words and numbers", () => {
  it("colours a meter by how full it is, and has none without a cap", () => {
    expect(meter(10, 200)).toEqual({ share: 0.05, tone: "ok" });
    expect(meter(160, 200).tone).toBe("near");
    expect(meter(200, 200)).toEqual({ share: 1, tone: "full" });
    expect(meter(5, 0).tone).toBe("full");
    expect(meter(5, null)).toEqual({ share: null, tone: "none" });
  });

  it("counts the time to the UTC day's end", () => {
    expect(secondsToUtcMidnight(new Date("2030-01-01T23:00:00Z"))).toBe(3600);
    expect(inHoursMinutes(3600)).toBe("in 1 h");
    expect(inHoursMinutes(5 * 3600 + 12 * 60)).toBe("in 5 h 12 min");
    expect(inHoursMinutes(30)).toBe("in 1 min");
  });

  it("reads limits typed by people, blank meaning not set", () => {
    expect(parseLimit(" 1 000 ")).toBe(1000);
    expect(parseLimit("1,500")).toBe(1500);
    expect(parseLimit("")).toBeNull();
    expect(parseLimit("-3")).toBeNaN();
    expect(parseLimit("2000000000")).toBeNaN();
    const typed = { ...blankValues(), tasksPerDay: "500", requestsPerMinute: "0", uploadsPerDay: "x" };
    const { input, problems, count } = valuesInput(typed, true);
    expect(input).toEqual({ tasksPerDay: 500, noDailySpendCap: true });
    expect(Object.keys(problems).sort()).toEqual(["requestsPerMinute", "uploadsPerDay"]);
    expect(count).toBe(2);
  });

  it("says what a request asks for", () => {
    const tiers = [{ id: "PRO", name: "Pro" }];
    expect(requestedLines({ desiredTierId: "PRO", desiredValues: null }, tiers)).toEqual([
      { key: "tier", label: "Plan", value: "Pro" },
    ]);
    const values = {
      __typename: "RequestedLimits" as const,
      requestsPerMinute: null,
      tasksPerMinute: null,
      concurrentTasks: 12,
      tasksPerDay: null,
      uploadsPerDay: null,
      dailySpendCap: null,
      noDailySpendCap: true,
    };
    expect(requestedLines({ desiredTierId: null, desiredValues: values }, tiers).map((l) => l.value)).toEqual([
      "12",
      "No cap",
    ]);
  });

  it("names restriction scopes and knows when one is over", () => {
    expect(scopeWords(["TASKS"])).toBe("creating tasks");
    expect(scopeWords(["TASKS", "UPLOADS", "API"])).toBe("creating tasks, uploads and API keys");
    const now = Date.parse("2030-01-01T00:00:00Z");
    expect(inForce({ active: true, liftedAt: null, endsAt: null }, now)).toBe(true);
    expect(inForce({ active: true, liftedAt: null, endsAt: "2029-12-31T23:59:00Z" }, now)).toBe(false);
    expect(inForce({ active: true, liftedAt: "2029-12-31T00:00:00Z", endsAt: null }, now)).toBe(false);
  });
});
