import type { Client } from "@urql/core";
import { AuditLogDocument, type AuditEntryRowFragment } from "$lib/graphql/generated/graphql";
import { PagedList } from "$lib/ui/paged-list.svelte";

const PAGE_SIZE = 25;

export interface AuditFilters {
  action: string | null;
  actorId: string | null;
}

/** One filtered view of the audit log, newest first, with "Load more". */
export function auditList(client: Client, filters: AuditFilters): PagedList<AuditEntryRowFragment> {
  return new PagedList(
    async (after) => {
      const result = await client
        .query(AuditLogDocument, { ...filters, first: PAGE_SIZE, after }, { requestPolicy: "network-only" })
        .toPromise();
      return { connection: result.data?.auditLog, error: result.error };
    },
    { failure: "The audit log could not be loaded." },
  );
}
