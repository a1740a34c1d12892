import { LRUCache } from "lru-cache";
import { Invalidations } from "../../infra/invalidations.js";
import type { PubSubBus } from "../../infra/pubsub.js";
import { CREDENTIALS_REVOKED, type CredentialsRevokedEvent } from "./accounts.topics.js";
import type { Viewer } from "./viewer.js";

/**
 * A resolved credential is reused by a process for at most this long. Revocation, restriction, role changes
 * and deletion reach every process at once (CREDENTIALS_REVOKED on the pub/sub bus); this only bounds what a
 * lost message or a change written around the services (by hand in the database) can cost.
 */
export const CREDENTIAL_CACHE_TTL_MS = 10_000;
/** Resolved credentials kept per process, least recently used dropped first. */
const CACHE_MAX = 10_000;

export interface CachedCredential {
  /** The viewer the credential resolved to (an account without restrictions in force: only those are kept). */
  viewer: Viewer;
  /** Epoch milliseconds: the TTL, or the credential's expiry when sooner. */
  validUntil: number;
  /** When the credential's last-use time was last written (or read) by this process. */
  touchedAt: number;
}

/**
 * Session tokens and API keys that resolved lately, by the SHA-256 of the credential, so a request with a
 * known one costs no SQL. Every process drops an account's entries as soon as CREDENTIALS_REVOKED names the
 * account; viewers with a restriction in force are never kept, so lifting one (or its end) needs no message.
 */
export class CredentialCache {
  private readonly entries = new LRUCache<string, CachedCredential>({ max: CACHE_MAX });
  private readonly invalidations: Invalidations<CredentialsRevokedEvent>;

  constructor(
    /** The bus CREDENTIALS_REVOKED travels on. */
    pubsub: PubSubBus,
  ) {
    this.invalidations = new Invalidations<CredentialsRevokedEvent>(
      pubsub,
      CREDENTIALS_REVOKED,
      (event) => this.drop(event.accountId),
      () => this.entries.clear(),
    );
  }

  /** The live entry for a credential's hash, if any. */
  get(hash: string, now: number): CachedCredential | undefined {
    const entry = this.entries.get(hash);
    if (!entry) return undefined;
    if (now < entry.validUntil) return entry;
    this.entries.delete(hash);
    return undefined;
  }

  /** Call before reading the database: what `remember` needs to know whether an invalidation came between. */
  beginLookup(): number {
    return this.invalidations.beginRead();
  }

  /**
   * Keeps what a lookup begun at `epoch` resolved, unless an invalidation arrived meanwhile (the row may
   * predate the change it announced), the viewer is restricted, or the bus is not heard yet (API processes
   * start listening at their first lookup).
   */
  remember(hash: string, epoch: number, viewer: Viewer, expiresAt: number | null, touchedAt: number, now: number) {
    if (viewer.restrictions?.length || !this.invalidations.mayKeep(epoch)) return;
    const validUntil = Math.min(now + CREDENTIAL_CACHE_TTL_MS, expiresAt ?? Infinity);
    this.entries.set(hash, { viewer: { ...viewer, restrictions: [] }, validUntil, touchedAt });
  }

  /** Drops every entry of the account (this process); the others hear CREDENTIALS_REVOKED. */
  forget(accountId: string): void {
    this.invalidations.invalidate();
    this.drop(accountId);
  }

  private drop(accountId: string): void {
    const hashes = [...this.entries.entries()].filter(([, entry]) => entry.viewer.accountId === accountId);
    for (const [hash] of hashes) this.entries.delete(hash);
  }
}
