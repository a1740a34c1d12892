import fs from "node:fs/promises";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { screenshots, startStudio, watchConsole, type Studio } from "./support.js";

let studio: Studio;
let context: BrowserContext;
/** The user's own browser profile for the last tests (the admin stays signed in to `context`). */
let userContext: BrowserContext | undefined;
let base: string;

const ADMIN_EMAIL = "admin.credits@example.com";
const ADMIN_PASSWORD = "admin password for credits";
const USER_EMAIL = "grace.credits@example.com";
const USER_PASSWORD = "violet harbour lantern 7";
const USER_NAME = "Grace Hopper";
const BATCH_LABEL = "E2E recharge cards";
const WELCOME_BONUS = 100;
const REFERRAL_WELCOME = 20;
const REFERRAL_REWARD = 50;

/** What the story hands from one step to the next. */
const story: { codes: string[]; referralLink: string } = { codes: [], referralLink: "" };

beforeAll(async () => {
  studio = await startStudio({
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    WELCOME_BONUS_CREDITS: String(WELCOME_BONUS),
    REFERRAL_WELCOME_CREDITS: String(REFERRAL_WELCOME),
    REFERRAL_REWARD_CREDITS: String(REFERRAL_REWARD),
  });
  base = studio.base;
  // One browser profile for the whole story: the session cookie carries from test to test.
  context = await studio.browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
});

afterAll(async () => {
  await userContext?.close();
  await context?.close();
  await studio?.close();
});

const shot = screenshots("credits");

async function signOut(page: Page) {
  await page.getByTestId("account-menu").click();
  await page.getByTestId("sign-out").click();
  await page.getByTestId("header-sign-in").waitFor();
}

/** The header balance once it shows a number. */
async function headerTotal(page: Page): Promise<number> {
  const balance = page.locator('[data-testid="header-balance"][data-total]');
  await balance.waitFor();
  return Number(await balance.getAttribute("data-total"));
}

/** A GraphQL call as the admin (signed in over the API once); the answer's data, asserted free of errors. */
let adminToken = "";
async function asAdmin<T>(query: string, variables: Record<string, unknown>): Promise<T> {
  adminToken ||= await studio.signInToken({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  return studio.graphqlData<T>(query, variables, adminToken);
}

/** A page of the user's own browser profile (clipboard allowed), signed in on the first call. */
async function userPage(path: string): Promise<Page> {
  if (!userContext) {
    userContext = await studio.browser.newContext({ viewport: { width: 1280, height: 900 } });
    await userContext.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    const page = await userContext.newPage();
    await studio.signIn(page, USER_EMAIL, USER_PASSWORD, path);
    return page;
  }
  const page = await userContext.newPage();
  await page.goto(`${base}${path}`);
  return page;
}

/** Nothing wider than the screen. */
async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

describe("credits in the studio", () => {
  it("lets an admin create a batch of codes and download them once, as CSV", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await studio.signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/billing");
    // An admin starts with nothing; the header shows it, with the split on hover.
    expect(await headerTotal(page)).toBe(0);
    await page.getByTestId("balance-card").getByTestId("balance-total").waitFor();
    story.referralLink = (await page.getByTestId("referral-link").textContent())!.trim();
    expect(story.referralLink.startsWith(`${base}/r/`)).toBe(true);

    // Only admins see the Admin item.
    await page.getByTestId("nav-admin").click();
    await page.waitForURL(`${base}/admin`);
    await page.getByTestId("batches-empty").waitFor();

    const form = page.getByTestId("create-batch-form");
    await form.getByLabel("Label").fill(BATCH_LABEL);
    await form.getByLabel(/^Channel/).fill("e2e-shop");
    await form.getByLabel("Number of codes").fill("3");
    await form.getByLabel("Credits per code").fill("25");
    await form.getByTestId("batch-kind-paid").check();
    expect(await page.getByTestId("batch-preview").textContent()).toBe("3 codes × 25 paid credits");
    await page.getByTestId("create-batch").click();

    // The codes are offered once, with the warning, as a file made in the browser.
    const created = page.getByTestId("batch-created");
    await created.waitFor();
    expect(await page.getByTestId("csv-warning").textContent()).toContain("will not be shown again");
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("download-csv").click()]);
    expect(download.suggestedFilename()).toMatch(/^novart-codes-e2e-recharge-cards-\d{4}-\d{2}-\d{2}\.csv$/);
    const csv = await fs.readFile((await download.path())!, "utf8");
    const [header, ...rows] = csv.trim().split("\n");
    expect(header).toBe("code,credits,kind,batch,channel,expires_at");
    expect(rows).toHaveLength(3);
    story.codes = rows.map((row) => row.split(",")[0]);
    for (const row of rows) expect(row).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4},25,PAID,/);
    expect(new Set(story.codes).size).toBe(3);

    // The new batch is listed with its numbers.
    const row = page.getByTestId("batch-row").first();
    expect(await row.getAttribute("data-status")).toBe("active");
    expect(await row.getByTestId("batch-codes").textContent()).toBe("3");
    expect(await row.getByTestId("batch-used").textContent()).toBe("0");
    expect(await row.textContent()).toContain(BATCH_LABEL);
    await shot(page, "admin");

    await page.getByTestId("close-created").click();
    await created.waitFor({ state: "detached" });

    // The other sections: balance adjustment (with its confirmation) and models.
    await page.getByTestId("admin-tab-balances").click();
    await page.getByTestId("adjust-form").waitFor();
    await page.getByTestId("adjust-review").click();
    expect(await page.getByTestId("field-error").allTextContents()).toEqual(
      expect.arrayContaining([expect.stringContaining("account's id")]),
    );
    await page.getByTestId("admin-tab-models").click();
    await page.getByTestId("model-row").first().waitFor();
    expect(await page.getByTestId("model-row").count()).toBeGreaterThan(0);
    // A price edited in place, and a model disabled (after a confirmation) and enabled again.
    const model = page.getByTestId("model-row").first();
    const price = Number((await model.getByTestId("model-price").textContent())!.match(/\d+/)![0]);
    await model.getByTestId("price-edit").click();
    await model.getByTestId("price-input").fill(String(price + 1));
    await model.getByTestId("price-input").press("Enter");
    await model
      .getByTestId("model-price")
      .getByText(`${price + 1} credits`)
      .waitFor();
    await model.getByTestId("model-enabled").click();
    await page.getByTestId("disable-model-dialog").getByTestId("confirm").click();
    await page.locator('[data-testid="model-row"][data-enabled="false"]').waitFor();
    await shot(page, "admin-models");
    await model.getByTestId("model-enabled").click();
    await page.locator('[data-testid="model-row"][data-enabled="false"]').waitFor({ state: "detached" });

    await signOut(page);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("signs a friend up through the referral link and redeems a code typed any way, once", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);

    // The referral link opens sign-up with the code filled in.
    await page.goto(story.referralLink);
    await page.getByTestId("sign-up-form").waitFor();
    expect(await page.getByLabel("Referral code").inputValue()).toBe(story.referralLink.split("/r/")[1]);
    await page.getByLabel("Email").fill(USER_EMAIL);
    await page.getByLabel("Password", { exact: true }).fill(USER_PASSWORD);
    await page.getByLabel("Display name").fill(USER_NAME);
    await page.getByLabel(/I accept the Terms of Use/).check();
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByTestId("sign-up-sent").waitFor();

    const mail = await studio.smtp.waitForMail(USER_EMAIL);
    const link = mail.links.find((l) => l.startsWith(`${base}/verify-email?token=`));
    expect(link).toBeTruthy();
    await page.goto(link!);
    await page.getByTestId("verify-done").waitFor();

    await studio.signIn(page, USER_EMAIL, USER_PASSWORD, "/billing");
    const before = await headerTotal(page);
    expect(before).toBe(WELCOME_BONUS + REFERRAL_WELCOME);
    // Not an admin: no Admin item.
    expect(await page.getByTestId("nav-admin").count()).toBe(0);

    // The code typed in lower case, with spaces instead of dashes.
    const code = story.codes[0];
    const typed = `  ${code.toLowerCase().replaceAll("-", " ")} `;
    const redeem = page.getByTestId("redeem-form");
    await redeem.getByLabel("Code").fill(typed);
    await redeem.getByRole("button", { name: "Redeem" }).click();
    const result = page.getByTestId("redeem-result");
    await result.waitFor();
    expect(await result.textContent()).toContain("25 paid credits added");
    await page.locator(`[data-testid="header-balance"][data-total="${before + 25}"]`).waitFor();
    expect(await page.getByTestId("header-balance").getAttribute("data-paid")).toBe("25");
    expect(await page.getByTestId("balance-total").textContent()).toBe(String(before + 25));

    // The ledger shows the redemption on top, with its sign and the balance after it.
    const top = page.getByTestId("ledger-row").first();
    await page.locator('[data-testid="ledger-row"][data-kind="REDEMPTION"]').waitFor();
    expect(await top.getAttribute("data-kind")).toBe("REDEMPTION");
    expect(await top.getByTestId("ledger-kind").textContent()).toBe("Code redeemed");
    expect(await top.getByTestId("ledger-paid").textContent()).toBe("+25");
    expect(await top.textContent()).toContain(BATCH_LABEL);

    // The same code again: refused, in plain words; what was typed stays.
    await redeem.getByLabel("Code").fill(code.toLowerCase());
    await redeem.getByRole("button", { name: "Redeem" }).click();
    const refused = page.locator('[data-testid="redeem-error"][data-code="CODE_EXHAUSTED"]');
    await refused.waitFor();
    expect(await refused.textContent()).toContain("This code has already been used.");
    expect(await redeem.getByLabel("Code").inputValue()).toBe(code.toLowerCase());
    expect(await headerTotal(page)).toBe(before + 25);
    await shot(page, "billing-redeem-refused");

    // The header shows the split on hover (and on focus).
    await page.getByTestId("header-balance").hover();
    const split = page.getByTestId("header-balance-split");
    await split.waitFor();
    expect(await split.textContent()).toMatch(/Paid\s*25 credits/);
    expect(await split.textContent()).toMatch(new RegExp(`Bonus\\s*${before} credits`));

    // The kind filter lives in the URL.
    await page.getByTestId("ledger-filter").selectOption("REDEMPTION");
    await page.waitForURL(`${base}/billing?kind=REDEMPTION`);
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('[data-testid="ledger-row"]')].every(
          (row) => row.getAttribute("data-kind") === "REDEMPTION",
        ) && document.querySelectorAll('[data-testid="ledger-row"]').length === 1,
    );
    await page.goto(`${base}/billing?kind=TASK_REFUND`);
    await page.getByTestId("ledger-empty").waitFor();
    expect(await page.getByTestId("ledger-filter").inputValue()).toBe("TASK_REFUND");
    await page.goto(`${base}/billing`);
    await page.locator('[data-testid="ledger-row"][data-kind="WELCOME_BONUS"]').first().waitFor();
    await page.getByTestId("referral-panel").getByTestId("referral-invited").waitFor();
    await shot(page, "billing");

    // The admin area tells a non-admin so.
    await page.goto(`${base}/admin`);
    await page.getByTestId("admin-forbidden").waitFor();
    expect(await page.getByTestId("admin-area").count()).toBe(0);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("looks right in the dark theme at phone width", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.setViewportSize({ width: 375, height: 812 });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${base}/billing`);
    await page.getByTestId("ledger-row").first().waitFor();
    await page.getByTestId("referral-invited").waitFor();
    await page.getByTestId("header-balance").waitFor();
    await shot(page, "billing-dark-phone");
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    await signOut(page);

    await studio.signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/admin");
    const row = page.getByTestId("batch-row").first();
    await row.waitFor();
    // Seven items do not fit the phone's bottom bar: Admin is in the account menu there.
    expect(await page.getByTestId("nav-admin").isVisible()).toBe(false);
    await page.getByTestId("account-menu").click();
    await page.getByTestId("menu-admin").waitFor();
    await page.getByTestId("account-menu").click();
    // The redemption is counted.
    expect(await row.getByTestId("batch-used").textContent()).toBe("1");
    expect(await row.getByTestId("batch-redemptions").textContent()).toBe("1");
    await shot(page, "admin-dark-phone");
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("shows the admin the referral reward, and disables a batch after saying what happens", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    // Still signed in as the admin from the previous test.
    await page.goto(`${base}/billing`);
    const panel = page.getByTestId("referral-panel");
    await panel.getByTestId("referral-invited").waitFor();
    expect(await panel.getByTestId("referral-invited").textContent()).toBe("1");
    expect(await panel.getByTestId("referral-rewarded").textContent()).toBe("1");
    expect(await panel.getByTestId("referral-earned").textContent()).toBe(String(REFERRAL_REWARD));
    expect(await headerTotal(page)).toBe(REFERRAL_REWARD);
    await page.locator('[data-testid="ledger-row"][data-kind="REFERRAL_REWARD"]').waitFor();

    await page.goto(`${base}/admin`);
    const row = page.getByTestId("batch-row").first();
    await row.waitFor();
    await row.getByTestId("disable-batch").click();
    const dialog = page.getByTestId("disable-batch-dialog");
    await dialog.getByText(`Disable batch '${BATCH_LABEL}'?`).waitFor();
    expect(await dialog.textContent()).toContain("All 3 codes of this batch stop working at once");
    await dialog.getByTestId("confirm").click();
    await page.locator('[data-testid="batch-row"][data-status="disabled"]').waitFor();
    expect(await row.getByTestId("batch-status").textContent()).toBe("Disabled");

    // A balance adjustment says exactly what it will do before it is applied.
    const user = await studio.graphql<{ signIn: { account: { id: string } } }>(
      `
        mutation ($input: SignInInput!) {
          signIn(input: $input) {
            account {
              id
            }
          }
        }
      `,
      { input: { email: USER_EMAIL, password: USER_PASSWORD } },
    );
    const userId = user.data!.signIn.account.id;
    await page.getByTestId("admin-tab-balances").click();
    const adjust = page.getByTestId("adjust-form");
    await adjust.getByLabel("Account id").fill(userId);
    await adjust.getByLabel("Paid credits").fill("0");
    await adjust.getByLabel("Bonus credits").fill("10");
    await adjust.getByLabel("Reason").fill("E2E goodwill for the outage");
    await page.getByTestId("adjust-review").click();
    const confirm = page.getByTestId("adjust-dialog");
    await confirm.getByText("Add credits to this account?").waitFor();
    expect(await confirm.textContent()).toContain("This adds 10 bonus credits.");
    expect(await confirm.getByTestId("adjust-dialog-account").textContent()).toBe(userId);
    await shot(page, "admin-adjust-confirm");
    await confirm.getByTestId("confirm").click();
    const adjusted = page.getByTestId("adjust-result");
    await adjusted.waitFor();
    expect(await adjusted.textContent()).toContain("+10 bonus");
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("pages through a ledger longer than one page, without repeating an entry", async () => {
    const { signIn } = await studio.graphqlData<{ signIn: { account: { id: string } } }>(
      "mutation ($input: SignInInput!) { signIn(input: $input) { account { id } } }",
      { input: { email: USER_EMAIL, password: USER_PASSWORD } },
    );
    const SEEDED = 21;
    for (let n = 1; n <= SEEDED; n++) {
      await asAdmin("mutation ($input: AdjustBalanceInput!) { adjustBalance(input: $input) { applied } }", {
        input: {
          accountId: signIn.account.id,
          paid: 0,
          bonus: 1,
          reason: `E2E ledger seed #${n}.`,
          idempotencyKey: `e2e-ledger-seed-${n}`,
        },
      });
    }
    const { ledger } = await asAdmin<{ ledger: { edges: unknown[] } }>(
      "query ($accountId: ID) { ledger(first: 100, accountId: $accountId) { edges { cursor } } }",
      { accountId: signIn.account.id },
    );
    const total = ledger.edges.length;
    expect(total).toBeGreaterThan(SEEDED);
    expect(total).toBeLessThanOrEqual(40);

    const page = await userPage("/billing");
    const consoleErrors = watchConsole(page);
    const rows = page.getByTestId("ledger-row");
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(20);
    await page.getByTestId("ledger-load-more").click();
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(total);
    // Every entry once: the rows differ (each seeded one by its note and balance), every seed is there.
    const texts = await rows.allTextContents();
    expect(new Set(texts).size).toBe(total);
    for (let n = 1; n <= SEEDED; n++) {
      expect(texts.filter((text) => text.includes(`E2E ledger seed #${n}.`))).toHaveLength(1);
    }
    // The whole ledger is shown: nothing more to load.
    await page.getByTestId("ledger-load-more").waitFor({ state: "detached" });
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("copies the referral link to the clipboard", async () => {
    const page = await userPage("/billing");
    const consoleErrors = watchConsole(page);
    const link = (await page.getByTestId("referral-link").textContent())!.trim();
    expect(link).toMatch(new RegExp(`^${base}/r/[0-9A-Z]+$`));
    await page.getByTestId("copy-referral-link").click();
    await page.getByTestId("copy-referral-link").getByText("Copied").waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("lets an admin disable one code of a batch: it is refused, the others still work", async () => {
    const { createCodeBatch } = await asAdmin<{ createCodeBatch: { csv: string } }>(
      "mutation ($input: CreateCodeBatchInput!) { createCodeBatch(input: $input) { csv } }",
      { input: { label: "E2E single disable", count: 2, credits: 7, kind: "BONUS" } },
    );
    const [lost, kept] = createCodeBatch.csv
      .trim()
      .split("\n")
      .slice(1)
      .map((row) => row.split(",")[0]);

    // The admin is still signed in to the first profile.
    const admin = await context.newPage();
    const adminErrors = watchConsole(admin);
    await admin.goto(`${base}/admin`);
    const form = admin.getByTestId("disable-code-form");
    // Empty: refused at the field, nothing asked.
    await form.getByTestId("disable-code").click();
    await form.getByTestId("field-error").getByText("Type or paste the code to disable.").waitFor();
    await form.getByTestId("disable-code-input").fill(lost.toLowerCase());
    await form.getByTestId("disable-code").click();
    const dialog = admin.getByTestId("disable-code-dialog");
    await dialog.getByText(`Disable code ${lost.toLowerCase()}?`).waitFor();
    await dialog.getByTestId("confirm").click();
    const done = form.getByTestId("disable-code-result");
    await done.waitFor();
    expect(await done.textContent()).toContain("'E2E single disable'");
    expect(await done.textContent()).toMatch(/1\s+code disabled one by one/);
    expect(await form.getByTestId("disable-code-input").inputValue()).toBe("");
    expect(adminErrors).toEqual([]);
    await admin.close();

    const page = await userPage("/billing");
    const consoleErrors = watchConsole(page);
    const before = await headerTotal(page);
    const redeem = page.getByTestId("redeem-form");
    await redeem.getByLabel("Code").fill(lost);
    await redeem.getByRole("button", { name: "Redeem" }).click();
    const refused = page.locator('[data-testid="redeem-error"][data-code="CODE_DISABLED"]');
    await refused.waitFor();
    expect(await refused.textContent()).toContain("This code has been disabled.");
    expect(await headerTotal(page)).toBe(before);
    // The rest of its batch keeps working.
    await redeem.getByLabel("Code").fill(kept);
    await redeem.getByRole("button", { name: "Redeem" }).click();
    await page
      .getByTestId("redeem-result")
      .getByText(/7 bonus credits added/)
      .waitFor();
    await page.locator(`[data-testid="header-balance"][data-total="${before + 7}"]`).waitFor();
    expect(consoleErrors).toEqual([]);
    await page.close();
  });
});
