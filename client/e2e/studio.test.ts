import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { screenshots, startStudio, watchConsole, type Studio } from "./support.js";

let studio: Studio;
let base: string;

beforeAll(async () => {
  studio = await startStudio();
  base = studio.base;
});

afterAll(async () => {
  await studio?.close();
});

const shot = screenshots("studio");

describe("the studio's first page", () => {
  it("lists the seeded models with their prices and shows the live connection", async () => {
    const page = await studio.browser.newPage({ viewport: { width: 1280, height: 800 } });
    const consoleErrors = watchConsole(page);
    await page.goto(base + "/");

    const cards = page.getByTestId("model-card");
    await cards.first().waitFor();
    expect(await cards.count()).toBe(2);
    expect(await page.getByTestId("model-name").allTextContents()).toEqual(["Novart Sketch", "Novart Mosaic"]);
    const prices = await page.getByTestId("model-price").allTextContents();
    expect(prices[0]).toMatch(/\b2\b/);
    expect(prices[1]).toMatch(/\b1\b/);

    const indicator = page.getByTestId("live-indicator");
    await page.waitForSelector('[data-testid="live-indicator"][data-state="live"]', { timeout: 15_000 });
    expect(await indicator.textContent()).toContain("Live");
    await shot(page, "models");
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("serves deep links through the SPA fallback", async () => {
    const page = await studio.browser.newPage();
    const response = await page.goto(base + "/library");
    expect(response?.status()).toBe(200);
    await page.getByTestId("live-indicator").waitFor();
    await page.close();
  });

  it("shows the connection as lost when the server goes away, and live again when it is back", async () => {
    const page = await studio.browser.newPage();
    await page.goto(base + "/");
    await page.waitForSelector('[data-testid="live-indicator"][data-state="live"]', { timeout: 15_000 });

    await studio.server.stop();
    await page.waitForSelector('[data-testid="live-indicator"]:not([data-state="live"])', { timeout: 15_000 });

    // The same port, database and environment.
    await studio.restartServer();
    await page.waitForSelector('[data-testid="live-indicator"][data-state="live"]', { timeout: 30_000 });
    await page.close();
  });
});
