#!/usr/bin/env node
// `npm run dev`: the server in watch mode (restarts on change) and the studio's Vite dev server
// (http://localhost:5173, proxying /graphql to the server on PORT, 4000 by default).
import { spawn } from "node:child_process";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const port = process.env.PORT ?? "4000";
const children = [
  spawn("npm", ["run", "dev", "-w", "server"], { cwd: root, stdio: "inherit", env: { ...process.env, PORT: port } }),
  spawn("npm", ["run", "dev", "-w", "client"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, NOVART_API: `http://localhost:${port}` },
  }),
];
let exiting = false;
const stopAll = (signal) => {
  if (exiting) return;
  exiting = true;
  for (const child of children) child.kill(signal);
};
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => stopAll(signal));
for (const child of children) child.on("exit", (code) => (stopAll("SIGTERM"), (process.exitCode ||= code ?? 0)));
