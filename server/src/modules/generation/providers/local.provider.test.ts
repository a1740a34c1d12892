import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { LocalProvider } from "./local.provider.js";
import { ProviderError, type GenerateParams } from "./provider.js";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function params(overrides: Partial<GenerateParams> = {}): GenerateParams {
  return {
    model: "gradient",
    prompt: "a quiet blue harbour at dawn",
    negativePrompt: null,
    width: 256,
    height: 256,
    count: 1,
    seed: 1234,
    references: [],
    ...overrides,
  };
}

const never = () => new AbortController().signal;
const ignore = () => undefined;

async function render(overrides: Partial<GenerateParams> = {}) {
  return new LocalProvider({ stepDelayMs: 0 }).generate(params(overrides), never(), ignore);
}

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe("LocalProvider", () => {
  it.each(["gradient", "mosaic"])(
    "renders %s deterministically: the same input gives the same bytes",
    async (model) => {
      const [first] = await render({ model });
      const [second] = await render({ model });
      expect(first!.contentType).toBe("image/png");
      expect(first!.data.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
      expect(first!.data.equals(second!.data)).toBe(true);
    },
  );

  it("changes with the seed, the prompt, the negative prompt, the style and the image index", async () => {
    const base = (await render())[0]!.data;
    const variants = await Promise.all([
      render({ seed: 1235 }),
      render({ prompt: "a quiet red harbour at dawn" }),
      render({ negativePrompt: "fog" }),
      render({ model: "mosaic" }),
    ]);
    for (const [image] of variants) expect(image!.data.equals(base)).toBe(false);
    const pair = await render({ count: 2 });
    expect(pair).toHaveLength(2);
    expect(pair[0]!.data.equals(base)).toBe(true);
    expect(pair[1]!.data.equals(base)).toBe(false);
  });

  it.each([
    ["gradient", 768, 512],
    ["mosaic", 576, 1024],
    ["mosaic", 1, 3],
  ])("outputs exactly the requested size (%s %ix%i)", async (model, width, height) => {
    const [image] = await render({ model, width, height });
    const meta = await sharp(image!.data).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", width, height]);
  });

  it("reports monotonic progress in steps, ending at exactly 1", async () => {
    const seen: number[] = [];
    const provider = new LocalProvider({ stepDelayMs: 0, stepsPerImage: 8 });
    const images = await provider.generate(params({ count: 3 }), never(), (f) => seen.push(f));
    expect(images).toHaveLength(3);
    expect(seen[0]).toBe(0);
    expect(seen.at(-1)).toBe(1);
    expect(seen).toHaveLength(1 + 3 * 8);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]!);
  });

  it("transforms a reference image, so the result depends on it", async () => {
    const reference = (colour: string) =>
      sharp({ create: { width: 640, height: 480, channels: 3, background: colour } })
        .composite([
          {
            input: Buffer.from(`<svg width="640" height="480"><circle cx="320" cy="240" r="150" fill="white"/></svg>`),
          },
        ])
        .png()
        .toBuffer();
    const [dark, light] = await Promise.all([reference("#101010"), reference("#d0d0d0")]);
    const [plain] = await render({ width: 320, height: 320 });
    const [withDark] = await render({ width: 320, height: 320, references: [dark] });
    const [withLight] = await render({ width: 320, height: 320, references: [light] });
    const [again] = await render({ width: 320, height: 320, references: [dark] });
    expect(withDark!.data.equals(plain!.data)).toBe(false);
    expect(withDark!.data.equals(withLight!.data)).toBe(false);
    expect(again!.data.equals(withDark!.data)).toBe(true);
    // The reference's bright disc survives in the middle while its dark surround darkens the corners.
    const { data, info } = await sharp(withDark!.data).greyscale().raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => data[y * info.width + x]!;
    expect(at(160, 160)).toBeGreaterThan(at(5, 5) + 40);
    expect((await sharp(withDark!.data).metadata()).width).toBe(320);
  });

  it("treats prompt words that name Object.prototype members as plain words", async () => {
    // These words once resolved to inherited functions, giving NaN colours and an all-black image.
    for (const model of ["gradient", "mosaic"]) {
      const [image] = await render({ model, prompt: "constructor toString __proto__", negativePrompt: "valueOf" });
      const { channels } = await sharp(image!.data).stats();
      expect(channels.slice(0, 3).every((c) => c.stdev > 5)).toBe(true);
    }
  });

  it("rejects an unknown style as MISCONFIGURED", async () => {
    for (const model of ["photoreal", "constructor"]) {
      const error = await rejection(render({ model }));
      expect([error.code, error.transient]).toEqual(["MISCONFIGURED", false]);
    }
  });

  it("stops promptly with ABORTED when the signal fires mid-way", async () => {
    const controller = new AbortController();
    const provider = new LocalProvider({ stepDelayMs: 50 });
    let abortedAt = 0;
    const progress = (fraction: number) => {
      if (fraction > 0 && !abortedAt) {
        abortedAt = performance.now();
        controller.abort();
      }
    };
    const error = await rejection(provider.generate(params({ count: 4 }), controller.signal, progress));
    expect([error.code, error.transient]).toEqual(["ABORTED", false]);
    expect(performance.now() - abortedAt).toBeLessThan(100);
  });

  it("rejects at once when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(new LocalProvider().generate(params(), controller.signal, ignore));
    expect(error.code).toBe("ABORTED");
  });
});
