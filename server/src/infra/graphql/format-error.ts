import { GraphQLError, type GraphQLFormattedError } from "graphql";
import { AppError, isLostConnection } from "../errors.js";
import type { Logger } from "../logger.js";

/** Codes produced by graphql-js, Apollo and type-graphql that are safe to pass through as they are. */
const PASS_THROUGH_CODES = new Set([
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_USER_INPUT",
  "BAD_REQUEST",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
  "OPERATION_RESOLUTION_FAILURE",
]);

/**
 * PostgreSQL errors about a value the caller sent: invalid text representation (22P02), a byte sequence
 * invalid in UTF-8 such as NUL (22021), a character JSON or the encoding cannot hold (22P05).
 */
const REFUSED_VALUE_CODES = new Set(["22P02", "22021", "22P05"]);

/**
 * Maps every error to a public shape with a stable `extensions.code`: domain errors keep their code and
 * details, type-graphql's authorization errors become FORBIDDEN / UNAUTHENTICATED, and anything
 * unexpected becomes INTERNAL_SERVER_ERROR with a generic message (the original is logged, never sent).
 */
export function createFormatError(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = error instanceof GraphQLError ? error.originalError : error;
    const base = { message: formatted.message, locations: formatted.locations, path: formatted.path };

    if (original instanceof AppError) {
      return { ...base, message: original.message, extensions: { ...original.details, code: original.code } };
    }
    const name = (original as { name?: string } | undefined)?.name;
    if (name === "UnauthorizedError") {
      return { ...base, message: "Sign in first", extensions: { code: "UNAUTHENTICATED" } };
    }
    if (name === "ForbiddenError") {
      return { ...base, message: "You may not do this", extensions: { code: "FORBIDDEN" } };
    }
    if (name === "ArgumentValidationError") {
      return { ...base, extensions: { code: "BAD_USER_INPUT" } };
    }
    // PostgreSQL refused a value's text form (an id that is not a uuid, a NUL character in a string): the
    // caller's input was wrong.
    const driverCode = (original as { code?: string; driverError?: { code?: string } } | undefined)?.driverError?.code;
    if (driverCode !== undefined && REFUSED_VALUE_CODES.has(driverCode)) {
      return { ...base, message: "An id or value has the wrong format.", extensions: { code: "BAD_USER_INPUT" } };
    }
    const code = formatted.extensions?.code;
    if (!original || original instanceof GraphQLError) {
      // Parse, validation and variable-coercion errors: graphql-js wrote the message, no internals in it.
      const safeCode = typeof code === "string" && PASS_THROUGH_CODES.has(code) ? code : "BAD_USER_INPUT";
      const extensions: Record<string, unknown> = { code: safeCode };
      return { ...base, extensions };
    }
    if (isLostConnection(original)) {
      logger.warn({ err: original, path: formatted.path }, "a service connection was lost under a GraphQL operation");
      return {
        ...base,
        message: "A service the API needs was briefly unavailable; send the request again.",
        extensions: { code: "SERVICE_UNAVAILABLE" },
      };
    }
    logger.error({ err: original, path: formatted.path }, "unexpected error in a GraphQL operation");
    return { ...base, message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR" } };
  };
}
