/**
 * Text as the rules see it: NFKC (full-width and stylised letters become plain), lower case, common
 * look-alike letters from other scripts mapped to Latin, and simple leetspeak undone. `compact` also drops
 * everything but letters and digits, so "p a s s-p.o.r.t" and "pa55p0rt" both read "passport".
 */
const LOOK_ALIKES: Record<string, string> = {
  а: "a",
  в: "b",
  е: "e",
  к: "k",
  м: "m",
  н: "h",
  о: "o",
  р: "p",
  с: "c",
  т: "t",
  у: "y",
  х: "x",
  і: "i",
  ј: "j",
  ѕ: "s",
  ԁ: "d",
  ɡ: "g",
  ο: "o",
  α: "a",
  ε: "e",
  ι: "i",
  κ: "k",
  ν: "v",
  ρ: "p",
  τ: "t",
  υ: "u",
  χ: "x",
};
const LEET: Record<string, string> = {
  "0": "o",
  "1": "i",
  "3": "e",
  "4": "a",
  "5": "s",
  "7": "t",
  "8": "b",
  "@": "a",
  $: "s",
  "!": "i",
  "|": "l",
};

export function normalize(text: string): string {
  let out = "";
  for (const ch of text.normalize("NFKC").toLowerCase().normalize("NFD")) {
    if (/\p{M}/u.test(ch)) continue; // accents go: "nudé" reads "nude"
    out += LOOK_ALIKES[ch] ?? LEET[ch] ?? ch;
  }
  return out.replace(/\s+/g, " ").trim();
}

export function compact(text: string): string {
  return normalize(text).replace(/[^\p{L}\p{N}]+/gu, "");
}
