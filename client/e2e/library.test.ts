import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import type { BrowserContext, Download, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { screenshots, startStudio, watchConsole, type Studio } from "./support.js";

let studio: Studio;
let context: BrowserContext;
let base: string;
let token: string;

const HEDY = { email: "hedy.library@example.com", password: "frequency hopping piano 9", name: "Hedy" };
const FOX = "A red fox in a snowy birch forest, morning light";
const TILES = "Blue ceramic tiles in a sunlit courtyard";

beforeAll(async () => {
  studio = await startStudio({
    LOCAL_PROVIDER_STEP_MS: "5",
    WELCOME_BONUS_CREDITS: "100",
    // Two days: every image is within the 3 days that earn an expiry badge.
    ASSET_RETENTION_DAYS: "2",
  });
  base = studio.base;
  context = await studio.browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
});

afterAll(async () => {
  await context?.close();
  await studio?.close();
});

const shot = screenshots("library");

interface ServerAsset {
  id: string;
  sha256: string;
  favorite: boolean;
  task: { prompt: string };
}

/** The account's assets as the server lists them (newest first). */
async function serverAssets(filter: Record<string, unknown> = {}): Promise<ServerAsset[]> {
  const data = await studio.graphqlData<{ assets: { edges: { node: ServerAsset }[] } }>(
    `
      query ($filter: AssetFilterInput) {
        assets(first: 100, filter: $filter) {
          edges {
            node {
              id
              sha256
              favorite
              task {
                prompt
              }
            }
          }
        }
      }
    `,
    { filter },
    token,
  );
  return data.assets.edges.map((e) => e.node);
}

/** A confirmed account (100 welcome credits), and its session token for the API. */
async function createAccount(): Promise<void> {
  await studio.createAccount(HEDY);
  token = await studio.signInToken(HEDY);
}

/** Creates a task over GraphQL and waits until it has SUCCEEDED. */
async function generate(input: Record<string, unknown>): Promise<void> {
  const created = await studio.graphqlData<{ createTask: { task: { id: string } } }>(
    `
      mutation ($input: CreateTaskInput!) {
        createTask(input: $input) {
          task {
            id
          }
        }
      }
    `,
    { input },
    token,
  );
  const id = created.createTask.task.id;
  await expect
    .poll(
      async () => {
        const data = await studio.graphqlData<{ task: { status: string } }>(
          "query ($id: ID!) { task(id: $id) { status } }",
          { id },
          token,
        );
        return data.task.status;
      },
      { timeout: 30_000, interval: 100 },
    )
    .toBe("SUCCEEDED");
}

/** Waits until every thumbnail on screen has loaded (they load lazily). */
async function thumbnailsLoaded(page: Page): Promise<void> {
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll<HTMLImageElement>('[data-testid="asset-tile"] img')].every(
        (img) => img.complete && img.naturalWidth > 0,
      ),
    undefined,
    { timeout: 15_000 },
  );
}

async function sha256Of(download: Download): Promise<string> {
  const file = await download.path();
  return createHash("sha256")
    .update(await fs.readFile(file))
    .digest("hex");
}

/** A light accessibility check: images have alt text, every control has a name, nothing is wider than the page. */
async function accessibilityProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const visible = (el: Element) => (el as HTMLElement).offsetParent !== null || el.getClientRects().length > 0;
    for (const img of document.querySelectorAll("img")) {
      if (!img.getAttribute("alt")?.trim() && img.getAttribute("alt") !== "")
        problems.push(`img without alt: ${img.src}`);
    }
    const named = (el: Element): boolean => {
      if (el.getAttribute("aria-label")?.trim()) return true;
      const labelledBy = el.getAttribute("aria-labelledby");
      if (labelledBy && labelledBy.split(" ").some((id) => document.getElementById(id)?.textContent?.trim()))
        return true;
      if ((el as HTMLInputElement).labels?.length) return true;
      if (el.textContent?.trim()) return true;
      if ([...el.querySelectorAll("img")].some((img) => img.alt.trim())) return true;
      return Boolean(el.getAttribute("title")?.trim());
    };
    for (const el of document.querySelectorAll("button, a[href], input:not([type=hidden]), select, textarea")) {
      if (visible(el) && !named(el)) problems.push(`unnamed control: ${el.outerHTML.slice(0, 120)}`);
    }
    for (const el of document.querySelectorAll("[tabindex]")) {
      if (Number(el.getAttribute("tabindex")) > 0) problems.push(`positive tabindex: ${el.outerHTML.slice(0, 80)}`);
    }
    return problems;
  });
}

describe("the asset library in the studio", () => {
  it("lists, previews, downloads the original with the right bytes, filters, favourites and deletes", async () => {
    await createAccount();
    // Two tasks: two wide images of the fox, one square mosaic.
    await generate({ model: "novart-sketch", prompt: FOX, width: 768, height: 512, count: 2, seed: 1234 });
    await generate({ model: "novart-mosaic", prompt: TILES, width: 512, height: 512, count: 1, seed: 77 });
    const assets = await serverAssets();
    expect(assets).toHaveLength(3);

    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await studio.signIn(page, HEDY.email, HEDY.password, "/library");

    // The grid: one tile per image, the prompt as alt text, grouped under "Today", each with an expiry badge.
    const tiles = page.getByTestId("asset-tile");
    await expect.poll(() => tiles.count()).toBe(3);
    await thumbnailsLoaded(page);
    expect(await page.getByTestId("asset-day").count()).toBe(1);
    expect(await page.getByTestId("asset-day").getByRole("heading").textContent()).toBe("Today");
    expect(await tiles.first().locator("img").getAttribute("alt")).toBe(TILES);
    expect(await tiles.first().locator("img").getAttribute("src")).toMatch(/\/thumbnail\?/);
    expect(await page.getByTestId("expiry-badge").count()).toBe(3);
    expect(await page.getByTestId("expiry-badge").first().textContent()).toMatch(
      /Expires in 2 days|Expires in 4[78] hours/,
    );
    // No layout shift: each tile has the image's aspect ratio before its thumbnail arrives.
    const box = await tiles.nth(1).boundingBox();
    expect(box!.width / box!.height).toBeCloseTo(768 / 512, 1);
    expect(await accessibilityProblems(page)).toEqual([]);
    await shot(page, "grid-light");

    // The lightbox: the preview large with prompt, model, seed; ←/→ move, Esc closes and gives focus back.
    const second = tiles.nth(1);
    const secondId = (await second.getAttribute("data-id"))!;
    await second.getByTestId("asset-open").click();
    const lightbox = page.getByTestId("lightbox");
    await lightbox.waitFor();
    expect(await lightbox.getAttribute("data-id")).toBe(secondId);
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('[data-testid="lightbox-image"]');
      return !!img && img.complete && img.naturalWidth > 0;
    });
    expect(await page.getByTestId("lightbox-image").getAttribute("src")).toMatch(/\/preview\?/);
    expect(await page.getByTestId("lightbox-prompt").textContent()).toBe(FOX);
    expect(await page.getByTestId("lightbox-model").textContent()).toBe("Novart Sketch");
    expect(await page.getByTestId("lightbox-seed").textContent()).toBe("1234");
    expect(await lightbox.getByRole("heading").textContent()).toBe("Image 2 of 3");
    expect(await page.getByTestId("reuse-prompt").getAttribute("href")).toBe(
      `/?${new URLSearchParams({ prompt: FOX, model: "novart-sketch", seed: "1234" }).toString()}`,
    );
    // Focus stays inside the dialog.
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press("Tab");
      expect(await page.evaluate(() => !!document.activeElement?.closest('[data-testid="lightbox"]'))).toBe(true);
    }
    await shot(page, "lightbox-light", false);

    // Download: the original's bytes, as the server's SHA-256 says.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("download-original").click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^novart-.*\.png$/);
    expect(await sha256Of(download)).toBe(assets.find((a) => a.id === secondId)!.sha256);

    await page.keyboard.press("ArrowRight");
    await lightbox.getByRole("heading", { name: "Image 3 of 3" }).waitFor();
    await page.keyboard.press("ArrowLeft");
    await lightbox.getByRole("heading", { name: "Image 2 of 3" }).waitFor();
    await page.keyboard.press("Escape");
    await lightbox.waitFor({ state: "detached" });
    expect(await page.evaluate(() => document.activeElement?.closest("[data-id]")?.getAttribute("data-id"))).toBe(
      secondId,
    );

    // Favourite from the tile's star: the server keeps it, and the filter in the URL shows only it.
    await tiles.first().getByTestId("asset-favorite").click();
    await page.locator('[data-testid="asset-tile"][data-favorite="true"]').waitFor();
    await expect.poll(async () => (await serverAssets({ favorite: true })).map((a) => a.task.prompt)).toEqual([TILES]);
    await page.getByTestId("favorites-only").click();
    await page.waitForURL(`${base}/library?favorite=1`);
    await expect.poll(() => tiles.count()).toBe(1);

    // Prompt search (debounced) and the model filter, both in the URL; a reload keeps them.
    await page.getByTestId("clear-filters").click();
    await page.waitForURL(`${base}/library`);
    await page.getByTestId("library-search").fill("snowy birch");
    await page.waitForURL(`${base}/library?q=snowy+birch`);
    await expect.poll(() => tiles.count()).toBe(2);
    await page.getByTestId("model-filter").selectOption("novart-mosaic");
    await page.waitForURL(`${base}/library?q=snowy+birch&model=novart-mosaic`);
    await page.getByTestId("library-no-match").waitFor();
    await page.goto(`${base}/library?model=novart-mosaic`);
    await expect.poll(() => tiles.count()).toBe(1);
    expect(await page.getByTestId("model-filter").inputValue()).toBe("novart-mosaic");
    await page.goto(`${base}/library`);
    await expect.poll(() => tiles.count()).toBe(3);

    // Delete one image from the lightbox, after a confirmation; the server no longer lists it.
    const doomed = tiles.nth(2);
    const doomedId = (await doomed.getAttribute("data-id"))!;
    await doomed.getByTestId("asset-open").click();
    await lightbox.waitFor();
    await page.getByTestId("lightbox-delete").click();
    const dialog = page.getByTestId("delete-dialog");
    await dialog.getByText("Delete this image?").waitFor();
    expect(await dialog.textContent()).toContain("Its files are deleted at once.");
    await dialog.getByTestId("confirm").click();
    await dialog.waitFor({ state: "hidden" });
    // The lightbox moves to the image before (it was the last one).
    await lightbox.getByRole("heading", { name: "Image 2 of 2" }).waitFor();
    await page.keyboard.press("Escape");
    await lightbox.waitFor({ state: "detached" });
    await expect.poll(() => tiles.count()).toBe(2);
    expect((await serverAssets()).map((a) => a.id)).not.toContain(doomedId);
    expect(await page.locator(`[data-id="${doomedId}"]`).count()).toBe(0);

    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("selects a range with Shift and downloads it as one ZIP, then deletes the selection", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/library`);
    const tiles = page.getByTestId("asset-tile");
    await expect.poll(() => tiles.count()).toBe(2);
    await thumbnailsLoaded(page);

    // The first checkbox, then Shift on the last one: both selected.
    await tiles.first().getByTestId("asset-select").click();
    const toolbar = page.getByTestId("selection-toolbar");
    await toolbar.waitFor();
    await tiles
      .nth(1)
      .getByTestId("asset-select")
      .click({ modifiers: ["Shift"] });
    await expect.poll(() => page.getByTestId("selection-count").textContent()).toMatch(/2\s*selected/);
    expect(await page.locator('[data-testid="asset-tile"][data-selected="true"]').count()).toBe(2);
    await shot(page, "selection-light", false);

    const [zip] = await Promise.all([page.waitForEvent("download"), page.getByTestId("download-zip").click()]);
    expect(zip.suggestedFilename()).toMatch(/^novart-.*\.zip$/);
    // Downloaded by the browser from a minted link (streamed to disk), not saved from a blob held by the page.
    expect(zip.url()).toMatch(/\/api\/assets\/zip\/[A-Za-z0-9_-]{32}$/);
    const bytes = await fs.readFile(await zip.path());
    expect(bytes.subarray(0, 2).toString("latin1")).toBe("PK");
    // Stored, not compressed: the two originals are in it.
    expect(bytes.length).toBeGreaterThan(1000);
    await expect.poll(() => page.getByTestId("download-zip").textContent()).toContain("Download ZIP");

    // Clear keeps the images; select again and delete both, confirmed with what it does.
    await page.getByTestId("clear-selection").click();
    await toolbar.waitFor({ state: "detached" });
    await tiles.nth(1).getByTestId("asset-select").click();
    await tiles
      .first()
      .getByTestId("asset-select")
      .click({ modifiers: ["Shift"] });
    await expect.poll(() => page.getByTestId("selection-count").textContent()).toMatch(/2\s*selected/);
    await page.getByTestId("delete-selected").click();
    const dialog = page.getByTestId("delete-dialog");
    await dialog.getByText("Delete 2 images?").waitFor();
    expect(await dialog.textContent()).toContain("Their files are deleted at once.");
    await dialog.getByTestId("confirm").click();
    await page.getByTestId("library-empty").waitFor();
    expect(await page.getByTestId("library-empty").textContent()).toContain(
      "No images yet — write a prompt in the Studio",
    );
    expect(await serverAssets()).toEqual([]);
    await shot(page, "empty-light");
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("opens the Studio prefilled from 'use this prompt again'", async () => {
    const page = await context.newPage();
    await page.goto(`${base}/?${new URLSearchParams({ prompt: FOX, model: "novart-mosaic", seed: "77" })}`);
    const prompt = page.getByTestId("composer").locator("textarea").first();
    await prompt.waitFor();
    expect(await prompt.inputValue()).toBe(FOX);
    expect(await page.getByTestId("seed").inputValue()).toBe("77");
    // Applied once: the address no longer carries the parameters.
    expect(new URL(page.url()).search).toBe("");
    await page.close();
  });

  it("looks right in the dark theme at phone width", async () => {
    await generate({ model: "novart-sketch", prompt: FOX, width: 512, height: 768, count: 3, seed: 5 });
    await generate({ model: "novart-mosaic", prompt: TILES, width: 512, height: 512, count: 2, seed: 6 });
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.setViewportSize({ width: 375, height: 812 });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${base}/library`);
    const tiles = page.getByTestId("asset-tile");
    await expect.poll(() => tiles.count()).toBe(5);
    await thumbnailsLoaded(page);
    await shot(page, "dark-phone");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    expect(await accessibilityProblems(page)).toEqual([]);

    await tiles.first().getByTestId("asset-select").click();
    await page.getByTestId("selection-toolbar").waitFor();
    await shot(page, "selection-dark-phone", false);
    await page.getByTestId("clear-selection").click();

    await tiles.first().getByTestId("asset-open").click();
    await page.getByTestId("lightbox").waitFor();
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('[data-testid="lightbox-image"]');
      return !!img && img.complete && img.naturalWidth > 0;
    });
    await shot(page, "lightbox-dark-phone", false);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("loads the next page as the grid is scrolled to its end", async () => {
    // 5 images so far and 40 more: more than one page (40).
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        generate({ model: "novart-mosaic", prompt: `${TILES}, variation ${i + 1}`, width: 512, height: 512, count: 4 }),
      ),
    );
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/library`);
    const tiles = page.getByTestId("asset-tile");
    // The first page, then the next one when the end comes near (infinite scroll, no click).
    await expect.poll(() => tiles.count()).toBeGreaterThanOrEqual(40);
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await expect.poll(() => tiles.count()).toBe(45);
    await thumbnailsLoaded(page);
    await shot(page, "grid-many-light");
    expect(await page.getByTestId("load-more").count()).toBe(0);
    // Esc clears a selection.
    await tiles.first().getByTestId("asset-select").click();
    await page.getByTestId("selection-toolbar").waitFor();
    await page.keyboard.press("Escape");
    await page.getByTestId("selection-toolbar").waitFor({ state: "detached" });
    expect(consoleErrors).toEqual([]);
    await page.close();
  });
});
