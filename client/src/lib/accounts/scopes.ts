import type { ApiKeyScope } from "$lib/graphql/generated/graphql";

/** The API key scopes, in the order the form offers them, with what each allows. */
export const SCOPES: { value: ApiKeyScope; name: string; description: string }[] = [
  { value: "TASKS_READ", name: "tasks:read", description: "Read tasks and follow their status." },
  { value: "TASKS_WRITE", name: "tasks:write", description: "Create and cancel tasks, upload reference images." },
  { value: "ASSETS_READ", name: "assets:read", description: "List and download generated images." },
  { value: "ACCOUNT_READ", name: "account:read", description: "Read the account, its balance and messages." },
];

export function scopeName(scope: ApiKeyScope): string {
  return SCOPES.find((s) => s.value === scope)?.name ?? scope.toLowerCase();
}

export type KeyStatus = "active" | "expired" | "revoked";

export function keyStatus(key: { revokedAt: string | null; expiresAt: string | null }, now = Date.now()): KeyStatus {
  if (key.revokedAt) return "revoked";
  if (key.expiresAt && new Date(key.expiresAt).getTime() <= now) return "expired";
  return "active";
}

/** The end of the chosen day in the reader's time zone, as the ISO instant the server expects. */
export function expiryFromDate(day: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return null;
  const [y, m, d] = day.split("-").map(Number);
  const end = new Date(y, m - 1, d, 23, 59, 59);
  return Number.isNaN(end.getTime()) ? null : end.toISOString();
}

/** Today's date as `YYYY-MM-DD` in the reader's time zone (the earliest expiry the form accepts). */
export function todayInput(now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}
