import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { screenshots, startStudio, watchConsole, type Studio } from "./support.js";

let studio: Studio;
let context: BrowserContext;
let base: string;

const ADA = { email: "ada.playground@example.com", password: "analytical engine notes 1843", name: "Ada" };
const ADMIN = { email: "admin.playground@example.com", password: "admin password for the playground" };

/** Every request the pages tried to make to another origin (each one aborted). */
const foreignRequests: string[] = [];
/** Every URL the pages requested, and every WebSocket they opened. */
const requested: string[] = [];
const sockets: string[] = [];

/** A browser context (its own cookies) that records its requests and lets nothing leave the server's origin. */
async function offlineContext(): Promise<BrowserContext> {
  const created = await studio.browser.newContext({ viewport: { width: 1280, height: 860 } });
  // The machine is offline and so must the playground be: nothing may leave the server's own origin.
  await created.route("**/*", (route) => {
    const url = route.request().url();
    if (new URL(url).origin === base) return route.continue();
    foreignRequests.push(url);
    return route.abort("blockedbyclient");
  });
  created.on("request", (request) => requested.push(request.url()));
  created.on("page", (page) => page.on("websocket", (ws) => sockets.push(ws.url())));
  return created;
}

beforeAll(async () => {
  studio = await startStudio({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password });
  base = studio.base;
  context = await offlineContext();
  await studio.createAccount(ADA);
});

afterAll(async () => {
  await context?.close();
  await studio?.close();
});

const shot = screenshots("playground");

/**
 * Replaces the query editor's text through CodeMirror's own API (typing would open autocompletion), then
 * waits for GraphiQL to have parsed it (it does so 100 ms after a change), so Run sends this operation.
 */
async function setQuery(page: Page, query: string, operationName: string): Promise<void> {
  type Editor = HTMLElement & { CodeMirror: { setValue(value: string): void; operationName?: string | null } };
  const editor = page.locator(".graphiql-query-editor .CodeMirror");
  await editor.evaluate((el, text) => (el as Editor).CodeMirror.setValue(text), query);
  await expect.poll(() => editor.evaluate((el) => (el as Editor).CodeMirror.operationName)).toBe(operationName);
}

const resultText = (page: Page) => page.locator(".result-window").innerText();

describe("the GraphQL playground", () => {
  it("loads from the server alone, and runs a signed-in user's query and subscription", async () => {
    const page = await context.newPage();
    // A Content-Security-Policy violation would show up among the console errors.
    const consoleErrors = watchConsole(page);

    await studio.signIn(page, ADA.email, ADA.password, "/developer");

    // From the Developer Center's tabs to the playground, a page of its own.
    await page.getByTestId("developer-tab-playground").click();
    await page.waitForURL(`${base}/graphiql`);
    await page.locator(".graphiql-container").waitFor();
    expect(await page.getByRole("link", { name: "Novart Studio" }).getAttribute("href")).toBe("/developer");
    // The schema arrived by introspection: the editor offers the documentation explorer's content.
    await page.getByRole("button", { name: /Show Documentation Explorer/i }).click();
    await page.locator(".graphiql-doc-explorer").getByText("Query", { exact: true }).first().waitFor();

    await setQuery(page, "query MyEmail { me { email } }", "MyEmail");
    await page.locator(".graphiql-execute-button").click();
    await expect.poll(() => resultText(page), { timeout: 15_000 }).toContain(ADA.email);
    expect(await resultText(page)).toContain('"me"');
    await shot(page, "query", false);

    // Subscriptions go over graphql-ws on the same port and path, signed in by the studio's cookie on the
    // upgrade: the account's own messages, which an anonymous socket would be refused (UNAUTHENTICATED).
    await setQuery(page, "subscription Inbox { messageReceived { kind title } }", "Inbox");
    await page.locator(".graphiql-execute-button").click();
    // An announcement reaches every account; sent again until the subscription (started meanwhile) relays one.
    const adminToken = await studio.signInToken(ADMIN);
    let sent = 0;
    await expect
      .poll(
        async () => {
          const text = await resultText(page);
          if (text.includes("Playground announcement")) return text;
          await studio.graphqlData(
            "mutation ($input: SendAnnouncementInput!) { sendAnnouncement(input: $input) { recipients } }",
            { input: { title: `Playground announcement ${++sent}`, body: "Over graphql-ws, to Ada's session." } },
            adminToken,
          );
          return text;
        },
        { timeout: 30_000, interval: 1_000 },
      )
      .toContain("Playground announcement");
    expect(await resultText(page)).toContain('"messageReceived"');
    expect(await resultText(page)).not.toContain("UNAUTHENTICATED");
    await shot(page, "subscription", false);
    // The same button stops the subscription.
    await page.locator(".graphiql-execute-button").click();

    expect(sockets.length).toBeGreaterThan(0);
    expect(new Set(sockets)).toEqual(new Set([`${base.replace("http", "ws")}/graphql`]));
    expect(foreignRequests).toEqual([]);
    const origins = new Set(requested.filter((u) => /^https?:/.test(u)).map((u) => new URL(u).origin));
    expect([...origins]).toEqual([base]);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("runs an admin query as the administrator signed in to the studio, and refuses it to a user", async () => {
    const adminContext = await offlineContext();
    try {
      const page = await adminContext.newPage();
      const consoleErrors = watchConsole(page);
      await studio.signIn(page, ADMIN.email, ADMIN.password, "/developer");
      await page.goto(`${base}/graphiql`);
      await page.locator(".graphiql-container").waitFor();
      const ADMIN_QUERY = `query Accounts { adminAccounts(filter: { search: "ada.playground" }) { edges { node { email role } } } }`;
      await setQuery(page, ADMIN_QUERY, "Accounts");
      await page.locator(".graphiql-execute-button").click();
      await expect.poll(() => resultText(page), { timeout: 15_000 }).toContain(ADA.email);
      expect(await resultText(page)).toContain('"role": "USER"');
      expect(await resultText(page)).not.toContain('"errors"');
      expect(consoleErrors).toEqual([]);
      await page.close();

      // The same document from Ada's session: refused, as the playground is no way around the roles.
      const user = await context.newPage();
      await user.goto(`${base}/graphiql`);
      await user.locator(".graphiql-container").waitFor();
      await setQuery(user, ADMIN_QUERY, "Accounts");
      await user.locator(".graphiql-execute-button").click();
      await expect.poll(() => resultText(user), { timeout: 15_000 }).toContain("FORBIDDEN");
      expect(await resultText(user)).not.toContain(ADA.email);
      await user.close();
      expect(foreignRequests).toEqual([]);
    } finally {
      await adminContext.close();
    }
  });
});
