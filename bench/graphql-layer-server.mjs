// R2's three servers over one bench-only data source (20 tasks with 2 assets each and their owner, in memory),
// so only the GraphQL layer differs. Usage: MODE=ours|apollo-express|bare PORT=… node bench/graphql-layer-server.mjs
//   ours            our schema (type-graphql) behind our /graphql path (createApiServer: lean path, jit, Apollo)
//   apollo-express  the same schema on Apollo Server 5 with express 5 and @as-integrations/express5, defaults
//   bare            node:http writing the same JSON from the same objects
import "reflect-metadata";
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";

const dist = (file) => pathToFileURL(path.resolve(import.meta.dirname, "../server/dist/server/src", file)).href;
const MODE = process.env.MODE;
const PORT = Number(process.env.PORT);

// The data: what TaskService.list would read for a page of 20 (21 rows: one more says there is a next page).
const ACCOUNT_ID = "5a0c1f0e-8d4e-4a55-9c3e-2f1f6f3f0a01";
const owner = { id: ACCOUNT_ID, displayName: "Bench User" };
const rows = Array.from({ length: 21 }, (_, i) => ({
  id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
  accountId: ACCOUNT_ID,
  status: "SUCCEEDED",
  prompt: `bench prompt number ${i + 1}`,
  negativePrompt: null,
  modelId: "00000000-0000-4000-8000-00000000aaaa",
  width: 512,
  height: 512,
  count: 2,
  seed: i + 1,
  progress: 1,
  cost: 4,
  errorCode: null,
  errorMessage: null,
  referenceIds: [],
  webhookUrl: null,
  clientReference: null,
  startedAt: new Date(Date.UTC(2026, 10, 1, 12, 0, i)),
  finishedAt: new Date(Date.UTC(2026, 10, 1, 12, 1, i)),
  createdAt: new Date(Date.UTC(2026, 10, 1, 12, 0, 59 - i)),
  version: 3,
}));
const assets = new Map(
  rows.map((row) => [
    row.id,
    [0, 1].map((index) => ({
      id: `${row.id.slice(0, 24)}${String(index + 1).padStart(4, "0")}${row.id.slice(28)}`,
      taskId: row.id,
      accountId: ACCOUNT_ID,
      index,
      width: 512,
      height: 512,
      bytes: 100,
      contentType: "image/png",
      sha256: "0".repeat(64),
      status: "ACTIVE",
      favorite: false,
      expiresAt: new Date(Date.UTC(2026, 11, 1)),
      createdAt: row.createdAt,
    })),
  ]),
);
const tasks = {
  async list(_accountId, args) {
    const limit = Math.min(Math.max(args.first ?? 20, 1), 100);
    return { rows: rows.slice(0, limit + 1), limit, owner, assets };
  },
};
const viewer = {
  accountId: ACCOUNT_ID,
  role: "USER",
  via: "SESSION",
  sessionId: "s",
  apiKeyId: null,
  scopes: ["tasks:read"],
  restrictions: [],
};

async function appSchema() {
  const { buildAppSchema, RESOLVER_CLASSES } = await import(dist("schema.js"));
  const { TaskResolver } = await import(dist("modules/generation/task.resolver.js"));
  // Only `tasks` runs; the other resolvers are never called.
  const instances = new Map(
    RESOLVER_CLASSES.map((C) => [C, C === TaskResolver ? new TaskResolver(tasks) : Object.create(C.prototype)]),
  );
  return buildAppSchema(instances);
}

const context = () => ({ requestId: "r", viewer, loaders: {}, services: {}, ip: "127.0.0.1", userAgent: "" });

if (MODE === "ours") {
  const express = (await import("express")).default;
  const { createApiServer } = await import(dist("api.js"));
  const { createLogger } = await import(dist("infra/logger.js"));
  const { loadTrustedDocuments } = await import(dist("infra/graphql/fast-path.js"));
  const { REPO_ROOT } = await import(dist("infra/config.js"));
  const logger = createLogger(process.env.LOG_LEVEL ?? "info", { role: "api" });
  const never = {
    [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => {}), return: async () => ({ done: true }) }),
  };
  const api = await createApiServer({
    schema: await appSchema(),
    logger,
    createContext: async (source) => ({ ...context(), requestId: source.requestId, logger }),
    routes: express(),
    bodyLimit: 100_000,
    trustProxy: false,
    publicUrl: `http://127.0.0.1:${PORT}`,
    authenticate: async () => viewer,
    pubsub: { subscribe: () => never },
    trustedDocuments: new Map([
      ...loadTrustedDocuments(
        path.join(REPO_ROOT, "client/src/lib/graphql/generated/persisted-documents.json"),
        logger,
      ),
      ...JSON.parse(process.env.EXTRA_TRUSTED ?? "[]"),
    ]),
  });
  await api.listen(PORT, "127.0.0.1");
  process.on("SIGTERM", () => api.close(1000).then(() => process.exit(0)));
} else if (MODE === "apollo-express") {
  const express = (await import("express")).default;
  const { ApolloServer } = await import("@apollo/server");
  const { expressMiddleware } = await import("@as-integrations/express5");
  const apollo = new ApolloServer({ schema: await appSchema() });
  await apollo.start();
  const app = express();
  app.use("/graphql", express.json(), expressMiddleware(apollo, { context: async () => context() }));
  const server = app.listen(PORT, "127.0.0.1");
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
} else if (MODE === "bare") {
  // What a hand-written endpoint does: read the body, build the answer from the same objects, write it.
  const server = http.createServer(async (req, res) => {
    for await (const _ of req);
    const page = await tasks.list(ACCOUNT_ID, { first: 20 });
    const edges = page.rows.slice(0, page.limit).map((t) => ({
      node: {
        id: t.id,
        status: t.status,
        prompt: t.prompt,
        cost: t.cost,
        createdAt: t.createdAt.toISOString(),
        assets: page.assets.get(t.id).map((a) => ({ id: a.id, width: a.width, height: a.height })),
        owner: { id: page.owner.id, displayName: page.owner.displayName },
      },
    }));
    const text = JSON.stringify({ data: { tasks: { edges } } }) + "\n";
    res.writeHead(200, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  });
  server.listen(PORT, "127.0.0.1");
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
} else {
  throw new Error(`MODE must be ours, apollo-express or bare (got ${MODE})`);
}
