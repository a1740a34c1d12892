import type { Client } from "@urql/core";
import { errorMessage } from "$lib/graphql/errors";
import {
  SendTestWebhookDocument,
  WebhookDeliveriesDocument,
  type WebhookDeliveryRowFragment,
} from "$lib/graphql/generated/graphql";

export type TestOutcome =
  | { state: "sending" }
  | { state: "error"; message: string }
  | { state: "delivery"; delivery: WebhookDeliveryRowFragment; gaveUp: boolean };

const POLL_MS = 1000;
const POLL_LIMIT_MS = 30_000;

/**
 * Sends a `webhook.test` event to an endpoint and reports how its delivery goes, asking the delivery log
 * once a second until it has an answer (or 30 s passed: it keeps retrying on the server, the log shows it).
 * Answers a function that stops the polling.
 */
export function sendTestDelivery(client: Client, endpointId: string, report: (outcome: TestOutcome) => void) {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const started = Date.now();

  async function poll(deliveryId: string) {
    if (stopped) return;
    const result = await client
      .query(WebhookDeliveriesDocument, { endpointId, first: 20 }, { requestPolicy: "network-only" })
      .toPromise();
    if (stopped) return;
    const delivery = result.data?.webhookDeliveries.edges.map((e) => e.node).find((d) => d.id === deliveryId);
    const gaveUp = Date.now() - started > POLL_LIMIT_MS;
    if (delivery) report({ state: "delivery", delivery, gaveUp: gaveUp && delivery.status === "PENDING" });
    if ((!delivery || delivery.status === "PENDING") && !gaveUp)
      timer = setTimeout(() => void poll(deliveryId), POLL_MS);
  }

  report({ state: "sending" });
  void client
    .mutation(SendTestWebhookDocument, { input: { id: endpointId } })
    .toPromise()
    .then((result) => {
      if (stopped) return;
      if (result.error || !result.data) {
        report({ state: "error", message: result.error ? errorMessage(result.error) : "The test could not be sent." });
        return;
      }
      const delivery = result.data.sendTestWebhook.delivery;
      report({ state: "delivery", delivery, gaveUp: false });
      timer = setTimeout(() => void poll(delivery.id), 300);
    });

  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
