import pg from "pg";
import { describe, expect, it } from "vitest";
import { parseTimestamptz, withLiterals } from "./sql.js";

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

describe("withLiterals", () => {
  it("makes PostgreSQL read the same values as when they are sent as parameters", async () => {
    const client = new pg.Client({
      connectionString: process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    });
    await client.connect();
    try {
      const text = `SELECT $1::text AS s, $2::int[] AS ints, $3::text[] AS texts, $4::timestamptz AS at,
                           $5::uuid AS id, $6::int AS nothing, $7::text AS tricky, $8::jsonb AS doc, $9::text AS nine, $10::int AS ten`;
      const values = [
        "it's a 'quote' \\ and a backslash",
        [1, 2, -3],
        ['a "b" c', "d,e", "{f}", "g\\h", "NULL", ""],
        new Date("2026-07-01T13:59:59.287Z"),
        "0b9a2a8e-52b0-4a5f-9c1e-3f2a1d6c7b8e",
        null,
        "$1 $2 -- not a comment /* nor this */ E'\\x'",
        { a: "it's", b: [1, null] },
        "nine",
        10,
      ];
      const { rows: sent } = await client.query(text, values);
      const { rows: written } = await client.query(withLiterals(text, values));
      expect(written).toEqual(sent);
      expect(sent[0].texts).toEqual(values[2]);
      expect(() => withLiterals("SELECT $2", [1])).toThrow(/no value for \$2/);
    } finally {
      await client.end();
    }
  });
});
