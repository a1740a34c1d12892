import { crc32 } from "node:zlib";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";

let t: TestApp;
let user: SignedInUser;
beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  user = await signedInUser(t);
});
afterAll(() => t?.close());

async function upload(body: Buffer | string, headers: Record<string, string> = user.headers, type = "image/png") {
  const res = await fetch(`${t.url}/api/uploads`, {
    method: "POST",
    headers: { "content-type": type, ...headers },
    body,
  });
  return {
    status: res.status,
    body: (await res.json()) as { id?: string; width?: number; height?: number; error?: { code: string } },
  };
}

function image(format: "png" | "jpeg" | "webp", width = 64, height = 48): Promise<Buffer> {
  const canvas = sharp({ create: { width, height, channels: 3, background: "#cc6633" } });
  return canvas[format]().toBuffer();
}

/** A PNG chunk: length, type, data, CRC-32 of type and data. */
function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

const PAYLOAD = `<html><body><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/><script>alert(document.cookie)</script></body></html>`;
/** What must never be in a stored file, whatever case the payload used. */
const MARKUP = /<script|<svg|<html/i;

describe("POST /api/uploads", () => {
  it("accepts PNG, JPEG and WebP whatever the declared type, re-encoded as PNG", async () => {
    for (const format of ["png", "jpeg", "webp"] as const) {
      const res = await upload(await image(format), user.headers, "application/octet-stream");
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ width: 64, height: 48 });
      const row = (
        (await t.app.db.query(`SELECT storage_key FROM upload WHERE id = $1`, [res.body.id])) as {
          storage_key: string;
        }[]
      )[0];
      const stored = await t.app.services.assets.storage.get(row.storage_key);
      expect((await sharp(stored).metadata()).format).toBe("png");
    }
  });

  it("strips EXIF and GPS metadata", async () => {
    const withGps = await sharp(await image("jpeg"))
      .withExif({
        IFD0: { Make: "SpyCam", Model: "X" },
        GPS: { GPSLatitudeRef: "N", GPSLatitude: "48/1 51/1 24/1" },
      } as never)
      .jpeg()
      .toBuffer();
    expect((await sharp(withGps).metadata()).exif).toBeTruthy();
    const res = await upload(withGps);
    expect(res.status).toBe(201);
    const row = (
      (await t.app.db.query(`SELECT storage_key FROM upload WHERE id = $1`, [res.body.id])) as { storage_key: string }[]
    )[0];
    const stored = await t.app.services.assets.storage.get(row.storage_key);
    const metadata = await sharp(stored).metadata();
    expect(metadata.exif).toBeUndefined();
    expect(stored.includes(Buffer.from("SpyCam"))).toBe(false);
  });

  it("refuses what is not an accepted image, with clear 4xx errors, storing nothing", async () => {
    const before = ((await t.app.db.query(`SELECT count(*)::int AS n FROM upload`)) as { n: number }[])[0].n;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`;
    expect((await upload(svg, user.headers, "image/svg+xml")).body.error?.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    expect((await upload("<html><body>not an image</body></html>", user.headers, "image/png")).status).toBe(415);
    const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#000" } })
      .gif()
      .toBuffer();
    expect((await upload(gif)).status).toBe(415);
    const truncated = (await image("png", 300, 300)).subarray(0, 200);
    const cut = await upload(truncated);
    expect([400, 415]).toContain(cut.status);
    expect((await upload(Buffer.alloc(0))).status).toBe(400);
    const giant = await sharp({ create: { width: 5000, height: 10, channels: 3, background: "#fff" } })
      .png()
      .toBuffer();
    expect(await upload(giant)).toMatchObject({ status: 422, body: { error: { code: "IMAGE_TOO_LARGE" } } });
    // A decompression bomb: a small file that claims 20 000 × 20 000 pixels.
    const bomb = await sharp({
      create: { width: 20000, height: 20000, channels: 3, background: "#000" },
      limitInputPixels: false,
    })
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(bomb.length).toBeLessThan(10 * 1024 * 1024);
    expect([413, 415, 422]).toContain((await upload(bomb)).status);
    const huge = Buffer.alloc(10 * 1024 * 1024 + 1, 1);
    expect(await upload(huge)).toMatchObject({ status: 413, body: { error: { code: "PAYLOAD_TOO_LARGE" } } });
    const after = ((await t.app.db.query(`SELECT count(*)::int AS n FROM upload`)) as { n: number }[])[0].n;
    expect(after).toBe(before);
  });

  it("needs a session or an API key with tasks:write", async () => {
    const png = await image("png");
    expect(await upload(png, {})).toMatchObject({ status: 401, body: { error: { code: "UNAUTHENTICATED" } } });
    const reader = await t.app.services.apiKeys.create(user.account.id, { name: "r", scopes: ["tasks:read"] });
    expect((await upload(png, { authorization: `Bearer ${reader.secret}` })).status).toBe(403);
    const writer = await t.app.services.apiKeys.create(user.account.id, { name: "w", scopes: ["tasks:write"] });
    expect((await upload(png, { authorization: `Bearer ${writer.secret}` })).status).toBe(201);
  });

  it("lets only the owner use an upload as a reference", async () => {
    const mine = await upload(await image("png"));
    const other = await signedInUser(t);
    const res = await t.graphql(
      `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`,
      {
        input: { prompt: "x", model: "novart-sketch", width: 512, height: 512, count: 1, referenceIds: [mine.body.id] },
      },
      other.headers,
    );
    expect(res.body.errors?.[0].extensions).toMatchObject({ code: "NOT_FOUND", field: "referenceIds" });
  });

  it("deletes uploads no task used after 24 hours", async () => {
    const res = await upload(await image("png"));
    await t.app.db.query(`UPDATE upload SET created_at = now() - interval '25 hours' WHERE id = $1`, [res.body.id]);
    const row = (
      (await t.app.db.query(`SELECT storage_key FROM upload WHERE id = $1`, [res.body.id])) as { storage_key: string }[]
    )[0];
    await t.app.services.uploads.deleteUnused(24 * 3_600_000);
    expect(await t.app.db.query(`SELECT id FROM upload WHERE id = $1`, [res.body.id])).toEqual([]);
    expect(await t.app.services.assets.storage.size(row.storage_key)).toBeNull();
  });

  it("keeps the file of an upload a task claims while the cleanup runs (rows go first, then files)", async () => {
    const claimed = (await upload(await image("png"))).body.id!;
    const unclaimed = (await upload(await image("png"))).body.id!;
    await t.app.db.query(`UPDATE upload SET created_at = now() - interval '25 hours' WHERE id = ANY($1::uuid[])`, [
      [claimed, unclaimed],
    ]);
    const keyOf = async (id: string) =>
      ((await t.app.db.query(`SELECT storage_key FROM upload WHERE id = $1`, [id])) as { storage_key: string }[])[0]
        .storage_key;
    const keys = { claimed: await keyOf(claimed), unclaimed: await keyOf(unclaimed) };
    // A task claims the first upload just as the cleanup deletes its first file (the race with createTask).
    const storage = t.app.services.assets.storage;
    const realDelete = storage.delete.bind(storage);
    let claims = 0;
    storage.delete = async (key) => {
      if (claims++ === 0) await t.app.db.query(`UPDATE upload SET used_at = now() WHERE id = $1`, [claimed]);
      return realDelete(key);
    };
    try {
      await t.app.services.uploads.deleteUnused(24 * 3_600_000);
    } finally {
      delete (storage as Partial<typeof storage>).delete;
    }
    expect(claims).toBeGreaterThan(0);
    // Whatever the order: an upload whose row is left has its file, and one without a row has none.
    for (const [id, key] of [
      [claimed, keys.claimed],
      [unclaimed, keys.unclaimed],
    ]) {
      const row = (await t.app.db.query(`SELECT id FROM upload WHERE id = $1`, [id])) as unknown[];
      expect(await storage.size(key)).toEqual(row.length ? expect.any(Number) : null);
    }
    expect(await storage.size(keys.unclaimed)).toBeNull();

    // An upload claimed before the cleanup keeps its row and its file.
    const used = (await upload(await image("png"))).body.id!;
    await t.app.db.query(
      `UPDATE upload SET created_at = now() - interval '25 hours', used_at = now() - interval '24 hours' WHERE id = $1`,
      [used],
    );
    await t.app.services.uploads.deleteUnused(24 * 3_600_000);
    expect(await storage.size(await keyOf(used))).toEqual(expect.any(Number));
  });

  it("stores polyglots (PNG with markup in a tEXt chunk or after IEND, JPEG with a markup comment) as clean PNGs", async () => {
    const png = await image("png");
    const ihdrEnd = 8 + 25; // signature, then the IHDR chunk (13 bytes of data)
    const withText = Buffer.concat([
      png.subarray(0, ihdrEnd),
      pngChunk("tEXt", Buffer.from(`Comment\0${PAYLOAD}`, "latin1")),
      png.subarray(ihdrEnd),
    ]);
    const afterIend = Buffer.concat([png, Buffer.from(PAYLOAD)]);
    const jpeg = await image("jpeg");
    const comment = Buffer.from(PAYLOAD, "latin1");
    const length = Buffer.alloc(2);
    length.writeUInt16BE(comment.length + 2);
    // SOI, then a COM segment (FF FE, length including itself), then the rest of the JPEG.
    const withComment = Buffer.concat([
      jpeg.subarray(0, 2),
      Buffer.from([0xff, 0xfe]),
      length,
      comment,
      jpeg.subarray(2),
    ]);
    const cases = {
      "PNG with a tEXt payload": withText,
      "PNG with a payload after IEND": afterIend,
      "JPEG with a COM payload": withComment,
    };
    for (const [label, bytes] of Object.entries(cases)) {
      // The polyglot is what it claims: a decodable image that carries the markup.
      expect((await sharp(bytes).metadata()).width, label).toBe(64);
      expect(MARKUP.test(bytes.toString("latin1")), label).toBe(true);
      const res = await upload(bytes, user.headers, "image/png");
      expect(res.status, `${label}: ${JSON.stringify(res.body)}`).toBe(201);
      const [row] = (await t.app.db.query(`SELECT storage_key FROM upload WHERE id = $1`, [res.body.id])) as {
        storage_key: string;
      }[];
      const stored = await t.app.services.assets.storage.get(row.storage_key);
      expect((await sharp(stored).metadata()).format, label).toBe("png");
      expect(stored.toString("latin1").match(MARKUP), label).toBeNull();
      // Uploads are never served: no file route knows them, even with a valid signature for the id.
      const url = t.app.services.fileUrls.sign(res.body.id!, "ORIGINAL", 600);
      const served = await fetch(`${t.url}${url}`);
      expect(served.status, label).toBe(404);
      expect(served.headers.get("x-content-type-options"), label).toBe("nosniff");
      expect(served.headers.get("content-type"), label).toMatch(/^application\/json/);
    }
  });
});
