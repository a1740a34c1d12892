import { CombinedError } from "@urql/core";
import { describe, expect, it } from "vitest";
import { errorMessage } from "../graphql/errors";
import {
  adjustmentWords,
  batchStatus,
  changesBalance,
  csvFileName,
  csvRowCount,
  isAccountId,
  ledgerKindLabel,
  parseLedgerKind,
  parseWholeNumber,
  signed,
  unseen,
} from "./credits";

const error = (extensions: Record<string, unknown>) =>
  new CombinedError({ graphQLErrors: [{ message: "server words", extensions }] });

describe("credits in words", () => {
  it("signs changes with a true minus", () => {
    expect(signed(25)).toBe("+25");
    expect(signed(-5)).toBe("−5");
    expect(signed(0)).toBe("0");
  });

  it("names ledger kinds and reads the filter from the URL", () => {
    expect(ledgerKindLabel("REDEMPTION")).toBe("Code redeemed");
    expect(parseLedgerKind("REDEMPTION")).toBe("REDEMPTION");
    expect(parseLedgerKind("redemption")).toBe("REDEMPTION");
    expect(parseLedgerKind("NOPE")).toBeNull();
    expect(parseLedgerKind(null)).toBeNull();
  });

  it("maps the credit error codes, with the missing amount when known", () => {
    expect(errorMessage(error({ code: "CODE_EXHAUSTED" }))).toBe("This code has already been used.");
    expect(errorMessage(error({ code: "INVALID_CODE" }))).toMatch(/not valid/);
    expect(errorMessage(error({ code: "CODE_EXPIRED" }))).toMatch(/expired/);
    expect(errorMessage(error({ code: "CODE_DISABLED" }))).toMatch(/disabled/);
    expect(errorMessage(error({ code: "CODE_LIMIT_REACHED", limit: 1 }))).toMatch(/as many codes/);
    expect(errorMessage(error({ code: "INSUFFICIENT_BALANCE", missing: 5 }))).toMatch(/5 credits short/);
    expect(errorMessage(error({ code: "INSUFFICIENT_BALANCE" }))).toMatch(/balance is too low/);
    expect(errorMessage(error({ code: "RATE_LIMITED", retryAfter: 1800 }))).toBe(
      "Too many attempts. Try again in 30 minutes.",
    );
  });

  it("knows which messages move the balance", () => {
    expect(changesBalance("credits.redeemed")).toBe(true);
    expect(changesBalance("referral.rewarded")).toBe(true);
    expect(changesBalance("account.welcome")).toBe(false);
  });
});

describe("admin forms", () => {
  it("parses whole numbers as people type them", () => {
    expect(parseWholeNumber("25")).toBe(25);
    expect(parseWholeNumber(" 1 000 ")).toBe(1000);
    expect(parseWholeNumber("1,000")).toBe(1000);
    expect(parseWholeNumber("-5")).toBeNull();
    expect(parseWholeNumber("-5", { signed: true })).toBe(-5);
    expect(parseWholeNumber("−5", { signed: true })).toBe(-5);
    expect(parseWholeNumber("2.5")).toBeNull();
    expect(parseWholeNumber("")).toBeNull();
    expect(parseWholeNumber("1e9")).toBeNull();
  });

  it("checks account ids and says what an adjustment does", () => {
    expect(isAccountId("0f8c2a4e-1b2c-4d5e-8f90-123456789abc")).toBe(true);
    expect(isAccountId("ada@example.com")).toBe(false);
    expect(adjustmentWords(25, "PAID")).toBe("adds 25 paid credits");
    expect(adjustmentWords(-1, "BONUS")).toBe("removes 1 bonus credit");
    expect(adjustmentWords(0, "PAID")).toBeNull();
  });

  it("names the CSV file and counts its codes", () => {
    expect(csvFileName("Spring promo: 2026!", new Date("2026-03-10T12:00:00Z"))).toBe(
      "novart-codes-spring-promo-2026-2026-03-10.csv",
    );
    expect(csvFileName("———", new Date("2026-03-10T12:00:00Z"))).toBe("novart-codes-batch-2026-03-10.csv");
    expect(csvRowCount("code,credits\nA,1\nB,1\n")).toBe(2);
  });

  it("tells where a batch stands", () => {
    const batch = {
      disabledAt: null,
      expiresAt: null,
      codeCount: 3,
      maxRedemptionsPerCode: 1,
      redemptions: 1,
      disabledCodes: 0,
    };
    const now = Date.parse("2026-03-10T12:00:00Z");
    expect(batchStatus(batch, now)).toBe("active");
    expect(batchStatus({ ...batch, disabledAt: "2026-03-01T00:00:00Z" }, now)).toBe("disabled");
    expect(batchStatus({ ...batch, expiresAt: "2026-03-09T00:00:00Z" }, now)).toBe("expired");
    expect(batchStatus({ ...batch, redemptions: 3 }, now)).toBe("used-up");
  });

  it("keeps only rows not seen yet", () => {
    expect(unseen([{ id: "a" }], [{ id: "a" }, { id: "b" }])).toEqual([{ id: "b" }]);
  });
});
