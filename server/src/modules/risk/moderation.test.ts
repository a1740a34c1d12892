import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser, recharge } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { AccountRole } from "../accounts/account.entity.js";

let t: TestApp;
let user: SignedInUser;
let moderator: SignedInUser;

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  user = await signedInUser(t);
  moderator = await signedInUser(t, { role: AccountRole.MODERATOR });
  await recharge(t, user.account.id, 100);
});
afterAll(() => t?.close());

const CREATE = `mutation($prompt: String!) { createTask(input: { prompt: $prompt, model: "novart-sketch", width: 512, height: 512, count: 1 }) { task { id status } } }`;

describe("the default rules", () => {
  const blocked: [string, string[]][] = [
    [
      "IDENTITY_DOCUMENTS",
      [
        "a realistic passport photo page",
        "P A S S P O R T scan",
        "pa55p0rt of a man",
        "ＰＡＳＳＰＯＲＴ",
        "pаssport with cyrillic a",
        "my driver's license",
        "an ID-card with my face",
      ],
    ],
    [
      "CERTIFICATES_AND_SEALS",
      [
        "an official seal of the city",
        "a fake university diploma",
        "forged birth certificate",
        "n.o.t.a.r.y s.t.a.m.p",
      ],
    ],
    ["SEXUAL_CONTENT", ["p0rn scene", "hardcore p-o-r-n", "NSFW art"]],
    ["MINORS", ["a naked child", "sexy schoolgirl", "underage and erotic"]],
    ["VIOLENCE", ["a beheading in the square", "d3capitated soldier"]],
    ["HATE", ["white power rally poster"]],
  ];
  it.each(blocked)("blocks %s, obfuscated too", async (category, prompts) => {
    for (const prompt of prompts) {
      const decision = await t.app.services.moderation.decide(prompt);
      expect(decision, prompt).toMatchObject({ action: "BLOCK", category });
    }
  });

  /** Every category of the default set, spelled out, punctuated and in leetspeak (REGEX rules included). */
  const obfuscated: [string, string[]][] = [
    [
      "IDENTITY_DOCUMENTS",
      [
        "p a s s p o r t",
        "p.a.s.s.p.o.r.t photo",
        "d r i v e r s l i c e n s e",
        "d.r.i.v.e.r-s l.i.c.e.n.s.e",
        "dr1v3r's l1c3ns3",
        "n-a-t-i-o-n-a-l i-d",
      ],
    ],
    [
      "CERTIFICATES_AND_SEALS",
      ["f a k e d i p l o m a", "f.a.k.e university diploma", "f4k3 d1pl0m4", "c-o-u-n-t-e-r-f-e-i-t seal"],
    ],
    [
      "SEXUAL_CONTENT",
      [
        "s e x a c t",
        "a s.e.x a.c.t on screen",
        "i-n-t-e-r-c-o-u-r-s-e",
        "1nt3rc0urs3",
        "g e n i t a l s",
        "h 3 n t a 1",
      ],
    ],
    [
      "MINORS",
      [
        "n.a.k.e.d child",
        "n a k e d child",
        "n a k e d c h i l d",
        "a n a k e d child",
        "s3xy sch00lg1rl",
        "e-r-o-t-i-c t-e-e-n",
        "c h i l d in l i n g e r i e",
        "toddler, n.u.d.e",
      ],
    ],
    ["VIOLENCE", ["b-e-h-e-a-d-i-n-g", "b e h e a d i n g in the square", "d1sm3mb3r3d body", "d.e.c.a.p.i.t.a.t.e.d"]],
    [
      "HATE",
      [
        "w h i t e p o w e r",
        "w.h.i.t.e p.o.w.e.r poster",
        "wh1t3 p0w3r",
        "white-power rally",
        "e t h n i c c l e a n s i n g",
        "3thn1c cl34ns1ng",
      ],
    ],
  ];
  it.each(obfuscated)("blocks spaced, punctuated and leetspeak variants of %s", async (category, prompts) => {
    for (const prompt of prompts) {
      const decision = await t.app.services.moderation.decide(prompt);
      expect(decision, prompt).toMatchObject({ action: "BLOCK", category });
    }
  });

  it("sends spelled-out REVIEW terms to review", async () => {
    for (const prompt of ["a n.u.d.e figure", "t o p l e s s on a beach", "g-o-r-e"]) {
      expect(await t.app.services.moderation.decide(prompt), prompt).toMatchObject({ action: "REVIEW" });
    }
  });

  it("does not join normal words into a match", async () => {
    for (const prompt of [
      "a child reading a book in a park",
      "a white horse",
      "a red power plant",
      "a white horse near a red power plant, a child waving",
      "kids skating in a park",
      "a b c blocks for a toddler",
      "the U S A flag over a school",
      "a kid's drawing of a dragon",
      "x-ray of a cat",
      "an old e-reader on a table",
    ]) {
      expect(await t.app.services.moderation.decide(prompt), prompt).toBeNull();
    }
  });

  it("lets ordinary prompts through", async () => {
    for (const prompt of [
      "a lighthouse at dusk, oil painting",
      "deep ornament pattern in gold",
      "a passionate portrait of a chef",
      "a child flying a kite on the beach",
      "1024 stars over a mountain lake",
      "an old stamp collection on a desk",
    ]) {
      expect(await t.app.services.moderation.decide(prompt), prompt).toBeNull();
    }
  });

  it("refuses a blocked prompt with CONTENT_REJECTED and its category, charges nothing, and records it", async () => {
    const before = await t.app.services.ledger.balance(user.account.id);
    const res = await t.graphql(CREATE, { prompt: "a scanned passport of John" }, user.headers);
    expect(res.body.errors?.[0].extensions).toMatchObject({ code: "CONTENT_REJECTED", category: "IDENTITY_DOCUMENTS" });
    expect(await t.app.services.ledger.balance(user.account.id)).toEqual(before);
    const events = (await t.app.db.query(`SELECT action, category FROM moderation_event WHERE account_id = $1`, [
      user.account.id,
    ])) as unknown[];
    expect(events).toContainEqual({ action: "BLOCK", category: "IDENTITY_DOCUMENTS" });
    expect(
      (
        (await t.app.db.query(`SELECT count(*)::int AS n FROM task WHERE account_id = $1`, [user.account.id])) as {
          n: number;
        }[]
      )[0].n,
    ).toBe(0);
  });
});

describe("review", () => {
  it("holds a REVIEW prompt until a moderator approves it (then it is queued) or rejects it (refunded, owner told)", async () => {
    const held = await t.graphql<{ createTask: { task: { id: string; status: string } } }>(
      CREATE,
      { prompt: "a nude figure study in charcoal" },
      user.headers,
    );
    expect(held.body.data?.createTask.task.status).toBe("PENDING_REVIEW");
    const second = await t.graphql<{ createTask: { task: { id: string } } }>(
      CREATE,
      { prompt: "naked tree branches in winter" },
      user.headers,
    );
    const balanceHeld = await t.app.services.ledger.balance(user.account.id);

    const queue = await t.graphql<{
      moderationQueue: { tasksInReview: { id: string }[]; recentEvents: { action: string; taskId: string | null }[] };
    }>(
      `{ moderationQueue { tasksInReview { id prompt } recentEvents { action category taskId } } }`,
      undefined,
      moderator.headers,
    );
    // Each held task's event points at it.
    const heldEvents = queue.body.data!.moderationQueue.recentEvents.filter((e) => e.action === "REVIEW");
    expect(heldEvents.map((e) => e.taskId)).toEqual(
      expect.arrayContaining([held.body.data!.createTask.task.id, second.body.data!.createTask.task.id]),
    );
    expect(queue.body.data?.moderationQueue.tasksInReview.map((x) => x.id)).toEqual([
      held.body.data!.createTask.task.id,
      second.body.data!.createTask.task.id,
    ]);

    const approved = await t.graphql<{ approveTask: { task: { status: string } } }>(
      `mutation($input: IdInput!) { approveTask(input: $input) { task { status } } }`,
      { input: { id: held.body.data!.createTask.task.id } },
      moderator.headers,
    );
    expect(approved.body.data?.approveTask.task.status).toBe("QUEUED");

    const rejected = await t.graphql<{ rejectTask: { task: { status: string; error: { code: string } } } }>(
      `mutation($input: RejectTaskInput!) { rejectTask(input: $input) { task { status error { code } } } }`,
      { input: { id: second.body.data!.createTask.task.id, reason: "Not allowed here" } },
      moderator.headers,
    );
    expect(rejected.body.data?.rejectTask.task).toEqual({ status: "FAILED", error: { code: "CONTENT_REJECTED" } });
    expect(await t.app.services.ledger.balance(user.account.id)).toEqual({ paid: balanceHeld.paid + 2, bonus: 0 });
    const told = (await t.app.db.query(`SELECT kind FROM message WHERE account_id = $1 AND kind = 'task.failed'`, [
      user.account.id,
    ])) as unknown[];
    expect(told).toHaveLength(1);

    const asUser = await t.graphql(
      `mutation($input: IdInput!) { approveTask(input: $input) { task { status } } }`,
      { input: { id: second.body.data!.createTask.task.id } },
      user.headers,
    );
    expect(asUser.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
  });
});

describe("rules administration", () => {
  it("lets admins add rules (moderators may test prompts but not edit rules)", async () => {
    const admin = await signedInUser(t, { role: AccountRole.ADMIN });
    const SAVE = `mutation($input: ModerationRuleInput!) { saveModerationRule(input: $input) { rule { id pattern } } }`;
    const rule = { category: "CUSTOM", matchType: "TERM", pattern: "bananaphone", action: "BLOCK" };
    const denied = await t.graphql(SAVE, { input: rule }, moderator.headers);
    expect(denied.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const saved = await t.graphql(SAVE, { input: rule }, admin.headers);
    expect(saved.body.errors).toBeUndefined();
    const bad = await t.graphql(SAVE, { input: { ...rule, matchType: "REGEX", pattern: "([unclosed" } }, admin.headers);
    expect(bad.body.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "pattern" });
    // Patterns that would match every prompt are refused.
    for (const everything of [
      { ...rule, pattern: "..." },
      { ...rule, matchType: "PHRASE", pattern: "- -" },
      { ...rule, matchType: "REGEX", pattern: "x*" },
    ]) {
      const refused = await t.graphql(SAVE, { input: everything }, admin.headers);
      expect(refused.body.errors?.[0].extensions, everything.pattern).toMatchObject({
        code: "BAD_USER_INPUT",
        field: "pattern",
      });
    }
    const test = await t.graphql<{ testModerationPrompt: { action: string; category: string } }>(
      `query($text: String!) { testModerationPrompt(text: $text) { action category } }`,
      { text: "a b-a-n-a-n-a-p-h-o-n-e" },
      moderator.headers,
    );
    expect(test.body.data?.testModerationPrompt).toEqual({ action: "BLOCK", category: "CUSTOM" });
  });
});
