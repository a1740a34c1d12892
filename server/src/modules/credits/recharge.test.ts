import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { LedgerKind } from "./ledger-entry.entity.js";

const SECRET = `whsec_${randomBytes(24).toString("base64")}`;
const OTHER = `whsec_${randomBytes(24).toString("base64")}`;
let t: TestApp;
let accountId: string;

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api", RECHARGE_STORES: `shop=${SECRET},market=${OTHER}`, DATABASE_POOL_SIZE: "10" });
  accountId = (await t.app.services.accounts.createVerified("buyer@example.com", "a fine password 1")).id;
});
afterAll(() => t?.close());

function signed(
  body: unknown,
  { secret = SECRET, at = new Date(), id = `msg_${randomBytes(6).toString("hex")}` } = {},
) {
  const payload = typeof body === "string" ? body : JSON.stringify(body);
  return {
    payload,
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": new Webhook(secret).sign(id, at, payload),
    },
  };
}

async function post(body: unknown, options?: Parameters<typeof signed>[1], extraHeaders: Record<string, string> = {}) {
  const { payload, headers } = signed(body, options);
  const res = await fetch(`${t.url}/api/recharge`, {
    method: "POST",
    headers: { ...headers, ...extraHeaders },
    body: payload,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
}

const balance = () => t.app.services.ledger.balance(accountId);

describe("POST /api/recharge", () => {
  it("credits a signed order once, even delivered five times at once", async () => {
    const order = { store: "shop", orderId: "A-1001", account: "Buyer@Example.com", credits: 300, kind: "PAID" };
    const results = await Promise.all(Array.from({ length: 5 }, () => post(order)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(results.filter((r) => r.body.status === "credited")).toHaveLength(1);
    expect(results.filter((r) => r.body.status === "duplicate")).toHaveLength(4);
    expect(await balance()).toEqual({ paid: 300, bonus: 0 });
    expect(new Set(results.map((r) => r.body.entryId)).size).toBe(1);
  });

  it("takes the account by id and bonus credits too", async () => {
    const res = await post(
      { store: "market", orderId: "B-1", account: accountId, credits: 20, kind: "BONUS" },
      { secret: OTHER },
    );
    expect(res.status).toBe(200);
    expect(res.body.balance).toEqual({ paid: 300, bonus: 20, total: 320 });
  });

  it("refuses bad signatures, another store's secret, stale timestamps and unknown stores, crediting nothing", async () => {
    const before = await balance();
    const order = { store: "shop", orderId: "C-1", account: accountId, credits: 999 };
    const { payload, headers } = signed(order);
    const tampered = await fetch(`${t.url}/api/recharge`, {
      method: "POST",
      headers,
      body: payload.replace("999", "9999"),
    });
    expect(tampered.status).toBe(401);
    expect(((await tampered.json()) as { error: { code: string } }).error.code).toBe("INVALID_SIGNATURE");
    expect((await post(order, { secret: OTHER })).status).toBe(401);
    expect((await post(order, { at: new Date(Date.now() - 6 * 60_000) })).status).toBe(401);
    expect((await post(order, { at: new Date(Date.now() + 6 * 60_000) })).status).toBe(401);
    expect((await post({ ...order, store: "nowhere" })).status).toBe(401);
    expect(await balance()).toEqual(before);
  });

  it("answers bad bodies with clear 4xx JSON errors and credits nothing", async () => {
    const before = await balance();
    const unknown = await post({ store: "shop", orderId: "D-1", account: "nobody@example.com", credits: 5 });
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: "NOT_FOUND" } } });
    const negative = await post({ store: "shop", orderId: "D-2", account: accountId, credits: -5 });
    expect(negative).toMatchObject({ status: 400, body: { error: { code: "BAD_USER_INPUT", field: "credits" } } });
    const fractional = await post({ store: "shop", orderId: "D-3", account: accountId, credits: 1.5 });
    expect(fractional.status).toBe(400);
    const notJson = await post("{ nope", undefined);
    expect(notJson).toMatchObject({ status: 400, body: { error: { code: "BAD_REQUEST" } } });
    const form = await post({ store: "shop", orderId: "D-4", account: accountId, credits: 5 }, undefined, {
      "content-type": "text/plain",
    });
    expect(form.status).toBe(415);
    const huge = await post({ store: "shop", orderId: "D-5", account: accountId, credits: 5, pad: "x".repeat(20_000) });
    expect(huge).toMatchObject({ status: 413, body: { error: { code: "PAYLOAD_TOO_LARGE" } } });
    expect(await balance()).toEqual(before);
  });

  it("refuses a replayed order id with different details", async () => {
    await post({ store: "shop", orderId: "E-1", account: accountId, credits: 10 });
    const changed = await post({ store: "shop", orderId: "E-1", account: accountId, credits: 11 });
    expect(changed).toMatchObject({ status: 409, body: { error: { code: "CONFLICT" } } });
    // The same number of credits, moved from paid to bonus, is a different order too.
    const before = await balance();
    const otherKind = await post({ store: "shop", orderId: "E-1", account: accountId, credits: 10, kind: "BONUS" });
    expect(otherKind).toMatchObject({ status: 409, body: { error: { code: "CONFLICT" } } });
    const same = await post({ store: "shop", orderId: "E-1", account: accountId, credits: 10, kind: "PAID" });
    expect(same).toMatchObject({ status: 200, body: { status: "duplicate" } });
    expect(await balance()).toEqual(before);
  });

  it("refuses an order that would take the balance past the limit with 422, crediting nothing", async () => {
    const rich = (await t.app.services.accounts.createVerified("rich@example.com", "a fine password 1")).id;
    for (let i = 0; i < 10; i++) {
      await t.app.services.ledger.credit({
        accountId: rich,
        kind: LedgerKind.RECHARGE,
        paid: 100_000_000,
        bonus: 0,
        reference: `rich:${i}`,
      });
    }
    const over = await post({ store: "shop", orderId: "R-10", account: rich, credits: 1 });
    expect(over).toMatchObject({
      status: 422,
      body: { error: { code: "BALANCE_LIMIT_REACHED", limit: 1_000_000_000, balance: 1_000_000_000 } },
    });
    expect(await t.app.services.ledger.balance(rich)).toEqual({ paid: 1_000_000_000, bonus: 0 });
  });
});
