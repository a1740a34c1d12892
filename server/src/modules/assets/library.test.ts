import { createHash } from "node:crypto";
import yauzl from "yauzl";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { LedgerKind } from "../credits/ledger-entry.entity.js";

let t: TestApp;
let alice: SignedInUser;
let bob: SignedInUser;
let aliceTasks: string[];

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function runTask(user: SignedInUser, prompt: string, count: number): Promise<string> {
  const res = await t.graphql<{ createTask: { task: { id: string } } }>(
    `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`,
    { input: { prompt, model: "novart-sketch", width: 512, height: 512, count } },
    user.headers,
  );
  const id = res.body.data!.createTask.task.id;
  // A plain loop: this also runs in beforeAll, where expect.poll is not available.
  for (let i = 0; i < 300; i++) {
    const [row] = (await t.app.db.query(`SELECT status FROM task WHERE id = $1`, [id])) as { status: string }[];
    if (row.status === "SUCCEEDED") return id;
    if (row.status === "FAILED") throw new Error(`task ${id} failed`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`task ${id} did not finish`);
}

type AssetNode = { id: string; sha256: string; favorite: boolean; url: string; task: { prompt: string; seed: number } };
const LIST = `query($filter: AssetFilterInput, $first: Int, $after: String) {
  assets(filter: $filter, first: $first, after: $after) {
    edges { node { id sha256 favorite status expiresAt url(variant: ORIGINAL) task { prompt seed width } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
async function list(user: SignedInUser, filter: Record<string, unknown> = {}, first = 50) {
  const res = await t.graphql<{
    assets: { edges: { node: AssetNode }[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
  }>(LIST, { filter, first }, user.headers);
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.assets;
}

beforeAll(async () => {
  t = await startTestApp({ ASSET_RETENTION_DAYS: "30", ASSET_EXPIRY_WARNING_DAYS: "3" });
  alice = await signedInUser(t);
  bob = await signedInUser(t);
  for (const u of [alice, bob]) {
    await t.app.services.ledger.credit({
      accountId: u.account.id,
      kind: LedgerKind.RECHARGE,
      paid: 100,
      bonus: 0,
      reference: `s:${u.account.id}`,
    });
  }
  aliceTasks = [await runTask(alice, "a red lighthouse", 2), await runTask(alice, "a blue forest", 2)];
  await runTask(bob, "bob's secret garden", 1);
});
afterAll(() => t?.close());

describe("the asset library", () => {
  it("lists the owner's images with their task, filters by prompt text and task, and pages", async () => {
    const all = await list(alice);
    expect(all.edges).toHaveLength(4);
    expect(all.edges.every((e) => e.node.task.prompt.startsWith("a "))).toBe(true);
    expect((await list(alice, { search: "LIGHTHOUSE" })).edges).toHaveLength(2);
    expect((await list(alice, { search: "100%_" })).edges).toHaveLength(0);
    expect((await list(alice, { taskId: aliceTasks[1] })).edges).toHaveLength(2);
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

  it("serves files with ETag/304, ranges and a download name; refuses tampered and expired links", async () => {
    const [edge] = (await list(alice)).edges;
    const url = t.url + edge.node.url;
    const full = await fetch(url);
    const bytes = Buffer.from(await full.arrayBuffer());
    expect(sha(bytes)).toBe(edge.node.sha256);
    const etag = full.headers.get("etag")!;
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
    const download = await fetch(t.url + dl.body.data!.asset.url);
    expect(download.headers.get("content-disposition")).toMatch(/^attachment; filename="novart-[0-9a-f]{8}-\d\.png"$/);

    const tampered = url.replace(/sig=([A-Za-z0-9_-])/, (_m, c: string) => `sig=${c === "A" ? "B" : "A"}`);
    expect((await fetch(tampered)).status).toBe(403);
    const otherAsset = (await list(bob)).edges[0].node.id;
    expect((await fetch(url.replace(edge.node.id, otherAsset))).status).toBe(403);
    const expired = t.app.services.fileUrls.sign(edge.node.id, "ORIGINAL", 60, false, Date.now() - 3_600_000);
    expect((await fetch(t.url + expired)).status).toBe(403);
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
    const zip = await fetch(`${t.url}/api/assets/zip`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bob.headers },
      body: JSON.stringify({ ids: [edge.node.id] }),
    });
    expect(zip.status).toBe(404);
    expect((await list(alice)).edges).toHaveLength(4);
  });

  it("zips exactly the selected originals, byte for byte", async () => {
    const picked = (await list(alice)).edges.slice(0, 3).map((e) => e.node);
    const res = await fetch(`${t.url}/api/assets/zip`, {
      method: "POST",
      headers: { "content-type": "application/json", ...alice.headers },
      body: JSON.stringify({ ids: picked.map((a) => a.id) }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/zip");
    const zip = Buffer.from(await res.arrayBuffer());
    const entries = await new Promise<Map<string, string>>((resolve, reject) => {
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
    expect([...entries.values()].sort()).toEqual(picked.map((a) => a.sha256).sort());
    const bad = await fetch(`${t.url}/api/assets/zip`, {
      method: "POST",
      headers: { "content-type": "application/json", ...alice.headers },
      body: JSON.stringify({ ids: [] }),
    });
    expect(bad.status).toBe(400);
  });

  it("deletes images: the files go, the links stop, the rows stay as DELETED", async () => {
    const [edge] = (await list(alice)).edges;
    const res = await t.graphql<{ deleteAssets: { deletedCount: number } }>(
      `mutation($input: DeleteAssetsInput!) { deleteAssets(input: $input) { deletedCount } }`,
      { input: { ids: [edge.node.id] } },
      alice.headers,
    );
    expect(res.body.data?.deleteAssets.deletedCount).toBe(1);
    expect((await fetch(t.url + edge.node.url)).status).toBe(410);
    const row = (
      (await t.app.db.query(`SELECT status, storage_key FROM asset WHERE id = $1`, [edge.node.id])) as {
        status: string;
        storage_key: string;
      }[]
    )[0];
    expect(row.status).toBe("DELETED");
    expect(await t.app.services.assets.storage.size(row.storage_key)).toBeNull();
  });
});

describe("retention", () => {
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

    const in31Days = new Date(Date.now() + 31 * 86_400_000);
    const [a, b] = await Promise.all([
      t.app.services.assets.applyRetention(in31Days),
      t.app.services.assets.applyRetention(in31Days),
    ]);
    const alive = (
      (await t.app.db.query(`SELECT count(*)::int AS n FROM asset WHERE status = 'EXPIRED'`)) as { n: number }[]
    )[0].n;
    expect(a.expired + b.expired).toBe(alive);
    expect((await list(alice)).edges).toHaveLength(0);
    const keys = (await t.app.db.query(`SELECT storage_key FROM asset WHERE status = 'EXPIRED'`)) as {
      storage_key: string;
    }[];
    for (const { storage_key } of keys) expect(await t.app.services.assets.storage.size(storage_key)).toBeNull();
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
