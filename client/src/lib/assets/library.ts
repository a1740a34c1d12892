import type { AssetFilterInput } from "$lib/graphql/generated/graphql";

/** The library's filters, as kept in the page URL (`?q=…&favorite=1&model=…`). */
export interface LibraryFilters {
  q: string;
  favorite: boolean;
  model: string;
}

export function readFilters(params: URLSearchParams): LibraryFilters {
  return {
    q: (params.get("q") ?? "").trim(),
    favorite: params.get("favorite") === "1",
    model: params.get("model") ?? "",
  };
}

/** The URL search part for filters (empty filters leave no trace): "?q=fox&favorite=1". */
export function filterSearch(filters: LibraryFilters): string {
  const params = new URLSearchParams();
  if (filters.q.trim()) params.set("q", filters.q.trim());
  if (filters.favorite) params.set("favorite", "1");
  if (filters.model) params.set("model", filters.model);
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function hasFilters(filters: LibraryFilters): boolean {
  return Boolean(filters.q || filters.favorite || filters.model);
}

/** The GraphQL filter for the URL's filters. */
export function toAssetFilter(filters: LibraryFilters): AssetFilterInput {
  return {
    search: filters.q || null,
    favorite: filters.favorite ? true : null,
    model: filters.model || null,
  };
}

/** A local calendar day, "2026-03-07", for grouping. */
export function dayKey(iso: string): string {
  const date = new Date(iso);
  const month = String(date.getMonth() + 1).padStart(2, "0");
  const day = String(date.getDate()).padStart(2, "0");
  return `${date.getFullYear()}-${month}-${day}`;
}

/** "Today", "Yesterday", "Tuesday, 3 March" or, in another year, "3 March 2025". */
export function dayLabel(iso: string, now = new Date()): string {
  const key = dayKey(iso);
  if (key === dayKey(now.toISOString())) return "Today";
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (key === dayKey(yesterday.toISOString())) return "Yesterday";
  const date = new Date(iso);
  if (date.getFullYear() === now.getFullYear()) {
    return date.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long" });
  }
  return date.toLocaleDateString(undefined, { day: "numeric", month: "long", year: "numeric" });
}

export interface DayGroup<T> {
  key: string;
  label: string;
  items: T[];
}

/** Items (newest first) in runs of the same local day, in the same order. */
export function groupByDay<T extends { createdAt: string }>(items: T[], now = new Date()): DayGroup<T>[] {
  const groups: DayGroup<T>[] = [];
  for (const item of items) {
    const key = dayKey(item.createdAt);
    const last = groups.at(-1);
    if (last && last.key === key) last.items.push(item);
    else groups.push({ key, label: dayLabel(item.createdAt, now), items: [item] });
  }
  return groups;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Whether an image's files go within `days` days (the expiry badge). */
export function expiresSoon(expiresAt: string, now = Date.now(), days = 3): boolean {
  const at = Date.parse(expiresAt);
  return Number.isFinite(at) && at - now <= days * DAY_MS;
}

/** The ids from `from` to `to` (either order, both included) of an ordered list; `[to]` when `from` is unknown. */
export function rangeBetween(ids: string[], from: string | null, to: string): string[] {
  const end = ids.indexOf(to);
  if (end < 0) return [];
  const start = from === null ? -1 : ids.indexOf(from);
  if (start < 0) return [to];
  const [a, b] = start <= end ? [start, end] : [end, start];
  return ids.slice(a, b + 1);
}

/** The Studio, prefilled with a task's prompt, model and seed ("Use this prompt again"). */
export function studioHref(task: { prompt: string; seed: number; model: { slug: string } }): string {
  const params = new URLSearchParams({ prompt: task.prompt, model: task.model.slug, seed: String(task.seed) });
  return `/?${params.toString()}`;
}

/** "842 KB", "1.4 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** "1 image", "3 images". */
export function imageCount(count: number): string {
  return `${count.toLocaleString()} ${count === 1 ? "image" : "images"}`;
}

/** The items whose id is not among `ids`, in order. */
export function withoutIds<T extends { id: string }>(items: T[], ids: string[]): T[] {
  const gone = new Set(ids);
  return items.filter((item) => !gone.has(item.id));
}
