import { describe, expect, it } from "vitest";
import {
  bucketLabel,
  labelEvery,
  lastDays,
  niceMax,
  rangeBounds,
  rangeProblem,
  rangeSearch,
  readRange,
  totals,
} from "./usage";

const NOW = Date.parse("2026-03-15T10:30:00Z");

describe("usage ranges", () => {
  it("defaults to the last 30 days by day, today included", () => {
    expect(readRange(new URLSearchParams(), NOW)).toEqual({ from: "2026-02-14", to: "2026-03-15", granularity: "DAY" });
    expect(lastDays(2, "HOUR", NOW)).toEqual({ from: "2026-03-14", to: "2026-03-15", granularity: "HOUR" });
  });

  it("reads and writes the range in the URL, ignoring broken dates", () => {
    const range = readRange(new URLSearchParams("from=2026-01-01&to=2026-01-31&by=hour"), NOW);
    expect(range).toEqual({ from: "2026-01-01", to: "2026-01-31", granularity: "HOUR" });
    expect(rangeSearch(range)).toBe("?from=2026-01-01&to=2026-01-31&by=hour");
    expect(rangeSearch({ ...range, granularity: "DAY" })).toBe("?from=2026-01-01&to=2026-01-31");
    expect(readRange(new URLSearchParams("from=yesterday&to=2026-01-31"), NOW).from).toBe("2026-02-14");
  });

  it("asks for whole UTC days, the end day included", () => {
    expect(rangeBounds({ from: "2026-03-01", to: "2026-03-01" })).toEqual({
      from: "2026-03-01T00:00:00.000Z",
      to: "2026-03-02T00:00:00.000Z",
    });
  });

  it("explains ranges the server would refuse before asking", () => {
    expect(rangeProblem({ from: "2026-03-02", to: "2026-03-01", granularity: "DAY" })?.field).toBe("to");
    expect(rangeProblem({ from: "2026-03-01", to: "2026-03-16", granularity: "HOUR" })).toBeNull(); // 384 hours
    expect(rangeProblem({ from: "2026-03-01", to: "2026-03-17", granularity: "HOUR" })?.message).toContain("16 days");
    expect(rangeProblem({ from: "2025-01-01", to: "2026-03-01", granularity: "DAY" })?.message).toContain("400 days");
    expect(rangeProblem({ from: "", to: "2026-03-01", granularity: "DAY" })?.field).toBe("from");
  });

  it("labels buckets in UTC", () => {
    expect(bucketLabel("2026-03-05T00:00:00.000Z", "DAY")).toMatch(/5/);
    expect(bucketLabel("2026-03-05T14:00:00.000Z", "HOUR")).toMatch(/14:00/);
  });
});

describe("chart helpers", () => {
  it("rounds an axis up to 1, 2 or 5 times a power of ten", () => {
    expect([0, 1, 3, 7, 10, 11, 180, 501].map(niceMax)).toEqual([1, 1, 5, 10, 10, 20, 200, 1000]);
  });

  it("spaces labels so that they do not overlap", () => {
    expect(labelEvery(30, 800)).toBe(3);
    expect(labelEvery(7, 800)).toBe(1);
    expect(labelEvery(0, 800)).toBe(1);
  });

  it("sums the buckets", () => {
    expect(
      totals([
        { tasks: 2, images: 3, creditsSpent: 6, failures: 1 },
        { tasks: 1, images: 1, creditsSpent: -2, failures: 0 },
      ]),
    ).toEqual({ tasks: 3, images: 4, creditsSpent: 4, failures: 1 });
  });
});
