#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --only NAME]`: every scenario in bench/scenarios/ measures a baseline and our
// code in the same run (alternating them over several repetitions where the scenario is a throughput) and
// reports the median ratio: the machine is shared and noisy, so ratios are the result and absolute numbers
// are context. Results: bench/results/<scenario>.json and bench/results/summary.md.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { ensureBuild } from "../scripts/ensure-build.mjs";
import { DURATION_S, PG_BASE, REPS, flag, quick, root, serverEnv, startProcess, stop, freePort } from "./lib.mjs";

/** In the order they run and appear in the table. Each module's default export runs one scenario. */
const SCENARIOS = [
  "models-read",
  "tasks-read",
  "graphql-layer",
  "pipeline",
  "fanout",
  "hot-account",
  "api-key-auth",
  "studio-bundle",
].filter((name) => fs.existsSync(path.join(root, `bench/scenarios/${name}.mjs`)));

/** `--only tasks-read[,pipeline]`: run some scenarios (their files are rewritten, the summary keeps the rest). */
const only = flag("--only")?.split(",");
for (const name of only ?? [])
  if (!SCENARIOS.includes(name)) throw new Error(`--only: unknown scenario ${name} (${SCENARIOS.join(", ")})`);

// The studio is built only for the scenario that measures it.
ensureBuild(!only || only.includes("studio-bundle") ? ["server", "client"] : ["server"]);
const dbName = `novart_bench_${randomBytes(4).toString("hex")}`;
const admin = new pg.Client({ connectionString: PG_BASE });
await admin.connect();
const dbUrl = new URL(PG_BASE);
dbUrl.pathname = `/${dbName}`;
const databaseUrl = dbUrl.toString();
const resultsDir = path.join(root, "bench/results");
fs.mkdirSync(resultsDir, { recursive: true });
const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const failures = [];
try {
  // The database every scenario shares: migrated and seeded (the model catalogue) by one start of the API.
  const port = await freePort();
  await stop(
    await startProcess(
      ["server/dist/server/src/main.js"],
      serverEnv(databaseUrl, { ROLE: "api", PORT: String(port), HOST: "127.0.0.1" }),
      `http://127.0.0.1:${port}/healthz`,
    ),
  );
  for (const name of SCENARIOS) {
    if (only && !only.includes(name)) continue;
    // R0 is context for the others: a smoke run keeps under 3 minutes without it.
    if (quick && !only && name === "models-read") continue;
    const started = Date.now();
    console.error(`bench: ${name} …`);
    const { default: scenario } = await import(`./scenarios/${name}.mjs`);
    let result;
    try {
      result = await scenario({ databaseUrl, adminDb: admin });
    } catch (err) {
      // One broken scenario does not hide the others' results; the run still exits non-zero.
      result = { title: name, error: String(err?.stack ?? err), met: false, failures: [`${name}: ${err}`] };
    }
    failures.push(...(result.failures ?? []));
    const record = {
      scenario: name,
      ...result,
      machine,
      quick,
      durationSeconds: DURATION_S,
      repetitions: REPS,
      elapsedSeconds: Math.round((Date.now() - started) / 1000),
      date: new Date().toISOString(),
    };
    fs.writeFileSync(path.join(resultsDir, `${name}.json`), JSON.stringify(record, null, 2) + "\n");
    console.error(`bench: ${name} done in ${record.elapsedSeconds} s: ${result.result ?? result.error}`);
  }
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
}

// The summary shows every scenario's latest result, so a run with --only keeps the other rows.
const cell = (s) =>
  String(s ?? "–")
    .replaceAll("|", "\\|")
    .replaceAll("\n", " ");
const rows = [
  "| scenario | baseline | ours | result (ours ÷ baseline) | target | met | run |",
  "| --- | --- | --- | --- | --- | --- | --- |",
];
for (const name of SCENARIOS) {
  const file = path.join(resultsDir, `${name}.json`);
  if (!fs.existsSync(file)) continue;
  const r = JSON.parse(fs.readFileSync(file, "utf8"));
  const met = r.met === null || r.met === undefined ? "–" : r.met ? "yes" : "**no**";
  const run = `${r.date.slice(0, 10)}, ${r.quick ? "quick" : "full"}`;
  const result = r.error ? `failed: ${String(r.error).split("\n")[0]}` : r.result;
  rows.push(
    `| ${cell(`${r.title} (${name})`)} | ${cell(r.baseline)} | ${cell(r.ours)} | ${cell(result)} | ${cell(r.target)} | ${met} | ${run} |`,
  );
}
const table = `Measured on ${machine}; ratios are medians over the runs (ours ÷ baseline).\n\n${rows.join("\n")}\n`;
fs.writeFileSync(path.join(resultsDir, "summary.md"), table);
console.log(table);
for (const failure of failures) console.error(`FAILED: ${failure}`);
if (failures.length) process.exitCode = 1;
