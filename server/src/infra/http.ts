import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "./logger.js";

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** Takes a caller's `x-request-id` when it is sane, otherwise makes one; echoes it in the response. */
export function assignRequestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers["x-request-id"];
  const id = typeof given === "string" && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
  res.setHeader("x-request-id", id);
  return id;
}

/**
 * One JSON log line per request, written when the response is finished or the client went away. It names
 * what it needs (method, path, client, agent, status, time) and nothing else: no headers (credentials and
 * cookies live there) and no query string (verification and reset links carry tokens in it). With nothing
 * secret in it, the line skips the logger's redaction, which cost more than writing the line itself.
 */
export function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse, requestId: string) {
  const started = process.hrtime.bigint();
  const done = () => {
    res.off("finish", done);
    res.off("close", done);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    requestLogger(logger).info(
      {
        reqId: requestId,
        req: {
          method: req.method,
          url: query < 0 ? url : url.slice(0, query),
          remoteAddress: req.socket.remoteAddress,
          userAgent: req.headers["user-agent"],
        },
        res: { statusCode: res.statusCode },
        responseTime: Math.round(ms * 10) / 10,
        aborted: !res.writableFinished,
      },
      "request",
    );
  };
  res.on("finish", done);
  res.on("close", done);
}

const requestLoggers = new WeakMap<Logger, Logger>();
/** The logger without redaction, for request lines only (made once per logger). */
function requestLogger(logger: Logger): Logger {
  let child = requestLoggers.get(logger);
  if (!child) {
    child = logger.child({}, { redact: { paths: [] } });
    requestLoggers.set(logger, child);
  }
  return child;
}

export class BodyTooLargeError extends Error {}

/** Reads a request body up to `limit` bytes; refuses early on a larger Content-Length. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) throw new BodyTooLargeError();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLargeError();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** The GraphQL-over-HTTP error shape, used for failures that happen before Apollo sees the request. */
export function sendGraphQLHttpError(res: ServerResponse, status: number, code: string, message: string) {
  sendJson(res, status, { errors: [{ message, extensions: { code } }] });
}
