import type { IncomingMessage, ServerResponse } from "node:http";
import cors from "cors";

/**
 * Cross-origin access to the API (`/graphql`, `/api/…`) for the web origins in `CORS_ORIGINS`, with the
 * `cors` package. Only credential-less requests: a browser app elsewhere calls with an API key in
 * `Authorization`, never with the studio's session cookie, so another site can never act as a signed-in
 * user. Answers preflights itself; returns whether the request is finished.
 */
export function createCors(origins: readonly string[]): (req: IncomingMessage, res: ServerResponse) => boolean {
  const allowed = new Set(origins);
  const middleware = cors({
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    credentials: false,
    methods: ["GET", "POST", "OPTIONS"],
    allowedHeaders: ["authorization", "content-type", "apollo-require-preflight", "x-apollo-operation-name"],
    exposedHeaders: ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after", "x-request-id"],
    maxAge: 600,
  });
  return (req, res) => {
    if (!req.headers.origin || allowed.size === 0) return false;
    let finished = true;
    // `cors` is synchronous with a synchronous origin check: `next` runs before it returns, unless it
    // answered a preflight itself.
    middleware(req as never, res as never, () => {
      finished = false;
    });
    return finished;
  };
}
