import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer, HeaderMap, type ApolloServerPlugin } from "@apollo/server";
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from "@apollo/server/plugin/disabled";
import type { Express } from "express";
import { ApolloArmor } from "@escape.tech/graphql-armor";
import { getOperationAST, GraphQLError, specifiedRules, type ExecutionResult, type GraphQLSchema } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer, type WebSocket } from "ws";
import { clientAddress } from "./infra/client-ip.js";
import { AppError, UnauthenticatedError } from "./infra/errors.js";
import { refuseSubscriptionsOverHttp } from "./infra/graphql/http-subscriptions.js";
import { SubscriptionFanout } from "./infra/graphql/subscription-fanout.js";
import type { PubSubBus } from "./infra/pubsub.js";
import { CREDENTIALS_REVOKED, type CredentialsRevokedEvent } from "./modules/accounts/accounts.topics.js";
import type { Viewer } from "./modules/accounts/viewer.js";
import type { Context, ContextFactory } from "./infra/context.js";
import { createFormatError } from "./infra/graphql/format-error.js";
import { createCors } from "./infra/cors.js";
import { createJitGateway } from "./infra/graphql/jit.js";
import { createFastPath } from "./infra/graphql/fast-path.js";
import { assignRequestId, BodyTooLargeError, logRequest, readBody, sendGraphQLHttpError } from "./infra/http.js";
import type { Logger } from "./infra/logger.js";
import { createSecurityHeaders } from "./infra/security-headers.js";

export interface ApiOptions {
  schema: GraphQLSchema;
  logger: Logger;
  createContext: ContextFactory;
  /** Serves every route but `/graphql`. */
  routes: Express;
  bodyLimit: number;
  /** Take the client address and protocol from X-Forwarded-For / X-Forwarded-Proto. */
  trustProxy: boolean;
  publicUrl: string;
  /** Web origins allowed to call `/graphql` and `/api/…` from the browser (without cookies). */
  corsOrigins?: readonly string[];
  authenticate(headers: IncomingMessage["headers"]): Promise<Viewer | null>;
  pubsub: PubSubBus;
  /** The studio's persisted documents (hash → text), served by hash on the lean path. */
  trustedDocuments?: ReadonlyMap<string, string>;
}

/** Largest document, in tokens; larger ones are refused while parsing. */
const MAX_TOKENS = 3000;

/** graphql-ws close code for a connection whose credential was revoked (the protocol's "Unauthorized"). */
export const CLOSE_CREDENTIAL_REVOKED = 4401;
/** Operations one graphql-ws connection may run at once, and start per minute (see operationLimit). */
export const MAX_OPERATIONS_PER_CONNECTION = 100;
export const MAX_OPERATIONS_PER_CONNECTION_MINUTE = 600;

/** graphql-ws close code for a connection whose account was just restricted (`ALL`, or `API` for keys). */
export const CLOSE_ACCOUNT_RESTRICTED = 4403;

/** The rightmost X-Forwarded-For entry behind a trusted proxy (the client writes the others); see client-ip.ts. */
function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  return clientAddress(req.headers["x-forwarded-for"], req.socket.remoteAddress, trustProxy);
}

function isSecure(req: IncomingMessage, trustProxy: boolean, publicUrl: string): boolean {
  if (trustProxy && req.headers["x-forwarded-proto"] === "https") return true;
  return publicUrl.startsWith("https:");
}

/** Context creation fails only for a bad credential: answer 401 with a typed error, not a 500. */
function asGraphQLError(err: unknown): unknown {
  if (err instanceof AppError) {
    // `originalError` lets formatError keep the domain code (without it the code would be masked).
    return new GraphQLError(err.message, {
      originalError: err,
      extensions: {
        code: err.code,
        http: {
          status: err.code === "UNAUTHENTICATED" ? 401 : err.code === "RATE_LIMITED" ? 429 : 400,
          // Apollo iterates `headers` when the key exists, so it is only present with a value.
          ...(err.code === "RATE_LIMITED"
            ? { headers: new HeaderMap([["retry-after", String(err.details.retryAfter)]]) }
            : {}),
        },
      },
    });
  }
  return err;
}

export interface ApiServer {
  server: http.Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  close(timeoutMs: number): Promise<void>;
}

/**
 * One port for everything: `/graphql` over HTTP takes a lean node:http path into Apollo (express would
 * halve its throughput), the same path upgrades to graphql-ws, and express serves every other route.
 */
export async function createApiServer(options: ApiOptions): Promise<ApiServer> {
  const { schema, logger, createContext, routes, bodyLimit, trustProxy, publicUrl } = options;
  const formatError = createFormatError(logger);
  // Query limits for hostile documents (GraphQL Armor): depth, aliases, tokens, directives, cost; no field
  // suggestions in errors (they would describe the schema to probes).
  const armor = new ApolloArmor({
    maxDepth: { n: 12 },
    maxAliases: { n: 30 },
    // Tokens are limited by graphql-js's own parser instead (parseOptions below): its refusal is a
    // proper parse error (400 GRAPHQL_PARSE_FAILED), where Armor's plugin makes Apollo answer 500.
    maxTokens: { enabled: false },
    maxDirectives: { n: 20 },
    costLimit: { maxCost: 10_000 },
    blockFieldSuggestion: { enabled: true },
  }).protect();

  const apollo = new ApolloServer<Context>({
    // Queries execute as code compiled by graphql-jit (same answers as graphql-js; see the gateway).
    gateway: createJitGateway(schema, logger),
    logger,
    formatError,
    includeStacktraceInErrorResponses: false,
    introspection: true,
    // Shutdown is ours (main.ts): Apollo's own signal handlers would race it and re-raise the signal.
    stopOnTerminationSignals: false,
    allowBatchedHttpRequests: false,
    parseOptions: { maxTokens: MAX_TOKENS },
    validationRules: armor.validationRules,
    plugins: [
      ...(armor.plugins as ApolloServerPlugin<Context>[]),
      refuseSubscriptionsOverHttp as ApolloServerPlugin<Context>,
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginSchemaReportingDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
    ],
  });
  await apollo.start();
  const fastPath = createFastPath({
    schema,
    validationRules: armor.validationRules,
    maxTokens: MAX_TOKENS,
    trustedDocuments: options.trustedDocuments ?? new Map(),
    logger,
  });
  const securityHeaders = createSecurityHeaders({ https: publicUrl.startsWith("https:") });
  const applyCors = createCors(options.corsOrigins ?? []);

  async function handleGraphQL(req: IncomingMessage, res: ServerResponse, requestId: string) {
    let body: unknown;
    if (req.method === "POST") {
      let raw: Buffer;
      try {
        raw = await readBody(req, bodyLimit);
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          res.setHeader("connection", "close");
          return sendGraphQLHttpError(res, 413, "PAYLOAD_TOO_LARGE", `Request body over ${bodyLimit} bytes`);
        }
        throw err;
      }
      try {
        body = raw.length ? JSON.parse(raw.toString("utf8")) : undefined;
      } catch {
        return sendGraphQLHttpError(res, 400, "BAD_REQUEST", "Request body is not valid JSON");
      }
    }
    const cookies: string[] = [];
    let context: Promise<Context> | undefined;
    const contextOnce = () =>
      (context ??= createContext({
        requestId,
        headers: req.headers,
        ip: clientIp(req, trustProxy),
        secure: isSecure(req, trustProxy, publicUrl),
        setCookie: (cookie) => cookies.push(cookie),
        setHeader: (name, value) => res.setHeader(name, value),
      }));
    const fast = req.method === "POST" ? fastPath.match(req.headers, body) : null;
    if (fast) {
      // A valid query answered without errors skips Apollo; anything else goes on to Apollo below, with the
      // same context (one request budget spent, one session lookup).
      const answer = await contextOnce().then(
        (ctx) => fastPath.answer(fast, ctx),
        () => null,
      );
      if (answer !== null) {
        if (cookies.length) res.setHeader("set-cookie", cookies);
        res.writeHead(200, { "content-type": fast.contentType, "content-length": Buffer.byteLength(answer) });
        res.end(answer);
        return;
      }
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(", ") : value);
    }
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const result = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? "GET", headers, search: query < 0 ? "" : url.slice(query + 1), body },
      context: () =>
        contextOnce().catch((err: unknown) => {
          throw asGraphQLError(err);
        }),
    });
    for (const [key, value] of result.headers) res.setHeader(key, value);
    if (cookies.length) res.setHeader("set-cookie", cookies);
    res.statusCode = result.status ?? 200;
    if (result.body.kind === "complete") {
      res.end(result.body.string);
    } else {
      for await (const chunk of result.body.asyncIterator) res.write(chunk);
      res.end();
    }
  }

  const server = http.createServer((req, res) => {
    const requestId = assignRequestId(req, res);
    logRequest(logger, req, res, requestId);
    // On every response; the studio's and the playground's pages replace the CSP with their own (routes.ts).
    securityHeaders(req, res);
    const path = req.url?.split("?", 1)[0];
    if ((path === "/graphql" || path?.startsWith("/api/")) && applyCors(req, res)) return;
    if (path === "/graphql") {
      handleGraphQL(req, res, requestId).catch((err: unknown) => {
        logger.error({ err, reqId: requestId }, "GraphQL HTTP handler failed");
        if (!res.headersSent) sendGraphQLHttpError(res, 500, "INTERNAL_SERVER_ERROR", "Internal server error");
        else res.destroy();
      });
      return;
    }
    (req as IncomingMessage & { id?: string }).id = requestId;
    routes(req, res);
  });
  server.keepAliveTimeout = 65_000;

  const wss = new WebSocketServer({ server, path: "/graphql", maxPayload: bodyLimit });
  const maskErrors = (result: ExecutionResult) =>
    result.errors ? { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e)) } : result;
  // Subscription events execute once per (document, operation, variables, visibility) and the same frame
  // goes to every subscriber of the group (subscription-fanout.ts). The visibility key is every fact about
  // the viewer that a subscription's resolvers read (account, role, scopes, restrictions); the credential
  // (session or key id) is left out, as no subscription field reads it: add it here the day one does.
  const fanout = new SubscriptionFanout<Context>({
    schema,
    // The same query limits as over HTTP.
    rules: [...specifiedRules, ...armor.validationRules],
    maxTokens: MAX_TOKENS,
    visibilityKey: ({ viewer }) =>
      viewer
        ? JSON.stringify([viewer.accountId, viewer.role, viewer.via, viewer.scopes, viewer.restrictions ?? []])
        : "anonymous",
    formatResult: maskErrors,
  });
  // Authenticated sockets, so a revoked session or key can close the connections that use it.
  const sockets = new Map<WebSocket, Viewer>();
  type WsExtra = {
    requestId?: string;
    /** The viewer the connection was authenticated as (connection_init). */
    viewer?: Viewer | null;
    /** The headers that carry the connection's credential, to resolve it again for each operation. */
    credentialHeaders?: IncomingMessage["headers"];
    /** Operations started on this connection in the current minute (see operationLimit). */
    started?: { since: number; count: number };
  };
  /**
   * The connection's credential resolved again, for one operation: restrictions, role and revocations since
   * connection_init apply to it (through the credential cache: no SQL for a known unrestricted one). A
   * credential that stopped resolving closes the socket, like a revocation.
   */
  /**
   * One connection's share: at most MAX_OPERATIONS_PER_CONNECTION running at once (each subscription holds
   * memory and a listener until it ends) and MAX_OPERATIONS_PER_CONNECTION_MINUTE started per minute (each
   * start resolves the credential and may read the database). Subscriptions spend no request budget, so
   * without these one socket could open them without end.
   */
  function operationLimit(extra: WsExtra, running: number): AppError | null {
    if (running > MAX_OPERATIONS_PER_CONNECTION) {
      return new AppError(
        "RATE_LIMITED",
        `At most ${MAX_OPERATIONS_PER_CONNECTION} operations at once per connection.`,
        {
          limit: MAX_OPERATIONS_PER_CONNECTION,
        },
      );
    }
    const now = Date.now();
    if (!extra.started || now - extra.started.since >= 60_000) extra.started = { since: now, count: 0 };
    if (++extra.started.count > MAX_OPERATIONS_PER_CONNECTION_MINUTE) {
      const retryAfter = Math.max(1, Math.ceil((extra.started.since + 60_000 - now) / 1000));
      return new AppError("RATE_LIMITED", "Too many operations started on this connection; wait a moment.", {
        retryAfter,
      });
    }
    return null;
  }

  async function currentViewer(extra: WsExtra & { socket: WebSocket }): Promise<Viewer | null> {
    const connected = extra.viewer ?? null;
    let viewer: Viewer | null;
    try {
      viewer = extra.credentialHeaders ? await options.authenticate(extra.credentialHeaders) : null;
    } catch {
      viewer = null;
    }
    if (connected && viewer?.accountId !== connected.accountId) {
      sockets.delete(extra.socket);
      extra.socket.close(CLOSE_CREDENTIAL_REVOKED, "Credential revoked");
      throw new UnauthenticatedError("The token is invalid, expired or revoked.");
    }
    return viewer;
  }
  const wsServer = useServer<Record<string, unknown> | undefined, WsExtra>(
    {
      schema,
      // Parsed (bounded in tokens like the HTTP path) and validated with the HTTP path's limits, once per
      // distinct document; graphql-ws's own parse and validate do not run. Then each operation gets its own
      // context, with the credential resolved again (restrictions in force now, not at connection time);
      // queries and mutations spend the request budget like over HTTP, subscriptions do not.
      onSubscribe: async (ctx, id, payload) => {
        const refused = operationLimit(ctx.extra, Object.keys(ctx.subscriptions).length);
        if (refused) return [new GraphQLError(refused.message, { originalError: refused })];
        const args = fanout.onSubscribe(ctx, id, payload);
        if (Array.isArray(args)) return args;
        const execArgs = args as Exclude<typeof args, readonly GraphQLError[]>;
        // Without one operation to run, graphql-ws answers "Unable to identify operation".
        const operation = getOperationAST(execArgs.document, execArgs.operationName);
        if (!operation) return execArgs;
        try {
          const viewer = await currentViewer(ctx.extra);
          ctx.extra.requestId ??= crypto.randomUUID();
          const request = ctx.extra.request;
          execArgs.contextValue = await createContext({
            requestId: ctx.extra.requestId,
            headers: request.headers,
            ip: clientIp(request, trustProxy),
            secure: isSecure(request, trustProxy, publicUrl),
            viewer,
            live: operation.operation === "subscription",
          });
          return execArgs;
        } catch (err) {
          // A refused credential or an exhausted request budget: an `error` message with the typed code.
          if (err instanceof AppError) return [new GraphQLError(err.message, { originalError: err })];
          throw err;
        }
      },
      subscribe: fanout.subscribe,
      // Authenticate the connection: the connection_init payload's `authorization`, else the cookie.
      onConnect: async (ctx) => {
        try {
          const request = ctx.extra.request;
          // The session cookie counts only for same-origin pages (no cross-site WebSocket hijacking).
          const headers = sameOrigin(request) ? { ...request.headers } : { ...request.headers, cookie: undefined };
          const credentialHeaders = { ...headers, ...connectionParamHeaders(ctx.connectionParams) };
          const viewer = await options.authenticate(credentialHeaders);
          ctx.extra.viewer = viewer;
          ctx.extra.credentialHeaders = credentialHeaders;
          if (viewer) {
            sockets.set(ctx.extra.socket, viewer);
            ctx.extra.socket.once("close", () => sockets.delete(ctx.extra.socket));
          }
          return true;
        } catch {
          return false; // graphql-ws closes with 4403 Forbidden
        }
      },
      // Results graphql-ws sends itself (operations other than subscriptions, a subscription's early errors);
      // the fan-out's frames get the same masking through `formatResult`.
      onNext: (_ctx, _id, _payload, _args, result) => maskErrors(result as ExecutionResult),
      // graphql-ws reports parse and validation failures here, without Apollo's codes: add them.
      onError: (_ctx, _id, _payload, errors) =>
        errors.map((e) =>
          e.originalError
            ? formatError(e.toJSON(), e) // thrown by a subscription's subscribe (auth, not found…) or onSubscribe
            : {
                message: e.message,
                locations: e.locations,
                extensions: {
                  code: e.message.startsWith("Syntax Error") ? "GRAPHQL_PARSE_FAILED" : "GRAPHQL_VALIDATION_FAILED",
                },
              },
        ),
    },
    wss,
  );

  const revocations = options.pubsub.subscribe<CredentialsRevokedEvent>(CREDENTIALS_REVOKED)[Symbol.asyncIterator]();
  void (async () => {
    for (let next = await revocations.next(); !next.done; next = await revocations.next()) {
      const event = next.value;
      for (const [socket, viewer] of sockets) {
        if (viewer.accountId !== event.accountId) continue;
        const hit =
          (viewer.sessionId && (event.sessionIds === "ALL" || event.sessionIds.includes(viewer.sessionId))) ||
          (viewer.apiKeyId && (event.apiKeyIds === "ALL" || event.apiKeyIds.includes(viewer.apiKeyId)));
        if (hit) {
          sockets.delete(socket);
          if (event.restricted) socket.close(CLOSE_ACCOUNT_RESTRICTED, "Account restricted");
          else socket.close(CLOSE_CREDENTIAL_REVOKED, "Credential revoked");
        }
      }
    }
  })().catch((err: unknown) => logger.error({ err }, "credential revocation listener stopped"));

  return {
    server,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    async close(timeoutMs) {
      // Past the deadline, sockets that did not finish their close handshake are cut.
      const force = setTimeout(() => {
        for (const socket of wss.clients) socket.terminate();
        server.closeAllConnections();
      }, timeoutMs);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Live clients are told the server is going away (1001) so they reconnect elsewhere.
      await wsServer.dispose();
      logger.debug("websocket server closed");
      await closed;
      logger.debug("http server closed");
      clearTimeout(force);
      await revocations.return?.();
      await apollo.stop();
    },
  };
}

/** A browser's upgrade request from a page of this server (or a non-browser client, which sends no Origin). */
function sameOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (!origin) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** Browsers cannot set headers on a WebSocket: credentials may come in the connection_init payload. */
function connectionParamHeaders(params: Record<string, unknown> | undefined): Record<string, string> {
  const authorization = params?.authorization ?? params?.Authorization;
  return typeof authorization === "string" ? { authorization } : {};
}
