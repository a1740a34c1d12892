import { GraphQLError } from "graphql";
import { describe, expect, it } from "vitest";
import { AppError, NotFoundError } from "../errors.js";
import { createLogger } from "../logger.js";
import { createFormatError } from "./format-error.js";

const logged: string[] = [];
const format = createFormatError(createLogger("error", {}, { write: (l: string) => void logged.push(l) }));
const wrap = (original: Error) => new GraphQLError(original.message, { originalError: original, path: ["x"] });

describe("formatError", () => {
  it("keeps a domain error's code, message and details", () => {
    const error = wrap(new AppError("CONFLICT", "Changed meanwhile", { version: 3 }));
    expect(format(error.toJSON(), error)).toMatchObject({
      message: "Changed meanwhile",
      extensions: { code: "CONFLICT", version: 3 },
      path: ["x"],
    });
    const missing = wrap(new NotFoundError("Task"));
    expect(format(missing.toJSON(), missing).extensions).toEqual({ code: "NOT_FOUND" });
  });

  it("hides unexpected errors behind a generic message and logs them", () => {
    const error = wrap(new Error('relation "account" does not exist at SELECT * FROM account'));
    const formatted = format(error.toJSON(), error);
    expect(formatted).toEqual({
      message: "Internal server error",
      path: ["x"],
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    });
    expect(JSON.stringify(formatted)).not.toContain("SELECT");
    expect(logged.join("")).toContain("SELECT * FROM account");
  });

  it("answers a database or Redis connection lost under the operation as SERVICE_UNAVAILABLE", () => {
    const lost = [
      Object.assign(new Error("terminating connection due to administrator command"), {
        name: "QueryFailedError",
        driverError: { code: "57P01" },
      }),
      new Error("Connection terminated unexpectedly"),
      new Error("timeout exceeded when trying to connect"),
      Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
      new Error("Connection is closed."),
      Object.assign(new Error("Database connection provided by a query runner was already released"), {
        name: "QueryRunnerProviderAlreadyReleasedError",
      }),
    ];
    for (const original of lost) {
      const error = wrap(original);
      expect(format(error.toJSON(), error)).toEqual({
        message: "A service the API needs was briefly unavailable; send the request again.",
        path: ["x"],
        extensions: { code: "SERVICE_UNAVAILABLE" },
      });
    }
    const other = wrap(Object.assign(new Error("deadlock detected"), { driverError: { code: "40P01" } }));
    expect(format(other.toJSON(), other).extensions).toEqual({ code: "INTERNAL_SERVER_ERROR" });
  });

  it("answers a value PostgreSQL cannot read (a malformed id) as BAD_USER_INPUT", () => {
    const pgError = Object.assign(new Error('invalid input syntax for type uuid: "abc"'), {
      name: "QueryFailedError",
      driverError: { code: "22P02" },
    });
    const error = wrap(pgError);
    expect(format(error.toJSON(), error)).toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    expect(JSON.stringify(format(error.toJSON(), error))).not.toContain("uuid");
  });

  it("maps type-graphql's authorization errors to stable codes", () => {
    const unauthorized = Object.assign(new Error("Access denied!"), { name: "UnauthorizedError" });
    const forbidden = Object.assign(new Error("Access denied!"), { name: "ForbiddenError" });
    expect(format(wrap(unauthorized).toJSON(), wrap(unauthorized)).extensions?.code).toBe("UNAUTHENTICATED");
    expect(format(wrap(forbidden).toJSON(), wrap(forbidden)).extensions?.code).toBe("FORBIDDEN");
  });
});
