import type { Client } from "@urql/core";
import { LedgerDocument, type LedgerKind, type LedgerRowFragment } from "$lib/graphql/generated/graphql";
import { PagedList } from "$lib/ui/paged-list.svelte";
import { unseen } from "./credits";

const PAGE_SIZE = 20;

/**
 * One view of a ledger (newest first): the first page, "Load more" pages after it, and newer entries merged
 * on top. Entries never change once written, so merging by id is exact.
 */
export class LedgerList {
  /** The entries shown, with their paging state. */
  readonly pages: PagedList<LedgerRowFragment>;

  readonly #client: Client;
  readonly #kind: LedgerKind | null;
  readonly #accountId: string | null;

  constructor(client: Client, options: { kind?: LedgerKind | null; accountId?: string | null } = {}) {
    this.#client = client;
    this.#kind = options.kind ?? null;
    this.#accountId = options.accountId ?? null;
    this.pages = new PagedList(
      async (after) => {
        const result = await this.#query(after);
        return { connection: result.data?.ledger, error: result.error };
      },
      { failure: "The ledger could not be loaded." },
    );
  }

  get kind(): LedgerKind | null {
    return this.#kind;
  }

  #query(after: string | null) {
    return this.#client
      .query(
        LedgerDocument,
        { first: PAGE_SIZE, after, kind: this.#kind, accountId: this.#accountId },
        { requestPolicy: "network-only" },
      )
      .toPromise();
  }

  /**
   * Puts entries written since the list was loaded on top, keeping the pages below. Asked when the balance
   * changed elsewhere (a message arrived); a failure here is silent, the list stays as it was.
   */
  async mergeNewest(): Promise<void> {
    if (!this.pages.loaded || this.pages.loading) return;
    const result = await this.#query(null);
    if (!result.data) return;
    this.add(...result.data.ledger.edges.map((edge) => edge.node));
  }

  /** Adds entries this page knows of (a redemption's answer) when they belong to this view. */
  add(...entries: LedgerRowFragment[]): void {
    const shown = this.pages.items;
    const fresh = unseen(shown, entries).filter((e) => !this.#kind || e.kind === this.#kind);
    if (!fresh.length) return;
    this.pages.items = [...fresh, ...shown].sort(
      (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (b.id < a.id ? -1 : 1),
    );
  }
}
