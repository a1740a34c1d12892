import type { CombinedError } from "@urql/core";
import { formatDateTime } from "../ui/format";

/** Plain words for every public error code; the one place the studio turns codes into text. */
const MESSAGES: Record<string, string> = {
  UNAUTHENTICATED: "Please sign in to continue.",
  FORBIDDEN: "You do not have access to this.",
  NOT_FOUND: "This could not be found. It may have been deleted.",
  BAD_USER_INPUT: "Some of what you entered is not valid.",
  BAD_REQUEST: "The request was malformed.",
  CONFLICT: "This changed in the meantime. Reload and try again.",
  RATE_LIMITED: "Too many attempts. Wait a moment and try again.",
  PAYLOAD_TOO_LARGE: "This is too large to send.",
  INTERNAL_SERVER_ERROR: "Something went wrong on our side. Try again shortly.",
  SERVICE_UNAVAILABLE: "The service is briefly unavailable. Try again in a moment.",
  EMAIL_NOT_VERIFIED: "Your email address is not confirmed yet. Follow the link we emailed you, or ask for a new one.",
  INVALID_CREDENTIALS: "Wrong email or password.",
  INVALID_TOKEN: "This link is invalid, has expired or was already used. Ask for a new one.",
  TERMS_NOT_ACCEPTED: "The Terms of Use changed in the meantime. Read the current version and accept it to continue.",
  // Generation: creating and canceling tasks, uploading reference images, and why a task failed.
  INSUFFICIENT_BALANCE: "Your balance is too low for this.",
  BALANCE_LIMIT_REACHED: "This would take the balance past the most an account may hold. Nothing was changed.",
  IDEMPOTENCY_CONFLICT: "This request's key was already used for something else. Try again.",
  TASK_NOT_CANCELABLE: "This task has already finished, so it cannot be canceled.",
  WEBHOOK_ENDPOINT_DELETED: "This delivery's endpoint was deleted, so it cannot be sent again.",
  UNSUPPORTED_MEDIA_TYPE: "Use a PNG, JPEG or WebP image.",
  IMAGE_TOO_LARGE: "The image is too large: at most 4096 × 4096 pixels.",
  CONTENT_REJECTED: "The prompt or image was refused by the content rules. Change it and try again.",
  TIMEOUT: "The model took too long to answer.",
  UPSTREAM_ERROR: "The image service had a problem.",
  BAD_RESPONSE: "The image service sent an answer we could not use.",
  MISCONFIGURED: "This model is not set up correctly. An administrator has to fix it.",
  WORKER_LOST: "The task kept stopping the server that ran it, so it was given up.",
  // Credits: redeeming codes and recharge cards.
  INVALID_CODE:
    "This code is not valid. Check it for typos: it has 16 letters and digits; case, spaces and dashes do not matter.",
  CODE_EXPIRED: "This code has expired and can no longer be redeemed.",
  CODE_DISABLED: "This code has been disabled. Ask whoever gave it to you for a new one.",
  CODE_EXHAUSTED: "This code has already been used.",
  CODE_LIMIT_REACHED: "You have already redeemed as many codes of this kind as allowed.",
  // Registration policy.
  REGISTRATION_CLOSED: "Registration is closed on this site at the moment. Try again later.",
  INVITE_REQUIRED: "Registration here needs an invitation: enter the referral or invite code you were given.",
  EMAIL_DOMAIN_NOT_ALLOWED: "Addresses at this email domain cannot register here. Use another address.",
  // Risk control: restrictions, plan limits and model permissions.
  ACCOUNT_RESTRICTED: "Your account is restricted, so this is not possible right now.",
  CONCURRENCY_LIMIT: "You have as many unfinished tasks as your plan allows. Wait for one to finish.",
  DAILY_LIMIT: "You have reached a daily limit of your plan. It resets at 00:00 UTC.",
  MODEL_NOT_ALLOWED: "Your plan does not include this model. Pick another one, or ask for a higher plan on Limits.",
};

/** Codes whose `extensions.field` names the input they belong next to (their words are ours, not the server's). */
const FIELD_CODES = new Set(["INVITE_REQUIRED", "EMAIL_DOMAIN_NOT_ALLOWED"]);

/** INVALID_CREDENTIALS about one field (changePassword, changeEmail, deleteAccount) is about the password. */
const WRONG_PASSWORD = "The password is not correct.";

export function errorCode(error: CombinedError): string {
  if (error.networkError) return "NETWORK";
  const code = error.graphQLErrors[0]?.extensions?.code;
  return typeof code === "string" ? code : "INTERNAL_SERVER_ERROR";
}

function extension(error: CombinedError, name: string): unknown {
  return error.graphQLErrors[0]?.extensions?.[name];
}

/** "45 seconds", "3 minutes", "1 hour". */
export function formatWait(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return `${s} ${s === 1 ? "second" : "seconds"}`;
  const m = Math.ceil(s / 60);
  if (m < 60) return `${m} ${m === 1 ? "minute" : "minutes"}`;
  const h = Math.ceil(m / 60);
  return `${h} ${h === 1 ? "hour" : "hours"}`;
}

/** Seconds to wait before trying again, from a RATE_LIMITED error's `extensions.retryAfter`. */
export function retryAfter(error: CombinedError): number | null {
  const value = extension(error, "retryAfter");
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : null;
}

/** Plain words for a code that did not come as a GraphQL error (upload answers, a failed task's `error.code`). */
export function codeMessage(code: string): string {
  return MESSAGES[code] ?? MESSAGES.INTERNAL_SERVER_ERROR;
}

/** A GraphQL error's `extensions.<name>` when it is a number (INSUFFICIENT_BALANCE's `required`, `available`). */
export function numberExtension(error: CombinedError, name: string): number | null {
  const value = extension(error, name);
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

export function errorMessage(error: CombinedError): string {
  const code = errorCode(error);
  if (code === "NETWORK") return "Cannot reach the server. Check your connection; we will keep trying.";
  if (code === "RATE_LIMITED") {
    const wait = retryAfter(error);
    if (wait !== null) return `Too many attempts. Try again in ${formatWait(wait)}.`;
  }
  if (code === "ACCOUNT_RESTRICTED") return restrictedMessage(error);
  if (code === "DAILY_LIMIT") return dailyLimitMessage(error);
  if (code === "CONCURRENCY_LIMIT") {
    const limit = numberExtension(error, "limit");
    if (limit !== null) {
      return `You already have ${limit === 1 ? "1 unfinished task" : `${limit.toLocaleString()} unfinished tasks`}, as many as your plan allows at once. Wait for one to finish.`;
    }
  }
  if (code === "INSUFFICIENT_BALANCE") {
    const missing = extension(error, "missing");
    if (typeof missing === "number" && missing > 0) {
      return `Your balance is ${missing === 1 ? "1 credit" : `${missing.toLocaleString()} credits`} short. Redeem a code on the Billing page to add credits.`;
    }
  }
  return MESSAGES[code] ?? MESSAGES.INTERNAL_SERVER_ERROR;
}

/** ACCOUNT_RESTRICTED with the moderator's reason and when it ends (`extensions.reason`, `endsAt`). */
function restrictedMessage(error: CombinedError): string {
  const reason = extension(error, "reason");
  const endsAt = extension(error, "endsAt");
  const until =
    typeof endsAt === "string" && formatDateTime(endsAt) ? `until ${formatDateTime(endsAt)}` : "until further notice";
  const why = typeof reason === "string" && reason.trim() ? ` Reason: ${reason.trim()}` : "";
  return `Your account is restricted ${until}, so this is not possible right now.${why}`;
}

/** DAILY_LIMIT names which limit (`extensions.limit`), its value and the seconds until it resets. */
function dailyLimitMessage(error: CombinedError): string {
  const which = extension(error, "limit");
  const value = numberExtension(error, "value");
  const wait = retryAfter(error);
  const resets = wait !== null ? `It resets at 00:00 UTC, in ${formatWait(wait)}.` : "It resets at 00:00 UTC.";
  const amount = (n: number, one: string, many: string) => `${n.toLocaleString()} ${n === 1 ? one : many}`;
  if (which === "TASKS_PER_DAY" && value !== null) {
    return `You have used today's ${amount(value, "task", "tasks")} of your plan. ${resets}`;
  }
  if (which === "UPLOADS_PER_DAY" && value !== null) {
    return `You have used today's ${amount(value, "upload", "uploads")} of your plan. ${resets}`;
  }
  if (which === "DAILY_SPEND_CAP" && value !== null) {
    return `This would pass your daily spending cap of ${amount(value, "credit", "credits")}. ${resets}`;
  }
  return `You have reached a daily limit of your plan. ${resets}`;
}

/** The input field an error is about (`extensions.field`), when it names one. */
export function errorField(error: CombinedError): string | null {
  const field = extension(error, "field");
  return typeof field === "string" && field ? field : null;
}

/**
 * An error split for a form: `field` names the input it belongs next to (null: show it above the form)
 * and `message` is what to show there.
 */
export interface FormError {
  code: string;
  field: string | null;
  message: string;
}

export function formError(error: CombinedError): FormError {
  const code = errorCode(error);
  const field = errorField(error);
  if (field && code === "BAD_USER_INPUT") {
    // Input errors naming a field are written by the server for people ("The password needs at least 8
    // characters."); they say more than the generic words for the code.
    const own = error.graphQLErrors[0]?.message;
    return { code, field, message: own || MESSAGES.BAD_USER_INPUT };
  }
  if (field && code === "INVALID_CREDENTIALS") return { code, field, message: WRONG_PASSWORD };
  if (field && FIELD_CODES.has(code)) return { code, field, message: MESSAGES[code] };
  return { code, field: null, message: errorMessage(error) };
}
