import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../harness.js";

/** A studio build in miniature, with the .br / .gz siblings the adapter's `precompress` writes. */
const SCRIPT = `export const studio = "${"studio ".repeat(200)}";\n`;
let studioDir: string;
let app: TestApp;

beforeAll(async () => {
  studioDir = await fs.mkdtemp(path.join(os.tmpdir(), "novart-compression-"));
  const chunks = path.join(studioDir, "_app", "immutable", "chunks");
  await fs.mkdir(chunks, { recursive: true });
  await fs.mkdir(path.join(studioDir, "graphiql", "assets"), { recursive: true });
  await fs.writeFile(path.join(studioDir, "200.html"), "<!doctype html><html><body>studio</body></html>");
  await fs.writeFile(path.join(chunks, "app.js"), SCRIPT);
  await fs.writeFile(path.join(chunks, "app.js.br"), zlib.brotliCompressSync(SCRIPT));
  await fs.writeFile(path.join(chunks, "app.js.gz"), zlib.gzipSync(SCRIPT));
  // Only a gzip sibling, and none at all.
  await fs.writeFile(path.join(chunks, "gz-only.js"), SCRIPT);
  await fs.writeFile(path.join(chunks, "gz-only.js.gz"), zlib.gzipSync(SCRIPT));
  await fs.writeFile(path.join(chunks, "plain.js"), SCRIPT);
  await fs.writeFile(path.join(studioDir, "graphiql", "assets", "index.js"), SCRIPT);
  await fs.writeFile(path.join(studioDir, "graphiql", "assets", "index.js.br"), zlib.brotliCompressSync(SCRIPT));
  app = await startTestApp({ ROLE: "api", STUDIO_DIR: studioDir });
});

afterAll(async () => {
  await app?.close();
  await fs.rm(studioDir, { recursive: true, force: true });
});

/** A GET with exactly these request headers (fetch would add and undo its own Accept-Encoding). */
function get(pathname: string, headers: Record<string, string> = {}, method = "GET") {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = http.request(`${app.url}${pathname}`, { method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (part: Buffer) => parts.push(part));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("static files", () => {
  it("go out as their precompressed sibling when the browser accepts it: brotli first, then gzip", async () => {
    const br = await get("/_app/immutable/chunks/app.js", { "accept-encoding": "gzip, deflate, br, zstd" });
    expect(br.status).toBe(200);
    expect(br.headers["content-encoding"]).toBe("br");
    expect(br.headers["content-type"]).toMatch(/^text\/javascript/);
    expect(br.headers.vary).toMatch(/accept-encoding/i);
    expect(br.headers["cache-control"]).toContain("immutable");
    expect(Number(br.headers["content-length"])).toBeLessThan(SCRIPT.length / 10);
    expect(zlib.brotliDecompressSync(br.body).toString()).toBe(SCRIPT);

    const gzip = await get("/_app/immutable/chunks/app.js", { "accept-encoding": "gzip" });
    expect(gzip.headers["content-encoding"]).toBe("gzip");
    expect(zlib.gunzipSync(gzip.body).toString()).toBe(SCRIPT);

    const onlyGzip = await get("/_app/immutable/chunks/gz-only.js", { "accept-encoding": "br, gzip" });
    expect(onlyGzip.headers["content-encoding"]).toBe("gzip");
    expect(zlib.gunzipSync(onlyGzip.body).toString()).toBe(SCRIPT);

    const playground = await get("/graphiql/assets/index.js", { "accept-encoding": "br" });
    expect(playground.headers["content-encoding"]).toBe("br");
    expect(playground.headers["cache-control"]).toContain("immutable");
    expect(zlib.brotliDecompressSync(playground.body).toString()).toBe(SCRIPT);

    const head = await get("/_app/immutable/chunks/app.js", { "accept-encoding": "br" }, "HEAD");
    expect(head.headers["content-encoding"]).toBe("br");
    expect(head.body.length).toBe(0);
  });

  it("go out as they are when no coding is accepted or there is no sibling, still varying on Accept-Encoding", async () => {
    const variants: Record<string, string>[] = [
      {},
      { "accept-encoding": "identity" },
      { "accept-encoding": "br;q=0, gzip;q=0" },
    ];
    for (const headers of variants) {
      const res = await get("/_app/immutable/chunks/app.js", headers);
      expect(res.status).toBe(200);
      expect(res.headers["content-encoding"]).toBeUndefined();
      expect(res.headers.vary).toMatch(/accept-encoding/i);
      expect(res.body.toString()).toBe(SCRIPT);
    }
    const plain = await get("/_app/immutable/chunks/plain.js", { "accept-encoding": "br, gzip" });
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.body.toString()).toBe(SCRIPT);
  });

  it("never serve a sibling for a path outside the build or a missing file", async () => {
    const missing = await get("/_app/immutable/chunks/nope.js", { "accept-encoding": "br", accept: "text/javascript" });
    expect(missing.status).toBe(404);
    expect(missing.headers["content-encoding"]).toBeUndefined();
    const escape = await get("/_app/immutable/..%2f..%2f200.html", { "accept-encoding": "br" });
    expect(escape.headers["content-encoding"]).toBeUndefined();
  });
});
