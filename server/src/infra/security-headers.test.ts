import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { S3Storage } from "../modules/assets/storage/s3.storage.js";
import { inlineScriptHashes, pageContentSecurityPolicy, storageImageOrigins } from "./security-headers.js";

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

function directives(policy: string): Record<string, string[]> {
  return Object.fromEntries(
    policy.split(";").map((part) => {
      const [name, ...values] = part.trim().split(/\s+/);
      return [name, values];
    }),
  );
}

describe("inlineScriptHashes", () => {
  it("hashes the exact text of inline scripts and skips scripts with a src", () => {
    const first = "\n  window.a = 1;\n";
    const second = "{ import('/x.js') }";
    const html = `<head><script>${first}</script><script type="module" src="/app.js"></script></head>
      <body><SCRIPT data-x="1">${second}</SCRIPT><script src='/y.js'></script><script>${first}</script></body>`;
    expect(inlineScriptHashes(html)).toEqual([sha256(first), sha256(second)]);
    expect(inlineScriptHashes("<p>no scripts</p>")).toEqual([]);
  });
});

describe("pageContentSecurityPolicy", () => {
  it("allows this origin, the page's inline scripts, its WebSocket origins and the image origins", () => {
    const policy = directives(
      pageContentSecurityPolicy("<script>boot()</script>", {
        host: "studio.example:8443",
        imageOrigins: ["https://files.example"],
      }),
    );
    expect(policy["default-src"]).toEqual(["'self'"]);
    expect(policy["script-src"]).toEqual(["'self'", sha256("boot()")]);
    expect(policy["script-src"]).not.toContain("'unsafe-inline'");
    expect(policy["connect-src"]).toEqual(["'self'", "ws://studio.example:8443", "wss://studio.example:8443"]);
    expect(policy["img-src"]).toEqual(["'self'", "data:", "blob:", "https://files.example"]);
    expect(policy["frame-ancestors"]).toEqual(["'none'"]);
    expect(policy["object-src"]).toEqual(["'none'"]);
  });

  it("leaves out a Host header that could smuggle sources or directives", () => {
    for (const host of ["evil.example; script-src *", "a b", "x'y", ""]) {
      expect(directives(pageContentSecurityPolicy("", { host }))["connect-src"]).toEqual(["'self'"]);
    }
    expect(directives(pageContentSecurityPolicy("", { host: "[::1]:4000" }))["connect-src"]).toContain(
      "ws://[::1]:4000",
    );
  });
});

describe("storageImageOrigins", () => {
  const base = { S3_BUCKET: "novart-files", S3_REGION: "eu-west-3", S3_FORCE_PATH_STYLE: false } as const;

  it("is empty for local storage", () => {
    expect(storageImageOrigins({ ...base, STORAGE_DRIVER: "local" })).toEqual([]);
  });

  it.each([
    { S3_ENDPOINT: undefined, S3_FORCE_PATH_STYLE: false },
    { S3_ENDPOINT: undefined, S3_FORCE_PATH_STYLE: true },
    { S3_ENDPOINT: "http://127.0.0.1:9000", S3_FORCE_PATH_STYLE: true },
    { S3_ENDPOINT: "https://s3.storage.example", S3_FORCE_PATH_STYLE: false },
  ])("covers the origin of the store's presigned URLs ($S3_ENDPOINT, path style $S3_FORCE_PATH_STYLE)", async (s3) => {
    const config = { ...base, ...s3, STORAGE_DRIVER: "s3" as const };
    const storage = new S3Storage({
      bucket: config.S3_BUCKET,
      region: config.S3_REGION,
      endpoint: config.S3_ENDPOINT,
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
      accessKeyId: "AKIDEXAMPLE",
      secretAccessKey: "secret",
    });
    // Presigning is local computation: no request leaves the process.
    const url = await storage.presign!("assets/a/preview.webp", { ttlSeconds: 60, contentType: "image/webp" });
    expect(storageImageOrigins(config)).toContain(new URL(url).origin);
  });
});
