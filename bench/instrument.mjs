// Preloaded into the measured server (`node --import ./bench/instrument.mjs …`) so the bench can count what a
// request costs in round trips without any counting code in the server itself: every SQL statement sent
// through `pg` (TypeORM's and raw queries alike, BEGIN/COMMIT included) and every Redis command sent through
// ioredis, and the CPU time the process has used. The counters answer on http://127.0.0.1:$BENCH_STATS_PORT/
// as JSON.
import fs from "node:fs";
import http from "node:http";
import { Session } from "node:inspector/promises";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.resolve(import.meta.dirname, "../server/package.json"));
const counts = { sql: 0, redis: 0 };
const sqlTexts = new Map();

const pg = require("pg");
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (config, ...rest) {
  counts.sql++;
  if (process.env.BENCH_STATS_TEXTS) {
    const text = String(typeof config === "string" ? config : config?.text).slice(0, 160);
    sqlTexts.set(text, (sqlTexts.get(text) ?? 0) + 1);
  }
  return query.call(this, config, ...rest);
};

const { Redis } = require("ioredis");
const sendCommand = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (...args) {
  counts.redis++;
  return sendCommand.apply(this, args);
};

const port = Number(process.env.BENCH_STATS_PORT);
if (port) {
  http
    .createServer((req, res) => {
      // A CPU profile of just the load (no start-up): /profile/start, then /profile/stop?file=PATH.
      if (req.url.startsWith("/profile/")) {
        void profile(req.url).then(
          () => res.end("ok"),
          (err) => res.end(String(err)),
        );
        return;
      }
      if (req.url === "/texts") {
        res.end(JSON.stringify(Object.fromEntries(sqlTexts), null, 1));
        sqlTexts.clear();
        return;
      }
      const cpu = process.cpuUsage();
      res.end(JSON.stringify({ ...counts, cpuMicros: cpu.user + cpu.system }));
    })
    .listen(port, "127.0.0.1")
    .unref();
}

let session;
async function profile(url) {
  if (url === "/profile/start") {
    session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 200 });
    await session.post("Profiler.start");
    return;
  }
  const { profile } = await session.post("Profiler.stop");
  session.disconnect();
  fs.writeFileSync(new URL(url, "http://x").searchParams.get("file"), JSON.stringify(profile));
}
