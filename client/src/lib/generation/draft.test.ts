import { describe, expect, it } from "vitest";
import { draftFromUrl } from "./draft";

describe("draftFromUrl", () => {
  it("takes prompt, model and seed from a 'use this prompt again' link", () => {
    const params = new URLSearchParams({ prompt: "a red fox", model: "novart-sketch", seed: "42" });
    expect(draftFromUrl(params)).toEqual({ prompt: "a red fox", model: "novart-sketch", seed: "42" });
  });

  it("ignores what is not a plausible model or seed", () => {
    expect(draftFromUrl(new URLSearchParams({ model: "<script>", seed: "-1" }))).toEqual({});
    expect(draftFromUrl(new URLSearchParams())).toEqual({});
  });
});
