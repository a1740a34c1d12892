/**
 * What the browser tests share: each file starts the built server of its own (a fresh database, a test SMTP
 * server, a free port) and Debian's chromium, and closes them again; plus the helpers every file needs.
 */
import path from "node:path";
import pg from "pg";
import type { Browser, Page } from "playwright-core";
import { expect } from "vitest";
import { databaseUrl, dropDatabase, freshDatabaseName } from "../../server/test/database.js";
import { REDIS_URL } from "../../server/test/harness.js";
import { freePort, runServer, type ServerProcess } from "../../server/test/processes.js";
import { startTestSmtp, type TestSmtp } from "../../server/test/smtp.js";
import { launchBrowser, SCREENSHOT_DIR } from "./browser.js";

/** A GraphQL answer as the server sends it. */
export interface Answer<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** An account to register, confirm and sign in with. */
export interface Person {
  email: string;
  password: string;
  name: string;
}

/** A running server with its own database and SMTP server, reached at `base`. */
export interface StudioServer {
  /** `http://127.0.0.1:<port>`, also the server's PUBLIC_URL, so mailed links open here. */
  base: string;
  /** The database's name (`databaseUrl(database)` connects to it). */
  database: string;
  /** The server process (after `restartServer()`, the new one). */
  readonly server: ServerProcess;
  smtp: TestSmtp;
  /** A POST to /graphql, with a session token or API key as bearer if given; the answer as it is. */
  graphql<T>(query: string, variables?: Record<string, unknown>, bearer?: string): Promise<Answer<T>>;
  /** The same, asserting the answer has no errors; its data. */
  graphqlData<T>(query: string, variables?: Record<string, unknown>, bearer?: string): Promise<T>;
  /** Registers over GraphQL (accepting the current terms) and confirms through the mailed link; the account's id. */
  createAccount(who: Person): Promise<string>;
  /** A session token, signed in over GraphQL. */
  signInToken(who: { email: string; password: string }): Promise<string>;
  /** Makes an account a moderator (no API does yet: the role is set where the server keeps it). */
  makeModerator(email: string): Promise<void>;
  /** Signs in through the form, asked for from `next`, and waits to land on `landing` (the page `next` leads to). */
  signIn(page: Page, email: string, password: string, next: string, landing?: string): Promise<void>;
  /** Runs the server again, same port, database and environment (after `server.stop()`), and waits until it is up. */
  restartServer(): Promise<void>;
  /** Stops the server and SMTP server and drops the database (and closes the browser, if any). */
  close(): Promise<void>;
}

/** A server as above, and Debian's chromium to drive the studio it serves. */
export interface Studio extends StudioServer {
  browser: Browser;
}

export interface StudioOptions {
  /** The seeded tiers as they ship, instead of raised limits (see `runServer`). */
  realTiers?: boolean;
}

const RUNNING = /Novart Studio is running/;
// Starting takes long on a busy machine (migrations of a fresh database); the hook allows 180 s.
const START_TIMEOUT_MS = 90_000;

/** Starts a server (the common environment with `env` on top) and chromium alongside it. */
export async function startStudio(env: Record<string, string> = {}, options: StudioOptions = {}): Promise<Studio> {
  // With `withBrowser`, start has launched it.
  return (await start(env, options, true)) as Studio;
}

/** Starts a server as `startStudio` does, without a browser (for tests that only call the API). */
export async function startStudioServer(
  env: Record<string, string> = {},
  options: StudioOptions = {},
): Promise<StudioServer> {
  return start(env, options, false);
}

async function start(
  fileEnv: Record<string, string>,
  options: StudioOptions,
  withBrowser: boolean,
): Promise<StudioServer & { browser?: Browser }> {
  const database = freshDatabaseName();
  let smtp: TestSmtp | undefined;
  let server: ServerProcess | undefined;
  let browser: Browser | undefined;
  const closeAll = async () => {
    await browser?.close();
    await server?.stop();
    await smtp?.close();
    await dropDatabase(database);
  };
  try {
    smtp = await startTestSmtp();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      DATABASE_URL: databaseUrl(database),
      REDIS_URL,
      REDIS_PREFIX: `novart-e2e-${port}`,
      PORT: String(port),
      HEARTBEAT_INTERVAL_MS: "500",
      SMTP_URL: smtp.url,
      // Mailed links point at this server, so they open in the test browser.
      PUBLIC_URL: base,
      ...fileEnv,
    };
    const runOptions = { realTiers: options.realTiers };
    server = runServer(env, runOptions);
    if (withBrowser) {
      [browser] = await Promise.all([launchBrowser(), server.waitForOutput(RUNNING, START_TIMEOUT_MS)]);
    } else {
      await server.waitForOutput(RUNNING, START_TIMEOUT_MS);
    }

    const graphql = async <T>(
      query: string,
      variables: Record<string, unknown> = {},
      bearer?: string,
    ): Promise<Answer<T>> => {
      const res = await fetch(`${base}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as Answer<T>;
    };
    const graphqlData = async <T>(
      query: string,
      variables: Record<string, unknown> = {},
      bearer?: string,
    ): Promise<T> => {
      const answer = await graphql<T>(query, variables, bearer);
      expect(answer.errors, JSON.stringify(answer.errors)).toBeUndefined();
      return answer.data!;
    };
    const mail = smtp;

    return {
      base,
      database,
      get server() {
        return server!;
      },
      smtp,
      browser,
      graphql,
      graphqlData,
      async createAccount(who) {
        const terms = await graphqlData<{ termsOfUse: { version: number } }>("{ termsOfUse { version } }");
        await graphqlData("mutation ($input: RegisterInput!) { register(input: $input) { ok } }", {
          input: {
            email: who.email,
            password: who.password,
            displayName: who.name,
            acceptTermsVersion: terms.termsOfUse.version,
          },
        });
        const confirmation = await mail.waitForMail(who.email);
        const link = confirmation.links.find((l) => l.startsWith(`${base}/verify-email?token=`));
        expect(link).toBeTruthy();
        const verified = await graphqlData<{ verifyEmail: { account: { id: string } } }>(
          "mutation ($input: TokenInput!) { verifyEmail(input: $input) { account { id } } }",
          { input: { token: new URL(link!).searchParams.get("token") } },
        );
        return verified.verifyEmail.account.id;
      },
      async signInToken(who) {
        const data = await graphqlData<{ signIn: { token: string } }>(
          "mutation ($input: SignInInput!) { signIn(input: $input) { token } }",
          { input: { email: who.email, password: who.password } },
        );
        return data.signIn.token;
      },
      async makeModerator(email) {
        const db = new pg.Client({ connectionString: databaseUrl(database) });
        await db.connect();
        try {
          await db.query(`UPDATE account SET role = 'MODERATOR' WHERE email = $1`, [email]);
        } finally {
          await db.end();
        }
      },
      async signIn(page, email, password, next, landing = next) {
        await page.goto(`${base}/sign-in?next=${encodeURIComponent(next)}`);
        await page.getByTestId("sign-in-form").waitFor();
        await page.getByLabel("Email").fill(email);
        await page.getByLabel("Password", { exact: true }).fill(password);
        await page.getByRole("button", { name: "Sign in", exact: true }).click();
        await page.waitForURL(`${base}${landing}`);
      },
      async restartServer() {
        server = runServer(env, runOptions);
        await server.waitForOutput(RUNNING, START_TIMEOUT_MS);
      },
      close: closeAll,
    };
  } catch (error) {
    // Nothing may outlive a failed start: the file's afterAll has no studio to close.
    await closeAll().catch(() => {});
    throw error;
  }
}

/** Console errors and uncaught exceptions of a page; GraphQL errors are answers, not console errors. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

/**
 * The screenshot function of a test file: `shot(page, name)` writes `<prefix>-<name>.png` to the screenshot
 * folder, of the full page unless `fullPage` is false. With `fromTop`, a full-page shot scrolls to the top
 * first (a scrolled page would draw the sticky header mid-way).
 */
export function screenshots(prefix: string, { fromTop = false }: { fromTop?: boolean } = {}) {
  return async function shot(page: Page, name: string, fullPage = true): Promise<void> {
    if (fromTop && fullPage) await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${prefix}-${name}.png`), fullPage });
  };
}
