import type { BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { screenshots, startStudio, watchConsole, type Studio } from "./support.js";

let studio: Studio;
let adminContext: BrowserContext;
let userContext: BrowserContext;
let admin: Page;
let user: Page;
let base: string;

const ADMIN_EMAIL = "admin.accounts@example.com";
const ADMIN_PASSWORD = "admin password for accounts";
const USER = { email: "ada.accounts@example.com", password: "amber lantern harbour 5", name: "Ada Lovelace" };
const OTHER = { email: "bob.accounts@example.com", password: "quiet copper evening 8", name: "Bob Builder" };
const RESTRICT_REASON = "Repeated prompts for identity documents after a warning.";
const PROMPT = "A lighthouse on a cliff at dusk, warm light, soft fog over the sea";

/** What the story hands from one step to the next. */
const story = { userId: "" };

beforeAll(async () => {
  // The seeded tiers as they ship (Free, Standard, Pro): the Limits page and the plan change are about them.
  studio = await startStudio(
    { ADMIN_EMAIL, ADMIN_PASSWORD, WELCOME_BONUS_CREDITS: "100", LOCAL_PROVIDER_STEP_MS: "20" },
    { realTiers: true },
  );
  base = studio.base;
  story.userId = await studio.createAccount(USER);
  await studio.createAccount(OTHER);
  adminContext = await studio.browser.newContext({ viewport: { width: 1280, height: 900 } });
  userContext = await studio.browser.newContext({ viewport: { width: 1280, height: 900 } });
  admin = await adminContext.newPage();
  user = await userContext.newPage();
});

afterAll(async () => {
  await adminContext?.close();
  await userContext?.close();
  await studio?.close();
});

const shot = screenshots("accounts", { fromTop: true });

/** An element's text with its white space collapsed, as people read it. */
async function text(locator: Locator): Promise<string> {
  return ((await locator.textContent()) ?? "").replace(/\s+/g, " ").trim();
}

async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

describe("accounts, restrictions and limits in the admin area", () => {
  it("lets an admin find an account, restrict its tasks for a day, and lift it; the user sees it live", async () => {
    const adminErrors = watchConsole(admin);
    const userErrors = watchConsole(user);

    // The user is in the Studio, with no restriction.
    await studio.signIn(user, USER.email, USER.password, "/");
    await user.getByTestId("composer").waitFor();
    expect(await user.getByTestId("restriction-banner").count()).toBe(0);

    // The admin finds the account by part of its email, typed as a search.
    await studio.signIn(admin, ADMIN_EMAIL, ADMIN_PASSWORD, "/admin/accounts");
    const tabs = (
      await admin.getByRole("navigation", { name: "Admin sections" }).getByRole("link").allTextContents()
    ).map((t) => t.trim());
    expect(tabs).toEqual(
      expect.arrayContaining(["Accounts", "Tiers", "Limit requests", "Announcements", "Registration"]),
    );
    await admin.getByTestId("account-row").first().waitFor();
    expect(await admin.getByTestId("account-row").count()).toBe(3);
    await admin.getByTestId("accounts-search").pressSequentially("ada.acc", { delay: 30 });
    await admin.waitForURL(/[?&]q=ada\.acc/);
    await expect.poll(() => admin.getByTestId("account-row").count()).toBe(1);
    const row = admin.getByTestId("account-row");
    expect(await row.getAttribute("data-email")).toBe(USER.email);
    expect(await text(row)).toContain("Free");
    await shot(admin, "list");

    // Filters live in the URL: restricted accounts, none yet.
    await admin.getByTestId("accounts-restricted").selectOption("yes");
    await admin.getByTestId("accounts-empty").waitFor();
    expect(await text(admin.getByTestId("accounts-empty"))).toContain("No account matches");
    await admin.getByTestId("accounts-restricted").selectOption("");
    await admin.getByTestId("account-row").waitFor();

    await row.getByTestId("account-link").click();
    await admin.waitForURL(`${base}/admin/accounts/${story.userId}`);
    await admin.getByTestId("account-name").waitFor();
    expect(await text(admin.getByTestId("account-email"))).toBe(USER.email);
    expect(await text(admin.getByTestId("account-limits-tier"))).toBe("Free");
    expect(await admin.getByTestId("usage-tasksPerDay").getAttribute("data-limit")).toBe("200");
    expect(await admin.getByTestId("account-balance-total").getAttribute("data-total")).toBe("100");
    expect(await text(admin.getByTestId("restrictions-count"))).toContain("Never restricted");
    expect(await admin.getByTestId("account-tasks-empty").isVisible()).toBe(true);
    await shot(admin, "detail");

    // Restrict: creating tasks, for 24 hours, with a reason the user reads.
    await admin.getByTestId("restrict-open").click();
    const dialog = admin.getByTestId("restrict-dialog");
    await dialog.waitFor();
    expect(await dialog.getByTestId("restrict-scope-TASKS").isChecked()).toBe(true);
    await dialog.getByTestId("restrict-duration-7d").check();
    expect(await text(dialog.getByTestId("restrict-summary"))).toContain("for 7 days");
    await dialog.getByTestId("restrict-duration-24h").check();
    expect(await text(dialog.getByTestId("restrict-summary"))).toContain("creating tasks for 24 hours");
    // No reason: refused in the dialog, nothing sent.
    await dialog.getByTestId("confirm").click();
    expect(await dialog.getByTestId("restrict-reason").getAttribute("aria-invalid")).toBe("true");
    await dialog.getByTestId("restrict-reason").fill(RESTRICT_REASON);
    await shot(admin, "restrict-dialog", false);
    await dialog.getByTestId("confirm").click();
    await dialog.waitFor({ state: "hidden" });
    const active = admin.locator('[data-testid="account-restriction"][data-state="active"]');
    await active.waitFor();
    expect(await text(active)).toContain(RESTRICT_REASON);
    expect(await text(active)).toContain("Creating tasks");
    await admin.getByTestId("account-restricted-badge").waitFor();

    // The user's Studio shows it at once (a message arrives live), with the reason and the end.
    const banner = user.getByTestId("restriction-banner");
    await banner.waitFor({ timeout: 15_000 });
    expect(await text(user.getByTestId("restriction-reason"))).toBe(RESTRICT_REASON);
    expect(await text(user.getByTestId("restriction-summary"))).toMatch(/Creating tasks\s+is stopped\s+until/);
    expect(await user.getByTestId("restriction-ends").getAttribute("datetime")).toBeTruthy();

    // Submitting a task is refused with the code, said plainly.
    await user.getByTestId("prompt").fill(PROMPT);
    await expect.poll(() => user.getByTestId("generate").isDisabled()).toBe(false);
    await user.getByTestId("generate").click();
    const refused = user.getByTestId("submit-error");
    await refused.waitFor();
    expect(await refused.getAttribute("data-code")).toBe("ACCOUNT_RESTRICTED");
    expect(await text(refused)).toContain("Your account is restricted until");
    expect(await text(refused)).toContain(RESTRICT_REASON);
    expect(await user.getByTestId("prompt").inputValue()).toBe(PROMPT);
    await shot(user, "studio-restricted");

    // The list finds it among restricted accounts now.
    await admin.goto(`${base}/admin/accounts?restricted=yes`);
    await admin.getByTestId("account-row").waitFor();
    expect(await admin.getByTestId("account-row").getAttribute("data-email")).toBe(USER.email);
    await admin.getByTestId("account-link").click();

    // Lifting asks for a reason too; the banner goes from the user's page by itself.
    await admin.getByTestId("lift-open").click();
    const lift = admin.getByTestId("lift-dialog");
    await lift.getByTestId("lift-reason").fill("Resolved with the account owner.");
    await lift.getByTestId("confirm").click();
    await lift.waitFor({ state: "hidden" });
    await admin.locator('[data-testid="account-restriction"][data-state="lifted"]').waitFor();
    await banner.waitFor({ state: "detached", timeout: 15_000 });

    // And a task goes through again.
    await user.getByTestId("generate").click();
    await user.getByTestId("task-card").first().waitFor();
    await user.locator('[data-testid="task-card"][data-status="SUCCEEDED"]').waitFor({ timeout: 30_000 });

    expect(adminErrors).toEqual([]);
    expect(userErrors).toEqual([]);
  });

  it("keeps the Studio's page under an ALL restriction and brings its live updates back when it is lifted", async () => {
    const userErrors = watchConsole(user);
    await user.goto(`${base}/`);
    await user.getByTestId("composer").waitFor();
    // The task of the test before is on the page.
    const succeeded = user.locator('[data-testid="task-card"][data-status="SUCCEEDED"]');
    await succeeded.first().waitFor();
    const before = await succeeded.count();

    // Everything stops: the open live connection is closed, and the Studio's subscriptions are refused on the
    // new one; the banner says why, the page keeps what it showed.
    const adminToken = await studio.signInToken({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    const restricted = await studio.graphqlData<{ restrictAccount: { restriction: { id: string } } }>(
      "mutation ($input: RestrictAccountInput!) { restrictAccount(input: $input) { restriction { id } } }",
      { input: { accountId: story.userId, scopes: ["ALL"], reason: "Checking the account's payments." } },
      adminToken,
    );
    const lift = () =>
      studio.graphqlData(
        "mutation ($input: LiftRestrictionInput!) { liftRestriction(input: $input) { restriction { id } } }",
        { input: { id: restricted.restrictAccount.restriction.id, reason: "Payments checked." } },
        adminToken,
      );
    const banner = user.getByTestId("restriction-banner");
    try {
      await banner.waitFor({ timeout: 15_000 });
      expect(await text(user.getByTestId("restriction-reason"))).toBe("Checking the account's payments.");
      expect(await succeeded.count()).toBe(before);
    } catch (err) {
      await lift(); // the tests after this one need the account free
      throw err;
    }

    // Lifted: the account's messages are still live under ALL, so the banner hears of it and goes.
    await lift();
    await banner.waitFor({ state: "detached", timeout: 15_000 });

    // The task updates are followed again without a reload: a new task runs to its end on the page.
    await user.getByTestId("prompt").fill(PROMPT);
    await expect.poll(() => user.getByTestId("generate").isDisabled()).toBe(false);
    await user.getByTestId("generate").click();
    await expect.poll(() => succeeded.count(), { timeout: 30_000 }).toBe(before + 1);
    expect(userErrors).toEqual([]);
  });

  it("shows the user's plan and use, and an increase the admin approves changes the plan", async () => {
    const adminErrors = watchConsole(admin);
    const userErrors = watchConsole(user);

    await user.getByTestId("nav-limits").click();
    await user.waitForURL(`${base}/limits`);
    const tier = user.getByTestId("my-tier");
    await tier.waitFor();
    expect(await tier.getAttribute("data-tier")).toBe("FREE");
    // Two tasks today: one from each restriction story above.
    const tasks = user.getByTestId("usage-tasksPerDay");
    expect(await tasks.getAttribute("data-used")).toBe("2");
    expect(await tasks.getAttribute("data-limit")).toBe("200");
    expect(await text(tasks)).toContain("2 of 200");
    expect(await text(user.getByTestId("usage-dailySpendCap"))).toContain("No cap");
    expect(await user.getByTestId("tier-column").count()).toBe(3);
    expect(await user.getByTestId("current-tier-badge").count()).toBe(1);
    expect(await user.getByTestId("requests-empty").isVisible()).toBe(true);
    await shot(user, "limits");

    // Dark theme and a phone: same page, nothing wider than the screen.
    await user.emulateMedia({ colorScheme: "dark" });
    await shot(user, "limits-dark");
    await user.setViewportSize({ width: 390, height: 844 });
    await user.waitForTimeout(100);
    expect(await horizontalOverflow(user)).toBeLessThanOrEqual(0);
    await shot(user, "limits-phone");
    await user.setViewportSize({ width: 1280, height: 900 });
    await user.emulateMedia({ colorScheme: "light" });

    // Asking for the Standard plan from the comparison; a reason that is too short is refused first.
    await user.getByTestId("ask-tier-STANDARD").click();
    expect(await user.getByTestId("request-tier").inputValue()).toBe("STANDARD");
    await user.getByTestId("request-reason").fill("More");
    await user.getByTestId("request-submit").click();
    expect(await user.getByTestId("request-reason").getAttribute("aria-invalid")).toBe("true");
    await user
      .getByTestId("request-reason")
      .fill("I am illustrating a children's book and need about 500 images a day.");
    await user.getByTestId("request-submit").click();
    const mine = user.getByTestId("request-row").first();
    await mine.waitFor();
    expect(await mine.getAttribute("data-status")).toBe("PENDING");
    expect(await text(mine)).toContain("Standard");
    await user.getByTestId("request-pending").waitFor();
    expect(await user.getByTestId("request-submit").isDisabled()).toBe(true);

    // The admin sees it waiting, with the account's email and plan, and approves it.
    await admin.getByTestId("admin-tab-limit-requests").click();
    await admin.waitForURL(`${base}/admin/limit-requests`);
    const request = admin.getByTestId("limit-request").first();
    await request.waitFor();
    await request.getByTestId("request-account").getByText(USER.email).waitFor();
    await expect.poll(() => text(request)).toContain("Free");
    expect(await text(request)).toContain("Standard");
    expect(await text(request)).toContain("children's book");
    await shot(admin, "limit-requests");
    await request.getByTestId("request-approve").click();
    const decide = admin.getByTestId("decide-dialog");
    await decide.getByTestId("decide-reason").fill("Approved: enjoy the higher limits.");
    await shot(admin, "approve-dialog", false);
    await decide.getByTestId("confirm").click();
    await decide.waitFor({ state: "hidden" });
    await admin.locator('[data-testid="limit-request"][data-status="APPROVED"]').waitFor();

    // The user's page follows by itself (the answer arrives as a message): the Standard plan, and the answer.
    await user.locator('[data-testid="my-tier"][data-tier="STANDARD"]').waitFor({ timeout: 15_000 });
    expect(await user.getByTestId("usage-tasksPerDay").getAttribute("data-limit")).toBe("1000");
    await user.locator('[data-testid="request-row"][data-status="APPROVED"]').waitFor();
    expect(await text(user.getByTestId("request-answer"))).toContain("enjoy the higher limits");
    await shot(user, "limits-approved");

    // The account page says so too.
    await admin.goto(`${base}/admin/accounts/${story.userId}`);
    expect(await text(admin.getByTestId("account-limits-tier"))).toBe("Standard");

    expect(adminErrors).toEqual([]);
    expect(userErrors).toEqual([]);
  });

  it("limits a model to a plan: the Studio shows it locked, with the reason and a way to ask", async () => {
    const adminErrors = watchConsole(admin);

    await admin.goto(`${base}/admin/models`);
    const first = admin.getByTestId("model-row").first();
    await first.waitFor();
    const slug = (await first.getAttribute("data-slug"))!;
    expect(await text(first.getByTestId("model-access"))).toContain("Everyone");
    await first.getByTestId("model-access-edit").click();
    const access = admin.getByTestId("model-access-dialog");
    await access.getByTestId("access-tier-PRO").check();
    // Bob may use it whatever his plan.
    await access.getByTestId("access-search").fill("bob.acc");
    await access.getByTestId("access-result").click();
    await access.getByTestId("access-accounts").getByText(OTHER.email, { exact: true }).first().waitFor();
    expect(await text(access.getByTestId("access-summary"))).toContain("Pro");
    await shot(admin, "model-access", false);
    await access.getByTestId("confirm").click();
    await access.waitFor({ state: "hidden" });
    await first.getByTestId("model-access").getByText("Pro").waitFor();
    expect(await text(first.getByTestId("model-access"))).toContain("1 account");

    // The user (Standard) sees it locked in the Studio and cannot pick it.
    await user.goto(`${base}/`);
    const locked = user.locator('[data-testid="model-card"][data-locked="true"]');
    await locked.waitFor();
    await expect
      .poll(() => text(locked.getByTestId("model-lock")))
      .toContain("Included in the Pro plan, not in yours.");
    expect(await locked.getByTestId("model-option").isDisabled()).toBe(true);
    expect(await locked.getByTestId("model-option").getAttribute("value")).toBe(slug);
    expect(await user.locator('[data-testid="model-option"]:checked').getAttribute("value")).not.toBe(slug);
    await shot(user, "studio-locked");
    await locked.getByTestId("model-lock-link").click();
    await user.waitForURL(`${base}/limits`);

    // Everyone again.
    await first.getByTestId("model-access-edit").click();
    await access.getByTestId("access-tier-PRO").uncheck();
    await access.getByRole("button", { name: /^Remove/ }).click();
    expect(await text(access.getByTestId("access-summary"))).toBe("Everyone may use it.");
    await access.getByTestId("confirm").click();
    await access.waitFor({ state: "hidden" });
    await first.getByTestId("model-access").getByText("Everyone").waitFor();

    expect(adminErrors).toEqual([]);
  });

  it("keeps tiers, announcements and an invite-only registration that the sign-up page states up front", async () => {
    const adminErrors = watchConsole(admin);

    // Tiers: the seeded three, one edited in place.
    await admin.goto(`${base}/admin/tiers`);
    await admin.getByTestId("tier-row").first().waitFor();
    expect(await admin.getByTestId("tier-row").count()).toBe(3);
    const pro = admin.locator('[data-testid="tier-row"][data-id="PRO"]');
    await pro.getByTestId("tier-edit").click();
    const editor = admin.getByTestId("tier-editor");
    expect(await editor.getByTestId("tier-id").getAttribute("readonly")).not.toBeNull();
    await editor.getByTestId("tier-dailySpendCap").fill("50000");
    await shot(admin, "tier-editor", false);
    await editor.getByTestId("confirm").click();
    await editor.waitFor({ state: "hidden" });
    expect(await text(pro.getByTestId("tier-dailySpendCap-value"))).toBe("50,000 cr");
    await shot(admin, "tiers");

    // An announcement to everyone: the user gets it live.
    await admin.getByTestId("admin-tab-announcements").click();
    await admin.getByTestId("announcement-title").fill("Maintenance on Sunday");
    await admin.getByTestId("announcement-body").fill("The Studio pauses from 02:00 to 02:15 UTC.");
    await admin.getByTestId("announcement-link").fill("/messages");
    await shot(admin, "announcement");
    await admin.getByTestId("announcement-review").click();
    await admin.getByTestId("announcement-dialog").getByTestId("confirm").click();
    const sent = admin.getByTestId("announcement-sent");
    await sent.waitFor();
    expect(await text(sent)).toMatch(/sent to 3\s+accounts/);
    await user.getByText("New message: Maintenance on Sunday").waitFor({ timeout: 15_000 });

    // Registration by invitation only; the sign-up page says so before anything is typed.
    await admin.getByTestId("admin-tab-registration").click();
    await admin.getByTestId("registration-form").waitFor();
    await admin.getByTestId("mode-INVITE_ONLY").click();
    await admin.getByTestId("registration-domains").fill("spam.test\nnot a domain");
    await admin.getByTestId("registration-save").click();
    expect(await admin.getByTestId("registration-domains").getAttribute("aria-invalid")).toBe("true");
    await admin.getByTestId("registration-domains").fill("spam.test");
    await admin.getByTestId("registration-save").click();
    await admin.getByText("Registration is now invite only.").waitFor();
    await admin.getByTestId("invites-count").fill("3");
    await admin.getByTestId("invites-create").click();
    await admin.getByTestId("invites-created").waitFor();
    const codes = (await admin.getByTestId("invite-list").inputValue()).split("\n");
    expect(codes).toHaveLength(3);
    await shot(admin, "registration");

    const visitorContext = await studio.browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const visitor = await visitorContext.newPage();
      const visitorErrors = watchConsole(visitor);
      await visitor.goto(`${base}/sign-up`);
      await visitor.getByTestId("invite-only").waitFor();
      expect(await visitor.getByTestId("sign-up-form").getAttribute("data-mode")).toBe("INVITE_ONLY");
      await visitor.getByTestId("email").fill("carol.accounts@example.com");
      await visitor.getByTestId("password").fill("violet copper harbour 3");
      await visitor.getByTestId("accept-terms").check();
      await visitor.getByTestId("submit").click();
      // No code: said next to the code field, before anything is sent.
      await visitor.getByTestId("field-error").getByText("by invitation").waitFor();
      // A code that is not one: the server's INVITE_REQUIRED, next to the field too.
      await visitor.getByTestId("referral-code").fill("NOT-A-CODE");
      await visitor.getByTestId("submit").click();
      await visitor.getByTestId("field-error").getByText("needs an invitation").waitFor();
      await shot(visitor, "sign-up-invite-only");
      await visitor.getByTestId("referral-code").fill(codes[0]);
      await visitor.getByTestId("submit").click();
      await visitor.getByTestId("sign-up-sent").waitFor();

      // Closed: no form at all.
      await admin.getByTestId("mode-CLOSED").click();
      await admin.getByTestId("registration-save").click();
      await admin.getByText("Registration is now closed.").waitFor();
      await visitor.goto(`${base}/sign-up`);
      await visitor.getByTestId("registration-closed").waitFor();
      expect(await visitor.getByTestId("sign-up-form").count()).toBe(0);
      expect(visitorErrors).toEqual([]);
    } finally {
      await visitorContext.close();
    }

    expect(adminErrors).toEqual([]);
  });

  it("fits a phone and the dark theme in the admin pages", async () => {
    await admin.emulateMedia({ colorScheme: "dark" });
    await admin.goto(`${base}/admin/accounts/${story.userId}`);
    await admin.getByTestId("account-name").waitFor();
    await shot(admin, "detail-dark");
    await admin.setViewportSize({ width: 390, height: 844 });
    await admin.goto(`${base}/admin/accounts`);
    await admin.getByTestId("account-row").first().waitFor();
    expect(await horizontalOverflow(admin)).toBeLessThanOrEqual(0);
    await shot(admin, "list-phone");
    await admin.goto(`${base}/admin/accounts/${story.userId}`);
    await admin.getByTestId("account-name").waitFor();
    expect(await horizontalOverflow(admin)).toBeLessThanOrEqual(0);
    await shot(admin, "detail-phone");
    await admin.setViewportSize({ width: 1280, height: 900 });
    await admin.emulateMedia({ colorScheme: "light" });
  });

  it("sets limits of the account's own; moderators see accounts and restrict, but change no plan", async () => {
    const adminErrors = watchConsole(admin);

    // An admin gives Ada more tasks a day than her plan, and no spend cap.
    await admin.goto(`${base}/admin/accounts/${story.userId}`);
    await admin.getByTestId("edit-limits").click();
    const form = admin.getByTestId("limits-form");
    expect(await form.getByTestId("limits-tier").inputValue()).toBe("STANDARD");
    expect(await form.getByTestId("limit-tasksPerDay").getAttribute("placeholder")).toBe("Plan: 1,000");
    await form.getByTestId("limit-tasksPerDay").fill("abc");
    await form.getByTestId("limits-save").click();
    expect(await form.getByTestId("limit-tasksPerDay").getAttribute("aria-invalid")).toBe("true");
    await form.getByTestId("limit-tasksPerDay").fill("1500");
    await shot(admin, "limits-form", false);
    await form.getByTestId("limits-save").click();
    await form.waitFor({ state: "detached" });
    const meter = admin.getByTestId("usage-tasksPerDay");
    expect(await meter.getAttribute("data-limit")).toBe("1500");
    expect(await text(meter)).toContain("Custom");
    expect(await text(admin.getByTestId("account-limits"))).toContain("1 limit set for this account");

    // Bob becomes a moderator.
    await studio.makeModerator(OTHER.email);
    const moderatorContext = await studio.browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const moderator = await moderatorContext.newPage();
      const moderatorErrors = watchConsole(moderator);
      await studio.signIn(moderator, OTHER.email, OTHER.password, "/admin/accounts");
      const tabs = (
        await moderator.getByRole("navigation", { name: "Admin sections" }).getByRole("link").allTextContents()
      ).map((t) => t.trim());
      expect(tabs).toContain("Accounts");
      for (const adminOnly of ["Tiers", "Limit requests", "Announcements", "Registration"]) {
        expect(tabs).not.toContain(adminOnly);
      }
      await moderator.getByTestId("accounts-search").fill(USER.email);
      await moderator.waitForURL(/[?&]q=/);
      await moderator.getByTestId("account-link").click();
      await moderator.getByTestId("account-name").waitFor();
      // Plan and use, read only; no ledger; restricting is theirs.
      expect(await moderator.getByTestId("usage-tasksPerDay").getAttribute("data-limit")).toBe("1500");
      expect(await moderator.getByTestId("edit-limits").count()).toBe(0);
      expect(await moderator.getByTestId("account-ledger-link").count()).toBe(0);
      expect(await moderator.getByTestId("restrict-open").isVisible()).toBe(true);
      // An administrator's account is not theirs to restrict: the page says so instead of offering it.
      await moderator.goto(`${base}/admin/accounts?q=${encodeURIComponent(ADMIN_EMAIL)}`);
      await expect.poll(() => moderator.getByTestId("account-row").count()).toBe(1);
      await moderator.getByTestId("account-link").click();
      await moderator.getByTestId("restrict-not-yours").waitFor();
      expect(await text(moderator.getByTestId("restrict-not-yours"))).toContain("Only an administrator");
      expect(await moderator.getByTestId("restrict-open").count()).toBe(0);
      expect(await moderator.getByTestId("revoke-all-keys").count()).toBe(0);
      await shot(moderator, "staff-account-as-moderator");
      await shot(moderator, "detail-moderator");
      // An admin-only page says so instead of failing.
      await moderator.goto(`${base}/admin/tiers`);
      await moderator.getByTestId("admin-section-forbidden").waitFor();
      expect(moderatorErrors).toEqual([]);
    } finally {
      await moderatorContext.close();
    }

    expect(adminErrors).toEqual([]);
  });
});
