import http from "node:http";
import https from "node:https";
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from "request-filtering-agent";
import { BodyTooLargeError, readBody } from "../../../infra/http.js";
import {
  detectImageType,
  ProviderError,
  throwIfAborted,
  abortedError,
  type GenerateParams,
  type GeneratedImage,
  type ImageProvider,
  type ProgressCallback,
} from "./provider.js";

export interface OpenAIProviderOptions {
  /** Server root, e.g. `https://api.openai.com`; a trailing `/v1` is tolerated. */
  baseUrl: string;
  /** Empty for servers that need no key (a local model server). */
  apiKey: string;
  /** Budget for the whole call: request, response body and downloads of `url` items. */
  timeoutMs?: number;
  /** Largest single image accepted, from a `url` or a `b64_json` item; the JSON answer is capped accordingly. */
  maxImageBytes?: number;
  /**
   * Download `url` items from private, loopback, link-local and metadata addresses too (default: refused, at
   * connect time). URLs on the base URL's own origin are always allowed: that server is the configured one.
   */
  allowPrivateImageUrls?: boolean;
}

/** Redirects followed for one image download; each hop is checked again. */
const MAX_REDIRECTS = 3;
/** What an error answer is read for: its JSON `error` object, never more. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** Room for the JSON around the images in an answer. */
const ENVELOPE_BYTES = 64 * 1024;

interface UpstreamError {
  code?: unknown;
  type?: unknown;
  message?: unknown;
}

/** Any server speaking the OpenAI images API: `/v1/images/generations`, or `/v1/images/edits` with references. */
export class OpenAIProvider implements ImageProvider {
  readonly name = "openai";
  private readonly baseUrl: string;
  // A private field stays out of util.inspect, JSON.stringify and logged objects.
  readonly #apiKey: string;
  private readonly timeoutMs: number;
  private readonly maxImageBytes: number;
  private readonly baseOrigin: string;
  /** Null when private addresses are allowed: Node's default agents then connect anywhere. */
  private readonly filteringAgents: { http: http.Agent; https: https.Agent } | null;

  constructor(options: OpenAIProviderOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.baseOrigin = new URL(this.baseUrl).origin;
    this.#apiKey = options.apiKey;
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.maxImageBytes = options.maxImageBytes ?? 50 * 1024 * 1024;
    // The agents check the address actually connected to (after DNS), as webhook deliveries do.
    const filter = { allowPrivateIPAddress: false, allowMetaIPAddress: false, keepAlive: false };
    this.filteringAgents = options.allowPrivateImageUrls
      ? null
      : { http: new RequestFilteringHttpAgent(filter), https: new RequestFilteringHttpsAgent(filter) };
  }

  async generate(params: GenerateParams, signal: AbortSignal, onProgress: ProgressCallback): Promise<GeneratedImage[]> {
    throwIfAborted(signal);
    onProgress(0);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = AbortSignal.any([signal, timeout]);
    try {
      const response = await fetch(this.endpoint(params), { ...this.request(params), signal: combined });
      if (!response.ok) {
        const body = await readUpTo(response, MAX_ERROR_BODY_BYTES).catch(() => null);
        throw this.errorFor(response, body?.data.toString("utf8") ?? "");
      }
      // Every image base64-encoded at its largest, plus the JSON around them: anything longer is refused
      // while it streams, before it can fill the memory.
      const limit = Math.ceil(this.maxImageBytes / 3) * 4 * params.count + ENVELOPE_BYTES;
      const body = await readUpTo(response, limit);
      if (body.truncated) throw badResponse("The image provider sent a response that is too large");
      const payload = parseJson(body.data.toString("utf8"));
      onProgress(0.5);
      const data = (payload as { data?: unknown } | null)?.data;
      if (!Array.isArray(data) || data.length !== params.count) {
        throw badResponse("The image provider returned an unexpected number of images");
      }
      const images = await Promise.all(data.map((item: unknown) => this.readImage(item, combined)));
      throwIfAborted(signal);
      onProgress(1);
      return images;
    } catch (error) {
      if (signal.aborted) throw abortedError();
      if (error instanceof ProviderError) throw error;
      if (timeout.aborted) throw new ProviderError("TIMEOUT", "The image provider did not answer in time", true);
      throw new ProviderError("UPSTREAM_ERROR", "Could not reach the image provider", true, undefined, {
        cause: error,
      });
    }
  }

  private endpoint(params: GenerateParams): string {
    return `${this.baseUrl}/v1/images/${params.references.length > 0 ? "edits" : "generations"}`;
  }

  private request(params: GenerateParams): RequestInit {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    // The API has no negative-prompt field, and the negative prompt is not moderated like a prompt (people list
    // what they want to avoid: "nsfw, blurry"), so it is not sent as text either: an instruction written there
    // would reach the model unchecked. The seed is not sent, since servers reject unknown fields.
    const prompt = params.prompt;
    const size = `${params.width}x${params.height}`;
    // GPT image models always answer in base64 and reject `response_format`; older ones default to URLs.
    const responseFormat = acceptsResponseFormat(params.model) ? "b64_json" : undefined;

    if (params.references.length === 0) {
      headers["content-type"] = "application/json";
      const body = { model: params.model, prompt, n: params.count, size, response_format: responseFormat };
      return { method: "POST", headers, body: JSON.stringify(body) };
    }
    const form = new FormData();
    // One reference goes as `image` (understood by every version of the API), several as `image[]`.
    const field = params.references.length === 1 ? "image" : "image[]";
    params.references.forEach((reference, index) => {
      form.append(field, new Blob([new Uint8Array(reference)], { type: "image/png" }), `reference-${index}.png`);
    });
    form.append("prompt", prompt);
    form.append("model", params.model);
    form.append("n", String(params.count));
    form.append("size", size);
    if (responseFormat) form.append("response_format", responseFormat);
    return { method: "POST", headers, body: form };
  }

  private errorFor(response: Response, body: string): ProviderError {
    const status = response.status;
    let upstream: UpstreamError = {};
    try {
      const parsed = JSON.parse(body) as { error?: unknown } | null;
      if (parsed && typeof parsed.error === "object" && parsed.error) upstream = parsed.error as UpstreamError;
    } catch {
      // Not JSON (a proxy's HTML page): the status alone decides.
    }
    if (status === 429) {
      // OpenAI reports an exhausted account as a 429 too, but waiting does not refill it.
      if (upstream.code === "insufficient_quota") {
        return new ProviderError("MISCONFIGURED", "The image provider account has no quota left", false);
      }
      return new ProviderError("RATE_LIMITED", "The image provider is busy", true, retryAfterMs(response.headers));
    }
    if (status === 401 || status === 403) {
      // No upstream text: OpenAI echoes a fragment of the rejected key in this message.
      return new ProviderError("MISCONFIGURED", "The image provider rejected the configured credentials", false);
    }
    if (isContentRejection(status, upstream)) {
      return new ProviderError(
        "CONTENT_REJECTED",
        "The image provider refused this request under its content policy",
        false,
      );
    }
    if (status === 404) {
      return new ProviderError("MISCONFIGURED", "The image provider does not offer this model or endpoint", false);
    }
    if (status === 408) return new ProviderError("TIMEOUT", "The image provider did not answer in time", true);
    if (status >= 500) return new ProviderError("UPSTREAM_ERROR", `The image provider failed (HTTP ${status})`, true);
    if (status >= 400) {
      const detail = this.shortDetail(upstream.message);
      return new ProviderError(
        "UPSTREAM_ERROR",
        `The image provider refused the request (HTTP ${status})${detail}`,
        false,
      );
    }
    return badResponse(`The image provider answered with HTTP ${status}`);
  }

  /** One short sentence at most, and never anything shaped like a key. */
  private shortDetail(message: unknown): string {
    if (typeof message !== "string" || !message.trim()) return "";
    // Control characters too: a NUL would make the task's error unstorable (PostgreSQL text refuses it).
    let text = message.replace(/[\s\p{Cc}]+/gu, " ").trim();
    if (this.#apiKey) text = text.split(this.#apiKey).join("***");
    text = text.replace(/\b(sk|key|api)[-_][A-Za-z0-9_*-]{6,}/gi, "***");
    return `: ${text.length > 120 ? `${text.slice(0, 117)}...` : text}`;
  }

  private async readImage(item: unknown, signal: AbortSignal): Promise<GeneratedImage> {
    const { b64_json: b64, url } = (item ?? {}) as { b64_json?: unknown; url?: unknown };
    let data: Buffer;
    if (typeof b64 === "string") {
      data = Buffer.from(b64, "base64");
      if (data.length > this.maxImageBytes) throw badResponse("A generated image is too large");
    } else if (typeof url === "string") data = await this.download(url, signal);
    else throw badResponse("The image provider returned an item without an image");
    const contentType = detectImageType(data);
    if (!contentType) throw badResponse("The image provider returned something that is not an image");
    return { data, contentType };
  }

  /**
   * A `url` item names any address the upstream chooses: outside the base URL's origin, private, loopback,
   * link-local and metadata addresses are refused at connect time (unless allowed), redirects are checked
   * again at every hop, and the body is capped while it streams.
   */
  private async download(address: string, signal: AbortSignal): Promise<Buffer> {
    let url = imageUrl(address, `${this.baseUrl}/`);
    // The configured server is trusted (and gets the key) only as long as every hop stays on its origin.
    let onBase = url.origin === this.baseOrigin;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = {};
      // The key only goes back to the server it belongs to; image URLs often point at a storage host.
      if (onBase && this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
      const response = await this.get(url, headers, onBase, signal);
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400 && response.headers.location) {
        response.destroy();
        if (hop >= MAX_REDIRECTS) throw badResponse("The image provider redirected a download too often");
        url = imageUrl(response.headers.location, url);
        onBase = onBase && url.origin === this.baseOrigin;
        continue;
      }
      if (status < 200 || status >= 300) {
        response.destroy();
        throw badResponse("Could not download a generated image");
      }
      try {
        // Refused early on a larger Content-Length, else while it streams (the rest is not read).
        return await readBody(response, this.maxImageBytes);
      } catch (error) {
        response.destroy();
        if (signal.aborted) throw error;
        if (error instanceof BodyTooLargeError) throw badResponse("A generated image is too large");
        throw badResponse("Could not download a generated image");
      }
    }
  }

  /** One GET, no redirect followed; the filtering agent refuses a private address before connecting. */
  private get(
    url: URL,
    headers: Record<string, string>,
    trusted: boolean,
    signal: AbortSignal,
  ): Promise<http.IncomingMessage> {
    const isHttps = url.protocol === "https:";
    const agents = trusted ? null : this.filteringAgents;
    const agent = agents ? (isHttps ? agents.https : agents.http) : undefined;
    return new Promise((resolve, reject) => {
      const request = (isHttps ? https : http).request(url, { method: "GET", headers, agent, signal }, resolve);
      request.on("error", (error) => {
        if (signal.aborted) return reject(error);
        // request-filtering-agent's refusal: "DNS lookup … is not allowed". Asking again gives the same URL.
        if (/is not allowed/.test(error.message)) {
          return reject(
            new ProviderError("BAD_RESPONSE", "The image provider returned an image URL on a private address", false),
          );
        }
        reject(badResponse("Could not download a generated image"));
      });
      request.end();
    });
  }
}

/** An http(s) URL, relative ones resolved against `base`. */
function imageUrl(address: string, base: string | URL): URL {
  let url: URL;
  try {
    url = new URL(address, base);
  } catch {
    throw badResponse("The image provider returned an invalid image URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw badResponse("The image provider returned an invalid image URL");
  }
  return url;
}

/** The body up to `limit` bytes; `truncated` when there was more (the rest is not read: the stream is canceled). */
async function readUpTo(response: Response, limit: number): Promise<{ data: Buffer; truncated: boolean }> {
  const reader = response.body?.getReader();
  if (!reader) return { data: Buffer.alloc(0), truncated: false };
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { data: Buffer.concat(chunks), truncated: false };
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      chunks.push(value.subarray(0, value.length - (size - limit)));
      return { data: Buffer.concat(chunks), truncated: true };
    }
    chunks.push(value);
  }
}

function acceptsResponseFormat(model: string): boolean {
  const name = model.split("/").pop() ?? model;
  return !/^(gpt-image|chatgpt-image)/i.test(name);
}

function isContentRejection(status: number, upstream: UpstreamError): boolean {
  if (status !== 400) return false;
  if (upstream.code === "content_policy_violation" || upstream.code === "moderation_blocked") return true;
  return (
    upstream.type === "image_generation_user_error" &&
    typeof upstream.message === "string" &&
    /moderation|safety|content policy/i.test(upstream.message)
  );
}

/** `retry-after-ms` (OpenAI), else `retry-after` in seconds or as an HTTP date. */
function retryAfterMs(headers: Headers): number | undefined {
  const ms = Number(headers.get("retry-after-ms"));
  if (headers.has("retry-after-ms") && Number.isFinite(ms) && ms >= 0) return Math.ceil(ms);
  const value = headers.get("retry-after")?.trim();
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.ceil(seconds * 1000) : undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw badResponse("The image provider sent a malformed response");
  }
}

function badResponse(message: string): ProviderError {
  return new ProviderError("BAD_RESPONSE", message, true);
}
