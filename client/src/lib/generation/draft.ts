/** What the composer holds: kept for the tab (sessionStorage), so leaving the Studio loses nothing typed. */
export interface Draft {
  prompt: string;
  negativePrompt: string;
  showNegative: boolean;
  model: string;
  size: string;
  count: number;
  seed: string;
}

const KEY = "novart-studio-draft";

export function readDraft(): Partial<Draft> {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return {};
    const value = JSON.parse(raw) as unknown;
    if (typeof value !== "object" || value === null) return {};
    const v = value as Record<string, unknown>;
    const draft: Partial<Draft> = {};
    if (typeof v.prompt === "string") draft.prompt = v.prompt;
    if (typeof v.negativePrompt === "string") draft.negativePrompt = v.negativePrompt;
    if (typeof v.showNegative === "boolean") draft.showNegative = v.showNegative;
    if (typeof v.model === "string") draft.model = v.model;
    if (typeof v.size === "string") draft.size = v.size;
    if (typeof v.count === "number" && Number.isInteger(v.count)) draft.count = v.count;
    if (typeof v.seed === "string") draft.seed = v.seed;
    return draft;
  } catch {
    return {};
  }
}

export function saveDraft(draft: Draft): void {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(draft));
  } catch {
    // Storage may be blocked or full: the draft only lives in the page then.
  }
}

/** "768x512" → { width: 768, height: 512 }. */
export function parseSize(key: string): { width: number; height: number } | null {
  const match = /^(\d+)x(\d+)$/.exec(key);
  return match ? { width: Number(match[1]), height: Number(match[2]) } : null;
}

/** A seed as typed: null (random), a valid seed, or an error. */
export function parseSeed(text: string): { seed: number | null; error: string | null } {
  const trimmed = text.trim();
  if (!trimmed) return { seed: null, error: null };
  if (!/^\d+$/.test(trimmed) || Number(trimmed) > 2_147_483_647) {
    return { seed: null, error: "The seed is a whole number from 0 to 2147483647, or empty for a random one." };
  }
  return { seed: Number(trimmed), error: null };
}

/**
 * A draft asked for by a link (`/?prompt=…&model=…&seed=…`, the library's "use this prompt again"): it wins over
 * the kept draft, once.
 */
export function draftFromUrl(params: URLSearchParams): Partial<Draft> {
  const draft: Partial<Draft> = {};
  const prompt = params.get("prompt");
  if (prompt) draft.prompt = prompt.slice(0, 2000);
  const model = params.get("model");
  if (model && /^[a-z0-9][a-z0-9._-]{0,63}$/.test(model)) draft.model = model;
  const seed = params.get("seed");
  if (seed && /^\d{1,10}$/.test(seed)) draft.seed = seed;
  return draft;
}
