import { randomBytes } from "node:crypto";

/**
 * Crockford base32 without Z for the data: 31 symbols, a prime count, so a weighted sum mod 31 catches
 * every single mistyped character and every swap of two neighbours. (Z, U and the look-alikes I, L, O
 * never appear in a code.)
 */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXY";
const DATA_LENGTH = 15;

/** Crockford decoding: case, spaces and dashes do not matter; I and L read as 1, O as 0. */
export function normalizeCode(raw: string): string {
  return raw
    .toUpperCase()
    .replace(/[\s-]+/g, "")
    .replace(/[IL]/g, "1")
    .replace(/O/g, "0");
}

function checkCharacter(data: string): string {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += (i + 1) * ALPHABET.indexOf(data[i]);
  return ALPHABET[sum % ALPHABET.length];
}

/** Uniform random symbols from the CSPRNG (rejection sampling: 31 does not divide 256). */
function randomSymbols(count: number): string {
  let out = "";
  while (out.length < count) {
    for (const byte of randomBytes(count * 2)) {
      if (byte < 248 && out.length < count) out += ALPHABET[byte % 31];
    }
  }
  return out;
}

/** A new code: 15 random symbols (about 74 bits) and a check symbol, in dashed groups of 4. */
export function generateCode(): string {
  const data = randomSymbols(DATA_LENGTH);
  return (data + checkCharacter(data)).match(/.{4}/g)!.join("-");
}

/** Whether a normalized code is well formed and its check symbol matches (no lookup needed). */
export function isWellFormedCode(normalized: string): boolean {
  if (normalized.length !== DATA_LENGTH + 1) return false;
  for (const c of normalized) if (!ALPHABET.includes(c)) return false;
  return checkCharacter(normalized.slice(0, DATA_LENGTH)) === normalized[DATA_LENGTH];
}
