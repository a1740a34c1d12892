import { describe, expect, it } from "vitest";
import { parseTerms } from "./terms";

describe("parseTerms", () => {
  it("turns numbered titles into headings and '- ' lines into lists", () => {
    const body = [
      "Welcome to Novart Studio.",
      "1. Scope",
      "These Terms form a legal agreement.",
      "2. Services",
      "The Service includes:",
      "- Studio: submit prompts.",
      "- Asset Library: preview results.",
      "Public registration is enabled.",
      "3. Numbered sentence that is a paragraph because it ends with a period.",
    ].join("\n");
    expect(parseTerms(body)).toEqual([
      { kind: "paragraph", text: "Welcome to Novart Studio." },
      { kind: "heading", text: "1. Scope" },
      { kind: "paragraph", text: "These Terms form a legal agreement." },
      { kind: "heading", text: "2. Services" },
      { kind: "paragraph", text: "The Service includes:" },
      { kind: "list", items: ["Studio: submit prompts.", "Asset Library: preview results."] },
      { kind: "paragraph", text: "Public registration is enabled." },
      { kind: "paragraph", text: "3. Numbered sentence that is a paragraph because it ends with a period." },
    ]);
  });

  it("skips blank lines and accepts Windows line ends", () => {
    expect(parseTerms("a\r\n\r\n- b\r\n- c\r\n")).toEqual([
      { kind: "paragraph", text: "a" },
      { kind: "list", items: ["b", "c"] },
    ]);
  });
});
