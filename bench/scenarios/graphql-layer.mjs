// R2: the GraphQL layer alone. The same query resolved from an in-memory data source
// (bench/graphql-layer-server.mjs) by our /graphql path, by Apollo Server 5 with express on its defaults, and by
// bare node:http writing the same JSON: an arbitrary document against Apollo, a trusted persisted document
// against bare node:http.
import { createHash } from "node:crypto";
import { assertSameAnswer, measure, medianRps, startBaseline, stop } from "../lib.mjs";
import { tasksQuery } from "./tasks-read.mjs";

export default async function graphqlLayer({ databaseUrl }) {
  const query = tasksQuery(20);
  const hash = createHash("sha256").update(query).digest("hex");
  const body = JSON.stringify({ query });
  const persisted = JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });
  // Each process is stopped by `finally` from the moment it started, even if the next one fails to.
  const started = [];
  const start = async (mode, env = {}) => {
    const server = await startBaseline("bench/graphql-layer-server.mjs", databaseUrl, { MODE: mode, ...env });
    started.push(server);
    return server;
  };
  const graphql = (server) => ({ ...server, url: `${server.url}graphql` });
  try {
    // The bench's document is trusted like the studio's (which come from codegen's manifest).
    const ours = await start("ours", { EXTRA_TRUSTED: JSON.stringify([[hash, query]]) });
    const apollo = await start("apollo-express");
    const bare = await start("bare");
    await assertSameAnswer(graphql(ours).url, graphql(apollo).url, body);
    await assertSameAnswer(graphql(ours).url, bare.url, persisted);
    const arbitrary = await measure(graphql(apollo), graphql(ours), body);
    const trusted = await measure(bare, { ...graphql(ours), body: persisted }, body);
    const met = arbitrary.ratio.requestsPerSecond >= 3 && trusted.ratio.requestsPerSecond >= 0.45;
    return {
      title: "R2 GraphQL layer",
      description:
        "tasks(first: 20) from memory over HTTP, 50 connections: ours vs Apollo 5 + express defaults (document text), " +
        "and ours vs bare node:http (trusted persisted document)",
      arbitrary,
      trusted,
      baseline: `Apollo+express ${medianRps(arbitrary.runs, "baseline")} req/s; bare node:http ${medianRps(trusted.runs, "baseline")} req/s`,
      ours: `text ${medianRps(arbitrary.runs, "contender")} req/s; persisted ${medianRps(trusted.runs, "contender")} req/s`,
      result:
        `${arbitrary.ratio.requestsPerSecond.toFixed(2)}× Apollo+express (p99 ${arbitrary.ratio.latencyP99.toFixed(2)}×); ` +
        `persisted ${trusted.ratio.requestsPerSecond.toFixed(2)}× bare node:http (p99 ${trusted.ratio.latencyP99.toFixed(2)}×, CPU/request ${trusted.ratio.cpuPerRequest.toFixed(2)}×)`,
      target: "≥ 3× Apollo+express for a document; ≥ 0.45× bare node:http for a persisted document",
      met,
    };
  } finally {
    await Promise.all(started.map((p) => stop(p.child)));
  }
}
