/** The server's password rule: 8 characters at least, 128 bytes (UTF-8) at most. */
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX_BYTES = 128;

export const PASSWORD_RULE = `${PASSWORD_MIN}–${PASSWORD_MAX_BYTES} characters. Very common passwords are refused.`;

/** What breaks the rule, in plain words, or null when the password may be sent. */
export function passwordProblem(password: string): string | null {
  if ([...password].length < PASSWORD_MIN) return `The password needs at least ${PASSWORD_MIN} characters.`;
  if (new TextEncoder().encode(password).length > PASSWORD_MAX_BYTES) {
    return `The password may be at most ${PASSWORD_MAX_BYTES} bytes long (fewer characters when they are accented or emoji).`;
  }
  return null;
}

export type StrengthScore = 0 | 1 | 2 | 3 | 4;

export interface PasswordStrength {
  score: StrengthScore;
  label: string;
  /** How to make it stronger, when it is not strong yet. */
  hint: string | null;
}

const LABELS = ["Too short", "Weak", "Fair", "Good", "Strong"] as const;

const WEAK_PARTS = [
  "password",
  "passwort",
  "qwerty",
  "azerty",
  "letmein",
  "welcome",
  "admin",
  "iloveyou",
  "monkey",
  "dragon",
  "novart",
  "1234",
  "abcd",
  "0000",
  "1111",
];

/** A rough estimate (character pool × length, minus repeats and well-known pieces); a hint, not a rule. */
export function passwordStrength(password: string): PasswordStrength {
  const chars = [...password];
  if (chars.length < PASSWORD_MIN) {
    return { score: 0, label: LABELS[0], hint: `Use at least ${PASSWORD_MIN} characters.` };
  }
  let pool = 0;
  if (/[a-z]/.test(password)) pool += 26;
  if (/[A-Z]/.test(password)) pool += 26;
  if (/[0-9]/.test(password)) pool += 10;
  if (/[^A-Za-z0-9]/.test(password)) pool += 33;
  const unique = new Set(chars.map((c) => c.toLowerCase())).size;
  // Repeated characters add little: count each character after the first few copies as half.
  const effectiveLength = Math.min(chars.length, unique + (chars.length - unique) / 2);
  let bits = effectiveLength * Math.log2(Math.max(pool, 10));
  const lower = password.toLowerCase();
  for (const part of WEAK_PARTS) if (lower.includes(part)) bits -= 20;
  if (/^[a-z]+$/i.test(password) || /^[0-9]+$/.test(password)) bits -= 10;
  const score: StrengthScore = bits < 40 ? 1 : bits < 60 ? 2 : bits < 80 ? 3 : 4;
  const hint =
    score >= 4
      ? null
      : score === 3
        ? "Good. A few more words make it strong."
        : "Add words, digits or symbols; avoid common words and sequences.";
  return { score, label: LABELS[score], hint };
}
