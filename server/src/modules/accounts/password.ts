import argon2 from "argon2";
import { BadUserInputError } from "../../infra/errors.js";

/** OWASP's recommended argon2id configuration (m = 19 MiB, t = 2, p = 1). */
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX_BYTES = 128;

/** A small bundled list of the most common passwords (lower-cased), refused outright. */
const COMMON = new Set(
  `123456 123456789 12345678 password qwerty123 qwerty1 111111 12345 1234567 123123 1234567890 000000
  abc123 password1 iloveyou 1q2w3e4r qwertyuiop 123321 654321 666666 987654321 dragon monkey letmein
  football baseball welcome admin123 sunshine princess master shadow superman michael password123
  passw0rd 11111111 88888888 12341234 qwerty12 1qaz2wsx zaq12wsx trustno1 starwars whatever
  computer freedom abcd1234 aa123456 asdfghjk asdfasdf 1q2w3e4r5t qazwsxedc changeme secret123
  welcome1 admin1234 administrator p@ssw0rd p@ssword iloveyou1 novart123 novartstudio 00000000
  123qweasd q1w2e3r4 987654321a 147258369 michael1 charlie1 jennifer hunter22 letmein1 football1`
    .split(/\s+/)
    .filter(Boolean),
);

/** Checks the policy; refuses (never truncates) passwords over the byte limit. */
export function assertPasswordAcceptable(password: string, field = "password"): void {
  if ([...password].length < PASSWORD_MIN) {
    throw new BadUserInputError(`The password needs at least ${PASSWORD_MIN} characters.`, { field });
  }
  if (Buffer.byteLength(password, "utf8") > PASSWORD_MAX_BYTES) {
    throw new BadUserInputError(`The password may be at most ${PASSWORD_MAX_BYTES} bytes long.`, { field });
  }
  if (COMMON.has(password.toLowerCase())) {
    throw new BadUserInputError("This password is among the most common ones. Choose another.", { field });
  }
}

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2_OPTIONS);
}

/** A valid hash nobody knows the password of: verifying against it costs what a real check costs. */
let decoyHash: Promise<string> | undefined;

/**
 * Verifies a password; with no account (`hash` null) it still spends the time of a real verification so
 * answers for unknown emails take as long as for known ones.
 */
export async function verifyPassword(hash: string | null, password: string): Promise<boolean> {
  if (Buffer.byteLength(password, "utf8") > PASSWORD_MAX_BYTES) return false;
  if (!hash || !hash.startsWith("$argon2")) {
    decoyHash ??= hashPassword("decoy-password-that-never-matches");
    await argon2.verify(await decoyHash, password).catch(() => false);
    return false;
  }
  return argon2.verify(hash, password).catch(() => false);
}

export function needsRehash(hash: string): boolean {
  return argon2.needsRehash(hash, ARGON2_OPTIONS);
}
