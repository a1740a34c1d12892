/** One stable error code of the public API and what it means, for the Docs page. */
export interface ErrorCodeDoc {
  code: string;
  meaning: string;
}

/**
 * Every GraphQL error carries one of these in `extensions.code`; plain HTTP routes (uploads, recharges)
 * answer `{ "error": { "code", "message" } }`. A test checks this list against the README's table.
 */
export const ERROR_CODES: readonly ErrorCodeDoc[] = [
  { code: "GRAPHQL_PARSE_FAILED", meaning: "The document is not valid GraphQL syntax." },
  {
    code: "GRAPHQL_VALIDATION_FAILED",
    meaning: "The document does not match the schema (a misspelt field, a missing argument).",
  },
  { code: "BAD_USER_INPUT", meaning: "An argument or variable is invalid; `extensions.field` names it when it can." },
  { code: "BAD_REQUEST", meaning: "The HTTP request itself is malformed, for example a body that is not JSON." },
  { code: "PAYLOAD_TOO_LARGE", meaning: "The request body is over the limit (100 kB for GraphQL, 10 MB for uploads)." },
  { code: "UNAUTHENTICATED", meaning: "No valid credential: the API key is missing, wrong, revoked or expired." },
  {
    code: "FORBIDDEN",
    meaning:
      "Authenticated, but not allowed: the key lacks the scope the operation needs, or it needs a signed-in session.",
  },
  { code: "NOT_FOUND", meaning: "No such thing, or it is not yours." },
  { code: "CONFLICT", meaning: "The thing changed in the meantime: read it again and retry." },
  { code: "RATE_LIMITED", meaning: "Too many requests: wait `extensions.retryAfter` seconds and retry." },
  {
    code: "INTERNAL_SERVER_ERROR",
    meaning: "Something failed on the server; details are logged with the request id, never sent.",
  },
  {
    code: "SERVICE_UNAVAILABLE",
    meaning:
      "The database or Redis connection was lost under the request, which did not complete. Send it again (safe with an idempotency key).",
  },
  { code: "EMAIL_NOT_VERIFIED", meaning: "Sign-in before the emailed confirmation link was used." },
  { code: "INVALID_CREDENTIALS", meaning: "Wrong email or password (the same answer for an unknown email)." },
  { code: "INVALID_TOKEN", meaning: "An emailed link's token is unknown, expired or already used." },
  {
    code: "TERMS_NOT_ACCEPTED",
    meaning: "The terms of use named are not the current version (`extensions.currentVersion`).",
  },
  {
    code: "INSUFFICIENT_BALANCE",
    meaning: "The balance does not cover the price (`extensions.required`, `available`, `missing`).",
  },
  {
    code: "BALANCE_LIMIT_REACHED",
    meaning:
      "A credit would take the balance past 1 000 000 000 credits (`extensions.limit`, `balance`); nothing changed.",
  },
  { code: "INVALID_CODE", meaning: "A redemption code is malformed, fails its check character, or does not exist." },
  { code: "CODE_EXPIRED", meaning: "The code's batch has expired." },
  { code: "CODE_DISABLED", meaning: "The code or its batch was disabled." },
  { code: "CODE_EXHAUSTED", meaning: "The code has been redeemed as often as it may be." },
  { code: "CODE_LIMIT_REACHED", meaning: "This account has redeemed as many codes of the batch as allowed." },
  {
    code: "INVALID_SIGNATURE",
    meaning: "HTTP 401 from POST /api/recharge: unknown store, bad signature, or a timestamp outside 5 minutes.",
  },
  {
    code: "UNSUPPORTED_MEDIA_TYPE",
    meaning: "HTTP 415: the body is not of a type the route takes (JSON, or a PNG, JPEG or WebP image).",
  },
  { code: "IMAGE_TOO_LARGE", meaning: "HTTP 422 from POST /api/uploads: the image is over 4096 × 4096 pixels." },
  {
    code: "CONTENT_REJECTED",
    meaning: "The prompt matched a moderation rule that blocks it (`extensions.category`); nothing was charged.",
  },
  {
    code: "IDEMPOTENCY_CONFLICT",
    meaning:
      "The idempotency key was used in the last 24 h for a task with different input (`extensions.taskId`), or by " +
      "an admin for a different balance adjustment (`extensions.entryId`).",
  },
  { code: "TASK_NOT_CANCELABLE", meaning: "The task has already finished." },
  {
    code: "ACCOUNT_RESTRICTED",
    meaning: "A moderator's restriction of the account covers the operation (`extensions.reason`, `endsAt`, `scopes`).",
  },
  {
    code: "CONCURRENCY_LIMIT",
    meaning:
      "The account has as many unfinished tasks as its plan allows: wait for one to finish (`extensions.limit`).",
  },
  {
    code: "DAILY_LIMIT",
    meaning:
      "A daily limit is reached (`extensions.limit`: TASKS_PER_DAY, UPLOADS_PER_DAY or DAILY_SPEND_CAP); it resets at 00:00 UTC (`retryAfter`).",
  },
  { code: "MODEL_NOT_ALLOWED", meaning: "The model is not part of the account's plan (`extensions.model`)." },
  {
    code: "WEBHOOK_ENDPOINT_DELETED",
    meaning: "`redeliverWebhook` named a delivery whose endpoint was deleted: it is not sent again.",
  },
  { code: "REGISTRATION_CLOSED", meaning: "Registration is closed on this installation." },
  {
    code: "INVITE_REQUIRED",
    meaning: "Registration is invite-only: pass a referral code or an invite code as `referralCode`.",
  },
  {
    code: "EMAIL_DOMAIN_NOT_ALLOWED",
    meaning: "Addresses at this email domain cannot register (a disposable-mail domain, or one the admins listed).",
  },
];

/** Why a task failed: `Task.error.code` of a FAILED task (its cost is refunded). */
export const TASK_ERROR_CODES: readonly ErrorCodeDoc[] = [
  { code: "CONTENT_REJECTED", meaning: "The prompt or a reference image was refused by the content rules." },
  { code: "TIMEOUT", meaning: "The model took longer than the server allows." },
  { code: "UPSTREAM_ERROR", meaning: "The image service failed, also after retries." },
  { code: "RATE_LIMITED", meaning: "The image service kept refusing for load, also after retries." },
  { code: "BAD_RESPONSE", meaning: "The image service answered something that is not a usable image." },
  {
    code: "MISCONFIGURED",
    meaning: "The model is not set up correctly on this server: an administrator has to fix it.",
  },
  {
    code: "WORKER_LOST",
    meaning: "Every run of the task ended with the worker running it (a crash), so it was given up.",
  },
];
