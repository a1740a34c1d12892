import type pg from "pg";
import type { DataSource, QueryRunner } from "typeorm";
import type { PostgresDriver } from "typeorm/driver/postgres/PostgresDriver.js";
import type { Logger } from "./logger.js";
import type { RedisClient } from "./redis.js";

/**
 * Read replicas for list queries, with read-your-writes.
 *
 * The lists people browse (their tasks, their library) read from a streaming replica when one is configured
 * (`DATABASE_REPLICA_URLS`); everything else stays on the primary. A replica lags, so an account that has
 * just written (created a task, deleted images…) must not read its lists from a replica that has not
 * replayed that write yet. After such a write the account's position in the primary's WAL
 * (`pg_current_wal_insert_lsn()`, taken after commit, so past the commit record even with asynchronous
 * commit) is kept in Redis, shared by
 * every API process; a list of that account then reads from a replica only when the replica's
 * `pg_last_wal_replay_lsn()` is at or past it, else from the primary. The comparison is exact, whatever the
 * lag: no guessed "fresh for N seconds". Each replica connection's last seen replay position is remembered,
 * so an account that wrote costs one extra round trip to the replica only until the replica has caught up.
 *
 * A replica that fails (down, restarting, a recovery conflict) never fails a list: the list is read from the
 * primary, and a replica whose connection failed is left alone for a few seconds.
 */

/** Where each account's last write position is kept: one key per account that wrote recently. */
export interface WriteMarks {
  /** Remembers `lsn` (a `lsnKey`) for the account unless a later one is already there. */
  mark(accountId: string, lsn: string): Promise<void>;
  get(accountId: string): Promise<string | null>;
}

/** How long a write is remembered: far beyond any lag a replica fit to serve lists has. */
const MARK_TTL_MS = 10 * 60_000;
/** How long a replica whose connection failed is skipped. */
const DOWN_MS = 5000;

/** Sets the mark only when it moves forward (two API processes may write for the same account at once). */
const MARK_SCRIPT = `local cur = redis.call('GET', KEYS[1])
if cur and cur >= ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

export class RedisWriteMarks implements WriteMarks {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private key(accountId: string): string {
    return `${this.prefix}:replica:written:${accountId}`;
  }

  async mark(accountId: string, lsn: string): Promise<void> {
    await this.redis.eval(MARK_SCRIPT, 1, this.key(accountId), lsn, String(MARK_TTL_MS));
  }

  get(accountId: string): Promise<string | null> {
    return this.redis.get(this.key(accountId));
  }
}

/**
 * A `pg_lsn` as text (`16/B374D848`) → 16 hex digits, which compare as strings in the same order as the
 * positions (in JavaScript and in Redis's Lua alike). Null stays null (not in recovery, or no LSN).
 */
export function lsnKey(lsn: string | null): string | null {
  if (!lsn) return null;
  const [high, low] = lsn.toUpperCase().split("/");
  return `${high.padStart(8, "0")}${low.padStart(8, "0")}`;
}

/** Where a list reads: a replica's connection (for raw SQL) and a TypeORM runner on it; both absent = primary. */
export interface ReadTarget {
  client?: pg.PoolClient;
  runner?: QueryRunner;
}

const PRIMARY: ReadTarget = Object.freeze({});

interface Replica {
  index: number;
  pool: pg.Pool;
  downUntil: number;
}

type Attempt<T> = { ok: true; value: T } | { ok: false };

export class ReadReplicas {
  private readonly replicas: Replica[];
  private next = 0;
  /**
   * The replay position each connection saw last (a `lsnKey`; it only moves forward). Kept per connection,
   * not per replica URL: behind one URL (a DNS name, a pooler) several servers may answer.
   */
  private readonly replayed = new WeakMap<pg.PoolClient, string>();

  constructor(
    private readonly db: DataSource,
    private readonly marks: WriteMarks,
    private readonly logger: Logger,
  ) {
    const pools = (db.driver as PostgresDriver).slaves as pg.Pool[];
    this.replicas = pools.map((pool, index) => ({ index, pool, downUntil: 0 }));
  }

  /**
   * Runs a list read for `accountId` (null: not about one account's own data) on a replica when that is
   * safe, else on the primary. `read` must only read, and must use the target it is given.
   */
  async read<T>(accountId: string | null, read: (on: ReadTarget) => Promise<T>): Promise<T> {
    const attempt = await this.tryReplica(accountId, read);
    return attempt.ok ? attempt.value : read(PRIMARY);
  }

  /**
   * After a committed write that changes what `accountIds` see in their lists: their lists read from the
   * primary until a replica has replayed this write. Never throws (the write is done; a failure is logged).
   */
  async wrote(...accountIds: string[]): Promise<void> {
    try {
      const [{ lsn }] = (await this.db.query(`SELECT pg_current_wal_insert_lsn()::text AS lsn`)) as { lsn: string }[];
      const key = lsnKey(lsn)!;
      for (const accountId of new Set(accountIds)) await this.marks.mark(accountId, key);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, "could not record a write for read-your-writes");
    }
  }

  private pick(): Replica | null {
    const now = Date.now();
    for (let i = 0; i < this.replicas.length; i++) {
      const replica = this.replicas[(this.next + i) % this.replicas.length];
      if (replica.downUntil <= now) {
        this.next = (replica.index + 1) % this.replicas.length;
        return replica;
      }
    }
    return null;
  }

  private async tryReplica<T>(accountId: string | null, read: (on: ReadTarget) => Promise<T>): Promise<Attempt<T>> {
    const replica = this.pick();
    if (!replica) return { ok: false };
    // The account's mark and a connection at once: the hot path pays one round trip for both.
    const [mark, connection] = await Promise.allSettled([
      accountId ? this.marks.get(accountId) : null,
      replica.pool.connect(),
    ]);
    if (connection.status === "rejected") {
      this.down(replica, connection.reason);
      return { ok: false };
    }
    const client = connection.value;
    if (mark.status === "rejected") {
      // Without the marks nobody can tell whether the replica is recent enough for this account.
      client.release();
      this.logger.warn({ err: (mark.reason as Error).message }, "write marks unavailable; reading from the primary");
      return { ok: false };
    }
    const written = mark.value;
    let broken: Error | undefined;
    try {
      if (written && (this.replayed.get(client) ?? "") < written) {
        const [row] = (await client.query<{ lsn: string | null }>(`SELECT pg_last_wal_replay_lsn()::text AS lsn`)).rows;
        const replayed = lsnKey(row.lsn);
        if (replayed) this.replayed.set(client, replayed);
        if (!replayed || replayed < written) return { ok: false };
      }
      const db = this.db;
      let runner: QueryRunner | undefined;
      const target: ReadTarget = {
        client,
        // TypeORM's runner on this very connection (made on demand), so a query builder reads where the
        // position was checked. The runner is never released: the connection goes back below.
        get runner() {
          if (!runner) {
            runner = db.createQueryRunner("slave");
            (runner as unknown as { databaseConnection: pg.PoolClient }).databaseConnection = client;
          }
          return runner;
        },
      };
      return { ok: true, value: await read(target) };
    } catch (err) {
      const cause = ((err as { driverError?: unknown }).driverError ?? err) as Error & { code?: string };
      if (isConnectionFailure(cause)) {
        broken = cause;
        this.down(replica, cause);
      } else {
        this.logger.debug(
          { err: cause.message, replica: replica.index },
          "replica read failed; reading from the primary",
        );
      }
      return { ok: false };
    } finally {
      client.release(broken);
    }
  }

  private down(replica: Replica, err: unknown): void {
    if (replica.downUntil < Date.now()) {
      this.logger.warn(
        { err: (err as Error).message, replica: replica.index },
        `read replica unavailable; lists read from the primary for ${DOWN_MS / 1000} s`,
      );
    }
    replica.downUntil = Date.now() + DOWN_MS;
  }
}

/**
 * A broken connection or a server that is not accepting queries (a socket error, SQLSTATE classes 08 and
 * 57P, pg's own connection errors), as opposed to a query the replica refused (a recovery conflict, a
 * statement timeout) or an error of the reading code, which leave the replica in use.
 */
function isConnectionFailure(err: Error & { code?: string; syscall?: string }): boolean {
  if (err.syscall) return true;
  const code = err.code ?? "";
  if (/^[0-9A-Z]{5}$/.test(code)) return code.startsWith("08") || code.startsWith("57P");
  return /^Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    err.message,
  );
}

const registry = new WeakMap<DataSource, ReadReplicas>();

/** Turns replica reads on for a data source made with replica URLs (`createDataSource`); a no-op without any. */
export function useReadReplicas(db: DataSource, marks: WriteMarks, logger: Logger): ReadReplicas | undefined {
  if (!((db.driver as PostgresDriver).slaves ?? []).length) return undefined;
  const replicas = new ReadReplicas(db, marks, logger);
  registry.set(db, replicas);
  return replicas;
}

export function readReplicas(db: DataSource): ReadReplicas | undefined {
  return registry.get(db);
}

/** A list read: on a replica when the data source has them and it is safe for the account, else the primary. */
export function readList<T>(
  db: DataSource,
  accountId: string | null,
  read: (on: ReadTarget) => Promise<T>,
): Promise<T> {
  const replicas = registry.get(db);
  return replicas ? replicas.read(accountId, read) : read(PRIMARY);
}

/** After a committed write that the accounts' lists show (see `ReadReplicas.wrote`); a no-op without replicas. */
export async function wroteFor(db: DataSource, ...accountIds: string[]): Promise<void> {
  await registry.get(db)?.wrote(...accountIds);
}
