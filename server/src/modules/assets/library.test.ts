import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import sharp from "sharp";
import yauzl from "yauzl";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../test/processes.js";
import { signedInUser, type SignedInUser, recharge } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { ASSETS_RETENTION_JOB } from "../generation/generation.jobs.js";
import type { Storage } from "./storage/storage.js";

/**
 * The library's links, files, ZIPs, deletion and retention, once per storage driver: `local`, and `s3` against
 * s3rver (an S3-compatible server from the npm registry, started here; MinIO is not installable on this
 * machine). s3rver checks a presigned URL's expiry but not its signature, so tampering is proven for `local`
 * (our own `/files` signatures) only.
 */
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const RETENTION_INTERVAL_MS = 7_200_000;

let s3rver: S3rver;
let s3Endpoint: string;
let s3Directory: string;

beforeAll(async () => {
  s3Directory = await fs.mkdtemp(path.join(os.tmpdir(), "novart-library-s3-"));
  const port = await freePort();
  s3rver = new S3rver({ port, address: "127.0.0.1", silent: true, directory: s3Directory });
  await s3rver.run();
  s3Endpoint = `http://127.0.0.1:${port}`;
  const admin = new S3Client({
    region: "us-east-1",
    endpoint: s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  await admin.send(new CreateBucketCommand({ Bucket: "novart" }));
  admin.destroy();
});
afterAll(async () => {
  await s3rver?.close();
  if (s3Directory) await fs.rm(s3Directory, { recursive: true, force: true });
});

const driverEnv = (driver: "local" | "s3"): Record<string, string> =>
  driver === "local"
    ? {}
    : {
        STORAGE_DRIVER: "s3",
        S3_BUCKET: "novart",
        S3_ENDPOINT: s3Endpoint,
        S3_FORCE_PATH_STYLE: "true",
        S3_ACCESS_KEY_ID: "S3RVER",
        S3_SECRET_ACCESS_KEY: "S3RVER",
        S3_PREFIX: "library/",
      };

type AssetNode = {
  id: string;
  sha256: string;
  bytes: number;
  favorite: boolean;
  createdAt: string;
  url: string;
  task: { prompt: string; seed: number };
};

describe.each(["local", "s3"] as const)("the asset library on the %s storage driver", (driver) => {
  let t: TestApp;
  let alice: SignedInUser;
  let bob: SignedInUser;
  let aliceTasks: string[];
  /** Between alice's two tasks, by this machine's clock (the database's too). */
  let between: Date;
  /** Links are relative (`/files/…`, served by us) or absolute (presigned by the store). */
  const abs = (url: string) => (url.startsWith("/") ? t.url + url : url);
  /** What a link to a deleted or expired image answers: our `/files` says 410, S3 has no such key (404). */
  const GONE = driver === "local" ? 410 : 404;

  async function runTask(
    user: SignedInUser,
    prompt: string,
    count: number,
    { model = "novart-sketch", width = 512, height = 512 } = {},
  ): Promise<string> {
    const res = await t.graphql<{ createTask: { task: { id: string } } }>(
      `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`,
      { input: { prompt, model, width, height, count } },
      user.headers,
    );
    expect(res.body.errors).toBeUndefined();
    const id = res.body.data!.createTask.task.id;
    // A plain loop: this also runs in beforeAll, where expect.poll is not available.
    for (let i = 0; i < 600; i++) {
      const [row] = (await t.app.db.query(`SELECT status FROM task WHERE id = $1`, [id])) as { status: string }[];
      if (row.status === "SUCCEEDED") return id;
      if (row.status === "FAILED") throw new Error(`task ${id} failed`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`task ${id} did not finish`);
  }

  const LIST = `query($filter: AssetFilterInput, $orderBy: AssetOrder, $first: Int, $after: String) {
    assets(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
      edges { node { id sha256 bytes favorite status expiresAt createdAt url(variant: ORIGINAL) task { prompt seed width } } }
      pageInfo { hasNextPage endCursor }
    }
  }`;
  async function list(user: SignedInUser, filter: Record<string, unknown> = {}, first = 50, orderBy?: string) {
    const res = await t.graphql<{
      assets: { edges: { node: AssetNode }[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
    }>(LIST, { filter, first, orderBy }, user.headers);
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.assets;
  }
  const ids = (edges: { node: { id: string } }[]) => edges.map((e) => e.node.id);

  /** The entries of a ZIP: file name → SHA-256 of its bytes. */
  function unzip(zip: Buffer): Promise<Map<string, string>> {
    return new Promise<Map<string, string>>((resolve, reject) => {
      const found = new Map<string, string>();
      yauzl.fromBuffer(zip, { lazyEntries: true }, (err, file) => {
        if (err || !file) return reject(err);
        file.readEntry();
        file.on("entry", (entry: yauzl.Entry) =>
          file.openReadStream(entry, (e, stream) => {
            if (e || !stream) return reject(e);
            const chunks: Buffer[] = [];
            stream.on("data", (c: Buffer) => chunks.push(c));
            stream.on("end", () => {
              found.set(entry.fileName, sha(Buffer.concat(chunks)));
              file.readEntry();
            });
          }),
        );
        file.on("end", () => resolve(found));
      });
    });
  }

  beforeAll(async () => {
    t = await startTestApp({
      ASSET_RETENTION_DAYS: "30",
      ASSET_EXPIRY_WARNING_DAYS: "3",
      RETENTION_INTERVAL_MS: String(RETENTION_INTERVAL_MS),
      ...driverEnv(driver),
    });
    alice = await signedInUser(t);
    bob = await signedInUser(t);
    for (const u of [alice, bob]) {
      await recharge(t, u.account.id, 100);
    }
    const first = await runTask(alice, "a red lighthouse", 2, { model: "novart-mosaic" });
    between = new Date();
    await new Promise((r) => setTimeout(r, 20));
    const second = await runTask(alice, "a blue forest", 2, { width: 1024, height: 576 });
    aliceTasks = [first, second];
    await runTask(bob, "bob's secret garden", 1);
  });
  afterAll(() => t?.close());

  describe("the library", () => {
    it("lists the owner's images with their task, filters by prompt text, task, model and time, orders and pages", async () => {
      const all = await list(alice);
      expect(all.edges).toHaveLength(4);
      expect(all.edges.every((e) => e.node.task.prompt.startsWith("a "))).toBe(true);
      expect((await list(alice, { search: "LIGHTHOUSE" })).edges).toHaveLength(2);
      expect((await list(alice, { search: "100%_" })).edges).toHaveLength(0);
      const forest = ids((await list(alice, { taskId: aliceTasks[1] })).edges);
      const lighthouse = ids((await list(alice, { taskId: aliceTasks[0] })).edges);
      expect(forest).toHaveLength(2);
      expect(lighthouse).toHaveLength(2);

      // Model: each task used its own.
      expect(ids((await list(alice, { model: "novart-mosaic" })).edges).sort()).toEqual([...lighthouse].sort());
      expect(ids((await list(alice, { model: "novart-sketch" })).edges).sort()).toEqual([...forest].sort());
      expect((await list(alice, { model: "no-such-model" })).edges).toHaveLength(0);

      // Time: the lighthouse was made before `between`, the forest after it.
      const iso = between.toISOString();
      expect(ids((await list(alice, { createdAfter: iso })).edges).sort()).toEqual([...forest].sort());
      expect(ids((await list(alice, { createdBefore: iso })).edges).sort()).toEqual([...lighthouse].sort());
      expect((await list(alice, { createdAfter: iso, model: "novart-mosaic" })).edges).toHaveLength(0);

      // Order: newest first by default, OLDEST the exact reverse (also across pages).
      const newest = ids(all.edges);
      expect(newest.slice(0, 2).sort()).toEqual([...forest].sort());
      const oldest = await list(alice, {}, 50, "OLDEST");
      expect(ids(oldest.edges)).toEqual([...newest].reverse());
      const times = oldest.edges.map((e) => Date.parse(e.node.createdAt));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      const oldestPage = await list(alice, {}, 3, "OLDEST");
      const oldestRest = await t.graphql<{ assets: { edges: { node: { id: string } }[] } }>(
        LIST,
        { first: 3, after: oldestPage.pageInfo.endCursor, orderBy: "OLDEST" },
        alice.headers,
      );
      expect([...ids(oldestPage.edges), ...ids(oldestRest.body.data!.assets.edges)]).toEqual(ids(oldest.edges));

      const page = await list(alice, {}, 3);
      expect(page.pageInfo.hasNextPage).toBe(true);
      const res = await t.graphql<{ assets: { edges: unknown[] } }>(
        LIST,
        { first: 3, after: page.pageInfo.endCursor },
        alice.headers,
      );
      expect(res.body.data!.assets.edges).toHaveLength(1);
      expect((await list(bob)).edges).toHaveLength(1);
    });

    it("keeps the original's size and bytes, and serves WebP previews (long side 1024) and thumbnails (256)", async () => {
      for (const { node } of (await list(alice, { taskId: aliceTasks[1] })).edges) {
        const res = await t.graphql<{
          asset: {
            width: number;
            height: number;
            bytes: number;
            contentType: string;
            sha256: string;
            original: string;
            preview: string;
            thumbnail: string;
          };
        }>(
          `query($id: ID!) { asset(id: $id) { width height bytes contentType sha256
            original: url(variant: ORIGINAL) preview: url(variant: PREVIEW) thumbnail: url(variant: THUMBNAIL) } }`,
          { id: node.id },
          alice.headers,
        );
        expect(res.body.errors).toBeUndefined();
        const asset = res.body.data!.asset;
        const originalRes = await fetch(abs(asset.original));
        expect(originalRes.headers.get("content-type")).toBe("image/png");
        const original = Buffer.from(await originalRes.arrayBuffer());
        const meta = await sharp(original).metadata();
        expect([meta.format, meta.width, meta.height]).toEqual(["png", 1024, 576]);
        expect(asset).toMatchObject({ width: 1024, height: 576, bytes: original.length, contentType: "image/png" });
        expect(sha(original)).toBe(asset.sha256);

        for (const [url, size] of [
          [asset.preview, { width: 1024, height: 576 }],
          [asset.thumbnail, { width: 256, height: 144 }],
        ] as const) {
          const file = await fetch(abs(url));
          expect(file.status).toBe(200);
          expect(file.headers.get("content-type")).toBe("image/webp");
          const variant = await sharp(Buffer.from(await file.arrayBuffer())).metadata();
          expect(variant.format).toBe("webp");
          expect({ width: variant.width, height: variant.height }).toEqual(size);
        }
      }
    });

    it("marks favourites", async () => {
      const [first] = (await list(alice)).edges;
      const res = await t.graphql(
        `mutation($input: SetFavoriteInput!) { setFavorite(input: $input) { asset { favorite } } }`,
        { input: { id: first.node.id, favorite: true } },
        alice.headers,
      );
      expect(res.body.errors).toBeUndefined();
      expect((await list(alice, { favorite: true })).edges.map((e) => e.node.id)).toEqual([first.node.id]);
    });

    it("serves files with ETag/304, Cache-Control, ranges and a download name; refuses tampered and expired links", async () => {
      const [edge] = (await list(alice)).edges;
      const url = abs(edge.node.url);
      const full = await fetch(url);
      expect(full.status).toBe(200);
      const bytes = Buffer.from(await full.arrayBuffer());
      expect(sha(bytes)).toBe(edge.node.sha256);
      expect(full.headers.get("cache-control")).toBe("private, max-age=86400, immutable");
      const etag = full.headers.get("etag")!;
      expect(etag).toBeTruthy();
      expect((await fetch(url, { headers: { "if-none-match": etag } })).status).toBe(304);
      const part = await fetch(url, { headers: { range: "bytes=10-19" } });
      expect(part.status).toBe(206);
      expect(part.headers.get("content-range")).toBe(`bytes 10-19/${bytes.length}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(10, 20))).toBe(true);
      expect((await fetch(url, { headers: { range: `bytes=${bytes.length + 5}-` } })).status).toBe(416);

      const dl = await t.graphql<{ asset: { url: string } }>(
        `query($id: ID!) { asset(id: $id) { url(variant: ORIGINAL, download: true) } }`,
        { id: edge.node.id },
        alice.headers,
      );
      const download = await fetch(abs(dl.body.data!.asset.url));
      expect(download.headers.get("content-disposition")).toMatch(
        /^attachment; filename="novart-[0-9a-f]{8}-\d\.png"$/,
      );

      const entity = (await t.app.services.assets.byId(edge.node.id))!;
      if (driver === "local") {
        const tampered = url.replace(/sig=([A-Za-z0-9_-])/, (_m, c: string) => `sig=${c === "A" ? "B" : "A"}`);
        expect((await fetch(tampered)).status).toBe(403);
        const otherAsset = (await list(bob)).edges[0].node.id;
        expect((await fetch(url.replace(edge.node.id, otherAsset))).status).toBe(403);
        const expired = t.app.services.fileUrls.sign(edge.node.id, "ORIGINAL", 60, false, Date.now() - 3_600_000);
        expect((await fetch(t.url + expired)).status).toBe(403);
      } else {
        // A presigned link of one second: the store refuses it once it has expired.
        const shortLived = await t.app.services.assetUrls.url(entity, "ORIGINAL", false, 1);
        await expect.poll(async () => (await fetch(shortLived)).status, { timeout: 20_000, interval: 500 }).toBe(403);
      }
    });

    it("never lets another account read, sign, download or delete an image", async () => {
      const [edge] = (await list(alice)).edges;
      const peek = await t.graphql<{ asset: unknown }>(
        `query($id: ID!) { asset(id: $id) { id url } }`,
        { id: edge.node.id },
        bob.headers,
      );
      expect(peek.body.data?.asset).toBeNull();
      const fav = await t.graphql(
        `mutation($input: SetFavoriteInput!) { setFavorite(input: $input) { asset { id } } }`,
        { input: { id: edge.node.id, favorite: true } },
        bob.headers,
      );
      expect(fav.body.errors?.[0].extensions?.code).toBe("NOT_FOUND");
      const del = await t.graphql(
        `mutation($input: DeleteAssetsInput!) { deleteAssets(input: $input) { deletedCount } }`,
        { input: { ids: [edge.node.id] } },
        bob.headers,
      );
      expect(del.body.errors?.[0].extensions?.code).toBe("NOT_FOUND");
      for (const route of ["/api/assets/zip", "/api/assets/zip/link"]) {
        const zip = await fetch(t.url + route, {
          method: "POST",
          headers: { "content-type": "application/json", ...bob.headers },
          body: JSON.stringify({ ids: [edge.node.id] }),
        });
        expect(zip.status).toBe(404);
      }
      expect((await list(alice)).edges).toHaveLength(4);
    });

    it("zips exactly the selected originals, byte for byte (POST /api/assets/zip)", async () => {
      const picked = (await list(alice)).edges.slice(0, 3).map((e) => e.node);
      const res = await fetch(`${t.url}/api/assets/zip`, {
        method: "POST",
        headers: { "content-type": "application/json", ...alice.headers },
        body: JSON.stringify({ ids: picked.map((a) => a.id) }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/zip");
      const entries = await unzip(Buffer.from(await res.arrayBuffer()));
      expect([...entries.values()].sort()).toEqual(picked.map((a) => a.sha256).sort());
      const bad = await fetch(`${t.url}/api/assets/zip`, {
        method: "POST",
        headers: { "content-type": "application/json", ...alice.headers },
        body: JSON.stringify({ ids: [] }),
      });
      expect(bad.status).toBe(400);
    });

    it("streams the ZIP of a minted link: the first file arrives before the next is even read", async () => {
      const picked = (await list(alice)).edges.map((e) => e.node);
      const mint = await fetch(`${t.url}/api/assets/zip/link`, {
        method: "POST",
        headers: { "content-type": "application/json", ...alice.headers },
        body: JSON.stringify({ ids: picked.map((a) => a.id) }),
      });
      expect(mint.status).toBe(200);
      const { url, expiresAt } = (await mint.json()) as { url: string; expiresAt: string };
      expect(url).toMatch(/^\/api\/assets\/zip\/[A-Za-z0-9_-]{32}$/);
      expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(300_000);

      // The store's second read waits until the test has the first file's bytes from the response: an
      // archive assembled before it is sent could never get there.
      const storage = t.app.services.assets.storage as Storage & { stream: Storage["stream"] };
      const realStream = storage.stream.bind(storage);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let reads = 0;
      storage.stream = async (key, range) => {
        if (reads++ > 0) await gate;
        return realStream(key, range);
      };
      try {
        const res = await fetch(t.url + url); // no credentials: the link is enough
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe("application/zip");
        expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="novart-.*\.zip"$/);
        const reader = res.body!.getReader();
        let received = Buffer.alloc(0);
        const firstEnd = () =>
          received.length < 30
            ? Infinity
            : 30 + received.readUInt16LE(26) + received.readUInt16LE(28) + picked[0].bytes;
        while (received.length < firstEnd()) {
          const { value, done } = await reader.read();
          if (done) throw new Error("the archive ended before its first file");
          received = Buffer.concat([received, Buffer.from(value)]);
        }
        expect(received.readUInt32LE(0)).toBe(0x04034b50); // a local file header
        const start = 30 + received.readUInt16LE(26) + received.readUInt16LE(28);
        expect(sha(received.subarray(start, firstEnd()))).toBe(picked[0].sha256);
        // Here the second file is not read yet (it waits for the gate): the archive cannot have ended.
        expect(reads).toBeLessThanOrEqual(2);
        release();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          received = Buffer.concat([received, Buffer.from(value)]);
        }
        const entries = await unzip(received);
        expect([...entries.values()]).toEqual(picked.map((a) => a.sha256));
        expect(reads).toBe(picked.length);
      } finally {
        release();
        delete (storage as Partial<Storage>).stream;
      }
      // The link works again while it lives; an unknown one does not.
      expect((await fetch(t.url + url)).status).toBe(200);
      expect((await fetch(`${t.url}/api/assets/zip/${"A".repeat(32)}`)).status).toBe(404);
    });

    it("mints ZIP links only for a signed-in JSON request (a cross-site form cannot)", async () => {
      const [edge] = (await list(alice)).edges;
      const anonymous = await fetch(`${t.url}/api/assets/zip/link`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ids: [edge.node.id] }),
      });
      expect(anonymous.status).toBe(401);
      const form = await fetch(`${t.url}/api/assets/zip/link`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...alice.headers },
        body: `ids=${edge.node.id}`,
      });
      expect(form.status).toBe(400);
    });

    it("stores a task's images idempotently: a rerun keeps one row per index at the same keys", async () => {
      const taskId = await runTask(bob, "bob's second garden", 2);
      type Row = {
        id: string;
        index: number;
        width: number;
        height: number;
        storage_key: string;
        preview_key: string;
        thumbnail_key: string;
      };
      const rows = async () =>
        (await t.app.db.query(
          `SELECT id, index, width, height, sha256, storage_key, preview_key, thumbnail_key FROM asset
            WHERE task_id = $1 ORDER BY index`,
          [taskId],
        )) as Row[];
      const before = await rows();
      expect(before.map((r) => r.index)).toEqual([0, 1]);
      const storage = t.app.services.assets.storage;
      const originals = await Promise.all(before.map((r) => storage.get(r.storage_key)));
      const task = { id: taskId, accountId: bob.account.id };
      const images = originals.map((data) => ({ data, isOwnPng: true }));
      await t.app.services.assets.storeTaskImages(task, images);
      await Promise.all([
        t.app.services.assets.storeTaskImages(task, images),
        t.app.services.assets.storeTaskImages(task, images),
      ]);
      expect(await rows()).toEqual(before);
      for (const [i, row] of before.entries()) {
        expect((await storage.get(row.storage_key)).equals(originals[i])).toBe(true);
        expect(await storage.size(row.preview_key)).toBeGreaterThan(0);
        expect(await storage.size(row.thumbnail_key)).toBeGreaterThan(0);
        // An image that fits the thumbnail's box (256 px) keeps one WebP for both variants.
        expect(row.thumbnail_key === row.preview_key).toBe(row.width <= 256 && row.height <= 256);
      }
    });

    it("keeps one WebP for both variants of a small image, and removes it with the asset", async () => {
      // The task's own (512 px) image and its files go first; the small one takes its place.
      const taskId = await runTask(bob, "bob's small garden", 1);
      await t.app.services.assets.discardTask(taskId);
      await t.app.db.query(`DELETE FROM asset WHERE task_id = $1`, [taskId]);
      const small = await sharp({ create: { width: 64, height: 48, channels: 3, background: "#336699" } })
        .png()
        .toBuffer();
      await t.app.services.assets.storeTaskImages({ id: taskId, accountId: bob.account.id }, [
        { data: small, isOwnPng: true },
      ]);
      const [row] = (await t.app.db.query(
        `SELECT width, height, storage_key, preview_key, thumbnail_key FROM asset WHERE task_id = $1`,
        [taskId],
      )) as { width: number; height: number; storage_key: string; preview_key: string; thumbnail_key: string }[];
      expect([row.width, row.height]).toEqual([64, 48]);
      expect(row.thumbnail_key).toBe(row.preview_key);
      const storage = t.app.services.assets.storage;
      const webp = await storage.get(row.preview_key);
      expect(webp.subarray(8, 12).toString()).toBe("WEBP");
      expect(await storage.size(row.storage_key.replace(/\.png$/, ".thumb.webp"))).toBeNull();
      await t.app.services.assets.discardTask(taskId);
      expect(await storage.size(row.preview_key)).toBeNull();
      expect(await storage.size(row.storage_key)).toBeNull();
    });

    it("deletes images: the files go, the links stop, the rows stay as DELETED", async () => {
      const [edge] = (await list(alice)).edges;
      const res = await t.graphql<{ deleteAssets: { deletedCount: number } }>(
        `mutation($input: DeleteAssetsInput!) { deleteAssets(input: $input) { deletedCount } }`,
        { input: { ids: [edge.node.id] } },
        alice.headers,
      );
      expect(res.body.data?.deleteAssets.deletedCount).toBe(1);
      expect((await fetch(abs(edge.node.url))).status).toBe(GONE);
      const row = (
        (await t.app.db.query(`SELECT status, storage_key FROM asset WHERE id = $1`, [edge.node.id])) as {
          status: string;
          storage_key: string;
        }[]
      )[0];
      expect(row.status).toBe("DELETED");
      expect(await t.app.services.assets.storage.size(row.storage_key)).toBeNull();
      const zip = await fetch(`${t.url}/api/assets/zip/link`, {
        method: "POST",
        headers: { "content-type": "application/json", ...alice.headers },
        body: JSON.stringify({ ids: [edge.node.id] }),
      });
      expect(zip.status).toBe(404);
    });
  });

  describe("retention", () => {
    it("is a repeatable job registered with the configured interval", async () => {
      const scheduler = await t.app.queues.generation.getJobScheduler(ASSETS_RETENTION_JOB);
      expect(scheduler?.every).toBe(RETENTION_INTERVAL_MS);
    });

    it("warns owners before expiry, then retires expired images (idempotently, even run twice at once)", async () => {
      const in28Days = new Date(Date.now() + 28 * 86_400_000);
      const warned = await t.app.services.assets.applyRetention(in28Days);
      expect(warned.expired).toBe(0);
      expect(warned.warned).toBeGreaterThan(0);
      const messages = (await t.app.db.query(
        `SELECT kind FROM message WHERE account_id = $1 AND kind = 'asset.expiring'`,
        [alice.account.id],
      )) as unknown[];
      expect(messages).toHaveLength(1);

      // A link made before the purge, still within its lifetime.
      const [edge] = (await list(alice)).edges;
      expect((await fetch(abs(edge.node.url))).status).toBe(200);

      const in31Days = new Date(Date.now() + 31 * 86_400_000);
      const [a, b] = await Promise.all([
        t.app.services.assets.applyRetention(in31Days),
        t.app.services.assets.applyRetention(in31Days),
      ]);
      const alive = (
        (await t.app.db.query(`SELECT count(*)::int AS n FROM asset WHERE status = 'EXPIRED'`)) as { n: number }[]
      )[0].n;
      expect(alive).toBeGreaterThan(0);
      expect(a.expired + b.expired).toBe(alive);
      expect((await list(alice)).edges).toHaveLength(0);
      const keys = (await t.app.db.query(`SELECT storage_key FROM asset WHERE status = 'EXPIRED'`)) as {
        storage_key: string;
      }[];
      for (const { storage_key } of keys) expect(await t.app.services.assets.storage.size(storage_key)).toBeNull();

      // The link stops working, and the asset says it is gone and has no link any more.
      expect((await fetch(abs(edge.node.url))).status).toBe(GONE);
      const after = await t.graphql<{ asset: { status: string; url: string | null } }>(
        `query($id: ID!) { asset(id: $id) { status url } }`,
        { id: edge.node.id },
        alice.headers,
      );
      expect(after.body.data?.asset).toEqual({ status: "EXPIRED", url: null });
    });
  });

  describe("takedown", () => {
    it("lets an admin remove an image with a reason the owner is told", async () => {
      const id = await runTask(bob, "another garden", 1);
      const asset = (await t.app.db.query(`SELECT id FROM asset WHERE task_id = $1`, [id])) as { id: string }[];
      const admin = await signedInUser(t, { role: "ADMIN" as never });
      const REMOVE = `mutation($input: RemoveAssetInput!) { removeAsset(input: $input) { asset { status url } } }`;
      const denied = await t.graphql(REMOVE, { input: { id: asset[0].id, reason: "Violates the terms" } }, bob.headers);
      expect(denied.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
      const removed = await t.graphql(
        REMOVE,
        { input: { id: asset[0].id, reason: "Violates the terms" } },
        admin.headers,
      );
      expect(removed.body.data).toEqual({ removeAsset: { asset: { status: "REMOVED", url: null } } });
      const told = (await t.app.db.query(`SELECT body FROM message WHERE account_id = $1 AND kind = 'asset.removed'`, [
        bob.account.id,
      ])) as {
        body: string;
      }[];
      expect(told[0].body).toContain("Violates the terms");
    });
  });
});
