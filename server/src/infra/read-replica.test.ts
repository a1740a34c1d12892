import { describe, expect, it } from "vitest";
import { lsnKey } from "./read-replica.js";

describe("lsnKey", () => {
  it("orders WAL positions as strings the way PostgreSQL orders them", () => {
    const positions = ["0/3000000", "0/16B3748", "16/B374D848", "1/0", "0/FFFFFFFF", "FF/1"];
    const byKey = [...positions].sort((a, b) => (lsnKey(a)! < lsnKey(b)! ? -1 : 1));
    expect(byKey).toEqual(["0/16B3748", "0/3000000", "0/FFFFFFFF", "1/0", "16/B374D848", "FF/1"]);
    expect(lsnKey("16/b374d848")).toBe(lsnKey("16/B374D848"));
    expect(lsnKey(null)).toBeNull();
  });
});
