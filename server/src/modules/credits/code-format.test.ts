import { describe, expect, it } from "vitest";
import { generateCode, isWellFormedCode, normalizeCode } from "./code-format.js";

const TYPABLE = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

describe("redemption code format", () => {
  it("makes dashed groups of unambiguous characters that pass their own check", () => {
    for (let i = 0; i < 200; i++) {
      const code = generateCode();
      expect(code).toMatch(/^[0-9A-HJKMNP-TV-Y]{4}(-[0-9A-HJKMNP-TV-Y]{4}){3}$/);
      expect(isWellFormedCode(normalizeCode(code))).toBe(true);
    }
  });

  it("accepts lower case, spaces, missing dashes and I/L/O typed for 1/1/0", () => {
    const code = generateCode();
    const sloppy = ` ${code.toLowerCase().replace(/-/g, " ")} `.replace(/1/g, "l").replace(/0/g, "o");
    expect(normalizeCode(sloppy)).toBe(normalizeCode(code));
  });

  it("refuses every single-character typo and every swap of neighbours before any lookup", () => {
    for (let round = 0; round < 20; round++) {
      const normalized = normalizeCode(generateCode());
      for (let i = 0; i < normalized.length; i++) {
        for (const c of TYPABLE) {
          if (c === normalized[i]) continue;
          expect(isWellFormedCode(normalized.slice(0, i) + c + normalized.slice(i + 1))).toBe(false);
        }
        if (i + 1 < normalized.length && normalized[i] !== normalized[i + 1]) {
          const swapped = normalized.slice(0, i) + normalized[i + 1] + normalized[i] + normalized.slice(i + 2);
          expect(isWellFormedCode(swapped)).toBe(false);
        }
      }
    }
  });

  it("refuses codes of the wrong length", () => {
    const normalized = normalizeCode(generateCode());
    expect(isWellFormedCode(normalized.slice(1))).toBe(false);
    expect(isWellFormedCode(normalized + "0")).toBe(false);
  });
});
