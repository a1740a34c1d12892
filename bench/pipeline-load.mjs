// The P1 pipeline's load generator, its own process. Creates up to `total` tasks (or stops after `durationMs`)
// for the accounts given, round-robin, `concurrency` at a time and at most `rate` per second when given:
//   - over HTTP (ours): the createTask mutation with each account's API key, on keep-alive connections;
//   - `direct` (the baseline): bench/baselines/pipeline-producer.mjs called in this process.
// Usage: node bench/pipeline-load.mjs '<json options>' → one JSON line: created, failed, first errors,
// startedAt/endedAt (epoch ms) and the request latencies (p50/p99 ms).
import http from "node:http";
import { createProducer } from "./baselines/pipeline-producer.mjs";

const o = JSON.parse(process.argv[2]);
const MUTATION = `mutation Create($input: CreateTaskInput!) { createTask(input: $input) { created task { id status } } }`;

let create;
let close = async () => undefined;
if (o.direct) {
  const producer = createProducer(o.direct);
  create = (account, prompt) => producer.create(account.id, prompt);
  close = () => producer.close();
} else {
  const url = new URL(o.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  create = (account, prompt) =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({
        query: MUTATION,
        variables: {
          input: { prompt, model: o.model, width: o.width, height: o.height, count: o.count, clientReference: o.runId },
        },
      });
      const req = http.request(
        url,
        {
          method: "POST",
          agent,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            authorization: `Bearer ${account.key}`,
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d) => (text += d));
          res.on("end", () => {
            if (res.statusCode !== 200 || !text.includes('"created":true'))
              reject(new Error(`${res.statusCode} ${text}`));
            else resolve();
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
}

const latencies = [];
const errors = [];
let next = 0;
let failed = 0;
const startedAt = Date.now();
const deadline = startedAt + o.durationMs;
async function lane() {
  for (;;) {
    const i = next++;
    if (i >= o.total || Date.now() >= deadline) return;
    if (o.rate) {
      const due = startedAt + (i * 1000) / o.rate;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
    const account = o.accounts[i % o.accounts.length];
    const t0 = performance.now();
    try {
      await create(account, `bench pipeline ${o.runId} task ${i}`);
      latencies.push(performance.now() - t0);
    } catch (err) {
      failed++;
      if (errors.length < 5) errors.push(String(err.message ?? err).slice(0, 300));
    }
  }
}
await Promise.all(Array.from({ length: o.concurrency }, lane));
const endedAt = Date.now();
await close();
latencies.sort((a, b) => a - b);
const pct = (p) =>
  Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0) * 10) / 10;
process.stdout.write(
  JSON.stringify({
    created: latencies.length,
    failed,
    errors,
    startedAt,
    endedAt,
    createdPerSecond: Math.round((latencies.length * 1000) / Math.max(1, endedAt - startedAt)),
    latencyP50: pct(0.5),
    latencyP99: pct(0.99),
    latencyMean: Math.round((latencies.reduce((sum, x) => sum + x, 0) / Math.max(1, latencies.length)) * 10) / 10,
    // This process's CPU: the HTTP client (ours), or the client and the whole producer (the baseline's, direct).
    cpuMicros: Math.round(process.cpuUsage().user + process.cpuUsage().system),
  }) + "\n",
);
process.exit(0);
