import type { DataSource } from "typeorm";
import { NotFoundError, UnauthenticatedError } from "../../infra/errors.js";
import type { PubSubBus } from "../../infra/pubsub.js";
import { queryPrepared } from "../../infra/sql.js";
import { randomToken, sha256 } from "../../infra/tokens.js";
import type { AccountRole } from "./account.entity.js";
import { CREDENTIALS_REVOKED, type CredentialsRevokedEvent } from "./accounts.topics.js";
import { SessionEntity } from "./session.entity.js";
import { CredentialCache } from "./credential-cache.js";
import { API_SCOPES, viewerRestrictions, type RestrictionsJson, type Viewer } from "./viewer.js";

export const SESSION_COOKIE = "novart_session";
const SESSION_PREFIX = "nvs_";
/** last_seen_at (and the sliding expiry) is written at most this often per session. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Session, account and restrictions in one round trip. The restrictions in force are the risk module's
 * rule (RestrictionService.active: not lifted, not ended, newest first), read here so that a request
 * authenticates with one statement; the risk module still owns and writes the table.
 */
const AUTHENTICATE_SQL = `
  SELECT s.id, s.account_id, s.last_seen_at, s.expires_at, a.role,
         (SELECT json_agg(json_build_object('scopes', r.scopes, 'reason', r.reason, 'endsAt', r.ends_at)
                          ORDER BY r.created_at DESC)
            FROM account_restriction r
           WHERE r.account_id = s.account_id AND r.lifted_at IS NULL AND (r.ends_at IS NULL OR r.ends_at > now())
         ) AS restrictions
    FROM session s JOIN account a ON a.id = s.account_id
   WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND a.deleted_at IS NULL`;

interface SessionRow {
  id: string;
  account_id: string;
  last_seen_at: Date;
  expires_at: Date;
  role: AccountRole;
  restrictions: RestrictionsJson;
}

export interface NewSession {
  session: SessionEntity;
  token: string;
}

/** Sessions: opaque random tokens, stored as SHA-256, with a sliding expiry. */
export class SessionService {
  /** Sessions and API keys that resolved lately (both services use it; `announce` invalidates it). */
  readonly credentials: CredentialCache;

  constructor(
    private readonly db: DataSource,
    private readonly pubsub: PubSubBus,
    private readonly ttlDays: number,
  ) {
    this.credentials = new CredentialCache(pubsub);
  }

  private get repo() {
    return this.db.getRepository(SessionEntity);
  }

  async create(accountId: string, userAgent: string, ip: string): Promise<NewSession> {
    const token = SESSION_PREFIX + randomToken(32);
    const now = new Date();
    const session = await this.repo.save(
      this.repo.create({
        accountId,
        tokenHash: sha256(token),
        userAgent: userAgent.slice(0, 512),
        ip: ip.slice(0, 64),
        lastSeenAt: now,
        expiresAt: new Date(now.getTime() + this.ttlDays * 86_400_000),
        revokedAt: null,
      }),
    );
    return { session, token };
  }

  static isSessionToken(token: string): boolean {
    return token.startsWith(SESSION_PREFIX);
  }

  /**
   * The viewer of a live session token, or null: from this process's cache when it resolved lately (no
   * SQL), else one prepared statement (session, account and the restrictions in force); a throttled touch.
   */
  async authenticate(token: string): Promise<Viewer | null> {
    const hash = sha256(token);
    const now = Date.now();
    const cached = this.credentials.get(hash, now);
    if (cached) {
      if (now - cached.touchedAt > TOUCH_INTERVAL_MS) {
        cached.touchedAt = now;
        this.touch(cached.viewer.sessionId!);
      }
      return { ...cached.viewer, restrictions: [] };
    }
    const epoch = this.credentials.beginLookup();
    const row = (await queryPrepared<SessionRow>(this.db, AUTHENTICATE_SQL, [hash]))[0];
    if (!row) return null;
    let touchedAt = row.last_seen_at.getTime();
    if (now - touchedAt > TOUCH_INTERVAL_MS) {
      touchedAt = now;
      this.touch(row.id);
    }
    const viewer: Viewer = {
      accountId: row.account_id,
      role: row.role,
      via: "SESSION",
      sessionId: row.id,
      apiKeyId: null,
      scopes: API_SCOPES,
      restrictions: viewerRestrictions(row.restrictions),
    };
    this.credentials.remember(hash, epoch, viewer, row.expires_at.getTime(), touchedAt, now);
    return viewer;
  }

  /**
   * Slides last_seen_at and the expiry; conditional, so concurrent requests (and processes) of one session
   * write once a minute; not awaited by the request.
   */
  private touch(id: string): void {
    void this.db
      .query(
        `UPDATE session SET last_seen_at = now(), expires_at = now() + make_interval(days => $2)
          WHERE id = $1 AND last_seen_at < now() - interval '1 minute'`,
        [id, this.ttlDays],
      )
      .catch(() => undefined);
  }

  listActive(accountId: string): Promise<SessionEntity[]> {
    return this.db
      .getRepository(SessionEntity)
      .createQueryBuilder("s")
      .where("s.account_id = :accountId AND s.revoked_at IS NULL AND s.expires_at > now()", { accountId })
      .orderBy("s.last_seen_at", "DESC")
      .getMany();
  }

  /** Revokes one session of the account; another account's id answers NOT_FOUND. */
  async revoke(accountId: string, sessionId: string): Promise<SessionEntity> {
    const result = await this.repo
      .createQueryBuilder()
      .update()
      .set({ revokedAt: () => "now()" })
      .where("id = :sessionId AND account_id = :accountId AND revoked_at IS NULL", { sessionId, accountId })
      .returning("*")
      .execute();
    const raw = (result.raw as Record<string, unknown>[])[0];
    if (!raw) throw new NotFoundError("Session");
    this.announce({ accountId, sessionIds: [sessionId], apiKeyIds: [] });
    return this.repo.findOneByOrFail({ id: sessionId });
  }

  /** Ends every session of the account, but `keepSessionId` when given. Returns how many ended. */
  async revokeAll(accountId: string, keepSessionId: string | null = null): Promise<number> {
    const rows = (await this.db.query(
      `UPDATE session SET revoked_at = now()
        WHERE account_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2::uuid) RETURNING id`,
      [accountId, keepSessionId],
    )) as [{ id: string }[], number];
    const ids = rows[0].map((r) => r.id);
    if (ids.length) this.announce({ accountId, sessionIds: ids, apiKeyIds: [] });
    return ids.length;
  }

  /**
   * Tells every process that credentials of the account changed (revoked, restricted, role changed,
   * deleted): this one drops its cached ones at once, the others when the message arrives.
   */
  announce(event: CredentialsRevokedEvent): void {
    this.credentials.forget(event.accountId);
    this.pubsub.publish(CREDENTIALS_REVOKED, event);
  }

  /** The Set-Cookie value for a new session, or for clearing it (`token` null). */
  static cookie(token: string | null, secure: boolean, maxAgeSeconds: number): string {
    const parts = [
      `${SESSION_COOKIE}=${token ?? ""}`,
      "Path=/",
      "HttpOnly",
      "SameSite=Lax",
      `Max-Age=${token ? maxAgeSeconds : 0}`,
    ];
    if (secure) parts.push("Secure");
    return parts.join("; ");
  }
}

/** Reads the credential of a request: `Authorization: Bearer …` first, then the session cookie. */
export function credentialFrom(headers: Record<string, string | string[] | undefined>): {
  token: string;
  source: "bearer" | "cookie";
} | null {
  const authorization = headers.authorization;
  if (typeof authorization === "string" && authorization.trim()) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw new UnauthenticatedError("The Authorization header must be `Bearer <token>`.");
    return { token: match[1], source: "bearer" };
  }
  const cookie = headers.cookie;
  if (typeof cookie === "string") {
    for (const part of cookie.split(";")) {
      const [name, ...rest] = part.trim().split("=");
      if (name === SESSION_COOKIE && rest.length) {
        const value = rest.join("=");
        if (value) return { token: value, source: "cookie" };
      }
    }
  }
  return null;
}
