import { LRUCache } from "lru-cache";
import { Invalidations } from "../../infra/invalidations.js";
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
 * began before an invalidation does not fill the cache, and nothing is kept while the bus is not heard
 * (see Invalidations).
 */
export class WebhookEndpointCache {
  private readonly entries = new LRUCache<string, { endpoints: EnabledEndpoint[]; validUntil: number }>({
    max: CACHE_MAX,
  });
  private readonly invalidations: Invalidations<WebhookEndpointsChangedEvent>;

  constructor(private readonly pubsub: PubSubBus) {
    this.invalidations = new Invalidations<WebhookEndpointsChangedEvent>(
      pubsub,
      WEBHOOK_ENDPOINTS_CHANGED,
      (event) => this.entries.delete(event.accountId),
      () => this.entries.clear(),
    );
  }

  /** The account's enabled endpoints: cached, or read by `load` (and kept unless a change came meanwhile). */
  async get(accountId: string, load: () => Promise<EnabledEndpoint[]>): Promise<EnabledEndpoint[]> {
    const epoch = this.invalidations.beginRead();
    const now = Date.now();
    const entry = this.entries.get(accountId);
    if (entry && now < entry.validUntil) return entry.endpoints;
    const endpoints = await load();
    if (this.invalidations.mayKeep(epoch)) {
      this.entries.set(accountId, { endpoints, validUntil: now + ENDPOINT_CACHE_TTL_MS });
    }
    return endpoints;
  }

  /** After a change to the account's endpoints was committed: this process forgets at once, the others hear it. */
  changed(accountId: string): void {
    this.invalidations.invalidate();
    this.entries.delete(accountId);
    this.pubsub.publish<WebhookEndpointsChangedEvent>(WEBHOOK_ENDPOINTS_CHANGED, { accountId });
  }
}
