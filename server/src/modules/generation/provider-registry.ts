import { ModelProvider, type GenerationModelEntity } from "./generation-model.entity.js";
import { ProviderRouter, type ChannelStats, type ProviderChannel } from "./providers/channels.js";
import { LocalProvider } from "./providers/local.provider.js";
import { OpenAIProvider } from "./providers/openai.provider.js";
import {
  ProviderError,
  type GenerateParams,
  type GeneratedImage,
  type ProgressCallback,
} from "./providers/provider.js";

export interface UpstreamChannelConfig {
  id: string;
  baseUrl: string;
  apiKey: string;
  /** Upstream model name; the catalogue model's `providerModel` when absent. */
  model?: string;
  priority: number;
  weight: number;
  timeoutMs: number;
  /** Image URLs the upstream answers may point at private addresses (a storage host on the operator's network). */
  allowPrivateImageUrls: boolean;
}

/**
 * Which channels serve a catalogue model: the built-in renderer for OFFLINE models, the configured
 * OpenAI-compatible upstreams (`OPENAI_CHANNELS`) for the others. One router per process keeps the
 * channels' health (circuit breakers) in memory.
 */
export class ProviderRegistry {
  private readonly router = new ProviderRouter();
  private readonly local: LocalProvider;
  private readonly upstream: (UpstreamChannelConfig & { provider: OpenAIProvider })[];

  constructor(options: { localStepDelayMs: number; upstream: UpstreamChannelConfig[] }) {
    this.local = new LocalProvider({ stepDelayMs: options.localStepDelayMs });
    this.upstream = options.upstream.map((c) => ({
      ...c,
      provider: new OpenAIProvider({
        baseUrl: c.baseUrl,
        apiKey: c.apiKey,
        timeoutMs: c.timeoutMs,
        allowPrivateImageUrls: c.allowPrivateImageUrls,
      }),
    }));
  }

  private channels(model: GenerationModelEntity): ProviderChannel[] {
    if (model.provider === ModelProvider.OFFLINE) {
      return [{ id: "local", provider: this.local, model: model.providerModel, priority: 0, weight: 1 }];
    }
    return this.upstream.map((c) => ({
      id: c.id,
      provider: c.provider,
      model: c.model ?? model.providerModel,
      priority: c.priority,
      weight: c.weight,
    }));
  }

  generate(
    model: GenerationModelEntity,
    params: Omit<GenerateParams, "model">,
    signal: AbortSignal,
    onProgress: ProgressCallback,
  ): Promise<GeneratedImage[]> {
    const channels = this.channels(model);
    if (!channels.length) {
      throw new ProviderError("MISCONFIGURED", `No provider channel is configured for ${model.name}`, false);
    }
    return this.router.generate(channels, params, signal, onProgress);
  }

  stats(): ChannelStats[] {
    return this.router.stats(["local", ...this.upstream.map((c) => c.id)]);
  }
}
