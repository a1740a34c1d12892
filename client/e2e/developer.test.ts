import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { examplePayload } from "../src/lib/developer/webhook-payload.js";
import { screenshots, startStudio, watchConsole, type Studio } from "./support.js";

let studio: Studio;
let context: BrowserContext;
let base: string;

const GRACE = { email: "grace.developer@example.com", password: "compiler nanosecond wire 31", name: "Grace" };

/** A webhook receiver on loopback that records every request; `/hooks/fail…` answers 500. */
interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}
let receiver: http.Server;
let receiverBase: string;
const received: Received[] = [];

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const url = req.url ?? "/";
      received.push({ path: url, headers: req.headers as Record<string, string>, body });
      if (url.startsWith("/hooks/fail")) res.writeHead(500, { "content-type": "text/plain" }).end("receiver is down");
      else res.writeHead(200, { "content-type": "text/plain" }).end(`thanks for ${url}`);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverBase = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  studio = await startStudio({
    LOCAL_PROVIDER_STEP_MS: "5",
    // The receiver is on loopback; failing deliveries give up after three quick tries.
    WEBHOOK_ALLOW_PRIVATE: "true",
    WEBHOOK_RETRY_SCHEDULE_MS: "0,300,300",
  });
  base = studio.base;
  context = await studio.browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  // A confirmed account: 100 welcome credits.
  await studio.createAccount(GRACE);
});

afterAll(async () => {
  await context?.close();
  await studio?.close();
  receiver?.closeAllConnections();
  await new Promise((resolve) => receiver?.close(resolve));
});

const shot = screenshots("developer");

/** The requests the receiver got on a path, waiting until there are at least `count`. */
async function receivedOn(pathname: string, count = 1): Promise<Received[]> {
  await expect
    .poll(() => received.filter((r) => r.path === pathname).length, { timeout: 15_000 })
    .toBeGreaterThanOrEqual(count);
  return received.filter((r) => r.path === pathname);
}

const signedHeaders = (r: Received) => ({
  "webhook-id": r.headers["webhook-id"],
  "webhook-timestamp": r.headers["webhook-timestamp"],
  "webhook-signature": r.headers["webhook-signature"],
});

/** A light accessibility check: every control has a name, no positive tabindex, images have alt text. */
async function accessibilityProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const visible = (el: Element) => el.getClientRects().length > 0;
    for (const img of document.querySelectorAll("img"))
      if (img.getAttribute("alt") === null) problems.push(`img without alt: ${img.src}`);
    const named = (el: Element): boolean => {
      if (el.getAttribute("aria-label")?.trim()) return true;
      const labelledBy = el.getAttribute("aria-labelledby");
      if (labelledBy && labelledBy.split(" ").some((id) => document.getElementById(id)?.textContent?.trim()))
        return true;
      if ((el as HTMLInputElement).labels?.length) return true;
      if (el.textContent?.trim()) return true;
      return Boolean(el.getAttribute("title")?.trim());
    };
    for (const el of document.querySelectorAll("button, a[href], input:not([type=hidden]), select, textarea")) {
      if (visible(el) && !named(el)) problems.push(`unnamed control: ${el.outerHTML.slice(0, 120)}`);
    }
    for (const el of document.querySelectorAll("[tabindex]")) {
      if (Number(el.getAttribute("tabindex")) > 0) problems.push(`positive tabindex: ${el.outerHTML.slice(0, 80)}`);
    }
    const ids = new Map<string, number>();
    for (const el of document.querySelectorAll("[id]")) ids.set(el.id, (ids.get(el.id) ?? 0) + 1);
    for (const [id, n] of ids) if (n > 1) problems.push(`duplicate id: ${id}`);
    return problems;
  });
}

const story: { endpointId: string; secret: string } = { endpointId: "", secret: "" };

describe("the Developer Center in the studio", () => {
  it("creates an endpoint, shows its secret once, sends a test the receiver verifies, and logs the delivery", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await studio.signIn(page, GRACE.email, GRACE.password, "/developer/webhooks");
    await page.getByTestId("endpoints-empty").waitFor();
    expect(await page.getByTestId("developer-tab-webhooks").getAttribute("aria-current")).toBe("page");

    // The form checks the URL before asking the server, and keeps what was typed.
    const form = page.getByTestId("create-endpoint-form");
    await form.getByLabel("URL").fill("ftp://example.com/hook");
    await form.getByTestId("save-endpoint").click();
    expect(await form.getByTestId("field-error").textContent()).toContain("http:// or https://");

    const url = `${receiverBase}/hooks/e2e`;
    await form.getByLabel("URL").fill(url);
    await form.getByLabel(/^Description/).fill("E2E receiver");
    await form.getByTestId("event-task.running").uncheck();
    await form.getByTestId("save-endpoint").click();

    // The secret, once, with its warning and a copy button.
    const panel = page.getByTestId("webhook-secret-panel");
    await panel.waitFor();
    expect(await panel.textContent()).toContain("it will not be shown again");
    story.secret = (await page.getByTestId("webhook-secret").textContent())!.trim();
    expect(story.secret).toMatch(/^whsec_[A-Za-z0-9+/=]+$/);
    await page.getByTestId("copy-webhook-secret").click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(story.secret);
    // The form is empty again for the next endpoint.
    expect(await form.getByLabel("URL").inputValue()).toBe("");

    const row = page.getByTestId("endpoint-row");
    await row.waitFor();
    expect(await row.getAttribute("data-status")).toBe("active");
    expect(await row.getByTestId("endpoint-url").textContent()).toBe(url);
    expect(await row.locator("code.chip").allTextContents()).toEqual([
      "task.succeeded",
      "task.failed",
      "task.canceled",
    ]);
    story.endpointId = (await row.getAttribute("data-id"))!;
    await shot(page, "webhooks-secret");
    await page.getByTestId("dismiss-secret").click();
    expect(await page.getByTestId("webhook-secret").count()).toBe(0);

    // Send test: the result shows on the endpoint, and the receiver can verify what it got.
    await row.getByTestId("send-test").click();
    await page.locator('[data-testid="test-result"][data-state="SUCCEEDED"]').waitFor({ timeout: 15_000 });
    expect(await row.getByTestId("test-result").textContent()).toMatch(/HTTP 200 in \d+ ms/);
    const [delivery] = await receivedOn("/hooks/e2e");
    const event = new Webhook(story.secret).verify(delivery.body, signedHeaders(delivery)) as {
      type: string;
      data: { endpointId: string };
    };
    expect(event.type).toBe("webhook.test");
    expect(event.data.endpointId).toBe(story.endpointId);
    expect(() =>
      new Webhook(`whsec_${Buffer.from("another secret!!").toString("base64")}`).verify(
        delivery.body,
        signedHeaders(delivery),
      ),
    ).toThrow();

    // The delivery log, filtered by this endpoint (in the URL), shows it as succeeded.
    await row.getByTestId("endpoint-deliveries").click();
    await page.waitForURL(`${base}/developer/deliveries?endpoint=${story.endpointId}`);
    const logged = page.locator('[data-testid="delivery-row"][data-status="SUCCEEDED"]');
    await logged.waitFor();
    expect(await logged.locator("code.event").textContent()).toBe("webhook.test");
    expect(await logged.getByTestId("delivery-attempts").textContent()).toBe("1");
    expect(await page.getByTestId("filter-endpoint").inputValue()).toBe(story.endpointId);

    // Every attempt, with the receiver's answer.
    await logged.getByTestId("delivery-toggle").click();
    const details = page.getByTestId("delivery-details");
    await details.waitFor();
    expect(await details.getByTestId("attempt-status").textContent()).toBe("HTTP 200");
    await details.getByText("Response (first 1 KB)").click();
    expect(await details.getByTestId("attempt-snippet").textContent()).toBe("thanks for /hooks/e2e");
    await shot(page, "deliveries");

    // Redeliver: the same event again (same webhook-id), a second attempt in the log.
    await logged.getByTestId("redeliver").click();
    const again = await receivedOn("/hooks/e2e", 2);
    expect(again[1].headers["webhook-id"]).toBe(again[0].headers["webhook-id"]);
    expect(again[1].body).toBe(again[0].body);
    await expect.poll(() => logged.getByTestId("delivery-attempts").textContent(), { timeout: 10_000 }).toBe("2");
    await expect.poll(() => details.getByTestId("attempt-row").count()).toBe(2);

    // Filtering by status goes into the URL.
    await page.getByTestId("filter-status").selectOption("FAILED");
    await page.waitForURL(/status=FAILED/);
    await page.getByTestId("deliveries-empty").waitFor();
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("edits, disables, rotates with a 24-hour overlap, reveals the task secret, and deletes a failing endpoint", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/developer/webhooks`);
    const row = page.locator(`[data-testid="endpoint-row"][data-id="${story.endpointId}"]`);
    await row.waitFor();

    // Edit in place.
    await row.getByTestId("edit-endpoint").click();
    const edit = row.getByTestId("edit-endpoint-form");
    expect(await edit.getByLabel("URL").inputValue()).toBe(`${receiverBase}/hooks/e2e`);
    await edit.getByLabel(/^Description/).fill("E2E receiver, renamed");
    await edit.getByTestId("event-task.running").check();
    await edit.getByTestId("save-endpoint").click();
    await row.getByText("E2E receiver, renamed").waitFor();
    expect(await row.locator("code.chip").count()).toBe(4);

    // Disable and enable again.
    await row.getByTestId("toggle-endpoint").click();
    await page.locator(`[data-testid="endpoint-row"][data-status="disabled"]`).waitFor();
    expect(await row.getByTestId("send-test").isDisabled()).toBe(true);
    await row.getByTestId("toggle-endpoint").click();
    await page.locator(`[data-testid="endpoint-row"][data-status="active"]`).waitFor();

    // Rotate: the dialog explains the overlap; the new secret is shown once; both secrets verify for 24 h.
    await row.getByTestId("rotate-secret").click();
    const dialog = page.getByTestId("rotate-dialog");
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain("For 24 hours every delivery is signed with both");
    await dialog.getByTestId("confirm").click();
    const newSecret = (await page.getByTestId("webhook-secret").textContent())!.trim();
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(story.secret);
    await row.getByText("The previous secret also signs until").waitFor();
    await page.getByTestId("dismiss-secret").click();
    const before = received.filter((r) => r.path === "/hooks/e2e").length;
    await row.getByTestId("send-test").click();
    const [rotated] = (await receivedOn("/hooks/e2e", before + 1)).slice(-1);
    expect(rotated.headers["webhook-signature"].split(" ")).toHaveLength(2);
    for (const secret of [story.secret, newSecret]) {
      expect((new Webhook(secret).verify(rotated.body, signedHeaders(rotated)) as { type: string }).type).toBe(
        "webhook.test",
      );
    }

    // The task webhook secret, behind Reveal.
    await page.getByTestId("reveal-task-secret").click();
    expect((await page.getByTestId("task-webhook-secret").textContent())!.trim()).toMatch(/^whsec_/);

    // A receiver that answers 500: the test fails after its tries, the endpoint is failing.
    const form = page.getByTestId("create-endpoint-form");
    await form.getByLabel("URL").fill(`${receiverBase}/hooks/fail`);
    await form.getByTestId("save-endpoint").click();
    await page.getByTestId("dismiss-secret").click();
    const failing = page.getByTestId("endpoint-row").filter({ hasText: "/hooks/fail" });
    await failing.getByTestId("send-test").click();
    await failing.locator('[data-testid="test-result"][data-state="FAILED"]').waitFor({ timeout: 15_000 });
    expect(await failing.getByTestId("test-result").textContent()).toContain("HTTP 500");
    await page.reload();
    await page.locator('[data-testid="endpoint-row"][data-status="failing"]').waitFor();
    await shot(page, "webhooks");

    // The log shows the three tries with the error and the answer.
    await page.goto(`${base}/developer/deliveries?status=FAILED`);
    const failed = page.locator('[data-testid="delivery-row"][data-status="FAILED"]');
    await failed.waitFor();
    expect(await failed.count()).toBe(1);
    expect(await failed.getByTestId("delivery-attempts").textContent()).toBe("3");
    await failed.getByTestId("delivery-toggle").click();
    expect(await page.getByTestId("attempt-row").count()).toBe(3);
    expect(await page.getByTestId("attempt-error").first().textContent()).toContain("500");

    // Delete, after saying what it does.
    await page.goto(`${base}/developer/webhooks`);
    await failing.getByTestId("delete-endpoint").click();
    const remove = page.getByTestId("delete-dialog");
    await remove.waitFor();
    expect(await remove.textContent()).toContain("Its delivery log stays");
    await remove.getByTestId("confirm").click();
    await expect.poll(() => page.getByTestId("endpoint-row").count()).toBe(1);
    // Its delivery stays in the log, said to be of a deleted endpoint, and cannot be sent again.
    await page.goto(`${base}/developer/deliveries?status=FAILED`);
    await failed.waitFor();
    expect(await failed.textContent()).toContain("Deleted endpoint");
    expect(await failed.getByTestId("redeliver").isDisabled()).toBe(true);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("shows usage as charts and a table, with the range in the URL", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/developer/usage`);
    await page.getByTestId("usage-totals").waitFor();
    expect(await page.getByTestId("total-tasks").textContent()).toBe("0");
    await page.getByTestId("usage-empty").waitFor();

    // A task made with this session (2 credits), then the usage shows it.
    const id = await page.evaluate(async () => {
      const res = await fetch("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          query: "mutation ($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }",
          variables: { input: { model: "novart-sketch", prompt: "Usage chart test", width: 512, height: 512 } },
        }),
      });
      return ((await res.json()) as { data: { createTask: { task: { id: string } } } }).data.createTask.task.id;
    });
    expect(id).toBeTruthy();
    await page.reload();
    await page.getByTestId("usage-totals").waitFor();
    expect(await page.getByTestId("total-tasks").textContent()).toBe("1");
    expect(await page.getByTestId("total-credits").textContent()).toBe("2");
    expect(await page.getByTestId("usage-row").count()).toBe(30);
    const bars = page.getByTestId("usage-chart-credits").getByTestId("chart-bar");
    expect(await bars.count()).toBe(30);
    expect(await bars.last().getAttribute("data-value")).toBe("2");
    await shot(page, "usage");

    // By hour: a preset, kept in the URL.
    await page.getByRole("button", { name: "24 hours" }).click();
    await page.waitForURL(/by=hour/);
    await expect.poll(() => page.getByTestId("usage-row").count()).toBe(48);
    expect(await page.getByTestId("usage-granularity").inputValue()).toBe("HOUR");
    // Too long a range by hour is explained before asking.
    await page.getByTestId("usage-from").fill("2020-01-01");
    expect(await page.getByTestId("usage-range-error").textContent()).toContain("at most");
    expect(await page.getByTestId("usage-apply").isDisabled()).toBe(true);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("documents the API: the tested example files, and a searchable reference from the schema", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/developer`);
    await page.getByTestId("developer-tab-docs").click();
    await page.getByTestId("docs-page").waitFor();

    // The page shows the example files exactly as they are (and as docs-examples.test.ts runs them).
    const examples = path.resolve(import.meta.dirname, "../src/lib/developer/examples");
    for (const file of fs.readdirSync(examples)) {
      const shown = await page.getByTestId(`example-${file}`).getByTestId("example-code").textContent();
      expect(shown, file).toBe(fs.readFileSync(path.join(examples, file), "utf8"));
    }
    expect(await page.getByTestId("error-codes").locator("tbody tr").count()).toBeGreaterThan(20);
    // The payload sample is the shared one (docs-examples.test.ts checks it against a real delivery).
    expect(JSON.parse((await page.getByTestId("webhook-payload").textContent()) ?? "")).toEqual(examplePayload(base));
    // The playground link opens the server's GraphiQL in a new tab.
    const link = page.getByTestId("playground-link");
    expect(await link.getAttribute("href")).toBe("/graphiql");
    expect(await link.textContent()).not.toContain("Coming soon");
    const [playground] = await Promise.all([context.waitForEvent("page"), link.click()]);
    await playground.waitForURL(`${base}/graphiql`);
    await playground.locator(".graphiql-container").waitFor({ timeout: 30_000 });
    await playground.close();
    await shot(page, "docs");

    await page.getByTestId("docs-reference-link").click();
    await page.getByTestId("api-reference").waitFor();
    const total = await page.getByTestId("reference-op").count();
    expect(total).toBeGreaterThan(40);
    await page.getByTestId("reference-search").fill("webhook");
    await page.waitForURL(/q=webhook/);
    const ops = await page
      .getByTestId("reference-op")
      .evaluateAll((els) => els.map((el) => el.getAttribute("data-name")));
    expect(ops).toEqual(expect.arrayContaining(["createWebhookEndpoint", "rotateWebhookSecret", "webhookDeliveries"]));
    expect(ops.length).toBeLessThan(total);
    const endpointType = page.locator('[data-testid="reference-type"][data-name="WebhookEndpoint"]');
    expect(await endpointType.textContent()).toContain("An account-level receiver of signed task events.");
    // A type in a signature links to its entry.
    await page
      .locator('[data-name="createWebhookEndpoint"] a[href="#type-CreateWebhookEndpointInput"]')
      .first()
      .click();
    await page.waitForURL(/#type-CreateWebhookEndpointInput$/);
    await shot(page, "reference");
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("works in the dark theme at phone width", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.setViewportSize({ width: 375, height: 812 });
    await page.emulateMedia({ colorScheme: "dark" });
    const pages: [string, string][] = [
      ["/developer", "[data-testid=keys-empty]"],
      ["/developer/webhooks", "[data-testid=endpoint-row]"],
      [`/developer/deliveries?endpoint=${story.endpointId}`, "[data-testid=delivery-row]"],
      ["/developer/usage", "[data-testid=usage-table]"],
      ["/developer/docs", "[data-testid=docs-page]"],
      ["/developer/docs/reference?q=task", "[data-testid=reference-op]"],
    ];
    for (const [route, ready] of pages) {
      await page.goto(`${base}${route}`);
      await page.locator(ready).first().waitFor();
      if (route.startsWith("/developer/deliveries")) await page.getByTestId("delivery-toggle").first().click();
      const name = route.split("?")[0].split("/").filter(Boolean).join("-");
      await shot(page, `${name}-dark-phone`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, route).toBeLessThanOrEqual(0);
      // Every section's tab is in sight, none scrolled away.
      const tabs = page.getByTestId("developer-tabs");
      expect(await tabs.evaluate((el) => el.scrollWidth - el.clientWidth), route).toBeLessThanOrEqual(0);
      expect(await accessibilityProblems(page), route).toEqual([]);
    }
    expect(consoleErrors).toEqual([]);
    await page.close();
  });
});
