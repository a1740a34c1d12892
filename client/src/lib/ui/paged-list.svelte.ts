import type { CombinedError } from "@urql/core";
import { errorMessage } from "$lib/graphql/errors";

/** The part of a Relay connection a list needs. */
export interface Connection<T> {
  edges: readonly { node: T }[];
  pageInfo: { endCursor?: string | null; hasNextPage: boolean };
}

/** What fetching one page answered: the connection, or why there is none. */
export interface PageResult<T> {
  connection?: Connection<T> | null;
  error?: CombinedError;
}

export interface PagedListOptions<T> {
  /** Said when the answer has neither data nor an error. */
  failure: string;
  /** How a further page joins the items shown; by default the ones not shown yet go below. */
  merge?: (shown: T[], fresh: T[]) => T[];
}

/**
 * One view of a cursor-paged list, newest first: the first page, "Load more" pages after it, and the state a
 * page shows (loading, loaded, error). A load started later wins: an older answer arriving after it is dropped.
 */
export class PagedList<T extends { id: string }> {
  items = $state<T[]>([]);
  hasMore = $state(false);
  /** The first page has arrived (the list may be empty). */
  loaded = $state(false);
  loading = $state(false);
  error = $state<string | null>(null);

  readonly #fetchPage: (after: string | null) => Promise<PageResult<T>>;
  readonly #options: PagedListOptions<T>;
  #endCursor: string | null = null;
  #request = 0;

  constructor(fetchPage: (after: string | null) => Promise<PageResult<T>>, options: PagedListOptions<T>) {
    this.#fetchPage = fetchPage;
    this.#options = options;
  }

  /** Changes with every load: an answer fetched outside `load` is stale when it changed meanwhile. */
  get generation(): number {
    return this.#request;
  }

  /** The first page (`more` false) or the page after the last one shown. */
  async load(more = false): Promise<void> {
    const mine = ++this.#request;
    this.loading = true;
    this.error = null;
    const result = await this.#fetchPage(more ? this.#endCursor : null);
    if (mine !== this.#request) return;
    this.loading = false;
    if (result.error || !result.connection) {
      this.error = result.error ? errorMessage(result.error) : this.#options.failure;
      return;
    }
    const page = result.connection;
    const fresh = page.edges.map((edge) => edge.node);
    this.items = more ? (this.#options.merge ?? appendUnseen)(this.items, fresh) : fresh;
    this.#endCursor = page.pageInfo.endCursor ?? null;
    this.hasMore = page.pageInfo.hasNextPage;
    this.loaded = true;
  }

  /** An item after a change, in its place; a new one (`isNew`) on top, unknown ones left to the next load. */
  put(item: T, { isNew = false } = {}): void {
    const index = this.items.findIndex((shown) => shown.id === item.id);
    if (index >= 0) this.items[index] = item;
    else if (isNew) this.items = [item, ...this.items];
  }
}

function appendUnseen<T extends { id: string }>(shown: T[], fresh: T[]): T[] {
  const ids = new Set(shown.map((item) => item.id));
  return [...shown, ...fresh.filter((item) => !ids.has(item.id))];
}
