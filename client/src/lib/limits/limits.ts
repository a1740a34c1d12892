import type {
  AccountLimitsViewFragment,
  LimitRequestRowFragment,
  LimitRequestStatus,
  LimitValuesInput,
  RestrictionScope,
  TierRowFragment,
} from "$lib/graphql/generated/graphql";

/** The limits of a tier or an account, in the order pages show them. */
export const LIMIT_KEYS = [
  "tasksPerDay",
  "concurrentTasks",
  "tasksPerMinute",
  "dailySpendCap",
  "uploadsPerDay",
  "requestsPerMinute",
] as const;

export type LimitKey = (typeof LIMIT_KEYS)[number];
export type LimitValues = Record<LimitKey, number | null>;
type UsageKey = keyof Omit<AccountLimitsViewFragment["usage"], "__typename">;

/** What each limit is called, what counts against it and when that count starts again. */
export const LIMITS: Record<LimitKey, { label: string; short: string; usage: UsageKey; resets: string }> = {
  tasksPerDay: { label: "Tasks per day", short: "Tasks / day", usage: "tasksToday", resets: "day" },
  concurrentTasks: {
    label: "Unfinished tasks at once",
    short: "At once",
    usage: "unfinishedTasks",
    resets: "In review, queued or running now.",
  },
  tasksPerMinute: {
    label: "Task submissions per minute",
    short: "Tasks / min",
    usage: "tasksThisMinute",
    resets: "minute",
  },
  dailySpendCap: { label: "Credits spent per day", short: "Spend / day", usage: "spentToday", resets: "day" },
  uploadsPerDay: { label: "Reference uploads per day", short: "Uploads / day", usage: "uploadsToday", resets: "day" },
  requestsPerMinute: {
    label: "API requests per minute",
    short: "Requests / min",
    usage: "requestsThisMinute",
    resets: "minute",
  },
};

/** "1,000", or "No cap" for a daily spend cap that is not set. */
export function formatLimit(key: LimitKey, value: number | null): string {
  if (value === null) return key === "dailySpendCap" ? "No cap" : "—";
  return key === "dailySpendCap" ? `${value.toLocaleString()} cr` : value.toLocaleString();
}

export function limitValues(source: Record<LimitKey, number | null | undefined>): LimitValues {
  return Object.fromEntries(LIMIT_KEYS.map((key) => [key, source[key] ?? null])) as LimitValues;
}

export type MeterTone = "ok" | "near" | "full" | "none";

/** How full a limit is: its share (0–1, null when there is no cap) and the colour that says so. */
export function meter(used: number, limit: number | null): { share: number | null; tone: MeterTone } {
  if (limit === null) return { share: null, tone: "none" };
  if (limit <= 0) return { share: 1, tone: "full" };
  const share = Math.min(1, used / limit);
  return { share, tone: used >= limit ? "full" : share >= 0.8 ? "near" : "ok" };
}

/** Seconds until the next 00:00 UTC, when the daily counts start again. */
export function secondsToUtcMidnight(now = new Date()): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}

/** "in 5 h 12 min", "in 40 min". */
export function inHoursMinutes(seconds: number): string {
  const minutes = Math.max(1, Math.round(seconds / 60));
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h === 0) return `in ${m} min`;
  return m === 0 ? `in ${h} h` : `in ${h} h ${m} min`;
}

/** When a limit's count starts again, in words. */
export function resetWords(key: LimitKey, now = new Date()): string {
  const resets = LIMITS[key].resets;
  if (resets === "day") return `Resets at 00:00 UTC, ${inHoursMinutes(secondsToUtcMidnight(now))}.`;
  if (resets === "minute") return "Counted over the current minute.";
  return resets;
}

/** Tiers from the smallest to the largest (the server's order: sortOrder, then id). */
export function sortTiers<T extends Pick<TierRowFragment, "id" | "sortOrder">>(tiers: readonly T[]): T[] {
  return [...tiers].sort((a, b) => a.sortOrder - b.sortOrder || (a.id < b.id ? -1 : 1));
}

/** A tier's name; its id in words ("PRO_2" → "Pro 2") while the list is not there (or it was deleted). */
export function tierName(
  tiers: readonly Pick<TierRowFragment, "id" | "name">[] | null | undefined,
  id: string,
): string {
  return tiers?.find((t) => t.id === id)?.name ?? idWords(id);
}

export function idWords(id: string): string {
  return id.charAt(0) + id.slice(1).toLowerCase().replaceAll("_", " ");
}

export const REQUEST_STATUS: Record<LimitRequestStatus, { label: string; tone: "warning" | "success" | "danger" }> = {
  PENDING: { label: "Waiting for an answer", tone: "warning" },
  APPROVED: { label: "Approved", tone: "success" },
  REFUSED: { label: "Declined", tone: "danger" },
};

/** What a request asks for, one line per tier or value ("Tier: Pro", "Tasks per day: 1,000"). */
export function requestedLines(
  request: Pick<LimitRequestRowFragment, "desiredTierId" | "desiredValues">,
  tiers: readonly Pick<TierRowFragment, "id" | "name">[] | null | undefined,
): { key: LimitKey | "tier"; label: string; value: string }[] {
  const lines: { key: LimitKey | "tier"; label: string; value: string }[] = [];
  if (request.desiredTierId) lines.push({ key: "tier", label: "Plan", value: tierName(tiers, request.desiredTierId) });
  const values = request.desiredValues;
  if (values) {
    for (const key of LIMIT_KEYS) {
      if (key === "dailySpendCap" && values.noDailySpendCap) {
        lines.push({ key, label: LIMITS[key].label, value: "No cap" });
      } else if (values[key] !== null && values[key] !== undefined) {
        lines.push({ key, label: LIMITS[key].label, value: formatLimit(key, values[key]) });
      }
    }
  }
  return lines;
}

/** A whole number 0–1 000 000 000 typed by a person ("1 000", "1,000"); null when blank; NaN when not one. */
export function parseLimit(raw: string): number | null {
  const text = raw.trim().replace(/[\s,_]/g, "");
  if (!text) return null;
  if (!/^\d+$/.test(text)) return Number.NaN;
  const value = Number(text);
  return value <= 1_000_000_000 ? value : Number.NaN;
}

/**
 * Limit values typed into a form (blank: not set; "No cap" for the spend cap) as the input the server takes,
 * with the problems per field. `min` is 1 for requests per minute (the server refuses 0 there).
 */
export function valuesInput(
  typed: Record<LimitKey, string>,
  noSpendCap: boolean,
): { input: LimitValuesInput; problems: Partial<Record<LimitKey, string>>; count: number } {
  const input: LimitValuesInput = {};
  const problems: Partial<Record<LimitKey, string>> = {};
  let count = 0;
  for (const key of LIMIT_KEYS) {
    if (key === "dailySpendCap" && noSpendCap) {
      input.noDailySpendCap = true;
      count++;
      continue;
    }
    const value = parseLimit(typed[key]);
    if (value === null) continue;
    if (Number.isNaN(value) || (key === "requestsPerMinute" && value < 1)) {
      problems[key] =
        key === "requestsPerMinute" ? "A whole number, 1 or more." : "A whole number, 0 or more (up to a billion).";
      continue;
    }
    input[key] = value;
    count++;
  }
  return { input, problems, count };
}

/** The empty text of every limit field. */
export function blankValues(): Record<LimitKey, string> {
  return Object.fromEntries(LIMIT_KEYS.map((key) => [key, ""])) as Record<LimitKey, string>;
}

export const REASON_MIN = 10;
export const REASON_MAX = 2000;

// ---- restrictions ----

/** What each restriction scope stops, in the words the account and the moderators read. */
export const SCOPES: { value: RestrictionScope; label: string; description: string }[] = [
  { value: "TASKS", label: "Creating tasks", description: "No new tasks, in the Studio or with API keys." },
  { value: "UPLOADS", label: "Uploads", description: "No new reference images." },
  { value: "API", label: "API keys", description: "Every request made with an API key is refused." },
  { value: "SIGN_IN", label: "Signing in", description: "No new sessions; sessions already signed in go on." },
  {
    value: "ALL",
    label: "Everything",
    description:
      "Everything but reading the account, its restrictions and messages, and appealing; open connections are closed.",
  },
];

export function scopeLabel(scope: string): string {
  return SCOPES.find((s) => s.value === scope)?.label ?? scope.charAt(0) + scope.slice(1).toLowerCase();
}

/** "creating tasks and uploads". */
export function scopeWords(scopes: readonly string[]): string {
  // "Creating tasks" → "creating tasks", but "API keys" stays.
  const words = scopes.map((s) => scopeLabel(s).replace(/^[A-Z](?=[a-z])/, (c) => c.toLowerCase()));
  return words.length <= 1 ? (words[0] ?? "") : `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
}

/** Whether a restriction is in force at `now` (the server's `active` can age while a page stays open). */
export function inForce(
  restriction: { active: boolean; liftedAt: string | null; endsAt: string | null },
  now = Date.now(),
): boolean {
  if (!restriction.active || restriction.liftedAt) return false;
  return !restriction.endsAt || Date.parse(restriction.endsAt) > now;
}

export type Standing = "active" | "lifted" | "ended";

export function standing(
  restriction: { active: boolean; liftedAt: string | null; endsAt: string | null },
  now = Date.now(),
): Standing {
  if (inForce(restriction, now)) return "active";
  return restriction.liftedAt ? "lifted" : "ended";
}

export const STANDING: Record<Standing, { label: string; tone: string }> = {
  active: { label: "In force", tone: "danger" },
  lifted: { label: "Lifted", tone: "success" },
  ended: { label: "Ended", tone: "" },
};

export const APPEAL_MIN = 10;
export const APPEAL_MAX = 2000;
