import { Client, cacheExchange, fetchExchange, subscriptionExchange, type ExecutionResult } from "@urql/core";
import { persistedExchange } from "@urql/exchange-persisted";
import { createClient as createWsClient, type Client as WsClient, type SubscribePayload } from "graphql-ws";
import { writable, type Readable } from "svelte/store";
import { recheckRestrictions } from "$lib/limits/restrictions.svelte";

export type ConnectionState = "connecting" | "connected" | "reconnecting";

const state = writable<ConnectionState>("connecting");
/** The live (WebSocket) connection's state, for the indicator in the header. */
export const connectionState: Readable<ConnectionState> = state;

function wsUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss" : "ws"}://${host}/graphql`;
}

/** graphql-ws close code the server uses when the connection's session or key was revoked. */
const CLOSE_CREDENTIAL_REVOKED = 4401;
/**
 * Close code and reason the server uses when the account was just restricted (graphql-ws's own 4403
 * "Forbidden", a refused connection_init, is left to graphql-ws's retries).
 */
const CLOSE_ACCOUNT_RESTRICTED = 4403;
const ACCOUNT_RESTRICTED_REASON = "Account restricted";

let wsClient: WsClient | undefined;
// Each connection has a generation: events of a replaced connection must not move the indicator.
let generation = 0;
let lastRestartAt = 0;
const revokedListeners = new Set<() => void>();

function isCloseCode(event: unknown, code: number): boolean {
  return typeof event === "object" && event !== null && (event as { code?: unknown }).code === code;
}

function isRestrictionClose(event: unknown): boolean {
  return (
    isCloseCode(event, CLOSE_ACCOUNT_RESTRICTED) && (event as { reason?: unknown }).reason === ACCOUNT_RESTRICTED_REASON
  );
}

/** The server ended the connection for its credential (revoked) or its account (restricted). */
function endedByServer(event: unknown): boolean {
  return isCloseCode(event, CLOSE_CREDENTIAL_REVOKED) || isRestrictionClose(event);
}

/** One graphql-ws connection for every subscription of the page; retries forever with backoff. */
export function getWsClient(): WsClient {
  if (wsClient) return wsClient;
  const mine = ++generation;
  const current = () => mine === generation;
  wsClient = createWsClient({
    url: wsUrl(),
    lazy: false,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    // graphql-ws doubles its wait without bound; a studio tab should be back within seconds of the server.
    retryWait: (retries) =>
      new Promise((resolve) => setTimeout(resolve, Math.min(1000 * 2 ** retries, 10_000) * (0.5 + Math.random() / 2))),
    keepAlive: 10_000,
    // 4401 is fatal to graphql-ws (no retry): the revocation handler below opens a fresh connection instead,
    // and does so for a restriction's 4403 too (one restart, not graphql-ws's retries on the old connection).
    onNonLazyError: (error) => {
      if (!endedByServer(error)) console.error(error);
    },
    on: {
      connecting: (isRetry) => current() && state.set(isRetry ? "reconnecting" : "connecting"),
      connected: () => current() && state.set("connected"),
      // The client retries forever, so a closed socket always means a reconnect is coming.
      closed: (event) => {
        if (!current()) return;
        state.set("reconnecting");
        if (endedByServer(event)) {
          // A restriction started: the banner asks for it at once (its live message may not have arrived).
          if (isRestrictionClose(event)) recheckRestrictions();
          // Signed out here or elsewhere, or restricted: reconnect with whatever credential the browser has now.
          // Unless something restarted it meanwhile (signing out does); at most one restart a second.
          const wait = Math.max(0, lastRestartAt + 1000 - Date.now());
          setTimeout(() => current() && restartLiveConnection(), wait);
          for (const listener of revokedListeners) listener();
        }
      },
    },
  });
  return wsClient;
}

interface LiveOperation {
  /** (Re)starts the operation on the given connection, ending its previous run. */
  start(client: WsClient): void;
}

/** The subscriptions of the page, so a new connection can take them over. */
const liveOperations = new Set<LiveOperation>();
/** Those the server refused for an ALL restriction: they wait, silent, to start again when it ends. */
const waitingOperations = new Set<LiveOperation>();

/** A subscription's `error` message that says the account is restricted (not a fault of the operation). */
function refusedForRestriction(error: unknown): boolean {
  return (
    Array.isArray(error) &&
    error.some((e) => (e as { extensions?: { code?: unknown } } | null)?.extensions?.code === "ACCOUNT_RESTRICTED")
  );
}

/** Starts again the subscriptions refused while the account was restricted (call it when the restriction ends). */
export function resumeRestrictedSubscriptions(): void {
  if (!waitingOperations.size) return;
  const client = getWsClient();
  for (const operation of [...waitingOperations]) operation.start(client);
}

/**
 * Replaces the live connection by a new one that authenticates with the browser's current cookie, and moves
 * every running subscription onto it. Call it after signing in or out.
 */
export function restartLiveConnection(): void {
  lastRestartAt = Date.now();
  const previous = wsClient;
  wsClient = undefined;
  const fresh = getWsClient();
  for (const operation of liveOperations) operation.start(fresh);
  void previous?.dispose();
}

/** Calls `listener` when the server closes the live connection because its credential was revoked. */
export function onCredentialRevoked(listener: () => void): () => void {
  revokedListeners.add(listener);
  return () => revokedListeners.delete(listener);
}

interface ResultSink {
  next(value: ExecutionResult): void;
  error(error: unknown): void;
  complete(): void;
}

/** A subscription that survives connection restarts: urql sees one stream across connections. */
function subscribeLive(payload: SubscribePayload, sink: ResultSink): () => void {
  let stopRun: (() => void) | undefined;
  const operation: LiveOperation = {
    start(client) {
      stopRun?.();
      waitingOperations.delete(operation);
      let active = true;
      const finish = () => {
        active = false;
        liveOperations.delete(operation);
      };
      const unsubscribe = client.subscribe(payload, {
        next: (value) => active && sink.next(value as ExecutionResult),
        error: (error) => {
          // A revoked credential: the restart that follows resubscribes on the new connection.
          if (!active || endedByServer(error)) return;
          if (refusedForRestriction(error)) {
            // The restriction banner says why; the page keeps what it shows until the restriction ends.
            active = false;
            waitingOperations.add(operation);
            recheckRestrictions();
            return;
          }
          finish();
          sink.error(error);
        },
        complete: () => {
          if (!active) return;
          finish();
          sink.complete();
        },
      });
      stopRun = () => {
        active = false;
        unsubscribe();
      };
    },
  };
  liveOperations.add(operation);
  operation.start(getWsClient());
  return () => {
    liveOperations.delete(operation);
    waitingOperations.delete(operation);
    stopRun?.();
  };
}

/** codegen's hash of a document (`sha256:<hex>`), as the hex digest automatic persisted queries carry. */
function documentHash(document: unknown): string | undefined {
  const hash = (document as { __meta__?: { hash?: unknown } }).__meta__?.hash;
  return typeof hash === "string" ? hash.replace(/^sha256:/, "") : undefined;
}

/** The studio's urql client: queries and mutations over HTTP POST, subscriptions over graphql-ws. */
export function createGraphQLClient(): Client {
  return new Client({
    url: "/graphql",
    // Apollo's CSRF prevention refuses simple GET requests.
    preferGetMethod: false,
    fetchOptions: { credentials: "same-origin" },
    exchanges: [
      cacheExchange,
      // Queries and mutations go by the hash codegen computed (persisted-documents.json): the server serves
      // them as trusted documents; one it does not know answers PersistedQueryNotFound and urql then sends
      // the text once (automatic persisted queries).
      persistedExchange({
        preferGetForPersistedQueries: false,
        enableForMutation: true,
        generateHash: async (_query, document) => documentHash(document),
      }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? "" };
          return {
            subscribe(sink) {
              return { unsubscribe: subscribeLive(input, sink) };
            },
          };
        },
      }),
    ],
  });
}
