import type { Viewer } from "../modules/accounts/viewer.js";
import type { Services } from "../app.js";
import type { Loaders } from "../loaders.js";
import type { Logger } from "./logger.js";
import type { PubSubBus } from "./pubsub.js";

export type { Viewer };

/**
 * Per-operation context, built the same way for HTTP requests and WebSocket subscriptions so that
 * authorization and visibility rules see the same facts on both paths.
 */
export interface Context {
  requestId: string;
  logger: Logger;
  pubsub: PubSubBus;
  viewer: Viewer | null;
  ip: string;
  userAgent: string;
  /** Whether the client reached us over https (decides the cookie's Secure flag). */
  secure: boolean;
  /** Adds a `Set-Cookie` header to the HTTP response; ignored on WebSocket operations. */
  setCookie(cookie: string): void;
  /** For subscription streams: type-graphql's `subscribe` option cannot reach resolver instances. */
  services: Services;
  /** Per-operation DataLoaders for field resolvers (no query per parent). */
  loaders: Loaders;
}

export interface ContextSource {
  requestId: string;
  headers: Record<string, string | string[] | undefined>;
  ip: string;
  secure: boolean;
  /** Already authenticated (graphql-ws resolves the connection's credential again for each operation). */
  viewer?: Viewer | null;
  setCookie?: (cookie: string) => void;
  /** Sets a response header (HTTP only). */
  setHeader?: (name: string, value: string) => void;
  /**
   * A subscription: its context lives for many events, so its loaders must not cache; it spends no request
   * budget (queries and mutations do, over HTTP and graphql-ws alike).
   */
  live?: boolean;
}

export type ContextFactory = (source: ContextSource) => Promise<Context>;
