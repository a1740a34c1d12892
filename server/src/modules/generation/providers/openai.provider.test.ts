import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OpenAIProvider } from "./openai.provider.js";
import { ProviderError, type GenerateParams } from "./provider.js";

const KEY = "sk-test-0123456789abcdef";

interface Received {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}
type Handler = (req: Received, res: ServerResponse) => void | Promise<void>;

/** A real HTTP server speaking the images API; each test installs the behaviour it needs. */
let server: Server;
let baseUrl: string;
let handler: Handler;
let received: Received[];
let served: Map<string, Buffer>;
let png: (colour: string) => Promise<Buffer>;

beforeAll(async () => {
  png = (colour) =>
    sharp({ create: { width: 64, height: 64, channels: 3, background: colour } })
      .png()
      .toBuffer();
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const path = req.url ?? "/";
      const file = served.get(path);
      if (req.method === "GET" && file) {
        res.writeHead(200, { "content-type": "image/png" }).end(file);
        return;
      }
      const request = { method: req.method ?? "", path, headers: req.headers, body: Buffer.concat(chunks) };
      received.push(request);
      if (req.headers.authorization !== `Bearer ${KEY}`) {
        json(res, 401, {
          error: { message: `Incorrect API key provided: ${req.headers.authorization}`, code: "invalid_api_key" },
        });
        return;
      }
      void Promise.resolve(handler(request, res)).catch((error: unknown) => json(res, 500, { error: String(error) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received = [];
  served = new Map();
  handler = (_req, res) => json(res, 500, { error: { message: "no handler" } });
});

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
}

async function formOf(req: Received): Promise<FormData> {
  return new Response(new Uint8Array(req.body), {
    headers: { "content-type": String(req.headers["content-type"]) },
  }).formData();
}

function params(overrides: Partial<GenerateParams> = {}): GenerateParams {
  return {
    model: "gpt-image-1",
    prompt: "a lighthouse in a storm",
    negativePrompt: null,
    width: 1024,
    height: 1024,
    count: 1,
    seed: 7,
    references: [],
    ...overrides,
  };
}

function provider(
  options: { apiKey?: string; timeoutMs?: number; maxImageBytes?: number; allowPrivateImageUrls?: boolean } = {},
) {
  return new OpenAIProvider({
    baseUrl,
    apiKey: options.apiKey ?? KEY,
    timeoutMs: options.timeoutMs ?? 5_000,
    maxImageBytes: options.maxImageBytes,
    allowPrivateImageUrls: options.allowPrivateImageUrls,
  });
}

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

const never = () => new AbortController().signal;

describe("OpenAIProvider", () => {
  it("generates without references: JSON body, bearer key, b64_json images, progress 0 → 1", async () => {
    const images = [await png("#ff0000"), await png("#00ff00")];
    handler = (_req, res) =>
      json(res, 200, { created: 1, data: images.map((i) => ({ b64_json: i.toString("base64") })) });
    const progress: number[] = [];
    const result = await provider().generate(params({ count: 2, negativePrompt: "blur", width: 1536 }), never(), (f) =>
      progress.push(f),
    );
    expect(result.map((r) => r.contentType)).toEqual(["image/png", "image/png"]);
    expect(result[1]!.data.equals(images[1]!)).toBe(true);
    expect(progress).toEqual([0, 0.5, 1]);
    const [req] = received;
    expect([req!.method, req!.path, req!.headers["content-type"]]).toEqual([
      "POST",
      "/v1/images/generations",
      "application/json",
    ]);
    // GPT image models reject `response_format`, and no unknown field (such as the seed) is sent.
    expect(JSON.parse(req!.body.toString())).toEqual({
      model: "gpt-image-1",
      prompt: "a lighthouse in a storm",
      n: 2,
      size: "1536x1024",
    });
  });

  it("asks older models for b64_json and tolerates a base URL ending in /v1", async () => {
    handler = async (_req, res) => json(res, 200, { data: [{ b64_json: (await png("#123456")).toString("base64") }] });
    const upstream = new OpenAIProvider({ baseUrl: `${baseUrl}/v1/`, apiKey: KEY });
    await upstream.generate(params({ model: "dall-e-2", width: 512, height: 512 }), never(), () => undefined);
    expect(received[0]!.path).toBe("/v1/images/generations");
    expect(JSON.parse(received[0]!.body.toString())).toMatchObject({ model: "dall-e-2", response_format: "b64_json" });
  });

  it("edits with one reference as multipart `image`, sending its bytes and the fields", async () => {
    const reference = await png("#0000ff");
    handler = async (_req, res) => json(res, 200, { data: [{ b64_json: (await png("#abcdef")).toString("base64") }] });
    const [image] = await provider().generate(
      params({ references: [reference], negativePrompt: "text" }),
      never(),
      () => undefined,
    );
    expect(image!.contentType).toBe("image/png");
    const req = received[0]!;
    expect(req.path).toBe("/v1/images/edits");
    expect(req.headers["content-type"]).toMatch(/^multipart\/form-data; boundary=/);
    const form = await formOf(req);
    expect(Buffer.from(await (form.get("image") as Blob).arrayBuffer()).equals(reference)).toBe(true);
    // Multipart serialisation turns newlines into CRLF, as browsers do.
    const fields = ["prompt", "model", "n", "size"].map((k) => [k, String(form.get(k)).replace(/\r\n/g, "\n")]);
    expect(Object.fromEntries(fields)).toEqual({
      prompt: "a lighthouse in a storm",
      model: "gpt-image-1",
      n: "1",
      size: "1024x1024",
    });
    expect(form.has("image[]")).toBe(false);
  });

  it("edits with several references as `image[]`, in order", async () => {
    const references = [await png("#010101"), await png("#020202"), await png("#030303")];
    handler = async (_req, res) => json(res, 200, { data: [{ b64_json: (await png("#abcdef")).toString("base64") }] });
    await provider().generate(params({ references }), never(), () => undefined);
    const form = await formOf(received[0]!);
    const sent = await Promise.all(
      form.getAll("image[]").map(async (b) => Buffer.from(await (b as Blob).arrayBuffer())),
    );
    expect(sent.map((b, i) => b.equals(references[i]!))).toEqual([true, true, true]);
    expect(form.has("image")).toBe(false);
  });

  it("downloads `url` items, relative or absolute", async () => {
    const [a, b] = [
      await png("#111111"),
      await sharp(await png("#222222"))
        .jpeg()
        .toBuffer(),
    ];
    served.set("/files/a.png", a);
    served.set("/files/b.jpg", b);
    handler = (_req, res) => json(res, 200, { data: [{ url: `${baseUrl}/files/a.png` }, { url: "/files/b.jpg" }] });
    const result = await provider().generate(params({ count: 2 }), never(), () => undefined);
    expect(result.map((r) => r.contentType)).toEqual(["image/png", "image/jpeg"]);
    expect(result[0]!.data.equals(a)).toBe(true);
    expect(result[1]!.data.equals(b)).toBe(true);
  });

  it.each([
    ["content_policy_violation", { code: "content_policy_violation", message: "Your request was rejected." }],
    ["moderation_blocked", { code: "moderation_blocked", type: "image_generation_user_error", message: "Rejected." }],
    ["moderation message", { type: "image_generation_user_error", message: "Rejected by the safety system." }],
  ])("maps a content-policy refusal (%s) to CONTENT_REJECTED, not transient", async (_name, error) => {
    handler = (_req, res) => json(res, 400, { error });
    const failure = await rejection(provider().generate(params(), never(), () => undefined));
    expect([failure.code, failure.transient]).toEqual(["CONTENT_REJECTED", false]);
  });

  it.each([
    ["120", 120_000],
    [new Date(Date.now() + 60_000).toUTCString(), 60_000],
  ])("maps 429 to transient RATE_LIMITED with retry-after %s", async (retryAfter, expected) => {
    handler = (_req, res) => json(res, 429, { error: { code: "rate_limit_exceeded" } }, { "retry-after": retryAfter });
    const failure = await rejection(provider().generate(params(), never(), () => undefined));
    expect([failure.code, failure.transient]).toEqual(["RATE_LIMITED", true]);
    expect(failure.retryAfterMs).toBeGreaterThan(expected - 2_000);
    expect(failure.retryAfterMs).toBeLessThanOrEqual(expected);
  });

  it("maps an exhausted quota (a 429 that waiting cannot fix) to MISCONFIGURED", async () => {
    handler = (_req, res) =>
      json(res, 429, { error: { code: "insufficient_quota", message: "You exceeded your quota" } });
    const failure = await rejection(provider().generate(params(), never(), () => undefined));
    expect([failure.code, failure.transient]).toEqual(["MISCONFIGURED", false]);
  });

  it("maps 500 to transient UPSTREAM_ERROR and other 4xx to a final one", async () => {
    handler = (_req, res) => json(res, 503, { error: { message: "overloaded" } });
    const server = await rejection(provider().generate(params(), never(), () => undefined));
    expect([server.code, server.transient]).toEqual(["UPSTREAM_ERROR", true]);
    handler = (_req, res) => json(res, 400, { error: { message: "Invalid size 'x'. Supported: 1024x1024." } });
    const client = await rejection(provider().generate(params(), never(), () => undefined));
    expect([client.code, client.transient]).toEqual(["UPSTREAM_ERROR", false]);
    expect(client.message.length).toBeLessThan(200);
  });

  it("maps 401 to MISCONFIGURED without leaking the key or the upstream text", async () => {
    const wrong = "sk-wrong-abcdefghijklmnop";
    const failure = await rejection(provider({ apiKey: wrong }).generate(params(), never(), () => undefined));
    expect([failure.code, failure.transient]).toEqual(["MISCONFIGURED", false]);
    expect(received[0]!.headers.authorization).toBe(`Bearer ${wrong}`);
    expect(`${failure.message} ${String(failure.cause)}`).not.toContain("abcdefghij");
  });

  it.each([
    ["a body that is not JSON", (res: ServerResponse) => res.writeHead(200).end("<html>gateway</html>")],
    ["no data array", (res: ServerResponse) => json(res, 200, { images: [] })],
    ["the wrong number of images", (res: ServerResponse) => json(res, 200, { data: [] })],
    [
      "bytes that are not an image",
      (res: ServerResponse) => json(res, 200, { data: [{ b64_json: "aGVsbG8gd29ybGQ=" }] }),
    ],
    ["an item without an image", (res: ServerResponse) => json(res, 200, { data: [{ revised_prompt: "x" }] })],
    ["a URL that is not served", (res: ServerResponse) => json(res, 200, { data: [{ url: "/missing.png" }] })],
  ])("maps %s to transient BAD_RESPONSE", async (_name, respond) => {
    handler = (_req, res) => respond(res);
    const failure = await rejection(provider().generate(params(), never(), () => undefined));
    expect([failure.code, failure.transient]).toEqual(["BAD_RESPONSE", true]);
  });

  it("gives up with transient TIMEOUT when the server never answers", async () => {
    handler = () => undefined;
    const started = performance.now();
    const failure = await rejection(provider({ timeoutMs: 300 }).generate(params(), never(), () => undefined));
    expect([failure.code, failure.transient]).toEqual(["TIMEOUT", true]);
    expect(performance.now() - started).toBeLessThan(1_500);
  });

  it("maps an unreachable server to transient UPSTREAM_ERROR", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const upstream = new OpenAIProvider({ baseUrl: `http://127.0.0.1:${port}`, apiKey: KEY });
    const failure = await rejection(upstream.generate(params(), never(), () => undefined));
    expect([failure.code, failure.transient]).toEqual(["UPSTREAM_ERROR", true]);
  });

  it("rejects promptly with ABORTED when the caller aborts a pending request", async () => {
    const controller = new AbortController();
    handler = () => {
      controller.abort();
    };
    const started = performance.now();
    const failure = await rejection(
      provider({ timeoutMs: 10_000 }).generate(params(), controller.signal, () => undefined),
    );
    expect([failure.code, failure.transient]).toEqual(["ABORTED", false]);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("never puts the key where a log could print it", () => {
    const upstream = provider();
    expect(JSON.stringify(upstream)).not.toContain(KEY);
    expect(String(Object.values(upstream))).not.toContain(KEY);
  });
});

/**
 * A second server on loopback, on another origin than the API: where an upstream's answer could point to
 * reach the worker's own network. It counts every request it gets (a refused address gets none).
 */
describe("image URLs named by the upstream", () => {
  let storage: Server;
  let storageUrl: string;
  let storageHits: { path: string; authorization?: string }[];
  let storageHandler: (req: IncomingMessage, res: ServerResponse) => void;

  beforeAll(async () => {
    storage = createServer((req, res) => {
      storageHits.push({ path: req.url ?? "/", authorization: req.headers.authorization });
      storageHandler(req, res);
    });
    await new Promise<void>((resolve) => storage.listen(0, "127.0.0.1", resolve));
    storageUrl = `http://127.0.0.1:${(storage.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    storage.closeAllConnections();
    await new Promise((resolve) => storage.close(resolve));
  });
  beforeEach(() => {
    storageHits = [];
    storageHandler = (_req, res) => res.writeHead(404).end();
  });

  it.each([
    ["loopback on another origin", () => `${storageUrl}/a.png`],
    ["a name resolving to loopback", () => `${storageUrl.replace("127.0.0.1", "localhost")}/a.png`],
    ["a private network", () => "http://10.0.0.1/x.png"],
    ["the cloud metadata address", () => "http://169.254.169.254/latest/meta-data/"],
    ["IPv6 loopback", () => `http://[::1]:${new URL(storageUrl).port}/a.png`],
  ])("refuses %s before connecting, as a final BAD_RESPONSE", async (_label, url) => {
    const image = await png("#445566");
    storageHandler = (_req, res) => res.writeHead(200, { "content-type": "image/png" }).end(image);
    handler = (_req, res) => json(res, 200, { data: [{ url: url() }] });
    const started = performance.now();
    const failure = await rejection(provider().generate(params(), never(), () => undefined));
    expect([failure.code, failure.transient]).toEqual(["BAD_RESPONSE", false]);
    expect(storageHits).toEqual([]);
    // Refused at lookup, not after a connection attempt that times out.
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it.each([
    ["refuses the next hop", false, "BAD_RESPONSE", []],
    ["with allowPrivateImageUrls, follows it without sending the key", true, null, [{ path: "/inner" }]],
  ])(
    "checks a redirect from the configured server to another origin again: %s",
    async (_label, allowPrivateImageUrls, code, hits) => {
      const image = await png("#556677");
      storageHandler = (_req, res) => res.writeHead(200, { "content-type": "image/png" }).end(image);
      handler = (req, res) =>
        req.method === "GET"
          ? void res.writeHead(302, { location: `${storageUrl}/inner` }).end()
          : json(res, 200, { data: [{ url: "/redirect" }] });
      const result = await provider({ allowPrivateImageUrls })
        .generate(params(), never(), () => undefined)
        .then(
          () => null,
          (e: unknown) => e as ProviderError,
        );
      expect(result?.code ?? null).toBe(code);
      expect(storageHits.map((h) => ({ path: h.path, authorization: h.authorization }))).toEqual(
        hits.map((h) => ({ ...h, authorization: undefined })),
      );
      // The configured server got the key for the first hop (relative URL on its own origin).
      expect(received.find((r) => r.method === "GET")?.headers.authorization).toBe(`Bearer ${KEY}`);
    },
  );

  it("with allowPrivateImageUrls, downloads from another origin on the network, following a redirect, without the key", async () => {
    const image = await png("#778899");
    storageHandler = (req, res) => {
      if (req.url === "/moved.png") return res.writeHead(302, { location: "/a.png" }).end();
      res.writeHead(200, { "content-type": "image/png" }).end(image);
    };
    handler = (_req, res) => json(res, 200, { data: [{ url: `${storageUrl}/moved.png` }] });
    const [result] = await provider({ allowPrivateImageUrls: true }).generate(params(), never(), () => undefined);
    expect(result!.data.equals(image)).toBe(true);
    expect(storageHits).toEqual(
      [{ path: "/moved.png" }, { path: "/a.png" }].map((h) => ({ ...h, authorization: undefined })),
    );
  });

  it("refuses an image download larger than the limit while it streams (chunked, no content-length)", async () => {
    const chunk = Buffer.alloc(64 * 1024, 1);
    let written = 0;
    storageHandler = (_req, res) => {
      res.writeHead(200, { "content-type": "image/png" });
      const write = () => {
        // 64 MB if nobody stops it.
        while (written < 64 * 1024 * 1024 && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", write);
        }
        res.end();
      };
      write();
    };
    handler = (_req, res) => json(res, 200, { data: [{ url: `${storageUrl}/big.png` }] });
    const failure = await rejection(
      provider({ allowPrivateImageUrls: true, maxImageBytes: 256 * 1024 }).generate(params(), never(), () => undefined),
    );
    expect(failure.code).toBe("BAD_RESPONSE");
    expect(written).toBeLessThan(16 * 1024 * 1024);
  });
});

describe("response size limits", () => {
  it("refuses a JSON answer larger than the limit while it streams (chunked, no content-length)", async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let written = 0;
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"data":[{"b64_json":"');
      const write = () => {
        while (written < 64 * 1024 * 1024 && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", write);
        }
        res.end('"}]}');
      };
      write();
    };
    const failure = await rejection(
      provider({ maxImageBytes: 256 * 1024 }).generate(params(), never(), () => undefined),
    );
    expect([failure.code, failure.transient]).toEqual(["BAD_RESPONSE", true]);
    expect(written).toBeLessThan(16 * 1024 * 1024);
  });

  it("refuses a b64_json image larger than the limit", async () => {
    const image = await png("#123123");
    handler = (_req, res) => json(res, 200, { data: [{ b64_json: image.toString("base64") }] });
    const failure = await rejection(
      provider({ maxImageBytes: image.length - 1 }).generate(params(), never(), () => undefined),
    );
    expect(failure.code).toBe("BAD_RESPONSE");
    await provider({ maxImageBytes: image.length }).generate(params(), never(), () => undefined);
  });

  it("reads only the start of an endless error answer", async () => {
    let written = 0;
    handler = (_req, res) => {
      res.writeHead(500, { "content-type": "text/html" });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const write = () => {
        while (written < 64 * 1024 * 1024 && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", write);
        }
        res.end();
      };
      write();
    };
    const failure = await rejection(provider().generate(params(), never(), () => undefined));
    expect([failure.code, failure.transient]).toEqual(["UPSTREAM_ERROR", true]);
    expect(written).toBeLessThan(16 * 1024 * 1024);
  });
});
