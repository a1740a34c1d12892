import { BadUserInputError } from "./errors.js";

/** Opaque cursors over (created_at, id): stable under inserts, no offsets. */
export interface Cursor {
  createdAt: Date;
  id: string;
}

export function encodeCursor({ createdAt, id }: Cursor): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`, "utf8").toString("base64url");
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function decodeCursor(cursor: string): Cursor {
  const [iso, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  const createdAt = new Date(iso ?? "");
  // Within PostgreSQL's range and a real uuid: anything else would reach SQL as an internal error.
  const year = createdAt.getUTCFullYear();
  if (!id || Number.isNaN(year) || year < 1970 || year > 9999 || !UUID.test(id)) {
    throw new BadUserInputError("Invalid cursor", { argument: "after" });
  }
  return { createdAt, id };
}

/** The parameter names of a decoded cursor in a query builder (`qb.andWhere(sql, decodeCursor(after))`). */
export const CURSOR_PARAMS = { id: ":id", createdAt: ":createdAt" } as const;

/**
 * "Past the cursor" in a list ordered by (created_at, id), newest first unless `order` says otherwise, as SQL.
 * The cursor's time has milliseconds and the column microseconds, so rows of the cursor row's millisecond
 * would be skipped: the boundary is the cursor row's own time, read by its id (within `scope`, e.g.
 * `account_id = $1`, so another account's id tells nothing), and the cursor's time only when that row is gone.
 * `id` and `createdAt` are the statement's parameters (`$2` or `:id`).
 */
export function pastCursorSql(
  alias: string,
  table: string,
  params: { id: string; createdAt: string },
  scope?: string,
  /** A list ordered oldest first goes on after the cursor the other way. */
  order: "newest" | "oldest" = "newest",
): string {
  const own = `SELECT c.created_at FROM ${table} c WHERE c.id = ${params.id}${scope ? ` AND c.${scope}` : ""}`;
  const comparison = order === "newest" ? "<" : ">";
  return `(${alias}.created_at, ${alias}.id) ${comparison} (coalesce((${own}), ${params.createdAt}), ${params.id})`;
}

export const MAX_PAGE_SIZE = 100;

export function pageSize(first: number | undefined, fallback = 20): number {
  const n = first ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) {
    throw new BadUserInputError(`first must be between 1 and ${MAX_PAGE_SIZE}`, { argument: "first" });
  }
  return n;
}
