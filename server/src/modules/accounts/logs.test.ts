import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREATE_API_KEY, bearer, errorCode, signIn, uniqueEmail, wsClient } from "../../../test/factories.js";
import { captureLogs, startTestApp, type LogCapture, type TestApp } from "../../../test/harness.js";
import { startTestSmtp, type TestSmtp } from "../../../test/smtp.js";

let logs: LogCapture;
let smtp: TestSmtp;
let t: TestApp;
beforeAll(async () => {
  logs = captureLogs();
  smtp = await startTestSmtp();
  t = await startTestApp({ LOG_LEVEL: "info", SMTP_URL: smtp.url }, { logDestination: logs.stream });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

const ME = `{ me { id } }`;

describe("nothing secret in logs", () => {
  it("logs requests of a sign-in, session use (cookie and bearer) and API-key use without any secret", async () => {
    const email = uniqueEmail("secretive");
    const password = "my very secret passphrase 42";
    const newPassword = "another secret passphrase 43";
    const account = await t.app.services.accounts.createVerified(email, password);
    const linesBefore = logs.lines().length;

    // A failed and a successful sign-in: both carry a password in the variables.
    expect(errorCode(await signIn(t, email, "a wrong secret guess 41"))).toBe("INVALID_CREDENTIALS");
    const signedIn = await signIn(t, email, password, { "user-agent": "log-test" });
    expect(signedIn.body.errors).toBeUndefined();
    const token = signedIn.body.data!.signIn.token;

    // The session token, as a cookie and as a bearer token.
    const viaCookie = await t.graphql<{ me: { id: string } }>(ME, undefined, { cookie: `novart_session=${token}` });
    expect(viaCookie.body.data?.me.id).toBe(account.id);
    const viaBearer = await t.graphql<{ me: { id: string } }>(ME, undefined, bearer(token));
    expect(viaBearer.body.data?.me.id).toBe(account.id);

    // An API key: created (the secret is in the answer), used over HTTP and over graphql-ws.
    const created = await t.graphql<{ createApiKey: { secret: string } }>(
      CREATE_API_KEY,
      { input: { name: "logged?", scopes: ["ACCOUNT_READ"] } },
      bearer(token),
    );
    const secret = created.body.data!.createApiKey.secret;
    const viaKey = await t.graphql<{ me: { id: string } }>(ME, undefined, bearer(secret));
    expect(viaKey.body.data?.me.id).toBe(account.id);
    const ws = wsClient(t, secret);
    try {
      const answer = await ws.client.iterate({ query: ME }).next();
      expect(answer.value).toMatchObject({ data: { me: { id: account.id } } });
    } finally {
      await ws.dispose();
    }
    // A forged key of the right shape, and a password change (two passwords in one request).
    const forged = secret.slice(0, -4) + "AAAA";
    expect((await t.graphql(ME, undefined, bearer(forged))).status).toBe(401);
    const changed = await t.graphql(
      `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ok } }`,
      { input: { currentPassword: password, newPassword } },
      bearer(token),
    );
    expect(changed.body.errors).toBeUndefined();

    // A verification link opened in the browser carries its token in the query string.
    const linkToken = "link-token-of-a-verification-mail-7f3a9c";
    await fetch(`${t.url}/verify-email?token=${linkToken}`).then((res) => res.arrayBuffer());

    // The requests were logged (one line each, written when the response finished)…
    const lines = logs.lines().slice(linesBefore);
    const requests = lines.filter((l) => l.msg === "request" && (l.req as { url?: string })?.url === "/graphql");
    expect(requests.length).toBeGreaterThanOrEqual(8);
    // …with what they were and who sent them, but no header (credentials and cookies live there).
    expect(requests.every((l) => (l.req as { headers?: unknown }).headers === undefined)).toBe(true);
    expect(requests.some((l) => (l.req as { userAgent?: string }).userAgent === "log-test")).toBe(true);
    expect(lines.some((l) => l.msg === "request" && (l.req as { url?: string }).url === "/verify-email")).toBe(true);

    // …and no secret appears anywhere in the output, whole or in part.
    const text = logs.text();
    const secrets = {
      password,
      newPassword,
      wrongPassword: "a wrong secret guess 41",
      sessionToken: token,
      sessionTokenRandomPart: token.slice("nvs_".length),
      apiKey: secret,
      apiKeyRandomPart: secret.split("_").slice(2).join("_"),
      forgedKey: forged,
      linkToken,
    };
    for (const [name, value] of Object.entries(secrets)) {
      expect(value.length, name).toBeGreaterThan(16);
      expect(text.includes(value), `${name} found in the log`).toBe(false);
    }
  });
});

describe("request log lines", () => {
  it("writes exactly one line per request, under the caller's x-request-id", async () => {
    const res = await fetch(`${t.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "log-abc" },
      body: JSON.stringify({ query: "{ models { slug } }" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("log-abc");
    await res.arrayBuffer();

    const ofRequest = () => logs.lines().filter((l) => l.reqId === "log-abc" && l.msg === "request");
    await expect.poll(() => ofRequest().length, { timeout: 5_000 }).toBe(1);
    // A later request has its own id, and nothing more was written under this one meanwhile.
    const other = await fetch(`${t.url}/healthz`, { headers: { "x-request-id": "log-def" } });
    await other.arrayBuffer();
    await expect.poll(() => logs.lines().filter((l) => l.reqId === "log-def").length, { timeout: 5_000 }).toBe(1);
    const [line] = ofRequest();
    expect(line).toMatchObject({
      reqId: "log-abc",
      req: { method: "POST", url: "/graphql" },
      res: { statusCode: 200 },
    });
    expect(ofRequest()).toHaveLength(1);

    // An id that is not sane (too long, or with spaces) is replaced, not logged as given.
    const bad = await fetch(`${t.url}/healthz`, { headers: { "x-request-id": "log abc" } });
    await bad.arrayBuffer();
    expect(bad.headers.get("x-request-id")).not.toBe("log abc");
  });
});
