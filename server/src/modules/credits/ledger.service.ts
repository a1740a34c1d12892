import type { DataSource, EntityManager } from "typeorm";
import { BadUserInputError } from "../../infra/errors.js";
import { pastCursorSql, decodeCursor, pageSize } from "../../infra/pagination.js";
import { queryPrepared } from "../../infra/sql.js";
import { BalanceLimitError, InsufficientBalanceError } from "./credits.errors.js";
import { LedgerEntryEntity, LedgerKind } from "./ledger-entry.entity.js";

export interface Balance {
  paid: number;
  bonus: number;
}

export interface CreditChange {
  accountId: string;
  kind: LedgerKind;
  paid: number;
  bonus: number;
  reference: string;
  note?: string;
  actorId?: string | null;
}

export interface LedgerResult {
  entry: LedgerEntryEntity;
  /** False when the reference had already been applied: the earlier entry is returned, nothing changed. */
  applied: boolean;
}

type Runner = DataSource | EntityManager;

const MAX_AMOUNT = 100_000_000;
/**
 * The most credits an account may be given (paid + bonus; refunds may go past it, by what was charged): far
 * below the columns' 32-bit limit, so balances, their sums and the GraphQL `Int` fields stay exact.
 */
export const MAX_BALANCE = 1_000_000_000;

interface EntryRow {
  id: string;
  account_id: string;
  kind: LedgerKind;
  paid_delta: number;
  bonus_delta: number;
  paid_after: number;
  bonus_after: number;
  reference: string;
  note: string;
  actor_id: string | null;
  created_at: Date;
}

function toEntry(row: EntryRow): LedgerEntryEntity {
  return Object.assign(new LedgerEntryEntity(), {
    id: row.id,
    accountId: row.account_id,
    kind: row.kind,
    paidDelta: row.paid_delta,
    bonusDelta: row.bonus_delta,
    paidAfter: row.paid_after,
    bonusAfter: row.bonus_after,
    reference: row.reference,
    note: row.note,
    actorId: row.actor_id,
    createdAt: row.created_at,
  });
}

const RETURNING = `id, account_id, kind, paid_delta, bonus_delta, paid_after, bonus_after, reference, note, actor_id, created_at`;

export interface ChargeChange {
  accountId: string;
  amount: number;
  reference: string;
  note?: string;
  kind?: LedgerKind;
}

interface PendingCharge {
  change: ChargeChange;
  resolve: (result: LedgerResult) => void;
  reject: (err: unknown) => void;
}

/** At most this many charges of one account go in one statement. */
const MAX_BATCH = 100;

/**
 * One charge as the CTEs of a statement: `charge_entry` holds the new ledger entry when the charge was
 * made, and no row when the reference is in the ledger already, the balance is short, or `when` is false.
 * The locking read returns the latest committed row after waiting, so the split (bonus first) is computed
 * from the balance the update applies to. A concurrent charge of the same reference that committed
 * meanwhile makes the INSERT fail on the unique reference, which undoes the whole statement.
 *
 * The arguments are SQL expressions of the caller's statement (typed parameters). A caller whose own write
 * must happen only with the charge (a task the charge pays for) builds on `charge_entry`, so the charge,
 * its entry and that write are one statement: the row lock is held for one round trip.
 */
export function chargeCtes(p: {
  accountId: string;
  amount: string;
  kind: string;
  reference: string;
  note: string;
  when?: string;
}): string {
  return `charge_current AS (
    SELECT account_id, paid, bonus, LEAST(bonus, ${p.amount}) AS from_bonus
      FROM credit_account
     WHERE account_id = ${p.accountId} AND (${p.when ?? "true"})
       AND NOT EXISTS (SELECT 1 FROM ledger_entry WHERE reference = ${p.reference})
       FOR UPDATE),
  charge_moved AS (
    UPDATE credit_account c
       SET bonus = charge_current.bonus - charge_current.from_bonus,
           paid = charge_current.paid - (${p.amount} - charge_current.from_bonus),
           updated_at = now()
      FROM charge_current
     WHERE c.account_id = charge_current.account_id AND charge_current.paid + charge_current.bonus >= ${p.amount}
     RETURNING c.paid, c.bonus, charge_current.from_bonus),
  charge_entry AS (
    INSERT INTO ledger_entry (account_id, kind, paid_delta, bonus_delta, paid_after, bonus_after, reference, note, created_at)
    SELECT ${p.accountId}, ${p.kind}, -(${p.amount} - charge_moved.from_bonus), -charge_moved.from_bonus, charge_moved.paid,
           charge_moved.bonus, ${p.reference}, ${p.note}, clock_timestamp()
      FROM charge_moved
    RETURNING ${RETURNING})`;
}

/** One charge as one statement ($1 account, $2 amount, $3 kind, $4 reference, $5 note). */
const CHARGE_ONE_SQL = `WITH ${chargeCtes({
  accountId: "$1::uuid",
  amount: "$2::int",
  kind: "$3::ledger_kind",
  reference: "$4::varchar",
  note: "$5::varchar",
})}
  SELECT * FROM charge_entry`;

/**
 * Several charges of one account ($2 amounts, $3 references, $4 notes, $5 kinds, in order): references in
 * the ledger already answer their entry (applied false); the fresh ones move the balance together, only if
 * it covers their sum. `upto` is the running sum including the charge, so each charge takes what is left
 * of the bonus before it (bonus_before − (upto − amount)) first, then paid.
 */
const CHARGE_MANY_SQL = `
  WITH items AS (
    SELECT * FROM unnest($2::int[], $3::varchar[], $4::varchar[], $5::ledger_kind[])
                  WITH ORDINALITY AS t(amount, reference, note, kind, ord)),
  prior AS (SELECT ${RETURNING} FROM ledger_entry WHERE reference = ANY($3::varchar[])),
  fresh AS (
    SELECT items.*, sum(amount) OVER (ORDER BY ord) AS upto
      FROM items WHERE NOT EXISTS (SELECT 1 FROM prior WHERE prior.reference = items.reference)),
  total AS (SELECT coalesce(sum(amount), 0) AS amount, count(*) AS n FROM fresh),
  current AS (
    SELECT account_id, paid, bonus FROM credit_account
     WHERE account_id = $1 AND (SELECT n FROM total) > 0
       FOR UPDATE),
  moved AS (
    UPDATE credit_account c
       SET bonus = GREATEST(0, current.bonus - total.amount),
           paid = current.paid - GREATEST(0, total.amount - current.bonus),
           updated_at = now()
      FROM current, total
     WHERE c.account_id = current.account_id AND current.paid + current.bonus >= total.amount
     RETURNING current.paid AS paid_before, current.bonus AS bonus_before, clock_timestamp() AS at),
  inserted AS (
    INSERT INTO ledger_entry (account_id, kind, paid_delta, bonus_delta, paid_after, bonus_after, reference, note, created_at)
    SELECT $1, f.kind,
           -(f.amount - LEAST(f.amount, GREATEST(0, m.bonus_before - (f.upto - f.amount)))),
           -LEAST(f.amount, GREATEST(0, m.bonus_before - (f.upto - f.amount))),
           m.paid_before - GREATEST(0, f.upto - m.bonus_before),
           GREATEST(0, m.bonus_before - f.upto),
           f.reference, f.note, m.at + f.ord * interval '1 microsecond'
      FROM fresh f, moved m
    RETURNING ${RETURNING})
  SELECT true AS applied, ${RETURNING} FROM inserted
  UNION ALL
  SELECT false AS applied, ${RETURNING} FROM prior`;

function assertAmount(value: number, field: string) {
  if (!Number.isSafeInteger(value) || Math.abs(value) > MAX_AMOUNT) {
    throw new BadUserInputError(`${field} must be an integer of at most ${MAX_AMOUNT} credits`, { field });
  }
}

function rowsOf(result: unknown): EntryRow[] {
  // pg answers [rows, count] for UPDATE/INSERT through TypeORM's query(); plain rows for SELECT.
  return (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as EntryRow[];
}

/**
 * Every change of a balance goes through here. Entries take `clock_timestamp()` after the row lock is
 * held, so their time order on one account is the order the balance moved in.
 * Each change is one SQL statement that moves the cached
 * balance and appends the ledger entry together, so the row lock is held for one round trip and no
 * partial effect can exist. The unique `reference` makes every change idempotent.
 */
export class LedgerService {
  constructor(private readonly db: DataSource) {}

  async balance(accountId: string, runner: Runner = this.db): Promise<Balance> {
    const rows = (await runner.query(`SELECT paid, bonus FROM credit_account WHERE account_id = $1`, [
      accountId,
    ])) as Balance[];
    return rows[0] ?? { paid: 0, bonus: 0 };
  }

  async balances(accountIds: readonly string[]): Promise<Map<string, Balance>> {
    const rows = (await this.db.query(
      `SELECT account_id, paid, bonus FROM credit_account WHERE account_id = ANY($1::uuid[])`,
      [accountIds],
    )) as (Balance & { account_id: string })[];
    return new Map(rows.map((r) => [r.account_id, { paid: r.paid, bonus: r.bonus }]));
  }

  private async ensureAccount(accountId: string, runner: Runner) {
    await runner.query(`INSERT INTO credit_account (account_id) VALUES ($1) ON CONFLICT DO NOTHING`, [accountId]);
  }

  private async existing(reference: string, runner: Runner): Promise<LedgerEntryEntity | null> {
    const rows = (await runner.query(`SELECT ${RETURNING} FROM ledger_entry WHERE reference = $1`, [
      reference,
    ])) as EntryRow[];
    return rows[0] ? toEntry(rows[0]) : null;
  }

  /** Adds (or, with negative parts, removes) credits; refuses to take a part below zero. */
  async credit(change: CreditChange, runner: Runner = this.db): Promise<LedgerResult> {
    assertAmount(change.paid, "paid");
    assertAmount(change.bonus, "bonus");
    if (!change.reference || change.reference.length > 200) throw new Error("a ledger reference is required");
    const before = await this.existing(change.reference, runner);
    if (before) return { entry: before, applied: false };
    await this.ensureAccount(change.accountId, runner);
    try {
      const result = await runner.query(
        `WITH moved AS (
           UPDATE credit_account SET paid = paid + $2, bonus = bonus + $3, updated_at = now()
            WHERE account_id = $1 AND paid + $2 >= 0 AND bonus + $3 >= 0
              AND ($8::bigint IS NULL OR $2::bigint + $3 <= 0 OR paid::bigint + bonus + $2 + $3 <= $8)
            RETURNING paid, bonus)
         INSERT INTO ledger_entry (account_id, kind, paid_delta, bonus_delta, paid_after, bonus_after, reference, note, actor_id, created_at)
         SELECT $1, $4, $2, $3, moved.paid, moved.bonus, $5, $6, $7, clock_timestamp() FROM moved
         RETURNING ${RETURNING}`,
        [
          change.accountId,
          change.paid,
          change.bonus,
          change.kind,
          change.reference,
          change.note ?? "",
          change.actorId ?? null,
          // A refund gives back what was charged from this balance: never refused.
          change.kind === LedgerKind.TASK_REFUND ? null : MAX_BALANCE,
        ],
      );
      const row = rowsOf(result)[0];
      if (!row) {
        const balance = await this.balance(change.accountId, runner);
        if (balance.paid + change.paid >= 0 && balance.bonus + change.bonus >= 0) {
          throw new BalanceLimitError(MAX_BALANCE, balance.paid + balance.bonus);
        }
        throw new InsufficientBalanceError(-(change.paid + change.bonus), balance.paid + balance.bonus);
      }
      return { entry: toEntry(row), applied: true };
    } catch (err) {
      return this.settleDuplicate(err, change.reference, runner);
    }
  }

  /**
   * Takes `amount` credits, bonus first, then paid — all or nothing. INSUFFICIENT_BALANCE (with the amount
   * missing) leaves everything as it was. A reference already charged answers its entry (applied: false).
   *
   * Outside a caller's transaction, the charges of one account are combined per process: while a statement
   * moves that account's balance, the charges arriving meanwhile wait and then go as ONE statement (each
   * with its own entry, in arrival order, bonus first), so a hot account pays one row lock and one commit
   * per batch instead of per charge. Inside a transaction (`runner` an EntityManager) a charge is one
   * statement of that transaction.
   */
  async charge(change: ChargeChange, runner: Runner = this.db): Promise<LedgerResult> {
    assertAmount(change.amount, "amount");
    if (change.amount <= 0) throw new BadUserInputError("A charge must be positive", { field: "amount" });
    if (!change.reference || change.reference.length > 200) throw new Error("a ledger reference is required");
    if (runner !== this.db) return this.chargeOne(change, runner);
    return new Promise<LedgerResult>((resolve, reject) => {
      const pending = { change, resolve, reject };
      const waiting = this.waiting.get(change.accountId);
      if (waiting) waiting.push(pending);
      else {
        this.waiting.set(change.accountId, []);
        void this.drain(change.accountId, [pending]);
      }
    });
  }

  /** Charges of one account waiting for its statement in flight (present while one is in flight). */
  private readonly waiting = new Map<string, PendingCharge[]>();

  /** Runs the account's batches one after the other until nobody waits. */
  private async drain(accountId: string, first: PendingCharge[]): Promise<void> {
    let batch = first;
    while (batch.length) {
      const settling = batch;
      await this.chargeBatch(settling).catch((err: unknown) => settling.forEach((p) => p.reject(err)));
      const waiting = this.waiting.get(accountId) ?? [];
      batch = waiting.splice(0, MAX_BATCH);
      if (!batch.length) this.waiting.delete(accountId);
    }
  }

  /** Settles every charge of `batch` (never throws): one statement, or one per charge near the balance's end. */
  private async chargeBatch(batch: PendingCharge[]): Promise<void> {
    // The same reference twice in a batch: charged once, the others answer its entry (as a retry would).
    const byReference = new Map<string, PendingCharge[]>();
    for (const p of batch) {
      const same = byReference.get(p.change.reference);
      if (same) same.push(p);
      else byReference.set(p.change.reference, [p]);
    }
    const groups = [...byReference.values()];
    const settle = (group: PendingCharge[], outcome: Promise<LedgerResult>) =>
      outcome.then(
        (result) => group.forEach((p, i) => p.resolve(i === 0 ? result : { entry: result.entry, applied: false })),
        (err: unknown) => group.forEach((p) => p.reject(err)),
      );
    if (groups.length > 1) {
      try {
        const results = await this.chargeMany(groups.map((g) => g[0].change));
        if (results) {
          await Promise.all(groups.map((group, i) => settle(group, Promise.resolve(results[i]))));
          return;
        }
        // The balance does not cover the whole batch: one statement per charge, in order, decides which fit.
      } catch (err) {
        const code = (err as { code?: string }).code;
        // A concurrent duplicate of a reference (another process) undid the whole statement: one by one.
        if (code !== "23505") {
          for (const group of groups) await settle(group, Promise.reject(err));
          return;
        }
      }
    }
    for (const group of groups) await settle(group, this.chargeOne(group[0].change, this.db));
  }

  /**
   * Several charges of one account in one statement: all of them, or (when the balance does not cover
   * their sum) none, answering null. Each fresh reference gets its entry, in order, bonus spent first
   * across the batch; references already in the ledger answer their entry. Entries are 1 µs apart from
   * the moment the row lock was held, so their time order is the order the balance moved in.
   */
  private async chargeMany(changes: ChargeChange[]): Promise<LedgerResult[] | null> {
    const accountId = changes[0].accountId;
    const rows = await queryPrepared<EntryRow & { applied: boolean }>(this.db, CHARGE_MANY_SQL, [
      accountId,
      changes.map((c) => c.amount),
      changes.map((c) => c.reference),
      changes.map((c) => c.note ?? ""),
      changes.map((c) => c.kind ?? LedgerKind.TASK_CHARGE),
    ]);
    const byReference = new Map(rows.map((r) => [r.reference, r]));
    if (changes.some((c) => !byReference.has(c.reference))) return null;
    return changes.map((c) => {
      const row = byReference.get(c.reference)!;
      return { entry: toEntry(row), applied: row.applied };
    });
  }

  /** One charge as one statement (idempotent on the reference, conditional on the balance). */
  private async chargeOne(change: ChargeChange, runner: Runner): Promise<LedgerResult> {
    const params = [
      change.accountId,
      change.amount,
      change.kind ?? LedgerKind.TASK_CHARGE,
      change.reference,
      change.note ?? "",
    ];
    try {
      const result =
        runner === this.db
          ? await queryPrepared<EntryRow>(this.db, CHARGE_ONE_SQL, params)
          : await runner.query(CHARGE_ONE_SQL, params);
      const row = rowsOf(result)[0];
      if (!row) {
        // Nothing moved: the reference was charged already, or the balance is short.
        const before = await this.existing(change.reference, runner);
        if (before) return { entry: before, applied: false };
        const balance = await this.balance(change.accountId, runner);
        throw new InsufficientBalanceError(change.amount, balance.paid + balance.bonus);
      }
      return { entry: toEntry(row), applied: true };
    } catch (err) {
      return this.settleDuplicate(err, change.reference, runner);
    }
  }

  /** Gives back exactly what a charge took, each part to where it came from; once per charge. */
  async refund(
    chargeReference: string,
    refundReference: string,
    note = "",
    runner: Runner = this.db,
  ): Promise<LedgerResult> {
    const charge = await this.existing(chargeReference, runner);
    if (!charge) throw new BadUserInputError("No such charge to refund", { field: "reference" });
    return this.credit(
      {
        accountId: charge.accountId,
        kind: LedgerKind.TASK_REFUND,
        paid: -charge.paidDelta,
        bonus: -charge.bonusDelta,
        reference: refundReference,
        note,
      },
      runner,
    );
  }

  /** A concurrent change with the same reference won the unique index: answer with its entry. */
  private async settleDuplicate(err: unknown, reference: string, runner: Runner): Promise<LedgerResult> {
    const e = err as { code?: string; constraint?: string; driverError?: { code?: string } };
    const code = e.code ?? e.driverError?.code;
    if (code === "23505") {
      const entry = await this.existing(reference, runner);
      if (entry) return { entry, applied: false };
    }
    throw err;
  }

  async list(accountId: string, args: { first?: number; after?: string | null; kind?: LedgerKind | null }) {
    const limit = pageSize(args.first);
    const params: unknown[] = [accountId, limit + 1];
    let where = `account_id = $1`;
    if (args.kind) {
      params.push(args.kind);
      where += ` AND kind = $${params.length}`;
    }
    if (args.after) {
      const cursor = decodeCursor(args.after);
      params.push(cursor.createdAt, cursor.id);
      const at = { createdAt: `$${params.length - 1}`, id: `$${params.length}` };
      where += ` AND ${pastCursorSql("ledger_entry", "ledger_entry", at, "account_id = $1")}`;
    }
    const rows = (await this.db.query(
      `SELECT ${RETURNING} FROM ledger_entry WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT $2`,
      params,
    )) as EntryRow[];
    return { rows: rows.map(toEntry), limit };
  }

  /**
   * Accounts whose cached balance differs from the sum of their entries, or whose entries' running
   * "after" values do not follow from each other, or that went negative. Empty when the books are right.
   */
  async verify(): Promise<{ accountId: string; problem: string }[]> {
    const sums = (await this.db.query(
      `SELECT c.account_id, c.paid, c.bonus, coalesce(sum(l.paid_delta), 0)::float8 AS paid_sum,
              coalesce(sum(l.bonus_delta), 0)::float8 AS bonus_sum,
              bool_or(l.paid_after < 0 OR l.bonus_after < 0) AS negative
         FROM credit_account c LEFT JOIN ledger_entry l ON l.account_id = c.account_id
        GROUP BY c.account_id, c.paid, c.bonus
       UNION ALL
       SELECT l.account_id, 0, 0, sum(l.paid_delta)::float8, sum(l.bonus_delta)::float8, false
         FROM ledger_entry l WHERE NOT EXISTS (SELECT 1 FROM credit_account c WHERE c.account_id = l.account_id)
        GROUP BY l.account_id`,
    )) as { account_id: string; paid: number; bonus: number; paid_sum: number; bonus_sum: number; negative: boolean }[];
    const problems: { accountId: string; problem: string }[] = [];
    for (const r of sums) {
      if (r.paid !== r.paid_sum || r.bonus !== r.bonus_sum) {
        problems.push({
          accountId: r.account_id,
          problem: `balance paid=${r.paid} bonus=${r.bonus} but ledger sums paid=${r.paid_sum} bonus=${r.bonus_sum}`,
        });
      }
      if (r.negative) problems.push({ accountId: r.account_id, problem: "a ledger entry left a negative balance" });
    }
    const chains = (await this.db.query(
      `SELECT account_id, id FROM (
         SELECT account_id, id, paid_after, bonus_after, paid_delta, bonus_delta,
                lag(paid_after, 1, 0) OVER w AS prev_paid, lag(bonus_after, 1, 0) OVER w AS prev_bonus
           FROM ledger_entry WINDOW w AS (PARTITION BY account_id ORDER BY created_at, id)) x
        WHERE paid_after <> prev_paid + paid_delta OR bonus_after <> prev_bonus + bonus_delta`,
    )) as { account_id: string; id: string }[];
    for (const c of chains) {
      problems.push({ accountId: c.account_id, problem: `entry ${c.id} does not follow from the previous balance` });
    }
    return problems;
  }
}
