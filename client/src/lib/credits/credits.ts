import type { CreditKind, LedgerKind } from "$lib/graphql/generated/graphql";

/** Messages whose arrival means the balance may have changed (redeemed, adjusted, recharged, rewarded). */
export function changesBalance(kind: string): boolean {
  return kind.startsWith("credits.") || kind.startsWith("referral.");
}

/** "1 credit", "1,250 credits". */
export function formatCredits(credits: number): string {
  return `${credits.toLocaleString()} ${Math.abs(credits) === 1 ? "credit" : "credits"}`;
}

/** A change with its sign: "+25", "−5" (a true minus sign), "0". */
export function signed(delta: number): string {
  if (delta > 0) return `+${delta.toLocaleString()}`;
  if (delta < 0) return `−${Math.abs(delta).toLocaleString()}`;
  return "0";
}

/** "up", "down" or "none": the colour of a change. */
export function direction(delta: number): "up" | "down" | "none" {
  return delta > 0 ? "up" : delta < 0 ? "down" : "none";
}

/** Every ledger kind, in the order the filter lists them, with its name in words. */
export const LEDGER_KINDS: { value: LedgerKind; label: string }[] = [
  { value: "REDEMPTION", label: "Code redeemed" },
  { value: "RECHARGE", label: "Store purchase" },
  { value: "WELCOME_BONUS", label: "Welcome bonus" },
  { value: "REFERRAL_REWARD", label: "Referral reward" },
  { value: "TASK_CHARGE", label: "Image generation" },
  { value: "TASK_REFUND", label: "Generation refund" },
  { value: "ADMIN_ADJUSTMENT", label: "Adjustment" },
];

export function ledgerKindLabel(kind: LedgerKind): string {
  return LEDGER_KINDS.find((k) => k.value === kind)?.label ?? kind;
}

/** A `?kind=` value from the URL, or null (all kinds) when absent or unknown. */
export function parseLedgerKind(raw: string | null | undefined): LedgerKind | null {
  const value = raw?.trim().toUpperCase();
  return LEDGER_KINDS.find((k) => k.value === value)?.value ?? null;
}

export const CREDIT_KIND_LABELS: Record<CreditKind, string> = { PAID: "Paid", BONUS: "Bonus" };

/** "25 paid credits", "1 bonus credit". */
export function creditsOfKind(credits: number, kind: CreditKind): string {
  return `${credits.toLocaleString()} ${kind === "PAID" ? "paid" : "bonus"} ${credits === 1 ? "credit" : "credits"}`;
}

/**
 * A whole number typed by a person ("25", " -5 ", "1 000", "1,000"), or null when it is not one.
 * `signed` allows a leading minus (or the true minus sign).
 */
export function parseWholeNumber(raw: string, { signed: allowSign = false } = {}): number | null {
  const text = raw
    .trim()
    .replace(/[\s,_]/g, "")
    .replace(/^\u2212/, "-");
  if (!(allowSign ? /^[-+]?\d+$/ : /^\+?\d+$/).test(text)) return null;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : null;
}

/** A file name for a batch's codes: "novart-codes-spring-promo-2026-03-10.csv". */
export function csvFileName(label: string, at: Date = new Date()): string {
  const slug =
    label
      .toLowerCase()
      .normalize("NFKD")
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 40) || "batch";
  const day = at.toISOString().slice(0, 10);
  return `novart-codes-${slug}-${day}.csv`;
}

/** Rows of a codes CSV, without its header line (for counting what was handed over). */
export function csvRowCount(csv: string): number {
  return csv.split("\n").filter((line) => line.trim()).length - 1;
}

export type BatchStatus = "active" | "disabled" | "expired" | "used-up";

/** Where a code batch stands: disabled, expired, every redemption used, or still redeemable. */
export function batchStatus(
  batch: {
    disabledAt: string | null;
    expiresAt: string | null;
    codeCount: number;
    maxRedemptionsPerCode: number;
    redemptions: number;
    disabledCodes: number;
  },
  now = Date.now(),
): BatchStatus {
  if (batch.disabledAt) return "disabled";
  if (batch.expiresAt && Date.parse(batch.expiresAt) <= now) return "expired";
  if (batch.disabledCodes >= batch.codeCount) return "disabled";
  if (batch.redemptions >= batch.codeCount * batch.maxRedemptionsPerCode) return "used-up";
  return "active";
}

export const BATCH_STATUS: Record<BatchStatus, { label: string; tone: "success" | "danger" | "warning" | "" }> = {
  active: { label: "Active", tone: "success" },
  disabled: { label: "Disabled", tone: "danger" },
  expired: { label: "Expired", tone: "warning" },
  "used-up": { label: "Used up", tone: "" },
};

/** Whether text looks like an account id (a UUID), so a typo is caught before asking the server. */
export function isAccountId(text: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text.trim());
}

/** What an adjustment does to one part, in words: "adds 25 paid credits", "removes 1 bonus credit". */
export function adjustmentWords(delta: number, kind: CreditKind): string | null {
  if (delta === 0) return null;
  return `${delta > 0 ? "adds" : "removes"} ${creditsOfKind(Math.abs(delta), kind)}`;
}

/** The items of `fresh` whose id is not among `known` (pages of a list overlap when rows are added meanwhile). */
export function unseen<T extends { id: string }>(known: readonly T[], fresh: readonly T[]): T[] {
  const ids = new Set(known.map((item) => item.id));
  return fresh.filter((item) => !ids.has(item.id));
}
