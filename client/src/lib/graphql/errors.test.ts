import { CombinedError } from "@urql/core";
import { describe, expect, it } from "vitest";
import { errorMessage, formError, formatWait } from "./errors";

const error = (extensions: Record<string, unknown>, message = "server words") =>
  new CombinedError({ graphQLErrors: [{ message, extensions }] });

describe("errors in plain words", () => {
  it("maps the account codes", () => {
    expect(errorMessage(error({ code: "EMAIL_NOT_VERIFIED" }))).toMatch(/not confirmed/);
    expect(errorMessage(error({ code: "INVALID_CREDENTIALS" }))).toBe("Wrong email or password.");
    expect(errorMessage(error({ code: "INVALID_TOKEN" }))).toMatch(/link/);
    expect(errorMessage(error({ code: "TERMS_NOT_ACCEPTED" }))).toMatch(/Terms of Use/);
    expect(errorMessage(error({ code: "SOMETHING_NEW" }))).toMatch(/on our side/);
    expect(errorMessage(new CombinedError({ networkError: new Error("offline") }))).toMatch(/Cannot reach/);
  });

  it("says how long to wait when rate limited", () => {
    expect(errorMessage(error({ code: "RATE_LIMITED", retryAfter: 45 }))).toBe(
      "Too many attempts. Try again in 45 seconds.",
    );
    expect(errorMessage(error({ code: "RATE_LIMITED", retryAfter: 900 }))).toBe(
      "Too many attempts. Try again in 15 minutes.",
    );
    expect(errorMessage(error({ code: "RATE_LIMITED" }))).toMatch(/Wait a moment/);
    expect(formatWait(1)).toBe("1 second");
    expect(formatWait(3600)).toBe("1 hour");
  });

  it("puts field errors next to their field", () => {
    expect(
      formError(error({ code: "BAD_USER_INPUT", field: "password" }, "The password needs at least 8 characters.")),
    ).toEqual({
      code: "BAD_USER_INPUT",
      field: "password",
      message: "The password needs at least 8 characters.",
    });
    expect(formError(error({ code: "INVALID_CREDENTIALS", field: "password" }))).toEqual({
      code: "INVALID_CREDENTIALS",
      field: "password",
      message: "The password is not correct.",
    });
    expect(formError(error({ code: "INVALID_CREDENTIALS" })).field).toBeNull();
  });

  it("says what a restriction or a plan limit stops, and until when", () => {
    expect(
      errorMessage(error({ code: "ACCOUNT_RESTRICTED", reason: "Spam prompts", endsAt: null, scopes: ["TASKS"] })),
    ).toBe("Your account is restricted until further notice, so this is not possible right now. Reason: Spam prompts");
    expect(
      errorMessage(error({ code: "ACCOUNT_RESTRICTED", reason: "x", endsAt: "2030-01-02T03:04:00.000Z" })),
    ).toMatch(/^Your account is restricted until .*2030/);
    expect(errorMessage(error({ code: "DAILY_LIMIT", limit: "TASKS_PER_DAY", value: 200, retryAfter: 7200 }))).toBe(
      "You have used today's 200 tasks of your plan. It resets at 00:00 UTC, in 2 hours.",
    );
    expect(errorMessage(error({ code: "DAILY_LIMIT", limit: "DAILY_SPEND_CAP", value: 1 }))).toBe(
      "This would pass your daily spending cap of 1 credit. It resets at 00:00 UTC.",
    );
    expect(errorMessage(error({ code: "CONCURRENCY_LIMIT", limit: 4 }))).toMatch(/4 unfinished tasks/);
    expect(errorMessage(error({ code: "MODEL_NOT_ALLOWED", model: "novart-pro" }))).toMatch(/plan does not include/);
  });

  it("puts registration refusals next to the code or the address", () => {
    expect(formError(error({ code: "INVITE_REQUIRED", field: "referralCode" }))).toMatchObject({
      field: "referralCode",
      message: expect.stringContaining("invitation"),
    });
    expect(formError(error({ code: "EMAIL_DOMAIN_NOT_ALLOWED", field: "email" })).field).toBe("email");
    expect(formError(error({ code: "REGISTRATION_CLOSED" }))).toMatchObject({ field: null });
  });
});
