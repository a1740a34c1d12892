import { describe, expect, it } from "vitest";
import {
  dayLabel,
  expiresSoon,
  filterSearch,
  formatBytes,
  groupByDay,
  rangeBetween,
  readFilters,
  studioHref,
  toAssetFilter,
} from "./library";

describe("library filters in the URL", () => {
  it("reads and writes ?q, ?favorite and ?model, leaving empty ones out", () => {
    const filters = readFilters(new URLSearchParams("q=%20red+fox%20&favorite=1&model=novart-sketch"));
    expect(filters).toEqual({ q: "red fox", favorite: true, model: "novart-sketch" });
    expect(filterSearch(filters)).toBe("?q=red+fox&favorite=1&model=novart-sketch");
    expect(filterSearch({ q: " ", favorite: false, model: "" })).toBe("");
    expect(readFilters(new URLSearchParams("favorite=yes")).favorite).toBe(false);
  });

  it("asks GraphQL only for the filters that are set", () => {
    expect(toAssetFilter({ q: "", favorite: false, model: "" })).toEqual({ search: null, favorite: null, model: null });
    expect(toAssetFilter({ q: "fox", favorite: true, model: "m" })).toEqual({
      search: "fox",
      favorite: true,
      model: "m",
    });
  });
});

describe("grouping by day", () => {
  const now = new Date(2026, 2, 7, 15, 0);
  const at = (d: number, h: number) => new Date(2026, 2, d, h, 0).toISOString();

  it("names today and yesterday, and dates before", () => {
    expect(dayLabel(at(7, 1), now)).toBe("Today");
    expect(dayLabel(at(6, 23), now)).toBe("Yesterday");
    expect(dayLabel(at(3, 12), now)).not.toMatch(/Today|Yesterday/);
    expect(dayLabel(new Date(2025, 11, 24).toISOString(), now)).toMatch(/2025/);
  });

  it("keeps the order and starts a group at each new day", () => {
    const items = [at(7, 14), at(7, 9), at(6, 20), at(3, 8), at(3, 7)].map((createdAt, i) => ({ id: i, createdAt }));
    const groups = groupByDay(items, now);
    expect(groups.map((g) => g.label.slice(0, 9))).toEqual(["Today", "Yesterday", dayLabel(at(3, 8), now).slice(0, 9)]);
    expect(groups.map((g) => g.items.map((i) => i.id))).toEqual([[0, 1], [2], [3, 4]]);
  });
});

describe("selection ranges", () => {
  const ids = ["a", "b", "c", "d", "e"];

  it("covers both ends in either direction", () => {
    expect(rangeBetween(ids, "b", "d")).toEqual(["b", "c", "d"]);
    expect(rangeBetween(ids, "e", "c")).toEqual(["c", "d", "e"]);
    expect(rangeBetween(ids, "c", "c")).toEqual(["c"]);
  });

  it("falls back to the clicked image alone when the anchor is unknown", () => {
    expect(rangeBetween(ids, null, "b")).toEqual(["b"]);
    expect(rangeBetween(ids, "gone", "b")).toEqual(["b"]);
    expect(rangeBetween(ids, "a", "gone")).toEqual([]);
  });
});

describe("small facts", () => {
  it("flags images whose files go within 3 days", () => {
    const now = Date.parse("2026-03-07T12:00:00Z");
    expect(expiresSoon("2026-03-09T12:00:00Z", now)).toBe(true);
    expect(expiresSoon("2026-03-10T12:00:00Z", now)).toBe(true);
    expect(expiresSoon("2026-03-10T12:00:01Z", now)).toBe(false);
    expect(expiresSoon("not a date", now)).toBe(false);
  });

  it("opens the Studio with the prompt, model and seed", () => {
    const href = studioHref({ prompt: "A fox & a hound?", seed: 42, model: { slug: "novart-sketch" } });
    const url = new URL(href, "http://studio.invalid");
    expect(url.pathname).toBe("/");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      prompt: "A fox & a hound?",
      model: "novart-sketch",
      seed: "42",
    });
  });

  it("formats sizes", () => {
    expect(formatBytes(900)).toBe("900 B");
    expect(formatBytes(842 * 1024)).toBe("842 KB");
    expect(formatBytes(1.45 * 1024 * 1024)).toBe("1.4 MB");
  });
});
