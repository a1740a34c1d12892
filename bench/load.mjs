// The load generator, run as its own process so it does not share an event loop with what it measures.
// Usage: node bench/load.mjs '<json options>'  → prints autocannon's result as one JSON line.
import autocannon from "autocannon";

const options = JSON.parse(process.argv[2]);
const result = await autocannon({ ...options, setupClient: undefined });
process.stdout.write(
  JSON.stringify({
    requestsPerSecond: result.requests.average,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    total: result.requests.total,
  }) + "\n",
);
