import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";

/** The default configuration: private addresses refused, checked at connect time. */
let t: TestApp;
let user: SignedInUser;
let hits = 0;
let loopback: http.Server;
let port: number;

beforeAll(async () => {
  loopback = http.createServer((_req, res) => {
    hits++;
    res.end("ok");
  });
  await new Promise<void>((r) => loopback.listen(0, "127.0.0.1", r));
  port = (loopback.address() as AddressInfo).port;
  t = await startTestApp({ WEBHOOK_RETRY_SCHEDULE_MS: "0", WEBHOOK_TIMEOUT_MS: "2000" });
  user = await signedInUser(t);
});
afterAll(async () => {
  await t?.close();
  await new Promise((r) => loopback.close(r));
});

async function attemptTo(url: string): Promise<{ status: string; error: string | null }> {
  const created = await t.graphql<{ createWebhookEndpoint: { endpoint: { id: string } } }>(
    `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }`,
    { input: { url, events: ["task.failed"] } },
    user.headers,
  );
  const sent = await t.graphql<{ sendTestWebhook: { delivery: { id: string } } }>(
    `mutation($input: IdInput!) { sendTestWebhook(input: $input) { delivery { id } } }`,
    { input: { id: created.body.data!.createWebhookEndpoint.endpoint.id } },
    user.headers,
  );
  const id = sent.body.data!.sendTestWebhook.delivery.id;
  let result = { status: "PENDING", error: null as string | null };
  await expect
    .poll(
      async () => {
        const rows = (await t.app.db.query(
          `SELECT d.status, (SELECT error FROM webhook_attempt a WHERE a.delivery_id = d.id LIMIT 1) AS error FROM webhook_delivery d WHERE d.id = $1`,
          [id],
        )) as { status: string; error: string | null }[];
        result = rows[0];
        return result.status;
      },
      { timeout: 10_000 },
    )
    .toBe("FAILED");
  return result;
}

describe("SSRF protection (WEBHOOK_ALLOW_PRIVATE off)", () => {
  it.each([
    ["loopback", () => `http://127.0.0.1:${port}/hook`],
    ["a private network", () => "http://10.1.2.3/hook"],
    ["the cloud metadata address", () => "http://169.254.169.254/latest/meta-data/"],
    ["IPv6 loopback", () => `http://[::1]:${port}/hook`],
    ["a name resolving to loopback", () => `http://localhost:${port}/hook`],
  ])("refuses %s at connect time", async (_label, url) => {
    const before = hits;
    const result = await attemptTo(url());
    expect(result.status).toBe("FAILED");
    expect(result.error).toBeTruthy();
    expect(hits).toBe(before);
  });
});

describe("redirects", () => {
  it("never follows a redirect (to loopback or anywhere)", async () => {
    const allowing = await startTestApp({ WEBHOOK_ALLOW_PRIVATE: "true", WEBHOOK_RETRY_SCHEDULE_MS: "0" });
    const redirector = http.createServer((_req, res) =>
      res.writeHead(302, { location: `http://127.0.0.1:${port}/inner` }).end(),
    );
    await new Promise<void>((r) => redirector.listen(0, "127.0.0.1", r));
    try {
      const u = await signedInUser(allowing);
      const url = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}/outer`;
      const created = await allowing.graphql<{ createWebhookEndpoint: { endpoint: { id: string } } }>(
        `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }`,
        { input: { url, events: ["task.failed"] } },
        u.headers,
      );
      const before = hits;
      await allowing.graphql(
        `mutation($input: IdInput!) { sendTestWebhook(input: $input) { delivery { id } } }`,
        { input: { id: created.body.data!.createWebhookEndpoint.endpoint.id } },
        u.headers,
      );
      await expect
        .poll(
          async () =>
            ((await allowing.app.db.query(`SELECT error FROM webhook_attempt`)) as { error: string }[])[0]?.error,
          { timeout: 10_000 },
        )
        .toBe("redirects are not followed");
      expect(hits).toBe(before);
    } finally {
      await allowing.close();
      await new Promise((r) => redirector.close(r));
    }
  });
});
