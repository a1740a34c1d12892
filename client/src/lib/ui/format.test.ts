import { describe, expect, it } from "vitest";
import { relativeTime } from "./format";

describe("relativeTime", () => {
  const now = Date.parse("2026-03-10T12:00:00Z");
  const ago = (seconds: number) => new Date(now - seconds * 1000).toISOString();

  it("speaks in the largest fitting unit", () => {
    expect(relativeTime(ago(10), now)).toBe("just now");
    expect(relativeTime(ago(5 * 60), now)).toBe("5 minutes ago");
    expect(relativeTime(ago(3 * 3600), now)).toBe("3 hours ago");
    expect(relativeTime(ago(26 * 3600), now)).toBe("yesterday");
    expect(relativeTime(new Date(now + 3 * 86_400_000).toISOString(), now)).toBe("in 3 days");
    expect(relativeTime("not a date", now)).toBe("");
  });
});
