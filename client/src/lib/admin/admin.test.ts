import { describe, expect, it } from "vitest";
import { endsAfter, excerpt, parseDomains, parseRestricted, parseRole } from "./admin";

describe("admin helpers", () => {
  it("reads filters from the URL", () => {
    expect(parseRole("moderator")).toBe("MODERATOR");
    expect(parseRole("root")).toBeNull();
    expect(parseRestricted("yes")).toBe(true);
    expect(parseRestricted("no")).toBe(false);
    expect(parseRestricted(null)).toBeNull();
  });

  it("cleans email domains typed one per line", () => {
    expect(parseDomains("Spam.test\n@mailinator.com, spam.test\n\nnot a domain")).toEqual({
      domains: ["spam.test", "mailinator.com"],
      invalid: ["not", "a", "domain"],
    });
  });

  it("ends restrictions after their duration, or never", () => {
    expect(endsAfter(60, 0)?.getTime()).toBe(3_600_000);
    expect(endsAfter(null)).toBeNull();
    expect(excerpt("a  b\n c", 80)).toBe("a b c");
    expect(excerpt("x".repeat(100), 10)).toBe(`${"x".repeat(9)}…`);
  });
});
