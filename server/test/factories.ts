import { randomBytes } from "node:crypto";
import { createClient, type Client, type CloseCode } from "graphql-ws";
import WebSocket from "ws";
import { AccountRole, type AccountEntity } from "../src/modules/accounts/account.entity.js";
import { messageTopic } from "../src/modules/accounts/accounts.topics.js";
import { LedgerKind } from "../src/modules/credits/ledger-entry.entity.js";
import type { TestApp } from "./harness.js";

/** A password that passes the policy (long enough, not on the common list). */
export const PASSWORD = "correct horse battery staple";

/** A fresh address per call, so tests in one file never collide. */
export function uniqueEmail(label = "user"): string {
  return `${label}-${randomBytes(4).toString("hex")}@example.com`;
}

export interface SignedInUser {
  account: AccountEntity;
  email: string;
  password: string;
  /** The session token (`nvs_…`). */
  token: string;
  sessionId: string;
  /** `Authorization: Bearer <token>` for `t.graphql`. */
  headers: Record<string, string>;
}

/**
 * A verified account (current terms accepted) with a session. The session comes from the session service
 * directly, not through `signIn`, so setup spends neither the per-IP sign-in budget nor an argon2 check;
 * tests about signing in use the `signIn` mutation (see `signIn` below).
 */
export async function signedInUser(
  t: TestApp,
  options: { email?: string; password?: string; role?: AccountRole; userAgent?: string } = {},
): Promise<SignedInUser> {
  const email = options.email ?? uniqueEmail();
  const password = options.password ?? PASSWORD;
  const account = await t.app.services.accounts.createVerified(email, password, options.role ?? AccountRole.USER);
  const session = await newSession(t, account.id, options.userAgent);
  return { account, email, password, ...session };
}

/** Another session of an existing account (as if it signed in on a second device). */
export async function newSession(
  t: TestApp,
  accountId: string,
  userAgent = "vitest",
): Promise<{ token: string; sessionId: string; headers: Record<string, string> }> {
  const { session, token } = await t.app.services.sessions.create(accountId, userAgent, "127.0.0.1");
  return { token, sessionId: session.id, headers: bearer(token) };
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

export const SIGN_IN = `mutation($input: SignInInput!) {
  signIn(input: $input) { token expiresAt account { id email emailVerified mustAcceptTerms } }
}`;

export type SignInData = {
  signIn: { token: string; expiresAt: string; account: { id: string; email: string; mustAcceptTerms: boolean } };
};

/** The `signIn` mutation (spends the sign-in budgets, like a real client). */
export function signIn(t: TestApp, email: string, password: string, headers: Record<string, string> = {}) {
  return t.graphql<SignInData>(SIGN_IN, { input: { email, password } }, headers);
}

export const CREATE_API_KEY = `mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret apiKey { id name prefix scopes createdAt lastUsedAt expiresAt revokedAt } }
}`;

export type ApiKeyScopeName = "TASKS_READ" | "TASKS_WRITE" | "ASSETS_READ" | "ACCOUNT_READ";

/** Creates an API key through the mutation, as the signed-in user; returns its id and secret. */
export async function createApiKey(
  t: TestApp,
  user: { headers: Record<string, string> },
  scopes: ApiKeyScopeName[] = ["ACCOUNT_READ"],
  name = "test key",
): Promise<{ id: string; secret: string; headers: Record<string, string> }> {
  const res = await t.graphql<{ createApiKey: { secret: string; apiKey: { id: string } } }>(
    CREATE_API_KEY,
    { input: { name, scopes } },
    user.headers,
  );
  if (res.body.errors) throw new Error(`createApiKey failed: ${JSON.stringify(res.body.errors)}`);
  const { secret, apiKey } = res.body.data!.createApiKey;
  return { id: apiKey.id, secret, headers: bearer(secret) };
}

/** The first error's code of a GraphQL answer. */
export const errorCode = (res: { body: { errors?: { extensions?: { code?: string } }[] } }) =>
  res.body.errors?.[0]?.extensions?.code;

export interface TestWsClient {
  client: Client;
  /** Resolves once the server acknowledged `connection_init` (the credential is checked by then). */
  connected: Promise<void>;
  /** Resolves with the close code when the socket closes. */
  closed: Promise<number>;
  /** The close code, or a clear failure when the socket is still open after `timeoutMs`. */
  closeCode(timeoutMs?: number): Promise<number>;
  dispose(): Promise<void>;
}

/**
 * A graphql-ws client authenticated by `connection_init` `{ authorization }` (anonymous without a token);
 * `upgradeHeaders` go on the HTTP upgrade request (a browser's cookie and Origin). It connects at once (not
 * lazily) so `connected` can be awaited before the test acts.
 */
export function wsClient(t: TestApp, token?: string, upgradeHeaders?: Record<string, string>): TestWsClient {
  let onConnected!: () => void;
  let onClosed!: (code: number) => void;
  const connected = new Promise<void>((resolve) => (onConnected = resolve));
  const closed = new Promise<number>((resolve) => (onClosed = resolve));
  const client = createClient({
    url: t.url.replace("http", "ws") + "/graphql",
    webSocketImpl: upgradeHeaders
      ? class extends WebSocket {
          constructor(address: string, protocols?: string | string[]) {
            super(address, protocols, { headers: upgradeHeaders });
          }
        }
      : WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: token ? { authorization: `Bearer ${token}` } : undefined,
    // The eager connection reports close codes here too; without a handler graphql-ws would throw them.
    onNonLazyError: () => undefined,
    on: {
      connected: () => onConnected(),
      closed: (event) => onClosed((event as { code: CloseCode | number }).code),
    },
  });
  const closeCode = (timeoutMs = 5_000) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the WebSocket was still open after ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([closed, late]).finally(() => clearTimeout(timer));
  };
  return { client, connected, closed, closeCode, dispose: async () => void (await client.dispose()) };
}

/** Polls until `check` returns a value that is not undefined (an awaited condition, not a fixed sleep). */
export async function waitFor<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves once the API process has subscribed in Redis to the account's message topic. */
export function messageTopicSubscribed(t: TestApp, accountId: string): Promise<true> {
  const channel = t.app.pubsub.channel(messageTopic(accountId));
  return waitFor(async () => {
    const [, count] = (await t.app.redis.call("PUBSUB", "NUMSUB", channel)) as [string, number];
    return count > 0 ? true : undefined;
  }, `a Redis subscriber on ${channel}`);
}

/**
 * Paid credits on an account, as a store recharge adds them (reference `s:<account>`, so once per account).
 * `t`: any app in the test (a TestApp, or a fault environment's setup app).
 */
export async function recharge(t: Pick<TestApp, "app">, accountId: string, paid: number): Promise<void> {
  await t.app.services.ledger.credit({
    accountId,
    kind: LedgerKind.RECHARGE,
    paid,
    bonus: 0,
    reference: `s:${accountId}`,
  });
}
