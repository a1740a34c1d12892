import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/** Paths whose values never reach a log line, whatever object they appear in. */
export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  "*.password",
  "*.newPassword",
  "*.currentPassword",
  "*.token",
  "*.secret",
  "*.apiKey",
  "variables.*.password",
  "variables.*.token",
  "variables.password",
  "variables.token",
];

/** JSON lines to stdout, or to `destination` (tests capture the output to prove what never reaches it). */
export function createLogger(
  level: string,
  base: Record<string, unknown> = {},
  destination?: DestinationStream,
): Logger {
  const options = {
    level,
    base: { pid: process.pid, ...base },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
