import type { Client } from "@urql/core";
import { errorMessage } from "$lib/graphql/errors";
import { mergeDeliveries } from "./events";
import {
  RedeliverWebhookDocument,
  WebhookDeliveriesDocument,
  type WebhookDeliveryRowFragment,
  type WebhookDeliveryStatus,
} from "$lib/graphql/generated/graphql";
import { PagedList } from "$lib/ui/paged-list.svelte";

const PAGE_SIZE = 20;

export interface DeliveryFilters {
  endpointId: string | null;
  taskId: string | null;
  status: WebhookDeliveryStatus | null;
}

/**
 * One view of the delivery log (newest first): the first page, "Load more" pages after it, and a refresh that
 * updates deliveries still being tried and adds new ones on top.
 */
export class DeliveryList {
  /** The deliveries shown, with their paging state. */
  readonly pages: PagedList<WebhookDeliveryRowFragment>;

  readonly #client: Client;
  readonly filters: DeliveryFilters;

  constructor(client: Client, filters: DeliveryFilters) {
    this.#client = client;
    this.filters = filters;
    this.pages = new PagedList(
      async (after) => {
        const result = await this.#query(after);
        return { connection: result.data?.webhookDeliveries, error: result.error };
      },
      { failure: "The delivery log could not be loaded.", merge: mergeDeliveries },
    );
  }

  /** Whether a delivery shown is still being tried (worth asking again soon). */
  get pending(): boolean {
    return this.pages.items.some((d) => d.status === "PENDING");
  }

  #query(after: string | null, first = PAGE_SIZE) {
    const { endpointId, taskId, status } = this.filters;
    return this.#client
      .query(WebhookDeliveriesDocument, { endpointId, taskId, status, first, after }, { requestPolicy: "network-only" })
      .toPromise();
  }

  /**
   * Asks for the newest deliveries again, as many as the pages shown, and merges them: statuses and attempts
   * move on, new deliveries appear on top. Failures are silent; the list stays as it was.
   */
  async refresh(): Promise<void> {
    const pages = this.pages;
    if (!pages.loaded || pages.loading) return;
    const mine = pages.generation;
    const result = await this.#query(null, Math.min(100, Math.max(PAGE_SIZE, pages.items.length)));
    if (mine !== pages.generation || !result.data) return;
    const fresh = result.data.webhookDeliveries.edges.map((edge) => edge.node);
    // Changes of a delivery can move it out of a status filter: keep it shown until the next load.
    pages.items = mergeDeliveries(pages.items, fresh);
  }

  /** Sends a delivery again from its first try; answers an error message, or null. */
  async redeliver(id: string): Promise<string | null> {
    const result = await this.#client.mutation(RedeliverWebhookDocument, { input: { id } }).toPromise();
    if (result.error || !result.data) return result.error ? errorMessage(result.error) : "Try again.";
    this.pages.items = mergeDeliveries(this.pages.items, [result.data.redeliverWebhook.delivery]);
    return null;
  }
}
