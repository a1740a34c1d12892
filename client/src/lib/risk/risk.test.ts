import { describe, expect, it } from "vitest";
import type { ModerationEventRowFragment, ReviewTaskFragment } from "../graphql/generated/graphql";
import { auditActionLabel, parseAuditAction, targetHref } from "./audit";
import { categoryLabel, eventFor, patternProblem, reasonProblem, scopeLabel, shortId } from "./risk";

describe("patternProblem", () => {
  it("accepts terms, phrases and regular expressions that compile", () => {
    expect(patternProblem("TERM", "passport")).toBeNull();
    expect(patternProblem("PHRASE", "id card")).toBeNull();
    expect(patternProblem("REGEX", "\\b(nude|naked)\\b")).toBeNull();
    // Leetspeak characters read as letters on the server.
    expect(patternProblem("TERM", "$$")).toBeNull();
  });

  it("refuses empty, too long, letterless and uncompilable patterns", () => {
    expect(patternProblem("TERM", "   ")).toMatch(/Write the term/);
    expect(patternProblem("TERM", "a".repeat(501))).toMatch(/500/);
    // Without a letter or digit, a term or phrase would match every prompt.
    expect(patternProblem("TERM", "...")).toMatch(/letter or digit/);
    expect(patternProblem("PHRASE", "- -")).toMatch(/letter or digit/);
    expect(patternProblem("REGEX", "pass(port")).toMatch(/^Not a valid regular expression/);
  });
});

describe("reasonProblem", () => {
  it("wants 3 to 500 characters, spaces aside", () => {
    expect(reasonProblem("  no ")).toMatch(/at least 3/);
    expect(reasonProblem("Not allowed.")).toBeNull();
    expect(reasonProblem("x".repeat(501))).toMatch(/500/);
  });
});

describe("labels", () => {
  it("names known values and spells out unknown ones", () => {
    expect(categoryLabel("IDENTITY_DOCUMENTS")).toBe("Identity documents");
    expect(categoryLabel("NEW_THING")).toBe("New thing");
    expect(scopeLabel("TASKS")).toBe("Creating tasks");
    expect(auditActionLabel("rejectTask")).toBe("Rejected a task");
    expect(auditActionLabel("publishAnnouncement")).toBe("Publish announcement");
  });

  it("shortens ids for tables", () => {
    expect(shortId("0f8c2a4e-1111-2222-3333-444455556666")).toBe("0f8c2a4e…6666");
    expect(shortId("short")).toBe("short");
  });
});

describe("audit filters", () => {
  it("takes an action name or nothing", () => {
    expect(parseAuditAction(" rejectTask ")).toBe("rejectTask");
    expect(parseAuditAction("drop table;")).toBeNull();
    expect(parseAuditAction(null)).toBeNull();
  });

  it("links account targets to their restrictions", () => {
    expect(targetHref("restrictAccount", "abc")).toBe("/admin/restrictions?account=abc");
    expect(targetHref("rejectTask", "abc")).toBeNull();
    expect(targetHref("restrictAccount", null)).toBeNull();
  });
});

describe("eventFor", () => {
  const task = {
    id: "t1",
    prompt: "A banknote on a desk",
    createdAt: "2026-03-01T10:00:00.000Z",
    owner: { id: "a1", displayName: "Eve" },
  } as ReviewTaskFragment;
  const event = (over: Partial<ModerationEventRowFragment>): ModerationEventRowFragment => ({
    __typename: "ModerationEvent",
    id: "e",
    accountId: "a1",
    action: "REVIEW",
    category: "CUSTOM",
    excerpt: "A banknote on a desk\nblurry",
    createdAt: "2026-03-01T10:00:00.050Z",
    ...over,
  });

  it("finds the held event of the same account and prompt, closest in time", () => {
    const near = event({ id: "near" });
    const far = event({ id: "far", createdAt: "2026-03-01T10:00:30.000Z" });
    expect(eventFor(task, [far, near])?.id).toBe("near");
  });

  it("ignores other accounts, other prompts, blocks and events long before", () => {
    expect(eventFor(task, [event({ accountId: "a2" })])).toBeNull();
    expect(eventFor(task, [event({ excerpt: "Something else" })])).toBeNull();
    expect(eventFor(task, [event({ action: "BLOCK" })])).toBeNull();
    expect(eventFor(task, [event({ createdAt: "2026-03-01T09:50:00.000Z" })])).toBeNull();
  });
});
