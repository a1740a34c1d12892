import type { Client } from "@urql/core";
import {
  AdminAccountsDocument,
  type AccountSearchInput,
  type AccountSummaryRowFragment,
} from "$lib/graphql/generated/graphql";
import { PagedList } from "$lib/ui/paged-list.svelte";

const PAGE_SIZE = 25;

/** One view of the account search (newest first): the first page and "Load more" pages after it. */
export function accountList(client: Client, filter: AccountSearchInput): PagedList<AccountSummaryRowFragment> {
  return new PagedList(
    async (after) => {
      const result = await client
        .query(AdminAccountsDocument, { filter, first: PAGE_SIZE, after }, { requestPolicy: "network-only" })
        .toPromise();
      return { connection: result.data?.adminAccounts, error: result.error };
    },
    { failure: "The accounts could not be loaded." },
  );
}
