import type { CombinedError } from "@urql/core";
import { errorCode, errorField, errorMessage, numberExtension } from "../graphql/errors";
import { formatCredits } from "./pricing";

/** The composer's inputs a createTask error can be shown next to. */
export const COMPOSER_FIELDS = ["prompt", "negativePrompt", "model", "size", "count", "seed", "referenceIds"] as const;
export type ComposerField = (typeof COMPOSER_FIELDS)[number];

export interface SubmitError {
  code: string;
  /** The input it belongs next to; null: above the submit button. */
  field: ComposerField | null;
  message: string;
  /** INSUFFICIENT_BALANCE: what is missing, to offer a redemption. */
  missing: number | null;
}

function composerField(field: string | null): ComposerField | null {
  if (field === "width" || field === "height") return "size";
  return (COMPOSER_FIELDS as readonly string[]).includes(field ?? "") ? (field as ComposerField) : null;
}

/** A createTask error in plain words, next to the input it is about. */
export function submitError(error: CombinedError): SubmitError {
  const code = errorCode(error);
  const field = composerField(errorField(error));
  if (code === "BAD_USER_INPUT") {
    // The server writes these for people ("The prompt may have at most 2 000 characters.").
    return { code, field, message: error.graphQLErrors[0]?.message || errorMessage(error), missing: null };
  }
  if (code === "NOT_FOUND" && field === "referenceIds") {
    return {
      code,
      field,
      message: "A reference image is no longer on the server (they are kept for 24 hours). Remove it and add it again.",
      missing: null,
    };
  }
  if (code === "NOT_FOUND" && field === "model") {
    return { code, field, message: "This model is no longer available. Pick another one.", missing: null };
  }
  if (code === "INSUFFICIENT_BALANCE") {
    const required = numberExtension(error, "required");
    const available = numberExtension(error, "available");
    const missing =
      numberExtension(error, "missing") ?? (required !== null && available !== null ? required - available : null);
    const message =
      required !== null && available !== null
        ? `This task costs ${formatCredits(required)}; you have ${formatCredits(available)}.`
        : errorMessage(error);
    return { code, field: null, message, missing };
  }
  if (code === "NETWORK") {
    return {
      code,
      field: null,
      message: "Cannot reach the server. Try again: a task that did go through is not charged twice.",
      missing: null,
    };
  }
  // Refused by the content rules when it was submitted: the prompt is what to change.
  if (code === "CONTENT_REJECTED")
    return { code, field: field ?? "prompt", message: errorMessage(error), missing: null };
  return { code, field, message: errorMessage(error), missing: null };
}

/** A fresh idempotency key: crypto.randomUUID() where the page is a secure context, random bytes elsewhere. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** "⌘ Enter" on Apple devices, "Ctrl Enter" elsewhere. */
export function submitShortcut(): string {
  const platform = (navigator as Navigator & { userAgentData?: { platform?: string } }).userAgentData?.platform;
  return /mac|iphone|ipad/i.test(platform ?? navigator.platform ?? "") ? "⌘ Enter" : "Ctrl Enter";
}
