// R0 (context): the model catalogue over HTTP, GraphQL vs a node:http + pg endpoint writing the same JSON.
import { assertSameAnswer, measure, medianRps, roundTrips, startApi, startBaseline, stop } from "../lib.mjs";

export default async function modelsRead({ databaseUrl }) {
  const query =
    "{ models { id slug name creditsPerImage maxImages sizes { width height aspectRatio creditsPerImage } } }";
  const body = JSON.stringify({ query });
  const started = [];
  try {
    // Each process is stopped by `finally` from the moment it started, even if the next one fails to.
    const api = await startApi(databaseUrl).then((p) => (started.push(p), p));
    const baseline = await startBaseline("bench/baselines/models.mjs", databaseUrl).then((p) => (started.push(p), p));
    await assertSameAnswer(api.url, baseline.url, body);
    const trips = await roundTrips(api, body, {});
    const m = await measure(baseline, api, body);
    return {
      title: "R0 catalogue read",
      description: "`models` with sizes over HTTP, 50 connections: GraphQL server vs node:http + pg baseline",
      roundTripsPerRequest: trips,
      ...m,
      baseline: `${medianRps(m.runs, "baseline")} req/s`,
      ours: `${medianRps(m.runs, "contender")} req/s`,
      result: `${m.ratio.requestsPerSecond.toFixed(2)}× req/s, p99 ${m.ratio.latencyP99.toFixed(2)}×, CPU/request ${m.ratio.cpuPerRequest.toFixed(2)}×, ${trips.sql} SQL + ${trips.redis} Redis per request`,
      target: "context only (the read targets use tasks(first: 20))",
      met: null,
    };
  } finally {
    await Promise.all(started.map((p) => stop(p.child)));
  }
}
