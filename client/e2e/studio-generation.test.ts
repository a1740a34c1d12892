import http from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import type { BrowserContext, Locator, Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUrl } from "../../server/test/database.js";
import { screenshots, startStudio, watchConsole, type Studio } from "./support.js";

let studio: Studio;
let context: BrowserContext;
let base: string;

const GRACE = { email: "grace.studio@example.com", password: "lantern harbour evening 7", name: "Grace" };
const PROMPT = "A lighthouse on a cliff at dusk, warm light, soft fog over the sea";
const SECOND_PROMPT = "A field of copper sunflowers under a violet sky";
const ADMIN_EMAIL = "admin.generation@example.com";
const ADMIN_PASSWORD = "admin password for generation";

/**
 * An upstream speaking the OpenAI images API that refuses every request under its content policy: the model
 * it serves (added by the failure test) makes tasks fail the way a real provider does.
 */
let upstream: http.Server;
let upstreamCalls = 0;

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      upstreamCalls++;
      res.writeHead(400, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          error: {
            code: "content_policy_violation",
            message: "Your request was rejected as a result of our safety system.",
            type: "invalid_request_error",
          },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  studio = await startStudio({
    // Slow enough for the progress bar to be seen moving (8 steps per image).
    LOCAL_PROVIDER_STEP_MS: "150",
    WELCOME_BONUS_CREDITS: "100",
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    // Only models served by an OpenAI-compatible upstream use it: none until the failure test adds one.
    OPENAI_CHANNELS: JSON.stringify([
      { id: "upstream-a", baseUrl: `http://127.0.0.1:${upstreamPort}`, apiKey: "sk-test", timeoutMs: 5000 },
    ]),
  });
  base = studio.base;
  context = await studio.browser.newContext({ viewport: { width: 1280, height: 900 } });
});

afterAll(async () => {
  await context?.close();
  await studio?.close();
  await new Promise((resolve) => upstream?.close(resolve));
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

  it("adds a reference image dropped on the drop zone, shows its upload, and generates from it", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/`);
    await page.getByTestId("composer").waitFor();
    await page.getByTestId("task-card").first().waitFor();
    const before = await shownBalance(page);

    // Every value the upload's progress bar shows, recorded from before the drop.
    const png = (await referencePng()).toString("base64");
    await page.evaluate((base64) => {
      const seen: string[] = [];
      (window as unknown as { progressSeen: string[] }).progressSeen = seen;
      new MutationObserver(() => {
        const bar = document.querySelector('[data-testid="reference-progress"]');
        const value = bar?.getAttribute("aria-valuenow");
        if (value != null && seen.at(-1) !== value) seen.push(value);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });

      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
      const zone = document.querySelector('[data-testid="reference-drop"]')!;
      const init = { bubbles: true, cancelable: true, dataTransfer: data };
      zone.dispatchEvent(new DragEvent("dragenter", init));
      zone.dispatchEvent(new DragEvent("dragover", init));
      zone.dispatchEvent(new DragEvent("drop", init));
    }, png);

    // One reference (not one per listener), its progress shown while uploading, then done with its size.
    const reference = page.getByTestId("reference");
    await page.locator('[data-testid="reference"][data-status="done"]').waitFor();
    expect(await reference.count()).toBe(1);
    expect(await reference.textContent()).toContain("96×64");
    expect(await reference.locator("img").getAttribute("alt")).toBe("Reference: dropped.png");
    const progressSeen = await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen);
    expect(progressSeen.length, `progress seen: ${progressSeen.join(", ")}`).toBeGreaterThan(0);
    expect(progressSeen.every((v) => Number(v) >= 0 && Number(v) <= 100)).toBe(true);
    expect(await page.getByTestId("reference-progress").count()).toBe(0);

    // Generating from it: one Mosaic image, 1 credit.
    const prompt = "Blue tiles around a golden circle, from the dropped reference";
    await page.getByTestId("prompt").fill(prompt);
    await page.locator('[data-testid="model-option"][value="novart-mosaic"]').check({ force: true });
    await page.getByTestId("count-1").check({ force: true });
    await expect.poll(() => page.getByTestId("generate").textContent()).toMatch(/1 credit\b/);
    await page.getByTestId("generate").click();
    const card = page.locator('[data-testid="task-card"]', { hasText: prompt });
    await card.waitFor();
    await page
      .locator('[data-testid="task-card"][data-status="SUCCEEDED"]', { hasText: prompt })
      .waitFor({ timeout: 30_000 });
    await expect.poll(() => card.getByTestId("task-image").count()).toBe(1);
    await expect.poll(() => shownBalance(page)).toBe(before - 1);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("shows a failed task's error in plain words, and refunds it", async () => {
    await addUpstreamModel();
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/`);
    await page.getByTestId("composer").waitFor();
    await page.getByTestId("task-card").first().waitFor();
    const before = await shownBalance(page);
    const callsBefore = upstreamCalls;

    const prompt = "A portrait the upstream refuses";
    await page.getByTestId("prompt").fill(prompt);
    await page.locator('[data-testid="model-option"][value="upstream-image"]').check({ force: true });
    await page.getByTestId("count-1").check({ force: true });
    await expect.poll(() => page.getByTestId("generate").textContent()).toMatch(/30 credits/);
    await page.getByTestId("generate").click();

    const failed = page.locator('[data-testid="task-card"][data-status="FAILED"]', { hasText: prompt });
    await failed.waitFor({ timeout: 30_000 });
    const error = failed.getByTestId("task-error");
    expect(await error.getAttribute("data-code")).toBe("CONTENT_REJECTED");
    const words = (await error.textContent())!.replace(/\s+/g, " ");
    expect(words).toContain("The prompt or image was refused by the content rules. Change it and try again.");
    expect(words).toContain("30 credits refunded.");
    // Not the provider's own text, nor a code.
    expect(words).not.toContain("safety system");
    expect(await failed.getByTestId("task-image").count()).toBe(0);
    expect(upstreamCalls).toBeGreaterThan(callsBefore);
    await expect.poll(() => shownBalance(page)).toBe(before);
    expect(await serverBalance(page)).toBe(before);
    await shot(page, "task-failed-light");
    expect(consoleErrors.filter((e) => !e.includes("status of 4"))).toEqual([]);
    await page.close();
  });

  it("says when the balance is too low for a task, and links to Redeem on the billing page", async () => {
    const page = await context.newPage();
    const consoleErrors = watchConsole(page);
    await page.goto(`${base}/`);
    await page.getByTestId("composer").waitFor();
    const balance = await shownBalance(page);
    expect(balance).toBeLessThan(120);

    // Four images of the upstream model: 120 credits, more than the account has.
    await page.getByTestId("prompt").fill("Four portraits, more than this account can pay for");
    await page.locator('[data-testid="model-option"][value="upstream-image"]').check({ force: true });
    await page.getByTestId("count-4").check({ force: true });
    const short = page.getByTestId("balance-short");
    await short.waitFor();
    expect((await short.textContent())!.replace(/\s+/g, " ")).toContain(
      `This needs 120 credits; you have ${balance} credits.`,
    );
    expect(await page.getByTestId("generate").isDisabled()).toBe(true);
    await shot(page, "balance-short-light", false);

    await short.getByRole("link", { name: "Redeem a code" }).click();
    await page.waitForURL(`${base}/billing#redeem`);
    await page.getByTestId("redeem-form").waitFor();
    await page.getByTestId("redeem-code").waitFor();
    // The anchor is the redeem panel.
    expect(await page.locator("#redeem").getByRole("heading", { name: "Redeem a code" }).isVisible()).toBe(true);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it("shows admins each provider channel's calls, success rate and latency", async () => {
    const admin = await studio.browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await admin.newPage();
      const consoleErrors = watchConsole(page);
      await studio.signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD, "/admin/models");
      const panel = page.getByTestId("provider-channels");
      await panel.waitFor();
      await page.getByTestId("channels-table").waitFor();

      // Workers write a snapshot every 10 s: the page asks again (Refresh) until the tasks above show.
      const local = panel.locator('[data-testid="channel-row"][data-channel="local"]');
      const upstreamRow = panel.locator('[data-testid="channel-row"][data-channel="upstream-a"]');
      const calls = async (row: Locator) => Number((await row.getAttribute("data-calls", { timeout: 1000 })) ?? 0);
      await expect
        .poll(
          async () => {
            const counts = [await calls(local).catch(() => 0), await calls(upstreamRow).catch(() => 0)];
            if (Math.min(...counts) < 1) await page.getByTestId("channels-refresh").click();
            return Math.min(...counts);
          },
          { timeout: 45_000, interval: 2000 },
        )
        .toBeGreaterThanOrEqual(1);

      // The built-in renderer: its models, closed, every call a success, latencies measured.
      expect(await local.getAttribute("data-state")).toBe("closed");
      expect(await local.textContent()).toContain("Built-in renderer · Novart Sketch, Novart Mosaic");
      expect(await local.getByTestId("channel-state").textContent()).toBe("Closed");
      expect(await local.getByTestId("channel-success").textContent()).toBe("100%");
      expect(await local.getByTestId("channel-p50").textContent()).toMatch(/^\d+(\.\d)? m?s$/);
      expect(await local.getByTestId("channel-p95").textContent()).toMatch(/^\d+(\.\d)? m?s$/);
      expect(await local.getByTestId("channel-reported").textContent()).toMatch(/^\d+ s ago$/);
      // The upstream: its model; a refusal is the request's fault, not the channel's, so it stays closed.
      expect(await upstreamRow.textContent()).toContain("OpenAI-compatible · Upstream Image");
      expect(await upstreamRow.getAttribute("data-state")).toBe("closed");
      await shot(page, "admin-channels-light");

      await page.setViewportSize({ width: 375, height: 812 });
      await page.emulateMedia({ colorScheme: "dark" });
      await panel.scrollIntoViewIfNeeded();
      await shot(page, "admin-channels-dark-phone", false);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      expect(consoleErrors).toEqual([]);
    } finally {
      await admin.close();
    }
  });
});

/** The balance the Studio shows ("96 credits"), as a number, once it is shown. */
async function shownBalance(page: Page): Promise<number> {
  let text = "";
  await expect
    .poll(async () => {
      text = ((await page.getByTestId("studio-balance").textContent()) ?? "").trim();
      return /^[\d,]+ credits?$/.test(text);
    })
    .toBe(true);
  return Number(text.replace(/[^\d]/g, ""));
}

/** A model served by the refusing upstream (no API adds one: the catalogue row is written where it lives). */
async function addUpstreamModel(): Promise<void> {
  const db = new pg.Client({ connectionString: databaseUrl(studio.database) });
  await db.connect();
  try {
    await db.query(
      `INSERT INTO generation_model (slug, name, provider, provider_model, sizes, max_images, credits_per_image, sort_order)
       VALUES ('upstream-image', 'Upstream Image', 'OPENAI_COMPATIBLE', 'gpt-image-1', '[{"width":512,"height":512}]', 4, 30, 30)`,
    );
  } finally {
    await db.end();
  }
}
