// U1: the JavaScript a browser loads before the built studio's first page renders, measured in Debian's
// chromium against the real server (which serves client/build), for the pages a visitor lands on first:
// the studio signed out (welcome + models), the sign-in page, and the studio signed in (the workspace).
// Compressed bytes are what the server sent (Resource Timing's encodedBodySize); each file is also
// compressed here with gzip -9 and brotli so the numbers do not depend on the server's settings. A static
// breakdown from the Vite manifest says which chunks are big and which routes pull them in.
/* global document, window, MutationObserver -- measurePage's callbacks run in the page */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { chromium } from "playwright-core";
import { connect, createBenchAccount, root, startApi, stop } from "../lib.mjs";

const TARGET_KB = 150;
/** kB as Vite prints them: 1 000 bytes (stricter than 1 024). */
const kb = (bytes) => Math.round(bytes / 100) / 10;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const BUILD = path.join(root, "client/build");
const KIT_OUT = path.join(root, "client/.svelte-kit");

/** The first pages, and what on each says it has rendered its content (not just a skeleton). */
const PAGES = [
  { name: "/ (signed out)", path: "/", ready: '[data-testid="studio-welcome"]' },
  { name: "/sign-in", path: "/sign-in", ready: '[data-testid="sign-in-form"]' },
  {
    name: "/ (signed in)",
    path: "/",
    signedIn: true,
    ready: '[data-testid="composer"], [data-testid="models-empty"], [data-testid="terms-gate"]',
  },
];

function compressed(bytes) {
  return {
    raw: bytes.length,
    gzip: zlib.gzipSync(bytes, { level: 9 }).length,
    brotli: zlib.brotliCompressSync(bytes, {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
    }).length,
  };
}

const sizeCache = new Map();
/** Raw, gzip -9 and brotli-11 sizes of a built file (by its URL path). */
function sizesOf(urlPath) {
  if (!sizeCache.has(urlPath)) sizeCache.set(urlPath, compressed(fs.readFileSync(path.join(BUILD, urlPath))));
  return sizeCache.get(urlPath);
}

let chunkModules;
/** What a built file mostly holds, from client/vite.config.ts's chunk-modules.json: "svelte", "src/routes/…". */
function labelOf(urlPath) {
  chunkModules ??= (() => {
    const file = path.join(KIT_OUT, "output/client/.vite/chunk-modules.json");
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
  })();
  const top = chunkModules[urlPath.replace(/^\//, "")]?.[0]?.module;
  if (urlPath.includes("/entry/")) return "SvelteKit entry";
  const node = /\/nodes\/(\d+)\./.exec(urlPath)?.[1];
  if (node) return `route node ${node}${top ? ` (${top})` : ""}`;
  if (!top) return "";
  if (top.startsWith("src/") || top.startsWith("document ")) return top.replace(/\?.*$/, "");
  const parts = top.replace(/^(\.\.\/)+/, "").split("/");
  return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
}

const sum = (rows, key) => rows.reduce((n, r) => n + r[key], 0);

/**
 * Loads one page in a fresh browser context (empty cache) and returns every JS file the page requested
 * before its content was in the DOM, with the bytes the server sent for it.
 */
async function measurePage(browser, origin, spec, cookie) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    if (cookie) await context.addCookies([{ name: "novart_session", value: cookie, url: origin }]);
    const page = await context.newPage();
    const encodings = new Map();
    page.on("response", (res) => encodings.set(res.url(), res.headers()["content-encoding"] ?? "identity"));
    let acceptEncoding = "";
    page.on("request", async (req) => {
      if (req.url().endsWith(".js") && !acceptEncoding)
        acceptEncoding = (await req.allHeaders().catch(() => ({})))["accept-encoding"] ?? "";
    });
    // Marks the moment the page's content enters the DOM (a MutationObserver fires before the next paint).
    await page.addInitScript((selector) => {
      const check = () => {
        const el = document.querySelector(selector);
        if (el && el.getClientRects().length) {
          window.__u1Ready = performance.now();
          return true;
        }
        return false;
      };
      new MutationObserver((_, observer) => check() && observer.disconnect()).observe(document, {
        subtree: true,
        childList: true,
        attributes: true,
      });
    }, spec.ready);
    await page.goto(origin + spec.path, { waitUntil: "load", timeout: 30_000 });
    await page.waitForFunction(() => window.__u1Ready !== undefined, null, { timeout: 30_000 });
    await page.waitForLoadState("networkidle", { timeout: 30_000 }).catch(() => {});
    const timing = await page.evaluate(() => ({
      ready: window.__u1Ready,
      fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null,
      resources: performance.getEntriesByType("resource").map((e) => ({
        url: e.name,
        startTime: e.startTime,
        responseEnd: e.responseEnd,
        encoded: e.encodedBodySize,
        decoded: e.decodedBodySize,
      })),
    }));
    const js = timing.resources
      .filter((r) => new URL(r.url).origin === origin && new URL(r.url).pathname.endsWith(".js"))
      .map((r) => {
        const urlPath = new URL(r.url).pathname;
        return {
          file: urlPath,
          holds: labelOf(urlPath),
          before: r.startTime <= timing.ready,
          wire: r.encoded,
          decoded: r.decoded,
          encoding: encodings.get(r.url) ?? "?",
          ...sizesOf(urlPath),
        };
      });
    const before = js.filter((r) => r.before).sort((a, b) => b.wire - a.wire || b.gzip - a.gzip);
    const after = js.filter((r) => !r.before);
    return {
      page: spec.name,
      path: spec.path,
      readyMs: Math.round(timing.ready),
      firstContentfulPaintMs: timing.fcp === null ? null : Math.round(timing.fcp),
      acceptEncoding,
      files: before.length,
      wireKB: kb(sum(before, "wire")),
      rawKB: kb(sum(before, "raw")),
      gzipKB: kb(sum(before, "gzip")),
      brotliKB: kb(sum(before, "brotli")),
      encodings: [...new Set(before.map((r) => r.encoding))],
      jsBeforeRender: before.map(({ before: _, ...r }) => r),
      jsAfterRender: after.map((r) => ({ file: r.file, wire: r.wire, raw: r.raw })),
    };
  } finally {
    await context.close();
  }
}

/**
 * The build as Vite and SvelteKit describe it: the entry, each route's nodes (layouts + page) and the chunks
 * they import statically, i.e. what loads before that route renders.
 */
export function staticBreakdown() {
  const manifestFile = path.join(KIT_OUT, "output/client/.vite/manifest.json");
  const appFile = path.join(KIT_OUT, "generated/client-optimized/app.js");
  if (!fs.existsSync(manifestFile) || !fs.existsSync(appFile)) return null;
  const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8"));
  const nodeKey = (n) => `.svelte-kit/generated/client-optimized/nodes/${n}.js`;
  const entryKeys = Object.keys(manifest).filter((k) => manifest[k].isEntry && !k.includes("/nodes/"));
  // "/admin/accounts": [7,[2]] → page node 7 under layout 2 (and the root layout 0).
  const routes = {};
  const dictionary = fs.readFileSync(appFile, "utf8").split("export const dictionary")[1] ?? "";
  for (const m of dictionary.matchAll(/"([^"]+)":\s*\[~?(\d+)(?:,\s*\[([~\d,\s]*)\])?/g)) {
    const layouts = (m[3] ?? "")
      .split(",")
      .map((s) => s.replace("~", "").trim())
      .filter(Boolean);
    routes[m[1]] = { page: Number(m[2]), layouts: [0, ...layouts.map(Number)] };
  }
  const closure = (keys) => {
    const seen = new Set();
    const stack = [...keys];
    while (stack.length) {
      const key = stack.pop();
      if (seen.has(key) || !manifest[key]) continue;
      seen.add(key);
      stack.push(...(manifest[key].imports ?? []));
    }
    return seen;
  };
  // Written by client/vite.config.ts: the modules of each chunk, largest first (bytes before minification).
  const modulesFile = path.join(KIT_OUT, "output/client/.vite/chunk-modules.json");
  const modules = fs.existsSync(modulesFile) ? JSON.parse(fs.readFileSync(modulesFile, "utf8")) : {};
  const describe = (key) => {
    const file = `/${manifest[key].file}`;
    const contents = (modules[manifest[key].file] ?? []).slice(0, 4).map((m) => `${m.module} ${kb(m.bytes)}`);
    return { file, source: manifest[key].src ?? key, contents, ...sizesOf(file) };
  };
  const totals = (rows) => ({
    files: rows.length,
    rawKB: kb(sum(rows, "raw")),
    gzipKB: kb(sum(rows, "gzip")),
    brotliKB: kb(sum(rows, "brotli")),
  });
  const entry = [...closure(entryKeys)].map(describe);
  const entryFiles = new Set(entry.map((r) => r.file));
  const perRoute = Object.entries(routes).map(([route, { page, layouts }]) => {
    const keys = closure([...layouts, page].map(nodeKey));
    const own = [...keys].map(describe).filter((r) => !entryFiles.has(r.file));
    // Loaded later, when the page asks for them (e.g. the signed-in Studio's workspace).
    const lazyKeys = [...keys].flatMap((k) => manifest[k].dynamicImports ?? []).filter((k) => !keys.has(k));
    const lazy = [...closure(lazyKeys)].filter((k) => !keys.has(k) && !entryKeys.includes(k)).map(describe);
    return {
      route,
      nodes: [...layouts, page],
      ...totals([...entry, ...own]),
      beyondEntryGzipKB: kb(sum(own, "gzip")),
      lazyGzipKB: kb(sum(lazy, "gzip")),
    };
  });
  const all = Object.keys(manifest)
    .filter((k) => manifest[k].file.endsWith(".js"))
    .map(describe)
    .sort((a, b) => b.gzip - a.gzip);
  return {
    entry: {
      ...totals(entry),
      files: entry.map(({ file, contents, raw, gzip, brotli }) => ({ file, contents, raw, gzip, brotli })),
    },
    routes: perRoute.sort((a, b) => b.gzipKB - a.gzipKB),
    biggestFiles: all.slice(0, 12),
    total: totals(all),
  };
}

export default async function studioBundle({ databaseUrl }) {
  if (!fs.existsSync(path.join(BUILD, "200.html"))) throw new Error("client/build is missing: npm run build -w client");
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  const db = await connect(databaseUrl);
  const { token } = await createBenchAccount(db, { paid: 1000, name: "Bundle Visitor" });
  await db.end();
  const api = await startApi(databaseUrl);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
    ],
  });
  const failures = [];
  const pages = [];
  try {
    // A first load warms the server (file system cache, JIT); it is not counted.
    await measurePage(browser, api.origin, PAGES[0]);
    for (const spec of PAGES) {
      try {
        pages.push(await measurePage(browser, api.origin, spec, spec.signedIn ? token : undefined));
      } catch (err) {
        failures.push(`U1 ${spec.name}: the page did not render (${String(err).split("\n")[0]})`);
      }
    }
  } finally {
    await browser.close();
    await stop(api.child);
  }
  const breakdown = staticBreakdown();
  if (!pages.length) return { title: "U1 studio first load", met: false, failures, breakdown };
  const worst = pages.reduce((a, b) => (b.wireKB > a.wireKB ? b : a));
  const compressedByServer = pages.every((p) => p.encodings.every((e) => e === "gzip" || e === "br"));
  const biggest = worst.jsBeforeRender
    .slice(0, 3)
    .map((r) => `${r.holds || path.basename(r.file)} ${kb(r.wire)}`)
    .join(", ");
  const perPage = pages.map((p) => `${p.page} ${p.wireKB} KB/${p.files} files`).join("; ");
  return {
    failures,
    title: "U1 studio first load",
    description:
      "JavaScript chromium fetches before the first page's content renders (empty cache), for / signed out, /sign-in " +
      "and / signed in; compressed = bytes the server sent (its Content-Encoding), also gzip -9 and brotli-11 of each file",
    baseline: "–",
    ours: `${worst.wireKB} KB compressed JS`,
    result:
      `worst ${worst.page}: ${worst.wireKB} KB sent (${worst.encodings.join("/")}; gzip -9 ${worst.gzipKB} KB, ` +
      `brotli ${worst.brotliKB} KB, raw ${worst.rawKB} KB) in ${worst.files} files, biggest ${biggest}; ${perPage}` +
      (compressedByServer ? "" : "; the server sends JS uncompressed"),
    target: `≤ ${TARGET_KB} KB compressed JS before the first page renders`,
    met: failures.length === 0 && pages.every((p) => p.wireKB <= TARGET_KB),
    pages,
    breakdown,
  };
}
