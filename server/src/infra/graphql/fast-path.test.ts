import { createHash } from "node:crypto";
import fs from "node:fs";
import { buildSchema } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { createLogger } from "../logger.js";
import { createFastPath, loadTrustedDocuments } from "./fast-path.js";

let t: TestApp;
let user: SignedInUser;
const MANIFEST = JSON.parse(
  fs.readFileSync(
    new URL("../../../../client/src/lib/graphql/generated/persisted-documents.json", import.meta.url),
    "utf8",
  ),
) as Record<string, string>;
/** The studio's `Me` query, by hash. */
const [ME_KEY, ME_TEXT] = Object.entries(MANIFEST).find(([, text]) =>
  /^fragment SessionAccount.*query Me\b/.test(text),
)!;
const ME_HASH = ME_KEY.replace("sha256:", "");

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  user = await signedInUser(t);
  await t.app.db.query(
    `WITH t AS (
       INSERT INTO task (account_id, status, prompt, model_id, width, height, count, seed, input_hash, cost, progress, finished_at, created_at)
       SELECT $1, 'SUCCEEDED', 'p "quoted" ' || g, (SELECT id FROM generation_model WHERE slug = 'novart-sketch'),
              512, 512, 2, g, repeat('0', 64), g, 1, now(), now() - g * interval '1 minute' + g * interval '17 microseconds'
         FROM generate_series(1, 5) g RETURNING id, account_id)
     INSERT INTO asset (task_id, account_id, index, width, height, bytes, content_type, sha256, storage_key, preview_key, thumbnail_key, expires_at)
     SELECT t.id, t.account_id, i, 512, 256, 100, 'image/png', repeat('0', 64), 'k', 'p', 'th', now() + interval '1 day'
       FROM t, generate_series(0, 1) i`,
    [user.account.id],
  );
});
afterAll(() => t?.close());

const TASKS = `query Tasks($first: Int) { tasks(first: $first) { edges { cursor node { id status prompt cost createdAt
  assets { id width height } owner { id displayName } } } pageInfo { hasNextPage endCursor } } }`;
const ACCEPTS = [
  undefined,
  "application/json",
  "*/*",
  "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed",
  "text/html",
];

async function send(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(`${t.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, contentType: res.headers.get("content-type"), text: await res.text() };
}

/** The same request through Apollo: `extensions` sends any request there. */
const throughApollo = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  send({ ...body, extensions: {} }, headers);

describe("the lean path of /graphql", () => {
  it("answers exactly what Apollo answers: status, media type and bytes, for every accept header", async () => {
    const cases: [Record<string, unknown>, Record<string, string>][] = [
      [{ query: TASKS, variables: { first: 3 } }, user.headers],
      [{ query: TASKS, variables: { first: 3 }, operationName: "Tasks" }, user.headers],
      [{ query: "{ models { id slug sizes { width height } } }" }, {}],
      [{ query: "{ me { id email displayName balance { paid bonus total } } }" }, user.headers],
      [{ query: "{ me { id } }" }, {}], // null for an anonymous caller, no error
      // With errors: the lean path steps aside and Apollo answers.
      [{ query: TASKS }, {}], // UNAUTHENTICATED
      [{ query: TASKS, variables: { first: "x" } }, user.headers],
      [{ query: "{ nope }" }, user.headers],
      [{ query: "{ me { id " }, user.headers],
      [{ query: "mutation { signOut { ok } }" }, {}],
      [{ query: "subscription { myTasks { id } }" }, user.headers],
      [{ query: "query A { me { id } } query B { models { id } }", operationName: "B" }, {}],
      [{ query: "query A { me { id } } query B { models { id } }" }, {}],
    ];
    for (const [body, headers] of cases) {
      for (const accept of ACCEPTS) {
        const withAccept = accept ? { ...headers, accept } : headers;
        const [fast, apollo] = [await send(body, withAccept), await throughApollo(body, withAccept)];
        expect(fast, `${JSON.stringify(body)} accept ${accept}`).toEqual(apollo);
      }
    }
  });

  it("serves the studio's persisted documents by hash, and refuses an unknown hash like Apollo", async () => {
    const byHash = await send({ extensions: { persistedQuery: { version: 1, sha256Hash: ME_HASH } } }, user.headers);
    expect(byHash).toEqual(await throughApollo({ query: ME_TEXT }, user.headers));
    expect(JSON.parse(byHash.text).data.me.email).toBe(user.email);

    const unknown = await send({ extensions: { persistedQuery: { version: 1, sha256Hash: "ab".repeat(32) } } });
    expect(JSON.parse(unknown.text).errors[0].extensions.code).toBe("PERSISTED_QUERY_NOT_FOUND");
  });

  it("takes valid queries without errors, and nothing else", async () => {
    const trusted = loadTrustedDocuments(
      fileURLToPathSafe("../../../../client/src/lib/graphql/generated/persisted-documents.json"),
      createLogger("silent"),
    );
    expect(trusted.get(ME_HASH)).toBe(ME_TEXT);
    const fastPath = createFastPath({
      // The committed SDL: matching only parses, validates and compiles.
      schema: buildSchema(fs.readFileSync(fileURLToPathSafe("../../../../schema/schema.graphql"), "utf8")),
      validationRules: [],
      maxTokens: 3000,
      trustedDocuments: trusted,
      logger: createLogger("silent"),
    });
    const json = { "content-type": "application/json" };
    expect(fastPath.match(json, { query: TASKS })).not.toBeNull();
    expect(
      fastPath.match(json, { extensions: { persistedQuery: { version: 1, sha256Hash: ME_HASH } } }),
    ).not.toBeNull();
    expect(fastPath.match({ ...json, accept: "text/html" }, { query: TASKS })).toBeNull();
    expect(fastPath.match({ "content-type": "text/plain" }, { query: TASKS })).toBeNull();
    expect(fastPath.match(json, { query: TASKS, extensions: {} })).toBeNull();
    expect(fastPath.match(json, { query: "mutation { signOut { ok } }" })).toBeNull();
    expect(fastPath.match(json, { query: "{ nope }" })).toBeNull();
    expect(fastPath.match(json, { query: TASKS, variables: "x" })).toBeNull();
    // A mutation among the trusted documents: its text is filled in for Apollo, which runs it.
    const [mutationKey, mutationText] = Object.entries(MANIFEST).find(([, text]) => text.startsWith("mutation"))!;
    const body = { extensions: { persistedQuery: { version: 1, sha256Hash: mutationKey.slice(7) } } };
    expect(fastPath.match(json, body)).toBeNull();
    expect((body as Record<string, unknown>).query).toBe(mutationText);
    // Hashes that are not the SHA-256 of their text are not trusted.
    const tampered = `${createHash("sha256").update("x").digest("hex")}`;
    fs.writeFileSync(manifestCopy, JSON.stringify({ [`sha256:${tampered}`]: ME_TEXT }));
    expect(loadTrustedDocuments(manifestCopy, createLogger("silent")).size).toBe(0);
  });
});

const manifestCopy = `${process.env.TMPDIR ?? "/tmp"}/novart-fast-path-${process.pid}.json`;
afterAll(() => fs.rmSync(manifestCopy, { force: true }));
function fileURLToPathSafe(relative: string) {
  return new URL(relative, import.meta.url).pathname;
}
