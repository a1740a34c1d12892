import type { Client } from "@urql/core";
import { CodeBatchesDocument, type CodeBatchRowFragment } from "$lib/graphql/generated/graphql";
import { PagedList } from "$lib/ui/paged-list.svelte";

const PAGE_SIZE = 20;

/** The code batches, newest first, with "Load more"; created and changed batches are put in place. */
export function batchList(client: Client): PagedList<CodeBatchRowFragment> {
  return new PagedList(
    async (after) => {
      const result = await client
        .query(CodeBatchesDocument, { first: PAGE_SIZE, after }, { requestPolicy: "network-only" })
        .toPromise();
      return { connection: result.data?.codeBatches, error: result.error };
    },
    { failure: "The batches could not be loaded." },
  );
}
