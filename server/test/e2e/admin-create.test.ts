import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../database.js";
import { REDIS_URL } from "../harness.js";
import { freePort, runServer, type ServerProcess } from "../processes.js";

/** `npm run admin:create`: the built script against a real database, then a real sign-in as that admin. */
const SCRIPT = path.resolve(import.meta.dirname, "../../dist/server/src/scripts/admin-create.js");

let database: TestDatabase;
let api: ServerProcess | undefined;
const prefix = `novart-test-admin-${randomBytes(4).toString("hex")}`;

beforeAll(async () => {
  database = await createTestDatabase(inject("templateDatabase"));
});
afterAll(async () => {
  await api?.stop("SIGKILL");
  await database?.drop();
});

function adminCreate(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], {
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: database.url,
        REDIS_URL,
        REDIS_PREFIX: prefix,
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function accountRow(email: string) {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ role: string; verified: boolean; password_hash: string }>(
      `SELECT role, email_verified_at IS NOT NULL AS verified, password_hash FROM account WHERE email = $1`,
      [email],
    );
    return rows;
  } finally {
    await client.end();
  }
}

async function sql(text: string, values: unknown[]) {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query(text, values);
  } finally {
    await client.end();
  }
}

describe("npm run admin:create", () => {
  const email = "root.admin@example.com";
  const password = "a long admin passphrase 7";

  it("creates a verified admin, and a second run promotes the account again", { timeout: 90_000 }, async () => {
    const first = await adminCreate(["--email", " Root.Admin@Example.com ", "--password", password]);
    expect(first, first.stderr).toMatchObject({ code: 0, stdout: `created admin ${email}\n` });
    expect(first.stdout + first.stderr).not.toContain(password);
    const [row] = await accountRow(email);
    expect(row).toMatchObject({ role: "ADMIN", verified: true });
    expect(row.password_hash.startsWith("$argon2id$")).toBe(true);

    // Demoted and unverified by hand: a second run (no password needed for an existing account) promotes it.
    await sql(`UPDATE account SET role = 'USER', email_verified_at = NULL WHERE email = $1`, [email]);
    const second = await adminCreate(["--email", email]);
    expect(second, second.stderr).toMatchObject({ code: 0, stdout: `promoted admin ${email}\n` });
    expect(await accountRow(email)).toMatchObject([{ role: "ADMIN", verified: true }]);
    // Still one account, with the password of the first run.
    expect(await accountRow(email)).toHaveLength(1);
  });

  it("refuses without --email, and a new account without a password, with one line each", async () => {
    const usage = await adminCreate([]);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim()).toBe("usage: npm run admin:create -- --email <address> [--password <password>]");

    const noPassword = await adminCreate(["--email", "nobody.yet@example.com"]);
    expect(noPassword.code).toBe(1);
    expect(noPassword.stderr.trim()).toBe("A password is needed to create a new admin account.");
    expect(await accountRow("nobody.yet@example.com")).toEqual([]);

    // ADMIN_PASSWORD stands in for --password.
    const fromEnv = await adminCreate(["--email", "env.admin@example.com"], { ADMIN_PASSWORD: password });
    expect(fromEnv, fromEnv.stderr).toMatchObject({ code: 0, stdout: "created admin env.admin@example.com\n" });
  });

  it("made an account that signs in as ADMIN through the API", { timeout: 90_000 }, async () => {
    const port = await freePort();
    api = runServer({
      ROLE: "api",
      PORT: String(port),
      DATABASE_URL: database.url,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      MIGRATE_ON_START: "false",
      STUDIO_DIR: "/nonexistent",
    });
    await api.waitForOutput(/Novart Studio is running/, 60_000);
    const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: `mutation($input: SignInInput!) { signIn(input: $input) { token account { email role emailVerified } } }`,
        variables: { input: { email, password } },
      }),
    });
    const body = (await res.json()) as {
      data?: { signIn: { token: string; account: { email: string; role: string; emailVerified: boolean } } };
      errors?: unknown[];
    };
    expect(body.errors).toBeUndefined();
    expect(body.data?.signIn.account).toEqual({ email, role: "ADMIN", emailVerified: true });

    // An admin-only query answers for this session.
    const admin = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${body.data!.signIn.token}` },
      body: JSON.stringify({ query: `{ registrationPolicy { mode } }` }),
    });
    const answer = (await admin.json()) as { data?: { registrationPolicy: { mode: string } }; errors?: unknown[] };
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.registrationPolicy.mode).toBeTruthy();
  });
});
