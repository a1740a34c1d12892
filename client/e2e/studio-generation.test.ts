import type { BrowserContext, Locator, Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { screenshots, startStudio, watchConsole, type Studio } from "./support.js";

let studio: Studio;
let context: BrowserContext;
let base: string;

const GRACE = { email: "grace.studio@example.com", password: "lantern harbour evening 7", name: "Grace" };
const PROMPT = "A lighthouse on a cliff at dusk, warm light, soft fog over the sea";
const SECOND_PROMPT = "A field of copper sunflowers under a violet sky";

beforeAll(async () => {
  studio = await startStudio({
    // Slow enough for the progress bar to be seen moving (8 steps per image).
    LOCAL_PROVIDER_STEP_MS: "150",
    WELCOME_BONUS_CREDITS: "100",
  });
  base = studio.base;
  context = await studio.browser.newContext({ viewport: { width: 1280, height: 900 } });
});

afterAll(async () => {
  await context?.close();
  await studio?.close();
});

const shot = screenshots("studio", { fromTop: true });

/** The balance as the server has it, asked with the page's session cookie. */
async function serverBalance(page: Page): Promise<number> {
  const answer = (await page.evaluate(async () => {
    const res = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ me { balance { total } } }" }),
    });
    return res.json();
  })) as { data: { me: { balance: { total: number } } } };
  return answer.data.me.balance.total;
}

/** A small PNG made here, as a reference image. */
function referencePng(): Promise<Buffer> {
  return sharp({ create: { width: 96, height: 64, channels: 3, background: { r: 40, g: 110, b: 200 } } })
    .composite([
      {
        input: Buffer.from('<svg width="96" height="64"><circle cx="48" cy="32" r="20" fill="#f5c542"/></svg>'),
      },
    ])
    .png()
    .toBuffer();
}

/**
 * Samples the progress bar of a card until the task has finished: every value seen, the last status, and
 * whether the elapsed time was shown while running. `onRunning` runs once, mid-way.
 */
async function watchProgress(
  card: Locator,
  onRunning: () => Promise<void>,
  until = 30_000,
): Promise<{ values: number[]; status: string; sawElapsed: boolean }> {
  const values: number[] = [];
  const deadline = Date.now() + until;
  let status = "";
  let sawElapsed = false;
  let calledBack = false;
  while (Date.now() < deadline) {
    status = (await card.getAttribute("data-status")) ?? "";
    if (["SUCCEEDED", "FAILED", "CANCELED"].includes(status)) break;
    const bar = card.getByTestId("task-progress");
    if ((await bar.count()) > 0) {
      // The bar may go away between count() and here (the task just finished): read it with a short wait.
      const raw = await bar.getAttribute("aria-valuenow", { timeout: 500 }).catch(() => null);
      if (raw === null) continue;
      const now = Number(raw);
      if (values.at(-1) !== now) values.push(now);
      if (status === "RUNNING" && (await card.getByTestId("task-elapsed").count()) > 0) sawElapsed = true;
      if (!calledBack && now > 0 && now < 100) {
        calledBack = true;
        await onRunning();
      }
    }
    await new Promise((r) => setTimeout(r, 40));
  }
  return { values, status, sawElapsed };
}

describe("generating in the Studio", () => {
  it("submits a task with a reference image, shows its progress moving to done, and its images", async () => {
    // A confirmed account: 100 welcome credits.
    await studio.createAccount(GRACE);
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);

    // Sign in through the form.
    await page.goto(`${base}/sign-in`);
    await page.getByLabel("Email").fill(GRACE.email);
    await page.getByLabel("Password", { exact: true }).fill(GRACE.password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(`${base}/`);

    // The Studio: an empty task list, the welcome credits on the submit button's line.
    await page.getByTestId("composer").waitFor();
    await page.getByTestId("tasks-empty").waitFor();
    await expect.poll(() => page.getByTestId("studio-balance").textContent()).toBe("100 credits");
    // The model picker keeps the catalogue's names and prices.
    expect(await page.getByTestId("model-name").allTextContents()).toEqual(["Novart Sketch", "Novart Mosaic"]);

    await page.getByTestId("prompt").fill(PROMPT);
    expect(await page.getByTestId("prompt-count").textContent()).toContain(`${PROMPT.length} / 2,000`);

    // A file that only claims to be a PNG: the server refuses it, the error is next to its thumbnail and
    // the button says why it waits; removing it clears both.
    await page.getByTestId("reference-input").setInputFiles({
      name: "not-an-image.png",
      mimeType: "image/png",
      buffer: Buffer.from("these bytes are not an image"),
    });
    await page.locator('[data-testid="reference"][data-status="error"]').waitFor();
    expect(await page.getByTestId("reference-error").textContent()).toContain("PNG, JPEG or WebP");
    expect(await page.getByTestId("generate").isDisabled()).toBe(true);
    expect(await page.getByTestId("submit-reason").textContent()).toMatch(/could not be uploaded/);
    await page.getByTestId("remove-reference").click();
    await page.getByTestId("reference").waitFor({ state: "detached" });
    expect(await page.getByTestId("generate").isDisabled()).toBe(false);

    // A reference image through the file input: its thumbnail shows, then it is uploaded.
    await page.getByTestId("reference-input").setInputFiles({
      name: "reference.png",
      mimeType: "image/png",
      buffer: await referencePng(),
    });
    const reference = page.getByTestId("reference");
    await reference.waitFor();
    await page.locator('[data-testid="reference"][data-status="done"]').waitFor();
    expect(await reference.textContent()).toContain("96×64");

    // Two images of Novart Sketch at 512×512: 2 credits each, the price on the button.
    await page.getByTestId("count-2").check({ force: true });
    await expect.poll(() => page.getByTestId("generate").textContent()).toMatch(/Generate\s*·\s*4 credits/);
    await shot(page, "composer-light");

    await page.getByTestId("generate").click();
    const card = page.getByTestId("task-card").first();
    await card.waitFor();
    expect(await card.getByTestId("task-prompt").textContent()).toBe(PROMPT);

    // The bar moves with the task (queued → running → done).
    const { values, status, sawElapsed } = await watchProgress(card, () => shot(page, "task-running-light", false));
    expect(status).toBe("SUCCEEDED");
    expect(sawElapsed).toBe(true);
    const increases = values.filter((v, i) => i > 0 && v > values[i - 1]);
    expect(increases.length, `progress seen: ${values.join(", ")}`).toBeGreaterThan(0);
    expect(
      values.some((v) => v > 0 && v < 100),
      `progress seen: ${values.join(", ")}`,
    ).toBe(true);

    // The images, loaded (thumbnails), with the prompt as their alt text.
    const images = card.getByTestId("task-image");
    await expect.poll(() => images.count()).toBe(2);
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll<HTMLImageElement>('[data-testid="task-image"]')].every(
          (img) => img.complete && img.naturalWidth > 0,
        ),
      undefined,
      { timeout: 15_000 },
    );
    expect(await images.first().getAttribute("alt")).toBe(PROMPT);
    expect(await images.first().getAttribute("src")).toMatch(/\/thumbnail\?/);
    await expect.poll(() => page.getByTestId("studio-balance").textContent()).toBe("96 credits");
    await shot(page, "task-done-light");

    // The lightbox: the preview, ←/→ between images, Download of the original, Esc closes.
    await images.first().click();
    const lightbox = page.getByTestId("lightbox");
    await lightbox.waitFor();
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('[data-testid="lightbox-image"]');
      return !!img && img.complete && img.naturalWidth > 0;
    });
    expect(await page.getByTestId("lightbox-image").getAttribute("src")).toMatch(/\/preview\?/);
    expect(await lightbox.getByRole("heading").textContent()).toContain("Image 1 of 2");
    await page.keyboard.press("ArrowRight");
    await lightbox.getByRole("heading", { name: "Image 2 of 2" }).waitFor();
    expect(await page.getByTestId("lightbox-download").getAttribute("href")).toMatch(/\/original\?.*dl=1/);
    await shot(page, "lightbox-light", false);
    await page.keyboard.press("ArrowLeft");
    await lightbox.getByRole("heading", { name: "Image 1 of 2" }).waitFor();
    await page.keyboard.press("Escape");
    await lightbox.waitFor({ state: "detached" });

    // Chromium logs every 4xx answer; the refused upload's 415 was expected (and shown in words).
    expect(consoleErrors.filter((e) => !e.includes("status of 415"))).toEqual([]);
    await page.close();
  });

  it("cancels a task while it waits or runs, and refunds it", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/`);
    await page.getByTestId("composer").waitFor();
    await page.getByTestId("task-card").first().waitFor();
    await expect.poll(() => page.getByTestId("studio-balance").textContent()).toBe("96 credits");

    // Ctrl+Enter submits from the prompt; four images cost 8 credits.
    await page.getByTestId("prompt").fill(SECOND_PROMPT);
    await page.getByTestId("count-4").check({ force: true });
    await expect.poll(() => page.getByTestId("generate").textContent()).toMatch(/8 credits/);
    await page.getByTestId("prompt").press("Control+Enter");

    const card = page.locator('[data-testid="task-card"]', { hasText: SECOND_PROMPT });
    await card.waitFor();
    expect(await page.getByTestId("task-card").count()).toBe(2);
    expect(await page.getByTestId("task-card").first().getAttribute("data-task-id")).toBe(
      await card.getAttribute("data-task-id"),
    );
    expect(["QUEUED", "RUNNING"]).toContain(await card.getAttribute("data-status"));
    await expect.poll(() => page.getByTestId("studio-balance").textContent()).toBe("88 credits");
    expect(await card.textContent()).toContain("Canceling refunds 8 credits");

    await card.getByTestId("cancel-task").click();
    await page.locator('[data-testid="task-card"][data-status="CANCELED"]').waitFor();
    expect(await card.getByTestId("task-canceled").textContent()).toContain("8 credits refunded");
    await expect.poll(() => page.getByTestId("studio-balance").textContent()).toBe("96 credits");
    expect(await serverBalance(page)).toBe(96);
    // No images for a canceled task, and nothing left to cancel.
    expect(await card.getByTestId("task-image").count()).toBe(0);
    expect(await card.getByTestId("cancel-task").count()).toBe(0);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("looks right in the dark theme at phone width", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.setViewportSize({ width: 375, height: 812 });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${base}/`);
    await page.getByTestId("composer").waitFor();
    const done = page.locator('[data-testid="task-card"][data-status="SUCCEEDED"]');
    await done.waitFor();
    // Thumbnails load lazily: bring them on screen first.
    await done.scrollIntoViewIfNeeded();
    await page.waitForFunction(() =>
      [...document.querySelectorAll<HTMLImageElement>('[data-testid="task-image"]')].every(
        (img) => img.complete && img.naturalWidth > 0,
      ),
    );
    await shot(page, "dark-phone");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });
});
