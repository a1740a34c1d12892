import type { UsageGranularity } from "$lib/graphql/generated/graphql";

/** The server answers at most this many buckets. */
export const MAX_BUCKETS = 400;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** A usage range as the page keeps it: UTC dates (`YYYY-MM-DD`), both included, and the bucket size. */
export interface UsageRange {
  from: string;
  to: string;
  granularity: UsageGranularity;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** `YYYY-MM-DD` of a moment, in UTC. */
export function utcDate(at: Date | number): string {
  return new Date(at).toISOString().slice(0, 10);
}

function validDate(value: string | null | undefined): value is string {
  return !!value && DATE.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`));
}

/** The last `days` days up to today (UTC), today included. */
export function lastDays(days: number, granularity: UsageGranularity = "DAY", now = Date.now()): UsageRange {
  return { from: utcDate(now - (days - 1) * DAY_MS), to: utcDate(now), granularity };
}

/** The range in the URL (`?from=2026-01-01&to=2026-01-31&by=hour`), or the last 30 days by day. */
export function readRange(params: URLSearchParams, now = Date.now()): UsageRange {
  const fallback = lastDays(30, "DAY", now);
  const from = params.get("from");
  const to = params.get("to");
  const granularity: UsageGranularity = params.get("by")?.toLowerCase() === "hour" ? "HOUR" : "DAY";
  if (!validDate(from) || !validDate(to)) return { ...fallback, granularity };
  return { from, to, granularity };
}

export function rangeSearch(range: UsageRange): string {
  const params = new URLSearchParams({ from: range.from, to: range.to });
  if (range.granularity === "HOUR") params.set("by", "hour");
  return `?${params}`;
}

/** The query's `from` (inclusive) and `to` (exclusive): whole UTC days. */
export function rangeBounds(range: Pick<UsageRange, "from" | "to">): { from: string; to: string } {
  const from = new Date(`${range.from}T00:00:00Z`);
  const to = new Date(Date.parse(`${range.to}T00:00:00Z`) + DAY_MS);
  return { from: from.toISOString(), to: to.toISOString() };
}

/** Why a range cannot be asked for, or null when it can. */
export function rangeProblem(range: UsageRange): { field: "from" | "to"; message: string } | null {
  if (!validDate(range.from)) return { field: "from", message: "Choose a start date." };
  if (!validDate(range.to)) return { field: "to", message: "Choose an end date." };
  const { from, to } = rangeBounds(range);
  const span = Date.parse(to) - Date.parse(from);
  if (span <= 0) return { field: "to", message: "The end date must be on or after the start date." };
  const buckets = span / (range.granularity === "HOUR" ? HOUR_MS : DAY_MS);
  if (buckets > MAX_BUCKETS) {
    return range.granularity === "HOUR"
      ? {
          field: "to",
          message: `By hour, a range covers at most ${Math.floor(MAX_BUCKETS / 24)} days: shorten it or show days.`,
        }
      : { field: "to", message: `A range covers at most ${MAX_BUCKETS} days.` };
  }
  return null;
}

/** A bucket's start as a short label: "3 Mar" by day, "3 Mar, 14:00" by hour (UTC). */
export function bucketLabel(iso: string, granularity: UsageGranularity): string {
  const date = new Date(iso);
  const day = date.toLocaleDateString(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
  if (granularity === "DAY") return day;
  const hour = date.toLocaleTimeString(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
    timeZone: "UTC",
  });
  return `${day}, ${hour}`;
}

/** A "nice" top for an axis: 1, 2, 5 × 10ⁿ at or above `max` (at least 1). */
export function niceMax(max: number): number {
  if (max <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/** Which of `count` bars get an axis label, so that labels are at least `every` bars apart. */
export function labelEvery(count: number, width: number, minLabelWidth = 56): number {
  if (count <= 0 || width <= 0) return 1;
  return Math.max(1, Math.ceil((count * minLabelWidth) / width));
}

/** One bar of a chart. */
export interface Bar {
  label: string;
  value: number;
  /** A part of `value` drawn in the second colour at the bottom of the bar (failures among tasks). */
  part?: number;
}

export interface UsageTotals {
  tasks: number;
  images: number;
  creditsSpent: number;
  failures: number;
}

export function totals(buckets: readonly UsageTotals[]): UsageTotals {
  return buckets.reduce(
    (sum, b) => ({
      tasks: sum.tasks + b.tasks,
      images: sum.images + b.images,
      creditsSpent: sum.creditsSpent + b.creditsSpent,
      failures: sum.failures + b.failures,
    }),
    { tasks: 0, images: 0, creditsSpent: 0, failures: 0 },
  );
}
