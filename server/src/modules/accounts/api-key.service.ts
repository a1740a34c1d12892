import { parseInput } from "../../infra/validation.js";
import type { DataSource } from "typeorm";
import { z } from "zod";
import { BadUserInputError, NotFoundError } from "../../infra/errors.js";
import type { PubSubBus } from "../../infra/pubsub.js";
import { queryPrepared } from "../../infra/sql.js";
import { digestsEqual, randomCode, randomToken, sha256 } from "../../infra/tokens.js";
import type { AccountRole } from "./account.entity.js";
import { CREDENTIALS_REVOKED, type CredentialsRevokedEvent } from "./accounts.topics.js";
import { ApiKeyEntity } from "./api-key.entity.js";
import type { SessionService } from "./session.service.js";
import { API_SCOPES, type Viewer, type ViewerRestriction } from "./viewer.js";
import { LRUCache } from "lru-cache";

const KEY_PREFIX = "nvk_";
const KEY_PATTERN = /^nvk_([0-9A-Z]{12})_([A-Za-z0-9_-]{43})$/;
const MAX_ACTIVE_KEYS = 50;
/** last_used_at is written at most once a minute per key (and process), not on every request. */
const TOUCH_INTERVAL_MS = 60_000;
/**
 * A resolved key is reused by a process for at most this long. Revocation, restriction and deletion reach
 * every process at once (CREDENTIALS_REVOKED on the pub/sub bus); this only bounds what a lost message or a
 * change written around the services (by hand in the database) can cost.
 */
const CACHE_TTL_MS = 10_000;
/** Resolved keys kept per process, least recently used dropped first. */
const CACHE_MAX = 10_000;

/**
 * The key (by lookup id), its account and the restrictions in force in one round trip. Restrictions are the
 * risk module's rule (RestrictionService.active: not lifted, not ended, newest first), read here as the
 * session lookup does; the risk module still owns and writes the table.
 */
const AUTHENTICATE_SQL = `
  SELECT k.id, k.account_id, k.secret_hash, k.scopes, k.last_used_at, k.expires_at, a.role,
         (SELECT json_agg(json_build_object('scopes', r.scopes, 'reason', r.reason, 'endsAt', r.ends_at)
                          ORDER BY r.created_at DESC)
            FROM account_restriction r
           WHERE r.account_id = k.account_id AND r.lifted_at IS NULL AND (r.ends_at IS NULL OR r.ends_at > now())
         ) AS restrictions
    FROM api_key k JOIN account a ON a.id = k.account_id
   WHERE k.lookup_id = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
     AND a.deleted_at IS NULL`;

interface KeyRow {
  id: string;
  account_id: string;
  secret_hash: string;
  scopes: string[];
  last_used_at: Date | null;
  expires_at: Date | null;
  role: AccountRole;
  restrictions: { scopes: string[]; reason: string; endsAt: string | null }[] | null;
}

interface CachedKey {
  /** The viewer the key resolved to (an account without restrictions in force: only those are kept). */
  viewer: Viewer;
  /** Epoch milliseconds: the TTL, or the key's expiry when sooner. */
  validUntil: number;
  /** When last_used_at was last written (or read) by this process. */
  touchedAt: number;
}

const createSchema = z.object({
  name: z.string().trim().min(1, "Give the key a name").max(80),
  scopes: z.array(z.enum(API_SCOPES)).min(1, "Choose at least one scope"),
  expiresAt: z
    .date()
    .nullable()
    .refine((d) => d === null || d.getTime() > Date.now(), "The expiry must be in the future"),
});

export interface NewApiKey {
  apiKey: ApiKeyEntity;
  secret: string;
}

/**
 * Developer API keys: `nvk_<lookup id>_<32 random bytes>`. The lookup id finds the row through a unique
 * index; the SHA-256 of the whole key is compared in constant time (argon2 would cost ~20 ms per request).
 *
 * A key that resolved is kept per process by the SHA-256 of the whole key for a few seconds (CACHE_TTL_MS,
 * never past its expiry), so a request with a known key costs no SQL. Every process drops an account's keys
 * as soon as CREDENTIALS_REVOKED names the account (a key revoked, a restriction started, the account
 * deleted); keys of accounts with a restriction in force are never kept, so lifting one needs no message.
 */
export class ApiKeyService {
  /** Resolved keys by SHA-256 of the key; the least recently used go first when it is full. */
  private readonly cache = new LRUCache<string, CachedKey>({ max: CACHE_MAX });
  /** Bumped by every invalidation: a lookup that began before one does not fill the cache. */
  private epoch = 0;
  private listening = false;

  constructor(
    private readonly db: DataSource,
    private readonly sessions: SessionService,
    /** The bus CREDENTIALS_REVOKED travels on: every process drops the revoked keys from its cache. */
    private readonly pubsub: PubSubBus,
  ) {}

  private get repo() {
    return this.db.getRepository(ApiKeyEntity);
  }

  static isApiKey(token: string): boolean {
    return token.startsWith(KEY_PREFIX);
  }

  static visiblePrefix(key: ApiKeyEntity): string {
    return `${KEY_PREFIX}${key.lookupId}`;
  }

  async create(
    accountId: string,
    input: { name: string; scopes: string[]; expiresAt?: Date | null },
  ): Promise<NewApiKey> {
    const valid = parseInput(createSchema, { ...input, expiresAt: input.expiresAt ?? null });
    const active = await this.repo
      .createQueryBuilder("k")
      .where("k.account_id = :accountId AND k.revoked_at IS NULL", { accountId })
      .getCount();
    if (active >= MAX_ACTIVE_KEYS) {
      throw new BadUserInputError(`At most ${MAX_ACTIVE_KEYS} active keys per account: revoke one first.`);
    }
    const lookupId = randomCode(12);
    const secret = `${KEY_PREFIX}${lookupId}_${randomToken(32)}`;
    const apiKey = await this.repo.save(
      this.repo.create({
        accountId,
        name: valid.name,
        lookupId,
        secretHash: sha256(secret),
        scopes: [...new Set(valid.scopes)],
        expiresAt: valid.expiresAt,
        lastUsedAt: null,
        revokedAt: null,
      }),
    );
    return { apiKey, secret };
  }

  list(accountId: string): Promise<ApiKeyEntity[]> {
    return this.repo.find({ where: { accountId }, order: { createdAt: "DESC" } });
  }

  async revoke(accountId: string, id: string): Promise<ApiKeyEntity> {
    const result = await this.repo
      .createQueryBuilder()
      .update()
      .set({ revokedAt: () => "now()" })
      .where("id = :id AND account_id = :accountId AND revoked_at IS NULL", { id, accountId })
      .returning("id")
      .execute();
    if (!(result.raw as unknown[]).length) {
      const existing = await this.repo.findOneBy({ id, accountId });
      if (!existing) throw new NotFoundError("API key");
      return existing; // already revoked: revoking again is a no-op
    }
    this.forget(accountId);
    this.sessions.announce({ accountId, sessionIds: [], apiKeyIds: [id] });
    return this.repo.findOneByOrFail({ id });
  }

  /** Revokes every key of an account (account deletion, restrictions). */
  async revokeAll(accountId: string): Promise<void> {
    await this.db.query(`UPDATE api_key SET revoked_at = now() WHERE account_id = $1 AND revoked_at IS NULL`, [
      accountId,
    ]);
    this.forget(accountId);
    this.sessions.announce({ accountId, sessionIds: [], apiKeyIds: "ALL" });
  }

  /**
   * The viewer of a valid key, or null for a malformed, unknown, revoked or expired one: from this process's
   * cache when it resolved lately (no SQL), else one prepared statement (key, account, restrictions).
   */
  async authenticate(token: string): Promise<Viewer | null> {
    const match = KEY_PATTERN.exec(token);
    if (!match) return null;
    this.listen();
    const hash = sha256(token);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && now < cached.validUntil) {
      if (now - cached.touchedAt > TOUCH_INTERVAL_MS) {
        cached.touchedAt = now;
        this.touch(cached.viewer.apiKeyId!);
      }
      return { ...cached.viewer, restrictions: [] };
    }
    const epoch = this.epoch;
    const row = (await queryPrepared<KeyRow>(this.db, AUTHENTICATE_SQL, [match[1]]))[0];
    if (!row || !digestsEqual(row.secret_hash, hash)) return null;
    let touchedAt = row.last_used_at?.getTime() ?? 0;
    if (now - touchedAt > TOUCH_INTERVAL_MS) {
      touchedAt = now;
      this.touch(row.id);
    }
    const restrictions: ViewerRestriction[] = (row.restrictions ?? []).map((r) => ({
      scopes: r.scopes,
      reason: r.reason,
      endsAt: r.endsAt === null ? null : new Date(r.endsAt),
    }));
    const viewer: Viewer = {
      accountId: row.account_id,
      role: row.role,
      via: "API_KEY",
      sessionId: null,
      apiKeyId: row.id,
      scopes: row.scopes,
      restrictions,
    };
    // Not when an invalidation arrived meanwhile (the row may predate the change it announced), nor
    // without the bus that would announce the next one.
    if (!restrictions.length && epoch === this.epoch && this.listening) {
      const validUntil = Math.min(now + CACHE_TTL_MS, row.expires_at?.getTime() ?? Infinity);
      this.cache.set(hash, { viewer: { ...viewer, restrictions: [] }, validUntil, touchedAt });
    }
    return viewer;
  }

  /** Conditional, so concurrent requests (and processes) write once a minute; not awaited by the request. */
  private touch(id: string): void {
    void this.db
      .query(
        `UPDATE api_key SET last_used_at = now()
          WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
        [id],
      )
      .catch(() => undefined);
  }

  /** Drops every cached key of the account (this process); the others hear CREDENTIALS_REVOKED. */
  forget(accountId: string): void {
    this.epoch++;
    const hashes = [...this.cache.entries()].filter(([, entry]) => entry.viewer.accountId === accountId);
    for (const [hash] of hashes) this.cache.delete(hash);
  }

  /**
   * Listens to CREDENTIALS_REVOKED once, from the first authentication (API processes only). Any event of
   * an account drops its keys: revocations name keys, restrictions of any scope and deletions announce too.
   */
  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    const events = this.pubsub.subscribe<CredentialsRevokedEvent>(CREDENTIALS_REVOKED)[Symbol.asyncIterator]();
    void (async () => {
      for (let next = await events.next(); !next.done; next = await events.next()) this.forget(next.value.accountId);
    })().catch(() => {
      // The bus is gone (shutdown): nothing is kept any more, so nothing can go stale.
      this.listening = false;
      this.cache.clear();
    });
  }
}
