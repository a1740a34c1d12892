import type { AccountRole, RegistrationMode } from "$lib/graphql/generated/graphql";

export const ROLES: { value: AccountRole; label: string }[] = [
  { value: "USER", label: "User" },
  { value: "MODERATOR", label: "Moderator" },
  { value: "ADMIN", label: "Admin" },
];

export function roleLabel(role: string): string {
  return ROLES.find((r) => r.value === role)?.label ?? role;
}

/** A `?role=` value from the URL, or null (any role). */
export function parseRole(raw: string | null | undefined): AccountRole | null {
  return ROLES.find((r) => r.value === raw?.trim().toUpperCase())?.value ?? null;
}

/** A `?restricted=` value from the URL: "yes" / "no", or null (either). */
export function parseRestricted(raw: string | null | undefined): boolean | null {
  if (raw === "yes") return true;
  if (raw === "no") return false;
  return null;
}

/** How long a restriction lasts: the presets moderators pick from (null: until lifted). */
export const DURATIONS: { id: string; label: string; minutes: number | null }[] = [
  { id: "1h", label: "1 hour", minutes: 60 },
  { id: "24h", label: "24 hours", minutes: 24 * 60 },
  { id: "7d", label: "7 days", minutes: 7 * 24 * 60 },
  { id: "30d", label: "30 days", minutes: 30 * 24 * 60 },
  { id: "permanent", label: "Permanent", minutes: null },
];

/** When a restriction of `minutes` starting now ends (null: never). */
export function endsAfter(minutes: number | null, now = Date.now()): Date | null {
  return minutes === null ? null : new Date(now + minutes * 60_000);
}

export const MODES: { value: RegistrationMode; label: string; description: string }[] = [
  { value: "OPEN", label: "Open", description: "Anyone can create an account." },
  {
    value: "INVITE_ONLY",
    label: "Invite only",
    description: "Only with an existing account's referral code or an invite code made here.",
  },
  { value: "CLOSED", label: "Closed", description: "Nobody can create an account; people who have one still sign in." },
];

/** Email domains typed one per line (or separated by commas or spaces), cleaned and without repeats. */
export function parseDomains(text: string): { domains: string[]; invalid: string[] } {
  const seen = new Set<string>();
  const invalid: string[] = [];
  for (const raw of text.split(/[\s,;]+/)) {
    const domain = raw.trim().toLowerCase().replace(/^@/, "");
    if (!domain) continue;
    if (!/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domain)) invalid.push(raw.trim());
    else seen.add(domain);
  }
  return { domains: [...seen], invalid };
}

/** A short form of a prompt for tables. */
export function excerpt(text: string, max = 80): string {
  const clean = text.replace(/\s+/g, " ").trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
