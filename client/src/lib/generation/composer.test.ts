import { CombinedError } from "@urql/core";
import { describe, expect, it } from "vitest";
import { parseSeed, parseSize } from "./draft";
import { newIdempotencyKey, submitError } from "./submit";
import { aspectBox, formatElapsed, ordinal, promptLength, taskErrorMessage } from "./task-status";

const error = (extensions: Record<string, unknown>, message = "server words") =>
  new CombinedError({ graphQLErrors: [{ message, extensions }] });

describe("the composer's inputs", () => {
  it("reads seeds and sizes", () => {
    expect(parseSeed("")).toEqual({ seed: null, error: null });
    expect(parseSeed(" 42 ")).toEqual({ seed: 42, error: null });
    expect(parseSeed("2147483647").seed).toBe(2147483647);
    expect(parseSeed("2147483648").error).toMatch(/whole number/);
    expect(parseSeed("-1").error).toMatch(/whole number/);
    expect(parseSeed("1.5").error).toMatch(/whole number/);
    expect(parseSize("768x512")).toEqual({ width: 768, height: 512 });
    expect(parseSize("square")).toBeNull();
  });

  it("counts characters as the server does (code points, trimmed)", () => {
    expect(promptLength("  a cat  ")).toBe(5);
    expect(promptLength("🐈🐈")).toBe(2);
  });

  it("makes a fresh idempotency key per submission", () => {
    const keys = new Set(Array.from({ length: 50 }, () => newIdempotencyKey()));
    expect(keys.size).toBe(50);
  });
});

describe("createTask errors in words", () => {
  it("puts input errors next to their field, in the server's words", () => {
    expect(submitError(error({ code: "BAD_USER_INPUT", field: "prompt" }, "Write a prompt."))).toMatchObject({
      field: "prompt",
      message: "Write a prompt.",
    });
    expect(submitError(error({ code: "BAD_USER_INPUT", field: "width" }, "Sizes: 512×512.")).field).toBe("size");
    expect(submitError(error({ code: "NOT_FOUND", field: "referenceIds" })).message).toMatch(/24 hours/);
    expect(submitError(error({ code: "CONTENT_REJECTED", category: "x" }))).toMatchObject({
      field: "prompt",
      message: expect.stringMatching(/content rules/),
    });
    expect(submitError(error({ code: "IDEMPOTENCY_CONFLICT" })).field).toBeNull();
  });

  it("says what is missing when the balance is short", () => {
    const shown = submitError(error({ code: "INSUFFICIENT_BALANCE", required: 8, available: 3, missing: 5 }));
    expect(shown).toMatchObject({ field: null, missing: 5, message: "This task costs 8 credits; you have 3 credits." });
  });

  it("tells a retry after a lost answer is safe", () => {
    expect(submitError(new CombinedError({ networkError: new Error("offline") })).message).toMatch(/not charged twice/);
  });
});

describe("task states in words", () => {
  it("explains failures and shows time and places", () => {
    expect(taskErrorMessage({ code: "CONTENT_REJECTED", message: "x" })).toMatch(/content rules/);
    expect(taskErrorMessage({ code: "RATE_LIMITED", message: "x" })).toMatch(/busy/);
    expect(taskErrorMessage({ code: "SOMETHING_NEW", message: "x" })).toMatch(/on our side/);
    const start = "2026-01-01T10:00:00.000Z";
    expect(formatElapsed(start, Date.parse(start) + 7_400)).toBe("0:07");
    expect(formatElapsed(start, Date.parse(start) + 65_000)).toBe("1:05");
    expect(formatElapsed(start, Date.parse(start) + 3_723_000)).toBe("1:02:03");
    expect(formatElapsed(start, Date.parse(start) - 5_000)).toBe("0:00");
    expect([1, 2, 3, 4, 11, 12, 13, 21, 102].map(ordinal)).toEqual([
      "1st",
      "2nd",
      "3rd",
      "4th",
      "11th",
      "12th",
      "13th",
      "21st",
      "102nd",
    ]);
    expect(aspectBox(1024, 576, 16)).toEqual({ w: 16, h: 9 });
  });
});
