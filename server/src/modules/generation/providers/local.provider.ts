import sharp from "sharp";
import { makePalette, mulberry32, seedFrom, STYLES } from "./local-styles.js";
import {
  ProviderError,
  sleep,
  throwIfAborted,
  toProviderError,
  type GenerateParams,
  type GeneratedImage,
  type ImageProvider,
  type ProgressCallback,
} from "./provider.js";

export interface LocalProviderOptions {
  /** Pause between progress steps, so the studio shows a moving bar; 0 in tests. */
  stepDelayMs?: number;
  stepsPerImage?: number;
}

const MAX_SIDE = 4096;

/**
 * A stand-in for a real model so the product works offline and in tests: it renders procedural art with
 * sharp, deterministically from the prompt, seed and reference images. It does not understand prompts.
 */
export class LocalProvider implements ImageProvider {
  readonly name = "local";
  private readonly stepDelayMs: number;
  private readonly stepsPerImage: number;

  constructor(options: LocalProviderOptions = {}) {
    this.stepDelayMs = options.stepDelayMs ?? 60;
    this.stepsPerImage = Math.max(1, options.stepsPerImage ?? 8);
  }

  async generate(params: GenerateParams, signal: AbortSignal, onProgress: ProgressCallback): Promise<GeneratedImage[]> {
    // Object.hasOwn: a model named "constructor" must not resolve to Object.prototype members.
    const style = Object.hasOwn(STYLES, params.model) ? STYLES[params.model] : undefined;
    if (!style) throw new ProviderError("MISCONFIGURED", "This model is not available on the local renderer", false);
    const { width, height, count } = params;
    if (![width, height].every((side) => Number.isInteger(side) && side >= 1 && side <= MAX_SIDE)) {
      throw new ProviderError("MISCONFIGURED", "The local renderer cannot produce this size", false);
    }
    if (!Number.isInteger(count) || count < 1 || count > 10) {
      throw new ProviderError("MISCONFIGURED", "The local renderer produces 1 to 10 images at a time", false);
    }
    throwIfAborted(signal);
    onProgress(0);

    const totalSteps = count * this.stepsPerImage;
    let done = 0;
    const images: GeneratedImage[] = [];
    for (let index = 0; index < count; index++) {
      throwIfAborted(signal);
      // Render on sharp's thread pool while the steps tick; the no-op catch keeps an abort mid-render from
      // surfacing as an unhandled rejection (the awaited copy below still throws).
      const rendering = this.render(params, style, index);
      rendering.catch(() => undefined);
      for (let step = 1; step < this.stepsPerImage; step++) {
        // No pause configured (tests, benchmarks): the steps tick without a timer each.
        if (this.stepDelayMs > 0) await sleep(this.stepDelayMs, signal);
        else throwIfAborted(signal);
        onProgress(++done / totalSteps);
      }
      const data = await rendering.catch((error: unknown) => {
        throw toProviderError(error);
      });
      throwIfAborted(signal);
      images.push({ data, contentType: "image/png", isOwnPng: true });
      onProgress(++done / totalSteps);
    }
    return images;
  }

  private async render(params: GenerateParams, style: (typeof STYLES)[string], index: number): Promise<Buffer> {
    const { model, prompt, negativePrompt, seed, width, height, references } = params;
    const rng = mulberry32(seedFrom([model, prompt, negativePrompt, seed, index]));
    const palette = makePalette(rng, prompt, negativePrompt);
    const layer = Buffer.from(style(rng, palette, width, height));
    const reference = references.length > 0 ? references[index % references.length] : undefined;
    // The SVG is always opaque, so its alpha channel would only cost bytes.
    if (!reference) return sharp(layer).removeAlpha().png().toBuffer();
    // The reference is the base the generated layer transforms: its light and shapes survive as a lifted
    // greyscale (so shadows still take colour), multiplied by the palette and pattern from the prompt.
    const base = await sharp(reference, { limitInputPixels: MAX_SIDE * MAX_SIDE })
      .resize(width, height, { fit: "cover" })
      .removeAlpha()
      .greyscale()
      .linear(0.75, 64)
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    return sharp(base.data, { raw: base.info })
      .composite([{ input: layer, blend: "multiply" }])
      .png()
      .toBuffer();
  }
}
