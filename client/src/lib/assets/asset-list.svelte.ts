import type { Client } from "@urql/core";
import { errorMessage } from "$lib/graphql/errors";
import {
  DeleteLibraryAssetsDocument,
  LibraryAssetByIdDocument,
  LibraryAssetsDocument,
  SetAssetFavoriteDocument,
  type LibraryAssetFragment,
} from "$lib/graphql/generated/graphql";
import { toAssetFilter, withoutIds, type LibraryFilters } from "./library";

const PAGE_SIZE = 40;
/** Signed links live about 15 minutes; past this age they are asked for again before use. */
const URL_FRESH_MS = 10 * 60 * 1000;
/** The server deletes at most this many assets per call. */
const DELETE_BATCH = 500;

/** An asset of the library and when its signed links were made. */
export type LibraryItem = LibraryAssetFragment & { fetchedAt: number };

export type Outcome = { ok: true } | { ok: false; message: string };

/**
 * The library for one set of filters: the first page, pages after it (infinite scroll), and the changes made
 * here (favourite, delete) applied in place. Answers to an older request lose against newer ones.
 */
export class AssetList {
  items = $state<LibraryItem[]>([]);
  hasMore = $state(false);
  /** The first page has arrived (the list may be empty). */
  loaded = $state(false);
  loading = $state(false);
  error = $state<string | null>(null);

  readonly #client: Client;
  #filters: LibraryFilters;
  #endCursor: string | null = null;
  #request = 0;

  constructor(client: Client, filters: LibraryFilters) {
    this.#client = client;
    this.#filters = filters;
  }

  /** The images shown are those of the previous filters, until the new first page arrives. */
  replacing = $state(false);

  /** Starts over with other filters (what is shown stays, dimmed, until the answer comes: no jump). */
  reset(filters: LibraryFilters): void {
    this.#filters = filters;
    this.replacing = this.loaded;
    this.hasMore = false;
    this.error = null;
    this.#endCursor = null;
    void this.load(false);
  }

  /** The first page (`more` false) or the page after the last one shown. */
  async load(more = false): Promise<void> {
    if (more && (this.loading || !this.hasMore)) return;
    const mine = ++this.#request;
    this.loading = true;
    this.error = null;
    const result = await this.#client
      .query(
        LibraryAssetsDocument,
        { first: PAGE_SIZE, after: more ? this.#endCursor : null, filter: toAssetFilter(this.#filters) },
        { requestPolicy: "network-only" },
      )
      .toPromise();
    if (mine !== this.#request) return;
    this.loading = false;
    if (result.error || !result.data) {
      this.error = result.error ? errorMessage(result.error) : "Your images could not be loaded.";
      if (!more) {
        // The first page failed: nothing of the previous filters stays on screen.
        this.items = [];
        this.loaded = false;
        this.replacing = false;
      }
      return;
    }
    const page = result.data.assets;
    const fetchedAt = Date.now();
    const fresh = page.edges.map((edge) => ({ ...edge.node, fetchedAt }));
    if (more) {
      this.items = [
        ...this.items,
        ...withoutIds(
          fresh,
          this.items.map((item) => item.id),
        ),
      ];
    } else {
      this.items = fresh;
    }
    this.#endCursor = page.pageInfo.endCursor ?? null;
    this.hasMore = page.pageInfo.hasNextPage;
    this.loaded = true;
    this.replacing = false;
  }

  get(id: string): LibraryItem | undefined {
    return this.items.find((item) => item.id === id);
  }

  /** Whether the item's signed links are old enough to be asked for again before use. */
  stale(item: LibraryItem): boolean {
    return Date.now() - item.fetchedAt > URL_FRESH_MS;
  }

  /**
   * Asks for one asset again (fresh signed links). An asset that is gone leaves the list; the answer is the
   * item as it is now, or null.
   */
  async refresh(id: string): Promise<LibraryItem | null> {
    const result = await this.#client
      .query(LibraryAssetByIdDocument, { id }, { requestPolicy: "network-only" })
      .toPromise();
    if (result.error || !result.data) return this.get(id) ?? null;
    const asset = result.data.asset;
    if (!asset || asset.status !== "ACTIVE") {
      this.#drop([id]);
      return null;
    }
    const item: LibraryItem = { ...asset, fetchedAt: Date.now() };
    this.items = this.items.map((existing) => (existing.id === id ? item : existing));
    return item;
  }

  /** Marks or unmarks images as favourites: shown at once, put back where the server refused. */
  async setFavorite(ids: string[], favorite: boolean): Promise<Outcome> {
    const before = Object.fromEntries(this.items.filter((i) => ids.includes(i.id)).map((i) => [i.id, i.favorite]));
    this.#patch(ids, favorite);
    const failed: string[] = [];
    let message = "";
    // A few at a time: there is one mutation per image.
    for (let start = 0; start < ids.length; start += 8) {
      const chunk = ids.slice(start, start + 8);
      const results = await Promise.all(
        chunk.map((id) => this.#client.mutation(SetAssetFavoriteDocument, { input: { id, favorite } }).toPromise()),
      );
      results.forEach((result, i) => {
        if (result.error || !result.data) {
          failed.push(chunk[i]);
          message ||= result.error ? errorMessage(result.error) : "The favourite could not be saved.";
        }
      });
    }
    for (const id of failed) this.#patch([id], before[id] ?? !favorite);
    return failed.length ? { ok: false, message } : { ok: true };
  }

  /** Deletes images (their files go at once) and takes them off the list. */
  async delete(ids: string[]): Promise<Outcome> {
    for (let start = 0; start < ids.length; start += DELETE_BATCH) {
      const chunk = ids.slice(start, start + DELETE_BATCH);
      const result = await this.#client.mutation(DeleteLibraryAssetsDocument, { input: { ids: chunk } }).toPromise();
      if (result.error || !result.data) {
        return {
          ok: false,
          message: result.error ? errorMessage(result.error) : "The images could not be deleted.",
        };
      }
      this.#drop(chunk);
    }
    return { ok: true };
  }

  #patch(ids: string[], favorite: boolean): void {
    this.items = this.items.map((item) => (ids.includes(item.id) ? { ...item, favorite } : item));
  }

  #drop(ids: string[]): void {
    this.items = withoutIds(this.items, ids);
  }
}
