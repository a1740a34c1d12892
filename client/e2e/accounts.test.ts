import type { BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { screenshots, startStudio, watchConsole, type Studio } from "./support.js";

let studio: Studio;
let context: BrowserContext;
let base: string;

const EMAIL = "ada.e2e@example.com";
const PASSWORD = "copper kettle morning 42";
const DISPLAY_NAME = "Ada Lovelace";
const ADMIN_EMAIL = "admin.e2e@example.com";
const ADMIN_PASSWORD = "admin password for e2e";

beforeAll(async () => {
  // An admin publishes a new version of the terms of use for the terms gate.
  studio = await startStudio({ ADMIN_EMAIL, ADMIN_PASSWORD });
  base = studio.base;
  // One browser profile for the whole story: the session cookie carries from test to test.
  context = await studio.browser.newContext({ viewport: { width: 1280, height: 860 } });
});

afterAll(async () => {
  await context?.close();
  await studio?.close();
});

const shot = screenshots("accounts");

const graphqlWithKey = (key: string, query: string) => studio.graphql<{ me?: { email: string } }>(query, {}, key);

describe("accounts in the studio", () => {
  it("registers through the form, refuses sign-in until the emailed link is opened, then signs in", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);

    // A referral link opens the sign-up form with the code filled in.
    await page.goto(`${base}/r/friend42`);
    await page.waitForURL(`${base}/sign-up?ref=friend42`);
    await page.getByTestId("sign-up-form").waitFor();
    expect(await page.getByLabel("Referral code").inputValue()).toBe("FRIEND42");

    // Signed out: the header offers both ways in.
    await page.getByTestId("header-sign-in").waitFor();
    await page.getByTestId("header-sign-up").waitFor();

    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByText(/Strength: /).waitFor();
    await page.getByLabel("Display name").fill(DISPLAY_NAME);
    await page.getByLabel(/I accept the Terms of Use \(version 1\)/).check();
    await shot(page, "sign-up");
    await page.getByRole("button", { name: "Create account" }).click();

    await page.getByTestId("sign-up-sent").waitFor();
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toContain("Check your email");
    expect(await page.getByTestId("sent-to").textContent()).toBe(EMAIL);
    await shot(page, "sign-up-sent");
    const firstMail = await studio.smtp.waitForMail(EMAIL);
    expect(firstMail.subject).toMatch(/confirm your email/i);

    // Signing in before confirming: the page says why and offers a new link.
    await page.goto(`${base}/sign-in`);
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    const notVerified = page.locator('[data-testid="form-error"][data-code="EMAIL_NOT_VERIFIED"]');
    await notVerified.waitFor();
    expect(await notVerified.textContent()).toContain("not confirmed");
    // What the user typed stays.
    expect(await page.getByLabel("Email").inputValue()).toBe(EMAIL);
    await shot(page, "sign-in-not-verified");
    await page.getByTestId("resend").click();
    await page.getByTestId("resend-sent").waitFor();
    const secondMail = await studio.smtp.waitForMail(EMAIL, (m) => m !== firstMail);

    // The newest link confirms the address.
    const link = secondMail.links.find((l) => l.startsWith(`${base}/verify-email?token=`));
    expect(link).toBeTruthy();
    await page.goto(link!);
    await page.getByTestId("verify-done").waitFor();
    expect(await page.getByTestId("verified-email").textContent()).toBe(EMAIL);
    await shot(page, "verified");

    // Sign in through the form; the email is carried over from the confirmation page.
    await page.getByTestId("verified-sign-in").click();
    await page.getByTestId("sign-in-form").waitFor();
    expect(await page.getByLabel("Email").inputValue()).toBe(EMAIL);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(`${base}/`);
    expect(await page.getByTestId("account-menu").textContent()).toContain(DISPLAY_NAME);

    // The welcome message sent on confirmation shows as unread.
    await page.getByTestId("nav-unread-badge").waitFor();
    expect(await page.getByTestId("nav-unread-badge").textContent()).toBe("1");
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("creates an API key with ACCOUNT_READ whose secret works once, and revokes it", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/`);
    await page.getByTestId("nav-developer").click();
    await page.getByTestId("developer-page").waitFor();
    await page.getByTestId("keys-empty").waitFor();

    await page.getByLabel("Name", { exact: true }).fill("e2e-bot");
    await page.getByLabel(/account:read/).check();
    await page.getByRole("button", { name: "Create key" }).click();

    const secretBox = page.getByTestId("api-key-secret");
    await secretBox.waitFor();
    const secret = (await secretBox.textContent())!.trim();
    expect(secret).toMatch(/^nvk_/);
    await page.getByTestId("key-row").waitFor();
    expect(await page.getByTestId("key-status").textContent()).toBe("Active");
    await shot(page, "developer-key");

    const answer = await graphqlWithKey(secret, "{ me { email } }");
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.me?.email).toBe(EMAIL);

    // Revoking asks first, saying what happens; the key stops working.
    await page.getByTestId("revoke-key").click();
    const dialog = page.getByTestId("revoke-dialog");
    await dialog.getByText("Revoke key 'e2e-bot'?").waitFor();
    expect(await dialog.textContent()).toContain("Requests using it will fail");
    await dialog.getByTestId("confirm").click();
    await page.locator('[data-testid="key-row"][data-status="revoked"]').waitFor();
    const refused = await graphqlWithKey(secret, "{ me { email } }");
    expect(refused.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("reads the inbox, lists this device in settings, signs out and comes back to the page it asked for", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/messages`);
    const message = page.getByTestId("message");
    await message.first().waitFor();
    expect(await message.first().getAttribute("data-unread")).toBe("true");
    await shot(page, "messages");
    // Opening it marks it read and follows its link (the Studio).
    await message.first().click();
    await page.waitForURL(`${base}/`);
    await page.getByTestId("nav-unread-badge").waitFor({ state: "detached" });

    await page.goto(`${base}/settings`);
    await page.getByTestId("session-row").first().waitFor();
    expect(await page.getByTestId("this-device").count()).toBe(1);
    expect(await page.getByTestId("current-email").textContent()).toBe(EMAIL);
    await shot(page, "settings");

    await page.getByTestId("account-menu").click();
    await page.getByTestId("sign-out").click();
    await page.getByTestId("header-sign-in").waitFor();
    // The server closes the signed-out session's socket; the studio reconnects as a visitor.
    await page.waitForSelector('[data-testid="live-indicator"][data-state="live"]', { timeout: 15_000 });

    // An account page sends a signed-out visitor to sign in, and back afterwards.
    await page.goto(`${base}/settings`);
    await page.waitForURL(`${base}/sign-in?next=%2Fsettings`);
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password", { exact: true }).fill("not the password");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.locator('[data-testid="form-error"][data-code="INVALID_CREDENTIALS"]').waitFor();
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(`${base}/settings`);
    await page.getByTestId("settings-page").waitFor();
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("stops at the terms gate after a new version of the terms is published, until it is accepted", async () => {
    const admin = await studio.graphql<{ signIn: { token: string } }>(
      `
        mutation ($input: SignInInput!) {
          signIn(input: $input) {
            token
          }
        }
      `,
      { input: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } },
    );
    expect(admin.errors).toBeUndefined();
    // The admin publishes version 2 in the studio's admin area, in a browser profile of their own.
    const adminContext = await studio.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const adminPage = await adminContext.newPage();
    const adminConsoleErrors = watchConsole(adminPage);
    await studio.signIn(adminPage, ADMIN_EMAIL, ADMIN_PASSWORD, "/admin");
    await adminPage.getByTestId("admin-tab-terms").click();
    await adminPage.waitForURL(`${base}/admin/terms`);
    const current = adminPage.getByTestId("terms-current-version");
    await expect.poll(() => current.textContent()).toContain("Version 1");
    // The form starts from the current text; publishing it unchanged, or too short, is refused at the field.
    const title = adminPage.getByTestId("terms-title");
    const body = adminPage.getByTestId("terms-body-input");
    await expect.poll(() => title.inputValue()).not.toBe("");
    expect((await body.inputValue()).length).toBeGreaterThan(20);
    await adminPage.getByTestId("terms-review").click();
    await adminPage
      .locator("#terms-body-error")
      .getByText(/This is the current text/)
      .waitFor();
    await body.fill("Too short.");
    await adminPage.getByTestId("terms-review").click();
    await adminPage
      .locator("#terms-body-error")
      .getByText(/needs 20/)
      .waitFor();
    expect(await body.getAttribute("aria-invalid")).toBe("true");

    await title.fill("Novart Studio Terms of Use");
    await body.fill(
      "What changed in this version.\n1. Scope\nThese terms apply to everything.\n- First rule\n- Second rule",
    );
    // The preview renders the text as the terms page will.
    await adminPage.locator(".preview").getByRole("heading", { name: "1. Scope" }).waitFor();
    await shot(adminPage, "admin-terms");
    await adminPage.getByTestId("terms-review").click();
    const dialog = adminPage.getByTestId("terms-dialog");
    await dialog.getByText("Publish version 2?").waitFor();
    await dialog.getByTestId("confirm").click();
    await adminPage
      .getByTestId("terms-published")
      .getByText(/Version 2/)
      .waitFor();
    await expect.poll(() => current.textContent()).toContain("Version 2");
    const history = adminPage.getByTestId("terms-history-row");
    await expect.poll(() => history.count()).toBe(1);
    expect(await history.first().textContent()).toContain("Version 1");
    expect(adminConsoleErrors).toEqual([]);
    await adminContext.close();
    const terms = await studio.graphql<{ termsOfUse: { version: number; title: string } }>(
      `{ termsOfUse { version title } }`,
    );
    expect(terms.data?.termsOfUse).toEqual({ version: 2, title: "Novart Studio Terms of Use" });

    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/developer`);
    const gate = page.getByTestId("terms-gate");
    await gate.waitFor();
    expect(await page.getByTestId("developer-page").count()).toBe(0);
    // The body is rendered as a heading and a list.
    await gate.getByRole("heading", { name: "1. Scope" }).waitFor();
    expect(await gate.locator("li").allTextContents()).toEqual(["First rule", "Second rule"]);
    await shot(page, "terms-gate");
    await page.getByRole("button", { name: "I accept version 2" }).click();
    await page.getByTestId("developer-page").waitFor();
    expect(await gate.count()).toBe(0);

    // A message sent now arrives live: a toast, and the unread badge appears.
    const me = (await page.evaluate(async () => {
      const res = await fetch("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ me { id } }" }),
      });
      return res.json();
    })) as { data: { me: { id: string } } };
    const adjusted = await studio.graphql(
      `
        mutation ($input: AdjustBalanceInput!) {
          adjustBalance(input: $input) {
            applied
          }
        }
      `,
      { input: { accountId: me.data.me.id, paid: 0, bonus: 5, reason: "e2e welcome", idempotencyKey: "e2e-1" } },
      admin.data!.signIn.token,
    );
    expect(adjusted.errors).toBeUndefined();
    await page.getByTestId("toast").getByText("New message: 5 credits added to your balance").waitFor();
    expect(await page.getByTestId("nav-unread-badge").textContent()).toBe("1");
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("looks right in the dark theme and at phone width", async () => {
    const page = await context.newPage();
    await page.setViewportSize({ width: 375, height: 812 });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${base}/developer`);
    await page.getByTestId("key-row").waitFor();
    await shot(page, "developer-dark-phone");
    await page.goto(`${base}/settings`);
    await page.getByTestId("session-row").first().waitFor();
    await shot(page, "settings-dark-phone");
    // Nothing wider than the screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.close();
  });

  it("resets a forgotten password through the mailed link, and signs in with the new one only", async () => {
    const who = { email: "grace.e2e@example.com", password: "brass lantern evening 19", name: "Grace" };
    await studio.createAccount(who);
    const newPassword = "violet harbour kettle 77";
    const own = await studio.browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await own.newPage();
    const consoleErrors = watchConsole(page);

    // From the sign-in form: the typed address goes along to the forgot-password form.
    await page.goto(`${base}/sign-in`);
    await page.getByTestId("sign-in-form").waitFor();
    await page.getByLabel("Email").fill(who.email);
    await page.getByRole("link", { name: "Forgot your password?" }).first().click();
    await page.waitForURL(`${base}/forgot-password?email=${encodeURIComponent(who.email)}`);
    expect(await page.getByLabel("Email").inputValue()).toBe(who.email);
    await page.getByRole("button", { name: "Send the link" }).click();
    await page.getByTestId("reset-requested").getByText(who.email).waitFor();
    await shot(page, "reset-requested");

    const mail = await studio.smtp.waitForMail(who.email, (m) =>
      m.links.some((l) => l.includes("/reset-password?token=")),
    );
    const link = mail.links.find((l) => l.startsWith(`${base}/reset-password?token=`));
    expect(link, mail.links.join("\n")).toBeTruthy();

    await page.goto(link!);
    // Two different passwords: refused in the form, nothing is sent.
    await page.getByLabel("New password", { exact: true }).fill(newPassword);
    await page.getByLabel("New password again", { exact: true }).fill(`${newPassword}!`);
    await page.getByRole("button", { name: "Set the new password" }).click();
    await page.getByText("The two passwords differ.").waitFor();
    await page.getByLabel("New password again", { exact: true }).fill(newPassword);
    await page.getByRole("button", { name: "Set the new password" }).click();
    await page.getByTestId("reset-done").waitFor();
    await shot(page, "reset-done");

    // The old password no longer signs in; the new one does.
    await page.getByTestId("reset-done").getByRole("link", { name: "Sign in" }).click();
    await page.getByTestId("sign-in-form").waitFor();
    await page.getByLabel("Email").fill(who.email);
    await page.getByLabel("Password", { exact: true }).fill(who.password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByTestId("form-error").waitFor();
    expect(await page.getByTestId("form-error").getAttribute("data-code")).toBe("INVALID_CREDENTIALS");
    await page.getByLabel("Password", { exact: true }).fill(newPassword);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL((url) => !url.pathname.startsWith("/sign-in"));
    const me = await page.evaluate(async () => {
      const res = await fetch("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ me { email } }" }),
      });
      return (await res.json()) as { data?: { me: { email: string } | null } };
    });
    expect(me.data?.me?.email).toBe(who.email);

    // The link worked once.
    await page.goto(link!);
    await page.getByLabel("New password", { exact: true }).fill("another fresh passphrase 5");
    await page.getByLabel("New password again", { exact: true }).fill("another fresh passphrase 5");
    await page.getByRole("button", { name: "Set the new password" }).click();
    await page.getByTestId("form-error").getByRole("link", { name: "Ask for a new link" }).waitFor();
    expect(consoleErrors).toEqual([]);
    await own.close();
  });

  it("renames the account in settings, and keeps what was typed when the current password is wrong", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/settings`);
    const profile = page.getByTestId("profile-section");
    await profile.getByTestId("display-name").fill("Ada King");
    await profile.getByRole("button", { name: "Save" }).click();
    await profile.getByRole("status").getByText("Saved.").waitFor();
    await page.getByTestId("account-menu").getByText("Ada King").waitFor();
    // It is the account's name now, after a reload too.
    await page.reload();
    await page.getByTestId("account-menu").getByText("Ada King").waitFor();
    expect(await page.getByTestId("display-name").inputValue()).toBe("Ada King");

    const password = page.getByTestId("password-section");
    const newPassword = "saffron window river 31";
    await password.getByLabel("Current password").fill("not my password at all");
    await password.getByLabel("New password", { exact: true }).fill(newPassword);
    await password.getByLabel("New password again").fill(newPassword);
    await password.getByRole("button", { name: "Change password" }).click();
    await password.getByTestId("field-error").getByText("The password is not correct.").waitFor();
    expect(await password.getByLabel("Current password").getAttribute("aria-invalid")).toBe("true");
    expect(await password.getByLabel("Current password").inputValue()).toBe("not my password at all");
    expect(await password.getByLabel("New password", { exact: true }).inputValue()).toBe(newPassword);
    expect(await password.getByLabel("New password again").inputValue()).toBe(newPassword);
    expect(await password.getByTestId("password-changed").count()).toBe(0);
    await shot(page, "settings-wrong-password");
    // The password did not change.
    expect(await studio.signInToken({ email: EMAIL, password: PASSWORD })).toBeTruthy();
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("signs another device out from the session list: its next request is signed out", async () => {
    const other = await studio.browser.newContext({ viewport: { width: 1280, height: 860 } });
    const otherPage = await other.newPage();
    await studio.signIn(otherPage, EMAIL, PASSWORD, "/settings");
    await otherPage.getByTestId("settings-page").waitFor();

    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/settings`);
    // This device, the other profile, and the API sign-in of the previous test.
    await expect.poll(() => page.getByTestId("session-row").count()).toBeGreaterThanOrEqual(2);
    const countBefore = await page.getByTestId("session-row").count();
    const rows = page.getByTestId("session-row");
    // The newest session other than this one is the other profile's: revoke it.
    const created = await rows.evaluateAll((trs) =>
      trs.map((tr) => ({
        current: !!tr.querySelector('[data-testid="this-device"]'),
        at: Date.parse(tr.querySelector('td[data-label="Signed in"] time')!.getAttribute("datetime")!),
      })),
    );
    const newest = created
      .map((row, index) => ({ ...row, index }))
      .filter((row) => !row.current)
      .sort((a, b) => b.at - a.at)[0];
    await rows.nth(newest.index).getByTestId("revoke-session").click();
    await page.getByRole("dialog").getByText("Sign out this device?").waitFor();
    await page.getByRole("dialog").getByTestId("confirm").click();
    await page
      .getByTestId("toast")
      .getByText(/^Signed out /)
      .waitFor();
    await expect.poll(() => rows.count()).toBe(countBefore - 1);
    expect(await page.getByTestId("this-device").count()).toBe(1);

    // The other profile: its next request is anonymous; an account page sends it to sign in.
    const me = await otherPage.evaluate(async () => {
      const res = await fetch("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ me { email } }" }),
      });
      return (await res.json()) as { data?: { me: { email: string } | null } };
    });
    expect(me.data?.me ?? null).toBeNull();
    await otherPage.reload();
    await otherPage.waitForURL(`${base}/sign-in?next=%2Fsettings`);
    await other.close();
    // This device is still signed in.
    await page.reload();
    await page.getByTestId("this-device").waitFor();
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("copies a new API key's secret to the clipboard", async () => {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/developer`);
    await page.getByTestId("developer-page").waitFor();
    await page.getByLabel("Name", { exact: true }).fill("e2e-clipboard");
    await page.getByLabel(/account:read/).check();
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = (await page.getByTestId("api-key-secret").textContent())!.trim();
    expect(secret).toMatch(/^nvk_/);
    await page.getByTestId("copy-secret").click();
    await page.getByTestId("copy-secret").getByText("Copied").waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe(secret);
    // What was copied is the working key.
    expect((await graphqlWithKey(copied, "{ me { email } }")).data?.me?.email).toBe(EMAIL);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("shows the current terms of use, with their version, to anyone at /terms", async () => {
    const visitor = await studio.browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await visitor.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/terms`);
    const version = page.getByTestId("terms-version");
    await version.waitFor();
    // Version 2, published by the admin in an earlier test.
    expect(await version.textContent()).toMatch(/^Version 2, published /);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Novart Studio Terms of Use");
    await page.getByRole("heading", { name: "1. Scope" }).waitFor();
    expect(consoleErrors).toEqual([]);
    await visitor.close();
  });

  it("shows the unread count in the header's badge, live", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/`);
    const unread = async () => {
      const answer = await page.evaluate(async () => {
        const res = await fetch("/graphql", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: "{ me { id } unreadMessageCount }" }),
        });
        return (await res.json()) as { data: { me: { id: string }; unreadMessageCount: number } };
      });
      return answer.data;
    };
    const { me, unreadMessageCount } = await unread();
    expect(unreadMessageCount).toBeGreaterThan(0);
    const badge = page.getByTestId("header-messages").getByTestId("unread-badge");
    await expect.poll(() => badge.textContent()).toBe(String(unreadMessageCount));

    // Two more messages arrive while the page is open.
    const adminToken = await studio.signInToken({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    for (const n of [1, 2]) {
      await studio.graphqlData(
        "mutation ($input: AdjustBalanceInput!) { adjustBalance(input: $input) { applied } }",
        { input: { accountId: me.id, paid: 0, bonus: 1, reason: `e2e badge ${n}`, idempotencyKey: `e2e-badge-${n}` } },
        adminToken,
      );
    }
    await expect.poll(() => badge.textContent(), { timeout: 15_000 }).toBe(String(unreadMessageCount + 2));
    expect((await unread()).unreadMessageCount).toBe(unreadMessageCount + 2);
    await shot(page, "unread-badge", false);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("changes the email address through the mailed link, then deletes the account", async () => {
    const who = { email: "mary.e2e@example.com", password: "quiet orchard bell 58", name: "Mary" };
    const newEmail = "mary.somerville.e2e@example.com";
    await studio.createAccount(who);
    const own = await studio.browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await own.newPage();
    const consoleErrors = watchConsole(page);
    await studio.signIn(page, who.email, who.password, "/settings");

    const section = page.getByTestId("email-section");
    await section.getByRole("button", { name: "Change email address" }).click();
    await section.getByLabel("New email address").fill(newEmail);
    await section.getByLabel("Current password").fill(who.password);
    await section.getByRole("button", { name: "Send confirmation link" }).click();
    await section.getByTestId("email-pending").getByText(newEmail).waitFor();
    // Until confirmed, the old address stays.
    expect(await section.getByTestId("current-email").textContent()).toBe(who.email);

    const mail = await studio.smtp.waitForMail(newEmail);
    const link = mail.links.find((l) => l.startsWith(`${base}/verify-email?token=`));
    expect(link, mail.links.join("\n")).toBeTruthy();
    // The slow network of a real phone: the page's first `me` is read before the confirmation and arrives
    // after it. Settings must still show the confirmed address.
    let meRead!: () => void;
    let verifyAnswered!: () => void;
    const meWasRead = new Promise<void>((resolve) => (meRead = resolve));
    const verifyWasAnswered = new Promise<void>((resolve) => (verifyAnswered = resolve));
    let held: Promise<void> | null = null;
    await page.route(`${base}/graphql`, async (route) => {
      const operation = (route.request().postDataJSON() as { operationName?: string } | null)?.operationName;
      if (operation === "Me" && !held) {
        held = (async () => {
          const response = await route.fetch();
          meRead();
          await verifyWasAnswered;
          await new Promise((resolve) => setTimeout(resolve, 300));
          await route.fulfill({ response });
        })();
        await held;
      } else if (operation === "VerifyEmail") {
        await meWasRead;
        const response = await route.fetch();
        await route.fulfill({ response });
        verifyAnswered();
      } else {
        await route.continue();
      }
    });
    await page.goto(link!);
    await page.getByTestId("verify-done").waitFor();
    await held;
    await page.unroute(`${base}/graphql`);
    expect(await page.getByTestId("verified-email").textContent()).toBe(newEmail);
    await page.getByRole("link", { name: "Back to settings" }).click();
    await page.waitForURL(`${base}/settings`);
    await expect.poll(() => page.getByTestId("current-email").textContent()).toBe(newEmail);
    expect(await page.getByTestId("email-pending").count()).toBe(0);

    // Deleting asks for the password; a wrong one is refused at the field.
    await page.getByTestId("delete-account").click();
    const dialog = page.getByTestId("delete-dialog");
    await dialog.getByText("Delete your account?").waitFor();
    await dialog.getByTestId("delete-password").fill("not the password");
    await dialog.getByTestId("confirm").click();
    await dialog.getByTestId("field-error").waitFor();
    await dialog.getByTestId("delete-password").fill(who.password);
    await dialog.getByTestId("confirm").click();
    await page
      .getByTestId("toast")
      .getByText(/Your account is deleted/)
      .waitFor();
    await page.getByTestId("header-sign-in").waitFor();

    // Neither address signs in any more.
    for (const email of [newEmail, who.email]) {
      const refused = await studio.graphql("mutation ($input: SignInInput!) { signIn(input: $input) { token } }", {
        input: { email, password: who.password },
      });
      expect(refused.errors?.[0]?.extensions?.code).toBe("INVALID_CREDENTIALS");
    }
    expect(consoleErrors).toEqual([]);
    await own.close();
  });
});
