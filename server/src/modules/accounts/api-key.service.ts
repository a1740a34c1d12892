import { parseInput } from "../../infra/validation.js";
import type { DataSource } from "typeorm";
import { z } from "zod";
import { BadUserInputError, NotFoundError } from "../../infra/errors.js";
import { queryPrepared } from "../../infra/sql.js";
import { digestsEqual, randomCode, randomToken, sha256 } from "../../infra/tokens.js";
import type { AccountRole } from "./account.entity.js";
import { ApiKeyEntity } from "./api-key.entity.js";
import type { SessionService } from "./session.service.js";
import { API_SCOPES, viewerRestrictions, type RestrictionsJson, type Viewer } from "./viewer.js";

const KEY_PREFIX = "nvk_";
const KEY_PATTERN = /^nvk_([0-9A-Z]{12})_([A-Za-z0-9_-]{43})$/;
const MAX_ACTIVE_KEYS = 50;
/** last_used_at is written at most once a minute per key (and process), not on every request. */
const TOUCH_INTERVAL_MS = 60_000;
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
  restrictions: RestrictionsJson;
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
 * A key that resolved is kept per process by the SHA-256 of the whole key for a few seconds, never past its
 * expiry (credential-cache.ts, shared with sessions), so a request with a known key costs no SQL.
 */
export class ApiKeyService {
  constructor(
    private readonly db: DataSource,
    /** Announces revocations, and holds the cache of resolved credentials (keys and sessions alike). */
    private readonly sessions: SessionService,
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
    this.sessions.announce({ accountId, sessionIds: [], apiKeyIds: [id] });
    return this.repo.findOneByOrFail({ id });
  }

  /** Revokes every key of an account (account deletion, restrictions). */
  async revokeAll(accountId: string): Promise<void> {
    await this.db.query(`UPDATE api_key SET revoked_at = now() WHERE account_id = $1 AND revoked_at IS NULL`, [
      accountId,
    ]);
    this.sessions.announce({ accountId, sessionIds: [], apiKeyIds: "ALL" });
  }

  /**
   * The viewer of a valid key, or null for a malformed, unknown, revoked or expired one: from this process's
   * cache when it resolved lately (no SQL), else one prepared statement (key, account, restrictions).
   */
  async authenticate(token: string): Promise<Viewer | null> {
    const match = KEY_PATTERN.exec(token);
    if (!match) return null;
    const cache = this.sessions.credentials;
    const hash = sha256(token);
    const now = Date.now();
    const cached = cache.get(hash, now);
    if (cached) {
      if (now - cached.touchedAt > TOUCH_INTERVAL_MS) {
        cached.touchedAt = now;
        this.touch(cached.viewer.apiKeyId!);
      }
      return { ...cached.viewer, restrictions: [] };
    }
    const epoch = cache.beginLookup();
    const row = (await queryPrepared<KeyRow>(this.db, AUTHENTICATE_SQL, [match[1]]))[0];
    if (!row || !digestsEqual(row.secret_hash, hash)) return null;
    let touchedAt = row.last_used_at?.getTime() ?? 0;
    if (now - touchedAt > TOUCH_INTERVAL_MS) {
      touchedAt = now;
      this.touch(row.id);
    }
    const viewer: Viewer = {
      accountId: row.account_id,
      role: row.role,
      via: "API_KEY",
      sessionId: null,
      apiKeyId: row.id,
      scopes: row.scopes,
      restrictions: viewerRestrictions(row.restrictions),
    };
    cache.remember(hash, epoch, viewer, row.expires_at?.getTime() ?? null, touchedAt, now);
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
}
