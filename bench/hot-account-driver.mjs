#!/usr/bin/env node
// C1's load: N concurrent callers moving money on ONE account for a while, in a process of their own.
//   ours      — LedgerService.charge (the charge task creation makes) from the built server, 1 credit each,
//               unique references, on a TypeORM DataSource from infra/db.js createDataSource (pool = N)
//   baseline  — pgbench-style `begin; update bench_hot_account set paid = paid - 1 where id = 1; commit` on
//               plain pg, one connection per caller (as pgbench's clients), the UPDATE prepared
//   boundary  — every caller charges once at the same moment (INSUFFICIENT_BALANCE expected past the balance)
//   retry     — the given references charged again, concurrently (all must answer applied: false)
// Usage: node bench/hot-account-driver.mjs '<json options>'; prints one JSON line with the counts.
import "reflect-metadata";
import path from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";

const opts = JSON.parse(process.argv[2]);
const { mode, databaseUrl, concurrency, durationMs = 0, warmupMs = 0, accountId, run = "r" } = opts;
const dist = path.resolve(import.meta.dirname, "../server/dist/server/src");
const load = (file) => import(pathToFileURL(path.join(dist, file)).href);

/** Runs `call(worker, i)` from `concurrency` loops until `until`; counts outcomes. */
async function loops(call, until, counts) {
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; Date.now() < until; i++) {
        try {
          await call(w, i);
          counts.ok++;
        } catch (err) {
          const code = err?.code ?? err?.extensions?.code;
          if (code === "INSUFFICIENT_BALANCE") counts.insufficient++;
          else {
            counts.errors++;
            counts.lastError = String(err?.message ?? err);
          }
        }
      }
    }),
  );
}

/** Warm-up (not timed, but counted for the ledger check), then the timed window. */
async function timed(call) {
  const warmup = { ok: 0, insufficient: 0, errors: 0 };
  await loops((w, i) => call(`w${w}:${i}`), Date.now() + warmupMs, warmup);
  const counts = { ok: 0, insufficient: 0, errors: 0 };
  const started = performance.now();
  await loops((w, i) => call(`${w}:${i}`), Date.now() + durationMs, counts);
  const seconds = (performance.now() - started) / 1000;
  return { ...counts, seconds, perSecond: counts.ok / seconds, warmup };
}

let out;
if (mode === "baseline") {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: concurrency });
  const clients = await Promise.all(Array.from({ length: concurrency }, () => pool.connect()));
  const update = { name: "bench_hot_debit", text: "UPDATE bench_hot_account SET paid = paid - 1 WHERE id = 1" };
  out = await timed(async (tag) => {
    const client = clients[Number(tag.replace(/^w/, "").split(":")[0])];
    await client.query("BEGIN");
    await client.query(update);
    await client.query("COMMIT");
  });
  for (const c of clients) c.release();
  await pool.end();
} else {
  const { createDataSource } = await load("infra/db.js");
  const { LedgerService } = await load("modules/credits/ledger.service.js");
  const db = await createDataSource(databaseUrl, concurrency);
  await db.initialize();
  const ledger = new LedgerService(db);
  const charge = (reference) => ledger.charge({ accountId, amount: 1, reference, note: "bench" });
  if (mode === "ours") {
    out = await timed((tag) => charge(`bench-c1:${run}:${tag}`));
  } else if (mode === "boundary") {
    const outcomes = await Promise.allSettled(
      Array.from({ length: concurrency }, (_, i) => charge(`bench-c1:${run}:${i}`)),
    );
    const codes = outcomes.map((o) => (o.status === "fulfilled" ? "OK" : (o.reason?.code ?? String(o.reason))));
    out = {
      ok: codes.filter((c) => c === "OK").length,
      insufficient: codes.filter((c) => c === "INSUFFICIENT_BALANCE").length,
      errors: codes.filter((c) => c !== "OK" && c !== "INSUFFICIENT_BALANCE").length,
      otherCodes: [...new Set(codes.filter((c) => c !== "OK" && c !== "INSUFFICIENT_BALANCE"))],
    };
  } else if (mode === "retry") {
    const results = await Promise.allSettled(opts.references.map((reference) => charge(reference)));
    out = {
      applied: results.filter((r) => r.status === "fulfilled" && r.value.applied).length,
      replayed: results.filter((r) => r.status === "fulfilled" && !r.value.applied).length,
      errors: results.filter((r) => r.status === "rejected").map((r) => String(r.reason?.message ?? r.reason)),
    };
  } else throw new Error(`unknown mode ${mode}`);
  await db.destroy();
}
console.log(JSON.stringify(out));
