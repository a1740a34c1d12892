import express, { type Request, type Response, type Router } from "express";
import { Webhook } from "standardwebhooks";
import { z } from "zod";
import type { DataSource } from "typeorm";
import type { Logger } from "../../infra/logger.js";
import { AccountEntity } from "../accounts/account.entity.js";
import type { MessageService } from "../accounts/message.service.js";
import { BalanceLimitError } from "./credits.errors.js";
import { CreditKind } from "./code-batch.entity.js";
import { LedgerKind } from "./ledger-entry.entity.js";
import type { LedgerService } from "./ledger.service.js";

const BODY_LIMIT = "16kb";

const orderSchema = z.object({
  store: z.string().min(1).max(64),
  orderId: z.string().trim().min(1).max(120),
  /** The account's email address or id. */
  account: z.string().trim().min(1).max(254),
  credits: z.number().int().min(1).max(10_000_000),
  kind: z.enum(CreditKind).default(CreditKind.PAID),
});

/** `store=whsec_…,other=whsec_…` → signature verifiers by store name. */
export function parseStores(value: string | undefined): Map<string, Webhook> {
  const stores = new Map<string, Webhook>();
  for (const pair of (value ?? "").split(",")) {
    const [name, secret] = pair.trim().split("=", 2);
    if (name && secret) stores.set(name, new Webhook(pair.trim().slice(name.length + 1)));
  }
  return stores;
}

function fail(res: Response, status: number, code: string, message: string, details: Record<string, unknown> = {}) {
  res.status(status).json({ error: { code, message, ...details } });
}

/**
 * `POST /api/recharge`: an external store or payment provider credits an order. Signed the Standard
 * Webhooks way with the store's secret (5-minute timestamp window); idempotent on (store, order id).
 */
export function createRechargeRouter(deps: {
  db: DataSource;
  ledger: LedgerService;
  messages: MessageService;
  logger: Logger;
  stores: Map<string, Webhook>;
}): Router {
  const router = express.Router();
  router.post(
    "/recharge",
    express.raw({ type: () => true, limit: BODY_LIMIT }),
    async (req: Request, res: Response) => {
      if (!String(req.headers["content-type"] ?? "").startsWith("application/json")) {
        return fail(res, 415, "UNSUPPORTED_MEDIA_TYPE", "Send the order as application/json");
      }
      const raw = Buffer.isBuffer(req.body) ? req.body.toString("utf8") : "";
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        return fail(res, 400, "BAD_REQUEST", "The body is not valid JSON");
      }
      const store = typeof (body as { store?: unknown })?.store === "string" ? (body as { store: string }).store : "";
      const verifier = deps.stores.get(store);
      if (!verifier) return fail(res, 401, "INVALID_SIGNATURE", "Unknown store or bad signature");
      try {
        verifier.verify(raw, {
          "webhook-id": String(req.headers["webhook-id"] ?? ""),
          "webhook-timestamp": String(req.headers["webhook-timestamp"] ?? ""),
          "webhook-signature": String(req.headers["webhook-signature"] ?? ""),
        });
      } catch {
        return fail(res, 401, "INVALID_SIGNATURE", "Unknown store or bad signature, or a timestamp outside 5 minutes");
      }
      const parsed = orderSchema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return fail(res, 400, "BAD_USER_INPUT", issue.message, { field: String(issue.path[0] ?? "") });
      }
      const order = parsed.data;
      const repo = deps.db.getRepository(AccountEntity);
      const isId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(order.account);
      const account = isId
        ? await repo.findOneBy({ id: order.account })
        : await repo.findOneBy({ email: order.account.toLowerCase() });
      if (!account || account.deletedAt) return fail(res, 404, "NOT_FOUND", "No such account");

      const paid = order.kind === CreditKind.PAID ? order.credits : 0;
      const bonus = order.kind === CreditKind.BONUS ? order.credits : 0;
      let credited: Awaited<ReturnType<LedgerService["credit"]>>;
      try {
        credited = await deps.ledger.credit({
          accountId: account.id,
          kind: LedgerKind.RECHARGE,
          paid,
          bonus,
          reference: `order:${store}:${order.orderId}`,
          note: `Order ${order.orderId} from ${store}`,
        });
      } catch (err) {
        if (!(err instanceof BalanceLimitError)) throw err;
        return fail(res, 422, err.code, err.message, err.details);
      }
      const { entry, applied } = credited;
      // A replay must be the same order: same account, and the same credits of the same kind (paid vs bonus).
      if (entry.accountId !== account.id || entry.paidDelta !== paid || entry.bonusDelta !== bonus) {
        return fail(res, 409, "CONFLICT", "This order id was already credited with different details");
      }
      if (applied) {
        await deps.messages.send(account.id, {
          kind: "credits.recharged",
          title: `${order.credits} credits added`,
          body: `Your order ${order.orderId} from ${store} was credited: ${order.credits} credits.`,
          link: "/billing",
        });
        deps.logger.info(
          { store, orderId: order.orderId, accountId: account.id, credits: order.credits },
          "recharge credited",
        );
      }
      res.status(200).json({
        status: applied ? "credited" : "duplicate",
        entryId: entry.id,
        balance: { paid: entry.paidAfter, bonus: entry.bonusAfter, total: entry.paidAfter + entry.bonusAfter },
      });
    },
  );
  return router;
}
