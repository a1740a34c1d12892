import type { Client } from "@urql/core";
import {
  AdminAccountsDocument,
  LimitRequestsDocument,
  type AccountSummaryRowFragment,
  type LimitRequestRowFragment,
  type LimitRequestStatus,
} from "$lib/graphql/generated/graphql";
import { PagedList } from "$lib/ui/paged-list.svelte";

const PAGE_SIZE = 20;

/**
 * One view of the limit requests (newest first, one status or all), with "Load more", and the accounts that
 * made them (email, name, plan), looked up once each: a request carries only its account's id.
 */
export class RequestList {
  /** The requests shown, with their paging state. */
  readonly pages: PagedList<LimitRequestRowFragment>;
  accounts = $state<Record<string, AccountSummaryRowFragment | null>>({});

  readonly #client: Client;

  constructor(client: Client, status: LimitRequestStatus | null) {
    this.#client = client;
    this.pages = new PagedList(
      async (after) => {
        const result = await client
          .query(LimitRequestsDocument, { status, first: PAGE_SIZE, after }, { requestPolicy: "network-only" })
          .toPromise();
        const connection = result.data?.limitRequests;
        if (connection) void this.#lookUp(connection.edges.map((edge) => edge.node.accountId));
        return { connection, error: result.error };
      },
      { failure: "The requests could not be loaded." },
    );
  }

  /** The account after a decision changed its plan. */
  async refreshAccount(accountId: string): Promise<void> {
    delete this.accounts[accountId];
    await this.#lookUp([accountId], "network-only");
  }

  async #lookUp(ids: string[], requestPolicy: "cache-first" | "network-only" = "cache-first"): Promise<void> {
    const missing = ids.filter((id, index) => ids.indexOf(id) === index && !(id in this.accounts));
    await Promise.all(
      missing.map(async (id) => {
        const result = await this.#client
          .query(AdminAccountsDocument, { filter: { search: id, includeDeleted: true }, first: 1 }, { requestPolicy })
          .toPromise();
        if (result.data) this.accounts[id] = result.data.adminAccounts.edges[0]?.node ?? null;
      }),
    );
  }
}
