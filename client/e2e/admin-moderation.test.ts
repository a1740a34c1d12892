import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { screenshots, startStudio, watchConsole, type Studio } from "./support.js";

let studio: Studio;
let adminContext: BrowserContext;
let moderatorContext: BrowserContext;
let base: string;

const ADMIN_EMAIL = "admin.moderation@example.com";
const ADMIN_PASSWORD = "admin password for moderation";
const MODERATOR = { email: "mod.moderation@example.com", password: "quiet lantern harbour 9", name: "Margaret" };
const USER = { email: "eve.moderation@example.com", password: "copper violet evening 4", name: "Eve Example" };
const RULE_TERM = "banknote";
/** Split and in leetspeak: the rule still catches it. */
const HELD_PROMPT = "A crisp b4nk-note of 100 euros on a wooden table, macro photo";
const REJECT_REASON = "Pictures of real banknotes are not allowed here.";

/** What the story hands from one step to the next. */
const story = { userId: "", userToken: "", moderatorToken: "", taskId: "", ruleId: "" };

beforeAll(async () => {
  studio = await startStudio({ ADMIN_EMAIL, ADMIN_PASSWORD, WELCOME_BONUS_CREDITS: "100" });
  base = studio.base;
  adminContext = await studio.browser.newContext({ viewport: { width: 1280, height: 900 } });
  moderatorContext = await studio.browser.newContext({ viewport: { width: 1280, height: 900 } });

  story.userId = await studio.createAccount(USER);
  await studio.createAccount(MODERATOR);
  await studio.makeModerator(MODERATOR.email);
  story.userToken = await studio.signInToken(USER);
  story.moderatorToken = await studio.signInToken(MODERATOR);
});

afterAll(async () => {
  await adminContext?.close();
  await moderatorContext?.close();
  await studio?.close();
});

const shot = screenshots("moderation", { fromTop: true });

async function tabs(page: Page): Promise<string[]> {
  return (await page.getByRole("navigation", { name: "Admin sections" }).getByRole("link").allTextContents()).map((t) =>
    t.trim(),
  );
}

describe("moderation in the admin area", () => {
  it("lets an admin add a review rule and test prompts against it", async () => {
    const page = await adminContext.newPage();
    const consoleErrors = watchConsole(page);
    await studio.signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/admin/rules");
    // Administrators see every section, the moderation ones included.
    expect(await tabs(page)).toEqual(
      expect.arrayContaining(["Code batches", "Models", "Moderation", "Rules", "Restrictions", "Audit log"]),
    );
    // The installation starts with the default rules (identity documents, seals, sexual content).
    await page.getByTestId("rule-row").first().waitFor();
    const defaults = await page.getByTestId("rule-row").count();
    expect(defaults).toBeGreaterThan(0);

    // A regular expression that does not compile is refused next to the pattern, and what was typed stays.
    await page.getByTestId("add-rule").click();
    const editor = page.getByTestId("rule-editor");
    await editor.getByTestId("rule-match-type").selectOption("REGEX");
    await editor.getByTestId("rule-pattern").fill("pass(port");
    await editor.getByTestId("confirm").click();
    const patternError = editor.getByTestId("field-error");
    await patternError.waitFor();
    expect(await patternError.textContent()).toContain("Not a valid regular expression");
    expect(await editor.getByTestId("rule-pattern").inputValue()).toBe("pass(port");
    expect(await editor.getByTestId("rule-pattern").getAttribute("aria-invalid")).toBe("true");

    // The rule: the term "banknote", held for review.
    await editor.getByTestId("rule-match-type").selectOption("TERM");
    await editor.getByTestId("rule-category").selectOption("CUSTOM");
    await editor.getByTestId("rule-pattern").fill(RULE_TERM);
    await editor.getByTestId("rule-action-REVIEW").check();
    await editor.getByTestId("confirm").click();
    await editor.waitFor({ state: "hidden" });
    const row = page.getByTestId("rule-row").filter({ has: page.getByText(RULE_TERM, { exact: true }) });
    await row.waitFor();
    expect(await page.getByTestId("rule-row").count()).toBe(defaults + 1);
    story.ruleId = (await row.getAttribute("data-id"))!;
    expect(await row.textContent()).toContain("Custom");
    expect(await row.textContent()).toContain("Hold for review");

    // The test box: a prompt that matches names the rule and highlights it; one that does not is allowed.
    await page.getByTestId("test-prompt-input").fill(HELD_PROMPT);
    await page.getByTestId("test-prompt").click();
    const outcome = page.getByTestId("test-outcome");
    await page.locator('[data-testid="test-outcome"][data-action="REVIEW"]').waitFor();
    expect(await outcome.getAttribute("data-rule")).toBe(story.ruleId);
    expect(await page.getByTestId("test-rule").textContent()).toContain(RULE_TERM);
    await page.locator(`[data-testid="rule-row"][data-matched="true"][data-id="${story.ruleId}"]`).waitFor();
    await shot(page, "rules");

    await page.getByTestId("test-prompt-input").fill("A lighthouse at dusk");
    await page.getByTestId("test-prompt-input").press("Control+Enter");
    await page.locator('[data-testid="test-outcome"][data-action=""]').waitFor();
    expect(await page.getByTestId("test-result").textContent()).toContain("Allowed");
    expect(await page.locator('[data-testid="rule-row"][data-matched="true"]').count()).toBe(0);

    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("holds a user's matching task for review", async () => {
    const created = await studio.graphqlData<{ createTask: { task: { id: string; status: string } } }>(
      "mutation ($input: CreateTaskInput!) { createTask(input: $input) { task { id status } } }",
      { input: { model: "novart-sketch", prompt: HELD_PROMPT, width: 512, height: 512, count: 1 } },
      story.userToken,
    );
    expect(created.createTask.task.status).toBe("PENDING_REVIEW");
    story.taskId = created.createTask.task.id;
  });

  it("shows the moderator the queue and lets them reject the task with a reason", async () => {
    const page = await moderatorContext.newPage();
    const consoleErrors = watchConsole(page);
    // A moderator opening the admin area lands on the moderation queue and sees only its sections.
    await studio.signIn(page, MODERATOR.email, MODERATOR.password, "/admin", "/admin/moderation");
    const moderatorTabs = await tabs(page);
    expect(moderatorTabs).toEqual(expect.arrayContaining(["Moderation", "Rules", "Restrictions"]));
    for (const adminOnly of ["Code batches", "Balances", "Models", "Audit log"]) {
      expect(moderatorTabs).not.toContain(adminOnly);
    }

    const card = page.locator(`[data-testid="review-task"][data-id="${story.taskId}"]`);
    await card.waitFor();
    expect(await page.getByTestId("queue-count").textContent()).toBe("1");
    expect(await card.getByTestId("review-prompt").textContent()).toBe(HELD_PROMPT);
    expect(await card.textContent()).toContain(USER.name);
    expect(await card.textContent()).toContain("Novart Sketch");
    expect(await card.getByTestId("review-category").textContent()).toBe("Custom");
    // The held prompt is listed among the recent events too.
    const event = page.getByTestId("event-row").first();
    expect(await event.getAttribute("data-action")).toBe("REVIEW");
    expect(await event.getByTestId("event-excerpt").textContent()).toContain("b4nk-note");
    await shot(page, "queue");

    // Keyboard: Tab into the task, R opens the rejection; a reason is required.
    await card.getByTestId("approve-task").focus();
    await page.keyboard.press("r");
    const dialog = page.getByTestId("reject-dialog");
    await dialog.waitFor();
    expect(await dialog.getByTestId("reject-prompt").textContent()).toBe(HELD_PROMPT);
    await dialog.getByTestId("confirm").click();
    expect(await dialog.getByTestId("reason-error").textContent()).toContain("at least 3 characters");
    await dialog.getByTestId("reason-input").fill(REJECT_REASON);
    await shot(page, "reject-dialog");
    await dialog.getByTestId("confirm").click();
    await dialog.waitFor({ state: "hidden" });
    await page.getByTestId("queue-empty").waitFor();
    expect(await card.count()).toBe(0);

    // The task failed, was refunded, and the owner can read why.
    const task = await studio.graphqlData<{ task: { status: string; error: { code: string; message: string } } }>(
      "query ($id: ID!) { task(id: $id) { status error { code message } } }",
      { id: story.taskId },
      story.userToken,
    );
    expect(task.task.status).toBe("FAILED");
    expect(task.task.error.code).toBe("CONTENT_REJECTED");
    expect(task.task.error.message).toContain(REJECT_REASON);

    // Moderators read the rules but do not change them; the audit log is for administrators.
    await page.getByTestId("admin-tab-rules").click();
    await page.getByTestId("rule-row").first().waitFor();
    await page.getByTestId("rules-read-only").waitFor();
    expect(await page.getByTestId("add-rule").count()).toBe(0);
    expect(await page.getByTestId("edit-rule").count()).toBe(0);
    await page.goto(`${base}/admin/audit`);
    await page.getByTestId("admin-section-forbidden").waitFor();

    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("shows the rejection in the audit log, filterable by action", async () => {
    const page = await adminContext.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/admin/audit`);
    const top = page.getByTestId("audit-row").first();
    await top.waitFor();
    expect(await top.getAttribute("data-action")).toBe("rejectTask");
    expect(await top.getByTestId("audit-reason").textContent()).toBe(REJECT_REASON);
    expect(await top.getByTestId("audit-target").getAttribute("title")).toBe(story.taskId);
    expect(await page.locator('[data-testid="audit-row"][data-action="saveModerationRule"]').count()).toBe(1);

    // The details: what was asked for and the answer.
    await top.getByTestId("audit-toggle").click();
    const details = page.getByTestId("audit-details");
    await details.waitFor();
    expect(await details.getByTestId("audit-input").textContent()).toContain(REJECT_REASON);
    expect(await details.getByTestId("audit-result").textContent()).toContain("FAILED");
    await shot(page, "audit");

    // Filtered by action, in the URL.
    await page.getByTestId("audit-filter-action").fill("saveModerationRule");
    await page.getByTestId("audit-apply").click();
    await page.waitForURL(/action=saveModerationRule/);
    await page.locator('[data-testid="audit-row"][data-action="rejectTask"]').waitFor({ state: "detached" });
    await expect.poll(() => page.getByTestId("audit-row").count()).toBe(1);
    expect(await page.getByTestId("audit-row").first().getAttribute("data-action")).toBe("saveModerationRule");

    // Filtered by the moderator as actor (from the link in a row): only the rejection.
    await page.goto(`${base}/admin/audit`);
    await page.locator('[data-testid="audit-row"][data-action="rejectTask"]').getByTestId("audit-actor").click();
    await page.waitForURL(/actor=/);
    await page.locator('[data-testid="audit-row"][data-action="saveModerationRule"]').waitFor({ state: "detached" });
    // The filtered page may still be loading: wait for its one row.
    await expect.poll(() => page.getByTestId("audit-row").count()).toBe(1);

    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("lists a restricted account's appeal for the moderator to answer, and keeps the history", async () => {
    const restricted = await studio.graphqlData<{ restrictAccount: { restriction: { id: string } } }>(
      "mutation ($input: RestrictAccountInput!) { restrictAccount(input: $input) { restriction { id } } }",
      {
        input: {
          accountId: story.userId,
          scopes: ["TASKS"],
          durationMinutes: 60 * 24,
          reason: "Repeated prompts for banknotes.",
        },
      },
      story.moderatorToken,
    );
    const restrictionId = restricted.restrictAccount.restriction.id;
    await studio.graphqlData(
      "mutation ($input: AppealRestrictionInput!) { appealRestriction(input: $input) { restriction { id } } }",
      { input: { id: restrictionId, message: "It was for a film prop, not a real banknote. Sorry!" } },
      story.userToken,
    );

    const page = await moderatorContext.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/admin/restrictions`);
    const appeal = page.getByTestId("appeals").locator(`[data-testid="restriction"][data-id="${restrictionId}"]`);
    await appeal.waitFor();
    expect(await appeal.getAttribute("data-state")).toBe("active");
    expect(await appeal.getByTestId("restriction-appeal").textContent()).toContain("film prop");
    await shot(page, "restrictions");

    // Accepting lifts the restriction, with the answer the account is sent.
    await appeal.getByTestId("accept-appeal").click();
    const dialog = page.getByTestId("restriction-dialog");
    await dialog.getByTestId("reason-input").fill("Your explanation was accepted; thank you.");
    await dialog.getByTestId("confirm").click();
    await dialog.waitFor({ state: "hidden" });
    await page.getByTestId("appeals-empty").waitFor();

    // The account's history keeps it, lifted, with the appeal and the answer.
    await page.getByTestId("restrictions-account").fill(story.userId);
    await page.getByTestId("restrictions-show").click();
    await page.waitForURL(/account=/);
    const item = page
      .getByTestId("restrictions-history")
      .locator(`[data-testid="restriction"][data-id="${restrictionId}"]`);
    await item.waitFor();
    expect(await item.getAttribute("data-state")).toBe("lifted");
    expect(await item.getByTestId("restriction-appeal-decision").textContent()).toContain("accepted");
    expect(await item.getByTestId("lift-restriction").count()).toBe(0);

    // The user can create tasks again.
    const held = await studio.graphqlData<{ createTask: { task: { status: string } } }>(
      "mutation ($input: CreateTaskInput!) { createTask(input: $input) { task { status } } }",
      { input: { model: "novart-sketch", prompt: "A stack of banknotes on a desk", width: 512, height: 512 } },
      story.userToken,
    );
    expect(held.createTask.task.status).toBe("PENDING_REVIEW");

    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("looks right in the dark theme at phone width", async () => {
    const phone = await studio.browser.newContext({ viewport: { width: 360, height: 780 }, colorScheme: "dark" });
    const page = await phone.newPage();
    const consoleErrors = watchConsole(page);
    await studio.signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/admin/moderation");
    await page.getByTestId("review-task").first().waitFor();
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(await overflow()).toBeLessThanOrEqual(0);
    await shot(page, "queue-phone-dark");
    await page.getByTestId("admin-tab-rules").click();
    await page.getByTestId("rule-row").first().waitFor();
    expect(await overflow()).toBeLessThanOrEqual(0);
    await shot(page, "rules-phone-dark");
    await page.getByTestId("admin-tab-audit").click();
    await page.getByTestId("audit-row").first().waitFor();
    expect(await overflow()).toBeLessThanOrEqual(0);
    await shot(page, "audit-phone-dark");
    expect(consoleErrors).toEqual([]);
    await phone.close();
  });
});
