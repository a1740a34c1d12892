import type { ModelProvider } from "$lib/graphql/generated/graphql";

/** "1 credit", "4 credits". */
export function formatCredits(credits: number): string {
  return `${credits.toLocaleString()} ${credits === 1 ? "credit" : "credits"}`;
}

/** "1024×1024". */
export function formatSize(size: { width: number; height: number }): string {
  return `${size.width}×${size.height}`;
}

export const PROVIDER_LABELS: Record<ModelProvider, { label: string; hint: string }> = {
  OFFLINE: { label: "Built-in", hint: "Built-in renderer: images are made on this server, no network needed." },
  OPENAI_COMPATIBLE: { label: "OpenAI-compatible", hint: "Images come from a server speaking the OpenAI images API." },
};
