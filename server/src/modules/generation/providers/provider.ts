import { setTimeout as delay } from "node:timers/promises";

export interface GenerateParams {
  /** The provider-side model name (e.g. "gradient" / "mosaic" for the local renderer, "gpt-image-1" upstream). */
  model: string;
  prompt: string;
  negativePrompt: string | null;
  width: number;
  height: number;
  /** 1–10 */
  count: number;
  /** 0 … 2^31-1 */
  seed: number;
  /** 0–4 reference images, already re-encoded PNG. */
  references: Buffer[];
}

export type ImageContentType = "image/png" | "image/jpeg" | "image/webp";

export interface GeneratedImage {
  data: Buffer;
  contentType: ImageContentType;
  /** A PNG that sharp encoded in this process (the built-in renderer): it is stored without re-encoding. */
  isOwnPng?: boolean;
}

/** 0..1, monotonic. */
export type ProgressCallback = (fraction: number) => void;

export interface ImageProvider {
  readonly name: string;
  generate(params: GenerateParams, signal: AbortSignal, onProgress: ProgressCallback): Promise<GeneratedImage[]>;
}

export type ProviderErrorCode =
  "CONTENT_REJECTED" | "RATE_LIMITED" | "UPSTREAM_ERROR" | "TIMEOUT" | "BAD_RESPONSE" | "ABORTED" | "MISCONFIGURED";

/**
 * `message` is shown to users, so it never carries keys or upstream bodies; `transient` tells the caller
 * whether retrying (with backoff, or on another channel) can help. `cause` is for logs only.
 */
export class ProviderError extends Error {
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
    readonly transient: boolean,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ProviderError";
  }
}

export function abortedError(): ProviderError {
  return new ProviderError("ABORTED", "The generation was canceled", false);
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortedError();
}

/** Anything a provider throws that is not already a ProviderError is a bug or an unexpected failure. */
export function toProviderError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  return new ProviderError("UPSTREAM_ERROR", "The image provider failed", false, undefined, { cause: error });
}

/** Waits `ms`, rejecting with ABORTED as soon as the signal fires (a plain timer would hold a cancel back). */
export async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  throwIfAborted(signal);
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    if (signal.aborted) throw abortedError();
    throw error;
  }
}

/** Recognises an image by its magic bytes; never trust a declared content type. */
export function detectImageType(data: Buffer): ImageContentType | null {
  if (data.length >= 8 && data.readUInt32BE(0) === 0x89504e47 && data.readUInt32BE(4) === 0x0d0a1a0a) {
    return "image/png";
  }
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return "image/jpeg";
  if (data.length >= 12 && data.toString("latin1", 0, 4) === "RIFF" && data.toString("latin1", 8, 12) === "WEBP") {
    return "image/webp";
  }
  return null;
}
