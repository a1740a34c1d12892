import { ModerationCategory } from "./moderation.entities.js";

/** What an external classifier answered: flagged with the most specific category, or not. */
export interface Classification {
  flagged: boolean;
  category: ModerationCategory;
  /** The provider's own category names that were flagged, for the moderators. */
  labels: string[];
}

export type ClassifierInput = { text: string } | { image: Buffer; mime: string };

/** Something that classifies prompts and images (an OpenAI-compatible moderation endpoint, or another). */
export interface ContentClassifier {
  classify(input: ClassifierInput): Promise<Classification>;
}

/** OpenAI's category names to ours; the first flagged match in this order wins (most specific first). */
const CATEGORY_MAP: [RegExp, ModerationCategory][] = [
  [/^sexual\/minors$/, ModerationCategory.MINORS],
  [/^sexual/, ModerationCategory.SEXUAL_CONTENT],
  [/^hate/, ModerationCategory.HATE],
  [/^(violence|harassment\/threatening|illicit\/violent)/, ModerationCategory.VIOLENCE],
];

/**
 * `POST {url}/moderations` as OpenAI defines it (`omni-moderation-latest` takes text and images), which
 * other providers and self-hosted gateways copy. Errors and timeouts throw; the caller decides what an
 * unavailable classifier means.
 */
export class OpenAICompatibleModeration implements ContentClassifier {
  constructor(private readonly options: { url: string; apiKey?: string; model: string; timeoutMs: number }) {}

  async classify(input: ClassifierInput): Promise<Classification> {
    const body = {
      model: this.options.model,
      input:
        "text" in input
          ? input.text
          : [{ type: "image_url", image_url: { url: `data:${input.mime};base64,${input.image.toString("base64")}` } }],
    };
    const res = await fetch(`${this.options.url.replace(/\/+$/, "")}/moderations`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.options.timeoutMs),
      redirect: "error",
    });
    if (!res.ok) throw new Error(`moderation endpoint answered ${res.status}`);
    const json = (await res.json()) as { results?: { flagged?: unknown; categories?: Record<string, unknown> }[] };
    const result = json.results?.[0];
    if (!result || typeof result.flagged !== "boolean") throw new Error("moderation endpoint answered no result");
    const labels = Object.entries(result.categories ?? {})
      .filter(([, v]) => v === true)
      .map(([k]) => k);
    const category =
      CATEGORY_MAP.find(([pattern]) => labels.some((l) => pattern.test(l)))?.[1] ?? ModerationCategory.CUSTOM;
    return { flagged: result.flagged, category, labels };
  }
}
