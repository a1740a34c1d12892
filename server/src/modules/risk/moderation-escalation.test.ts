import http from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser, recharge } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";

/**
 * A real HTTP server speaking OpenAI's moderation protocol (`POST /v1/moderations`): it flags texts with
 * "flagme" (sexual) or "bloodbath" (violence), fails on "explode", and flags 65-pixel-wide images.
 */
let moderationApi: http.Server;
const seen: { authorization?: string; model: string; input: unknown }[] = [];
let t: TestApp;

beforeAll(async () => {
  moderationApi = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      void (async () => {
        const body = JSON.parse(raw) as { model: string; input: unknown };
        seen.push({ authorization: req.headers.authorization, ...body });
        if (req.url !== "/v1/moderations") return res.writeHead(404).end();
        let categories: Record<string, boolean> = {};
        if (typeof body.input === "string") {
          if (body.input.includes("explode")) return res.writeHead(500).end("upstream down");
          if (body.input.includes("flagme")) categories = { sexual: true, violence: false };
          if (body.input.includes("bloodbath")) categories = { "violence/graphic": true, violence: true };
        } else {
          const url = (body.input as { image_url: { url: string } }[])[0].image_url.url;
          const image = Buffer.from(url.slice(url.indexOf(",") + 1), "base64");
          if ((await sharp(image).metadata()).width === 65) categories = { "sexual/minors": true, sexual: true };
        }
        const flagged = Object.values(categories).some(Boolean);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: "modr-1", model: body.model, results: [{ flagged, categories }] }));
      })();
    });
  });
  await new Promise<void>((resolve) => moderationApi.listen(0, "127.0.0.1", resolve));
  const port = (moderationApi.address() as AddressInfo).port;
  t = await startTestApp({
    ROLE: "api",
    MODERATION_API_URL: `http://127.0.0.1:${port}/v1`,
    MODERATION_API_KEY: "sk-test-moderation",
    MODERATION_API_IMAGES: "true",
    MODERATION_ESCALATION_BLOCKS: "3",
    MODERATION_ESCALATION_WINDOW_HOURS: "24",
    MODERATION_ESCALATION_RESTRICT_HOURS: "2",
  });
});
afterAll(async () => {
  await t?.close();
  await new Promise((resolve) => moderationApi?.close(resolve));
});

async function funded(): Promise<SignedInUser> {
  const u = await signedInUser(t);
  await recharge(t, u.account.id, 100);
  return u;
}

const CREATE = `mutation($prompt: String!) { createTask(input: { prompt: $prompt, model: "novart-sketch", width: 512, height: 512, count: 1 }) { task { id status } } }`;

describe("the external moderation provider", () => {
  it("blocks what it flags with our category, passes the rest, and holds prompts for review while it is down", async () => {
    const u = await funded();
    const flagged = await t.graphql(CREATE, { prompt: "a flagme picture" }, u.headers);
    expect(flagged.body.errors?.[0].extensions).toMatchObject({ code: "CONTENT_REJECTED", category: "SEXUAL_CONTENT" });
    const violent = await t.graphql(CREATE, { prompt: "a bloodbath" }, u.headers);
    expect(violent.body.errors?.[0].extensions).toMatchObject({ code: "CONTENT_REJECTED", category: "VIOLENCE" });
    const fine = await t.graphql<{ createTask: { task: { status: string } } }>(
      CREATE,
      { prompt: "a quiet harbour" },
      u.headers,
    );
    expect(fine.body.data!.createTask.task.status).toBe("QUEUED");
    const down = await t.graphql<{ createTask: { task: { status: string } } }>(
      CREATE,
      { prompt: "explode the provider" },
      u.headers,
    );
    expect(down.body.data!.createTask.task.status).toBe("PENDING_REVIEW");
    expect(seen.at(-1)).toMatchObject({ authorization: "Bearer sk-test-moderation", model: "omni-moderation-latest" });
  });

  it("classifies uploaded reference images: a flagged one is refused and nothing is stored", async () => {
    const u = await funded();
    const image = (width: number) =>
      sharp({ create: { width, height: 64, channels: 3, background: "#aa3355" } })
        .png()
        .toBuffer();
    const upload = async (width: number) =>
      fetch(`${t.url}/api/uploads`, {
        method: "POST",
        headers: { ...u.headers, "content-type": "image/png" },
        body: await image(width),
      });
    expect((await upload(64)).status).toBe(201);
    const refused = await upload(65);
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { error: { code: string; category: string } }).error).toMatchObject({
      code: "CONTENT_REJECTED",
      category: "MINORS",
    });
    const uploads = (await t.app.db.query(`SELECT count(*)::int AS n FROM upload WHERE account_id = $1`, [
      u.account.id,
    ])) as { n: number }[];
    expect(uploads[0].n).toBe(1);
  });
});

describe("escalation", () => {
  it("restricts TASKS automatically after repeated blocks in the window, with the reason recorded and the owner told", async () => {
    const u = await funded();
    for (let i = 0; i < 2; i++) {
      const res = await t.graphql(CREATE, { prompt: `a scanned passport ${i}` }, u.headers);
      expect(res.body.errors?.[0].extensions?.code).toBe("CONTENT_REJECTED");
    }
    expect(await t.app.services.restrictions.active(u.account.id)).toHaveLength(0);
    const third = await t.graphql(CREATE, { prompt: "a flagme poster" }, u.headers);
    expect(third.body.errors?.[0].extensions?.code).toBe("CONTENT_REJECTED");
    const active = await t.app.services.restrictions.active(u.account.id);
    expect(active).toHaveLength(1);
    expect(active[0]).toMatchObject({ scopes: ["TASKS"], createdById: null });
    expect(active[0].reason).toMatch(/3 prompts were blocked/);
    const hours = (active[0].endsAt!.getTime() - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(1.9);
    expect(hours).toBeLessThanOrEqual(2);

    // Now even a harmless prompt is refused, with the reason; a fourth block adds no second restriction.
    const harmless = await t.graphql(CREATE, { prompt: "a quiet harbour" }, u.headers);
    expect(harmless.body.errors?.[0].extensions).toMatchObject({ code: "ACCOUNT_RESTRICTED" });
    await t.app.services.moderation
      .checkPrompt({ accountId: u.account.id, prompt: "flagme", negativePrompt: null })
      .catch(() => undefined);
    expect(await t.app.services.restrictions.active(u.account.id)).toHaveLength(1);
    const messages = (await t.app.db.query(`SELECT kind FROM message WHERE account_id = $1`, [u.account.id])) as {
      kind: string;
    }[];
    expect(messages.map((m) => m.kind)).toContain("restriction.started");
    const mine = await t.graphql<{ myRestrictions: { automatic: boolean; scopes: string[] }[] }>(
      `{ myRestrictions { automatic scopes } }`,
      {},
      u.headers,
    );
    expect(mine.body.data!.myRestrictions).toEqual([{ automatic: true, scopes: ["TASKS"] }]);
  });
});
