import { describe, expect, it } from "vitest";
import { passwordProblem, passwordStrength } from "./password";

describe("passwordProblem", () => {
  it("applies the server's 8 characters to 128 bytes rule", () => {
    expect(passwordProblem("short")).toMatch(/at least 8/);
    expect(passwordProblem("12345678")).toBeNull();
    expect(passwordProblem("a".repeat(128))).toBeNull();
    expect(passwordProblem("a".repeat(129))).toMatch(/128 bytes/);
    // 43 three-byte characters are 129 bytes.
    expect(passwordProblem("€".repeat(43))).toMatch(/128 bytes/);
  });
});

describe("passwordStrength", () => {
  it("rates short, common and long passwords", () => {
    expect(passwordStrength("abc").score).toBe(0);
    expect(passwordStrength("password1").score).toBe(1);
    expect(passwordStrength("aaaaaaaa").score).toBe(1);
    expect(passwordStrength("correct horse battery staple").score).toBe(4);
    expect(passwordStrength("correct horse battery staple").hint).toBeNull();
  });
});
