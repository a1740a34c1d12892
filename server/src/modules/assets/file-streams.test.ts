import fs from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recharge, signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import type { AssetEntity } from "./asset.entity.js";
import { AssetService } from "./asset.service.js";
import type { Storage } from "./storage/storage.js";

/**
 * Downloads that end early (`/files` and ZIPs) on the local store: a client that hangs up leaves no file
 * open in the server, and a file that goes away mid-request is an error answer, not a crash.
 */
let t: TestApp;
let user: SignedInUser;
let assets: AssetEntity[];
/** Big enough that a download is still going when the client hangs up after its first chunk. */
const BIG = Buffer.alloc(32 * 1024 * 1024, 7);

const openFiles = () => fs.readdirSync("/proc/self/fd").length;

/** Sends a request and hangs up as soon as the first bytes of the body arrive. */
function hangUpAfterFirstChunk(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
) {
  return new Promise<number>((resolve, reject) => {
    const req = http.request(url, { agent: false, method: init.method ?? "GET", headers: init.headers }, (res) => {
      res.once("data", () => {
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
      res.once("end", () => reject(new Error("the whole body arrived before the client hung up")));
    });
    req.on("error", () => undefined); // the hang-up itself
    req.end(init.body);
  });
}

beforeAll(async () => {
  t = await startTestApp();
  user = await signedInUser(t);
  await recharge(t, user.account.id, 10);
  const created = await t.graphql<{ createTask: { task: { id: string } } }>(
    `mutation { createTask(input: { prompt: "a long pier", model: "novart-sketch", width: 512, height: 512, count: 2 }) { task { id } } }`,
    undefined,
    user.headers,
  );
  const taskId = created.body.data!.createTask.task.id;
  for (let i = 0; i < 600; i++) {
    const [row] = (await t.app.db.query(`SELECT status FROM task WHERE id = $1`, [taskId])) as { status: string }[];
    if (row.status === "SUCCEEDED") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assets = await t.app.services.assets.byTask(taskId);
  expect(assets).toHaveLength(2);
  // The first image's original made big, so that downloads of it take a while.
  await t.app.services.assets.storage.put(AssetService.keyOf(assets[0], "ORIGINAL"), BIG, "image/png");
});
afterAll(() => t?.close());

describe("downloads that end early", () => {
  it("a client hanging up a /files download (whole or range) leaves no file open", async () => {
    const url = t.url + t.app.services.fileUrls.sign(assets[0].id, "ORIGINAL", 600);
    const whole = await fetch(url); // warm-up: connections and caches the server opens once
    expect(Buffer.from(await whole.arrayBuffer()).length).toBe(BIG.length);
    const before = openFiles();
    for (let i = 0; i < 20; i++) {
      expect(await hangUpAfterFirstChunk(url)).toBe(200);
      expect(await hangUpAfterFirstChunk(url, { headers: { range: "bytes=100-" } })).toBe(206);
    }
    await expect.poll(openFiles, { timeout: 5_000 }).toBeLessThanOrEqual(before + 5);
  });

  it("a client hanging up a ZIP download leaves no file open", async () => {
    const request = {
      method: "POST",
      headers: { "content-type": "application/json", ...user.headers },
      body: JSON.stringify({ ids: [assets[0].id, assets[1].id] }),
    };
    const whole = await fetch(`${t.url}/api/assets/zip`, request);
    expect(Buffer.from(await whole.arrayBuffer()).length).toBeGreaterThan(BIG.length);
    const before = openFiles();
    for (let i = 0; i < 20; i++) {
      expect(await hangUpAfterFirstChunk(`${t.url}/api/assets/zip`, request)).toBe(200);
    }
    await expect.poll(openFiles, { timeout: 5_000 }).toBeLessThanOrEqual(before + 5);
  });

  it("a file deleted after its link was signed, even between its size and its bytes, answers 410", async () => {
    const storage = t.app.services.assets.storage;
    // Gone before the request.
    await storage.delete(AssetService.keyOf(assets[1], "ORIGINAL"));
    const before = await fetch(t.url + t.app.services.fileUrls.sign(assets[1].id, "ORIGINAL", 600));
    expect(before.status).toBe(410);

    // Gone between the size the route reads and the bytes it sends.
    const key = AssetService.keyOf(assets[1], "PREVIEW");
    const realSize = storage.size.bind(storage);
    (storage as Storage).size = async (k) => {
      const size = await realSize(k);
      if (k === key) await storage.delete(k);
      return size;
    };
    try {
      const res = await fetch(t.url + t.app.services.fileUrls.sign(assets[1].id, "PREVIEW", 600), {
        signal: AbortSignal.timeout(5_000),
      });
      expect(res.status).toBe(410);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("GONE");
    } finally {
      delete (storage as Partial<Storage>).size;
    }
    // The server still answers.
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});
