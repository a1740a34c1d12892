import pg from "pg";
import { describe, expect, it } from "vitest";
import { parseTimestamptz } from "./sql.js";

const pgParse = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, "text") as (text: string) => Date | number;

describe("parseTimestamptz", () => {
  it("gives the same Date as pg's parser for every fraction PostgreSQL can send", () => {
    // PostgreSQL drops trailing zeros of the microseconds: check every microsecond of a second, as sent.
    for (let us = 0; us < 1_000_000; us += 7) {
      const fraction = String(us).padStart(6, "0").replace(/0+$/, "");
      const text = `2026-07-01 13:59:59${fraction ? `.${fraction}` : ""}+00`;
      expect(parseTimestamptz(text).getTime()).toBe((pgParse(text) as Date).getTime());
    }
  });

  it("leaves every other form to pg's parser", () => {
    for (const text of [
      "2026-07-01 13:59:59.5+05:30",
      "2026-07-01 13:59:59-08",
      "1999-12-31 23:59:59.999999+00",
      "0050-01-01 00:00:00+00",
      "0001-01-01 00:00:00+00 BC",
      "12026-01-01 00:00:00+00",
      "infinity",
      "-infinity",
    ]) {
      expect(parseTimestamptz(text)).toEqual(pgParse(text));
    }
  });
});
