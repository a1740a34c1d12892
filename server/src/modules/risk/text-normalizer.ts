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

/** Punctuation inside a word ("be-head-ing", "n.a.k.e.d", "p*rn"): between two letters or digits, no space. */
const INNER_PUNCTUATION = /(?<=[\p{L}\p{N}])[^\p{L}\p{N}\s]{1,3}(?=[\p{L}\p{N}])/gu;
/** A run of two or more single-letter tokens ("w h i t e", "n . a . k . e . d"): a word spelled out. */
const SPELLED_OUT = /(?<![\p{L}\p{N}])[\p{L}\p{N}](?:[^\p{L}\p{N}]{1,4}[\p{L}\p{N}](?![\p{L}\p{N}]))+/gu;

export interface Unspaced {
  /** The text with punctuation inside words dropped and spelled-out words joined. */
  text: string;
  /** Where the joined spelled-out words stand in `text` ([start, end)). */
  runs: [number, number][];
}

/**
 * Undoes inserted separators without joining normal words: punctuation between two letters goes
 * ("b-e-h-e-a-d-i-n-g" reads "beheading"), and a run of single-letter tokens is joined into one word
 * ("w h i t e p o w e r" reads "whitepower"); "a white horse" or "a child in a park" stay as they are, since
 * a single-letter word next to a longer one is no run. `text` is expected normalised (see normalize()).
 */
export function unspace(text: string): Unspaced {
  const joined = text.replace(INNER_PUNCTUATION, "");
  const runs: [number, number][] = [];
  let out = "";
  let last = 0;
  for (const match of joined.matchAll(SPELLED_OUT)) {
    out += joined.slice(last, match.index);
    const word = match[0].replace(/[^\p{L}\p{N}]+/gu, "");
    runs.push([out.length, out.length + word.length]);
    out += word;
    last = match.index + match[0].length;
  }
  return { text: out + joined.slice(last), runs };
}
