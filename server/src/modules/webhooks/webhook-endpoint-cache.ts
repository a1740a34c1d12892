import { LRUCache } from "lru-cache";
import type { PubSubBus } from "../../infra/pubsub.js";

/** An account's webhook endpoints were created, changed, disabled or deleted: every process drops its copy. */
export const WEBHOOK_ENDPOINTS_CHANGED = "WEBHOOK_ENDPOINTS_CHANGED";

export interface WebhookEndpointsChangedEvent {
  accountId: string;
}

/**
 * An account's enabled endpoints are reused by a process for at most this long. Changes reach every process
 * at once (WEBHOOK_ENDPOINTS_CHANGED); this only bounds what a lost message or a change written by hand costs.
 */
export const ENDPOINT_CACHE_TTL_MS = 10_000;
const CACHE_MAX = 10_000;

/** What a task event needs of an enabled endpoint. */
export interface EnabledEndpoint {
  id: string;
  url: string;
  events: string[];
}

/**
 * The enabled endpoints of accounts that had task events lately (most have none: an empty list is kept too),
 * so a task's events cost no endpoint query in the worker. Same protocol as the credential cache: a lookup that
 * began before an invalidation does not fill the cache, and nothing is kept while the bus is not heard.
 */
export class WebhookEndpointCache {
  private readonly entries = new LRUCache<string, { endpoints: EnabledEndpoint[]; validUntil: number }>({
    max: CACHE_MAX,
  });
  private epoch = 0;
  private listening = false;

  constructor(private readonly pubsub: PubSubBus) {}

  /** The account's enabled endpoints: cached, or read by `load` (and kept unless a change came meanwhile). */
  async get(accountId: string, load: () => Promise<EnabledEndpoint[]>): Promise<EnabledEndpoint[]> {
    this.listen();
    const now = Date.now();
    const entry = this.entries.get(accountId);
    if (entry && now < entry.validUntil) return entry.endpoints;
    const epoch = this.epoch;
    const endpoints = await load();
    if (epoch === this.epoch && this.listening) {
      this.entries.set(accountId, { endpoints, validUntil: now + ENDPOINT_CACHE_TTL_MS });
    }
    return endpoints;
  }

  /** After a change to the account's endpoints was committed: this process forgets at once, the others hear it. */
  changed(accountId: string): void {
    this.forget(accountId);
    this.pubsub.publish<WebhookEndpointsChangedEvent>(WEBHOOK_ENDPOINTS_CHANGED, { accountId });
  }

  private forget(accountId: string): void {
    this.epoch++;
    this.entries.delete(accountId);
  }

  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    const stream = this.pubsub.subscribe<WebhookEndpointsChangedEvent>(WEBHOOK_ENDPOINTS_CHANGED);
    const events = stream[Symbol.asyncIterator]();
    void (async () => {
      for (let next = await events.next(); !next.done; next = await events.next()) this.forget(next.value.accountId);
    })().catch(() => {
      // The bus is gone (shutdown): nothing is kept any more, so nothing can go stale.
      this.listening = false;
      this.entries.clear();
    });
  }
}
