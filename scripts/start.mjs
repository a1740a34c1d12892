#!/usr/bin/env node
// `npm start`: build what is missing or stale, then run the server (API + worker + studio by default).
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ensureBuild } from "./ensure-build.mjs";

const root = path.resolve(import.meta.dirname, "..");
const role = process.env.ROLE ?? "all";
ensureBuild(role === "worker" ? ["server"] : ["server", "client"]);

// Variables in a `.env` file at the repository root apply (the real environment wins).
const envFile = path.join(root, ".env");
const nodeArgs = ["--enable-source-maps", ...(fs.existsSync(envFile) ? [`--env-file=${envFile}`] : [])];
const child = spawn(process.execPath, [...nodeArgs, path.join(root, "server/dist/server/src/main.js")], {
  cwd: root,
  stdio: "inherit",
});
// The server shuts down gracefully on these; pass them on and exit with its code.
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
