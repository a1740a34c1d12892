/**
 * Domain errors with stable, public codes. No `graphql` import here, so workers and scripts share them;
 * `graphql/format-error.ts` maps them to `extensions.code`. Codes are never renamed or reused.
 */
export const ERROR_CODES = [
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "BAD_REQUEST",
  "NOT_FOUND",
  "BAD_USER_INPUT",
  "CONFLICT",
  "RATE_LIMITED",
  "PAYLOAD_TOO_LARGE",
  "INTERNAL_SERVER_ERROR",
  "SERVICE_UNAVAILABLE",
  // accounts
  "EMAIL_NOT_VERIFIED",
  "INVALID_CREDENTIALS",
  "INVALID_TOKEN",
  "TERMS_NOT_ACCEPTED",
  "REGISTRATION_CLOSED",
  "INVITE_REQUIRED",
  "EMAIL_DOMAIN_NOT_ALLOWED",
  // credits
  "INSUFFICIENT_BALANCE",
  "BALANCE_LIMIT_REACHED",
  "INVALID_CODE",
  "CODE_EXPIRED",
  "CODE_DISABLED",
  "CODE_EXHAUSTED",
  "CODE_LIMIT_REACHED",
  // plain HTTP endpoints (store recharges, signed callbacks)
  "INVALID_SIGNATURE",
  "UNSUPPORTED_MEDIA_TYPE",
  // generation
  "IMAGE_TOO_LARGE",
  "IDEMPOTENCY_CONFLICT",
  "TASK_NOT_CANCELABLE",
  // risk control
  "CONTENT_REJECTED",
  "ACCOUNT_RESTRICTED",
  "CONCURRENCY_LIMIT",
  "DAILY_LIMIT",
  "MODEL_NOT_ALLOWED",
  // webhooks
  "WEBHOOK_ENDPOINT_DELETED",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends AppError {
  constructor(what: string, details: Record<string, unknown> = {}) {
    super("NOT_FOUND", `${what} not found`, details);
  }
}

export class BadUserInputError extends AppError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super("BAD_USER_INPUT", message, details);
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message = "Sign in first") {
    super("UNAUTHENTICATED", message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = "You may not do this", details: Record<string, unknown> = {}) {
    super("FORBIDDEN", message, details);
  }
}

/**
 * A connection to PostgreSQL or Redis lost under the operation (terminated by the server, reset, refused, or no
 * pool connection in time): the request did not complete and may simply be sent again, which the caller can
 * tell from SERVICE_UNAVAILABLE rather than a bare INTERNAL_SERVER_ERROR. SQLSTATE class 08 (connection
 * exception) and 57P01–57P03 (the server terminated the session); the drivers' own messages otherwise.
 */
export function isLostConnection(error: unknown): boolean {
  const err = error as { code?: unknown; message?: unknown; name?: unknown; driverError?: unknown } | undefined;
  if (!err || typeof err !== "object") return false;
  if (err.driverError && isLostConnection(err.driverError)) return true;
  const code = typeof err.code === "string" ? err.code : "";
  if (/^08/.test(code) || ["57P01", "57P02", "57P03", "ECONNRESET", "ECONNREFUSED", "EPIPE"].includes(code))
    return true;
  // TypeORM releases a transaction's connection when the server ends it between two statements; the next
  // statement of that transaction then fails with this instead of the connection error.
  if (err.name === "MaxRetriesPerRequestError" || err.name === "QueryRunnerProviderAlreadyReleasedError") return true;
  const message = typeof err.message === "string" ? err.message : "";
  return /^Connection terminated|^Connection is closed|timeout exceeded when trying to connect|not queryable/.test(
    message,
  );
}
