import { codeMessage } from "../graphql/errors";
import type { TaskStatus } from "$lib/graphql/generated/graphql";

export function isFinished(status: TaskStatus): boolean {
  return status === "SUCCEEDED" || status === "FAILED" || status === "CANCELED";
}

// Plain strings, so a state the server adds later (PENDING_REVIEW came with moderation) still shows.
const UNFINISHED: readonly string[] = ["PENDING_REVIEW", "QUEUED", "RUNNING"];

/** Paid and not finished: it can be canceled (and is refunded). */
export function isCancelable(status: TaskStatus): boolean {
  return UNFINISHED.includes(status);
}

/** Held for a moderator before it is queued. */
export function inReview(status: TaskStatus): boolean {
  return status === ("PENDING_REVIEW" as string);
}

const STATUS_LABELS: Record<string, string> = {
  PENDING_REVIEW: "In review",
  QUEUED: "Queued",
  RUNNING: "Running",
  SUCCEEDED: "Done",
  FAILED: "Failed",
  CANCELED: "Canceled",
};

export function statusLabel(status: TaskStatus): string {
  return STATUS_LABELS[status] ?? status.charAt(0) + status.slice(1).toLowerCase().replaceAll("_", " ");
}

/** The badge tone of each state (classes of `.badge` in app.css). */
const STATUS_TONES: Record<string, "" | "accent" | "success" | "warning" | "danger"> = {
  PENDING_REVIEW: "warning",
  QUEUED: "",
  RUNNING: "accent",
  SUCCEEDED: "success",
  FAILED: "danger",
  CANCELED: "warning",
};

export function statusTone(status: TaskStatus): string {
  return STATUS_TONES[status] ?? "";
}

/** Why a task failed, in plain words. A provider's RATE_LIMITED is the service's, not the user's. */
export function taskErrorMessage(error: { code: string; message: string } | null): string {
  if (!error) return codeMessage("INTERNAL_SERVER_ERROR");
  if (error.code === "RATE_LIMITED") return "The image service was too busy.";
  return codeMessage(error.code);
}

/** "0:07", "1:05", "1:02:03": time since `since` (clamped at 0, whole seconds). */
export function formatElapsed(sinceIso: string, now: number): string {
  const start = Date.parse(sinceIso);
  const total = Number.isNaN(start) ? 0 : Math.max(0, Math.floor((now - start) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}

/** "1st", "2nd", "3rd", "11th" — queue positions. */
export function ordinal(n: number): string {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${["th", "st", "nd", "rd"][n % 10] ?? "th"}`;
}

/** A small rectangle with the proportions of width × height, `max` px on its long side. */
export function aspectBox(width: number, height: number, max = 14): { w: number; h: number } {
  const scale = max / Math.max(width, height);
  return { w: Math.max(4, Math.round(width * scale)), h: Math.max(4, Math.round(height * scale)) };
}

/** A random seed in the range the server accepts (0 – 2 147 483 647). */
export function randomSeed(): number {
  const buffer = new Uint32Array(1);
  crypto.getRandomValues(buffer);
  return buffer[0] % 2_147_483_648;
}

/** Characters as the server counts them (code points, after trimming). */
export function promptLength(text: string): number {
  return [...text.trim()].length;
}

export const PROMPT_MAX = 2000;
export const REFERENCE_MAX = 4;
