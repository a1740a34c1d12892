import { describe, expect, it } from "vitest";
import { needsAccount, safeNext, signInHref } from "./navigation";

describe("safeNext", () => {
  it("keeps studio paths and refuses everything else", () => {
    expect(safeNext("/settings")).toBe("/settings");
    expect(safeNext("/messages?unread=1#top")).toBe("/messages?unread=1#top");
    expect(safeNext(null)).toBe("/");
    expect(safeNext("https://evil.example/")).toBe("/");
    expect(safeNext("//evil.example/")).toBe("/");
    expect(safeNext("/\\evil.example/")).toBe("/");
    expect(safeNext("javascript:alert(1)")).toBe("/");
  });
});

describe("account pages", () => {
  it("knows which paths need an account and how to come back to them", () => {
    expect(needsAccount("/settings")).toBe(true);
    expect(needsAccount("/developer/keys")).toBe(true);
    expect(needsAccount("/")).toBe(false);
    expect(needsAccount("/sign-in")).toBe(false);
    expect(needsAccount("/settingsx")).toBe(false);
    expect(signInHref("/settings")).toBe("/sign-in?next=%2Fsettings");
    expect(signInHref("/")).toBe("/sign-in");
  });
});
