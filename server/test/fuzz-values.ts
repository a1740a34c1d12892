import { isEnumType, isInputObjectType, isListType, isNonNullType, type GraphQLInputType } from "graphql";
import { EnumValue, RawValue, type Value } from "./schema-documents.js";

/**
 * Seeded randomness for the fuzz, and values for GraphQL input types: mostly of the right type so they reach
 * resolvers and services, with hostile contents (huge, empty, control characters, boundary numbers, URLs and
 * regular expressions that hurt), sometimes of the wrong type.
 */

/** mulberry32: small, fast and good enough to pick cases; the same seed gives the same cases. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  hex(n: number): string {
    return Array.from({ length: n }, () => "0123456789abcdef"[this.int(16)]).join("");
  }
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
  }
}

/** Case `i` of a run gets its own generator: a failing case reruns alone with FUZZ_SEED and FUZZ_CASE. */
export const caseRng = (seed: number, i: number) => new Rng((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);

const UNICODE = ["é", "ß", "漢", "😀", "\u202e", "\u200b", "\u0301", "\ufeff", "\ufffd", "𝕏", "\t", "\n", "\\", '"'];

export function hostileString(rng: Rng): string {
  switch (rng.int(16)) {
    case 0:
      return "";
    case 1:
      return " ".repeat(rng.int(4) + 1);
    case 2:
      return Array.from({ length: rng.int(40) + 1 }, () => String.fromCharCode(32 + rng.int(95))).join("");
    case 3:
      return Array.from({ length: rng.int(20) + 1 }, () => rng.pick(UNICODE)).join("");
    case 4:
      return rng.pick(["\u0000", "a\u0000b", "\u0001\u001f", "\ud800", "x\udfffy", "\r\nSet-Cookie: x=1"]);
    case 5:
      return "x".repeat(rng.pick([256, 1001, 10_000, 100_000]));
    case 6:
      return rng.chance(0.1) ? "y".repeat(1_000_000) : "z".repeat(2_001);
    case 7:
      return rng.pick(["a@b.c", "user@example.com", "@", "a@", "x".repeat(300) + "@example.com", "ünï@cödé.de"]);
    case 8:
      return rng.pick([
        "https://example.com/hook",
        "http://127.0.0.1:6379/",
        "http://[::1]/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://user:pass@example.com/",
        "http://",
      ]);
    case 9:
      return rng.pick(["novart-sketch", "task.succeeded", "task.failed", "ACCOUNT_READ", "DAY"]);
    case 10:
      return rng.pick(["(a+)+$", "((a|a)*)*b", "[", "\\", ".*", "(?<x>", "a{1,100000}"]);
    case 11:
      return "a".repeat(rng.pick([30, 5000])) + "!";
    case 12:
      return rng.pick(["%s%n%x", "${7*7}", "{{7*7}}", "<script>alert(1)</script>", "' OR '1'='1", "../../etc/passwd"]);
    case 13:
      return rng.pick(["2024-02-30T00:00:00Z", "9999-12-31T23:59:59.999Z", "0", "-1", "1e999", "NaN", "null", "true"]);
    case 14:
      return rng.uuid();
    default:
      return rng.pick(["Goodwill", "A reasonable reason", "correct horse battery staple", "Terms v2"]);
  }
}

const INTS: Value[] = [0, 1, -1, 2, 4, 100, 101, 512, 1024, 2147483647, -2147483648];
const BAD_INTS: Value[] = [2147483648, -2147483649, new RawValue("9007199254740993"), new RawValue("1e999"), 1.5, -0.5];
const FLOATS: Value[] = [0, -1.5, 0.1, 1e308, -1e308, 5e-324, new RawValue("1e999"), new RawValue("-1e999")];
const DATES = [
  "2024-01-01T00:00:00.000Z",
  "2000-01-01T00:00:00Z",
  "2024-02-30T00:00:00Z",
  "+275760-09-13T00:00:00.000Z",
  "-271821-04-20T00:00:00.000Z",
  "9999-12-31T23:59:59.999Z",
  "",
  "not a date",
];

/** Any value at all, of any kind (a wrong type most of the time). */
function anyValue(rng: Rng, depth: number): Value {
  switch (rng.int(8)) {
    case 0:
      return null;
    case 1:
      return rng.pick([...INTS, ...BAD_INTS]);
    case 2:
      return rng.chance(0.5);
    case 3:
      return new EnumValue(rng.pick(["NOPE", "ADMIN", "true", "NaN", "Infinity", "__proto__"]));
    case 4:
      return depth > 3 ? [] : [anyValue(rng, depth + 1)];
    case 5:
      return depth > 3 ? {} : { [rng.pick(["x", "__proto__", "constructor", "id"])]: anyValue(rng, depth + 1) };
    default:
      return hostileString(rng);
  }
}

/** A value for `type`: usually of the right type, with hostile contents; sometimes not. */
export function randomValue(rng: Rng, type: GraphQLInputType, depth = 0): Value {
  if (rng.chance(0.04)) return anyValue(rng, depth);
  if (isNonNullType(type)) return rng.chance(0.02) ? null : randomValue(rng, type.ofType, depth);
  if (rng.chance(0.08)) return null;
  if (isListType(type)) {
    if (rng.chance(0.05)) return randomValue(rng, type.ofType, depth + 1); // a single item coerces to a list
    const n = rng.chance(0.03) ? rng.pick([200, 2000]) : rng.int(4);
    return Array.from({ length: n }, () => randomValue(rng, type.ofType, depth + 1));
  }
  if (isEnumType(type)) {
    if (rng.chance(0.9)) return new EnumValue(rng.pick(type.getValues()).name);
    return rng.chance(0.5) ? new EnumValue("NOT_A_VALUE") : type.getValues()[0].name;
  }
  if (isInputObjectType(type)) {
    if (depth > 6) return {};
    const fields: Record<string, Value> = {};
    for (const f of Object.values(type.getFields())) {
      if (rng.chance(isNonNullType(f.type) ? 0.95 : 0.5)) fields[f.name] = randomValue(rng, f.type, depth + 1);
    }
    if (rng.chance(0.04)) fields.unknownField = 1;
    return fields;
  }
  switch (type.name) {
    case "Int":
      return rng.chance(0.85) ? rng.pick(INTS) : rng.pick(BAD_INTS);
    case "Float":
      return rng.pick(FLOATS);
    case "Boolean":
      return rng.chance(0.5);
    case "ID":
      return rng.chance(0.6)
        ? rng.uuid()
        : rng.pick(["", "not-a-uuid", 42, rng.uuid().toUpperCase(), hostileString(rng)]);
    case "DateTimeISO":
      return rng.chance(0.1) ? rng.pick([0, new RawValue("1e999")]) : rng.pick(DATES);
    default:
      return hostileString(rng);
  }
}
