import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../../test/processes.js";
import { LocalStorage } from "./local.storage.js";
import { S3Storage } from "./s3.storage.js";
import type { Storage } from "./storage.js";

/**
 * One suite for both drivers. The S3 driver runs against s3rver, an S3-compatible server from the npm
 * registry started here on a free port (MinIO is not installable on this machine).
 */
let root: string;
let s3rver: S3rver;
let s3: S3Storage;
let s3Endpoint: string;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "novart-storage-"));
  const port = await freePort();
  s3rver = new S3rver({ port, address: "127.0.0.1", silent: true, directory: path.join(root, "s3") });
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
  s3 = new S3Storage({
    bucket: "novart",
    region: "us-east-1",
    endpoint: s3Endpoint,
    forcePathStyle: true,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    prefix: "test/",
  });
});
afterAll(async () => {
  s3?.destroy();
  await s3rver?.close();
  await fs.rm(root, { recursive: true, force: true });
});

const drivers: [string, () => Storage][] = [
  ["local", () => new LocalStorage(path.join(root, "local"))],
  ["s3", () => s3],
];

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

describe.each(drivers)("the %s storage driver", (_name, make) => {
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));

  it("stores, reads, streams ranges, sizes and deletes; rewriting a key is idempotent", async () => {
    const storage = make();
    await storage.put("assets/a/b/0.png", data, "image/png");
    await storage.put("assets/a/b/0.png", data, "image/png");
    expect((await storage.get("assets/a/b/0.png")).equals(data)).toBe(true);
    expect(await storage.size("assets/a/b/0.png")).toBe(5000);
    expect((await collect(await storage.stream("assets/a/b/0.png"))).equals(data)).toBe(true);
    const part = await collect(await storage.stream("assets/a/b/0.png", { start: 100, end: 199 }));
    expect(part.equals(data.subarray(100, 200))).toBe(true);
    await storage.delete("assets/a/b/0.png");
    expect(await storage.size("assets/a/b/0.png")).toBeNull();
    await storage.delete("assets/a/b/0.png"); // deleting twice is fine
  });

  it("answers null for a missing key and refuses keys that could escape", async () => {
    const storage = make();
    expect(await storage.size("assets/none.png")).toBeNull();
    // A missing file rejects the stream call itself (the `/files` route answers 410), not a later read.
    await expect(storage.stream("assets/none.png")).rejects.toThrow();
    for (const bad of ["../etc/passwd", "/abs", "a/../../b", "a//b", ""]) {
      await expect(storage.put(bad, data, "image/png")).rejects.toThrow(/unsafe storage key/);
    }
  });
});

describe("S3 presigned URLs", () => {
  // s3rver does not check presigned signatures (a real S3 does), so tampering is not provable here.
  it("serve the bytes with the asked content type, disposition and cache control", async () => {
    const data = Buffer.from("presigned bytes");
    await s3.put("assets/p.png", data, "image/png");
    const url = await s3.presign("assets/p.png", {
      ttlSeconds: 60,
      contentType: "image/png",
      downloadName: "novart-1.png",
      cacheControl: "private, max-age=86400, immutable",
    });
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    expect(res.headers.get("content-disposition")).toContain("novart-1.png");
    expect(res.headers.get("cache-control")).toBe("private, max-age=86400, immutable");
    expect(new URL(url).searchParams.get("X-Amz-Expires")).toBe("60");
  });
});
