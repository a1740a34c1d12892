import { createHash } from "node:crypto";
import pg from "pg";
import {
  QueryFailedError,
  type DataSource,
  type EntityManager,
  type EntityMetadata,
  type EntityTarget,
  type ObjectLiteral,
} from "typeorm";
import type { PostgresDriver } from "typeorm/driver/postgres/PostgresDriver.js";

/**
 * Serialises the transactions that name the same `key` (an account's uploads, a sign-up address): the lock is
 * PostgreSQL's, held until the transaction ends, so counts read after it see the others' committed rows.
 */
export async function lockForTransaction(manager: EntityManager, key: string): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [key]);
}

/**
 * Hot read paths (authentication, list pages) only: a named statement on TypeORM's own pool, so PostgreSQL
 * parses and plans it once per connection instead of on every call, and no query builder runs per request.
 * Failures are TypeORM's QueryFailedError, as from `db.query`, so error mapping sees the same shape.
 */
export async function queryPrepared<Row>(
  db: DataSource,
  text: string,
  values: unknown[],
  /** A connection of a read replica (see `read-replica.ts`); the primary's pool when absent. */
  on?: pg.PoolClient,
): Promise<Row[]> {
  const target = on ?? ((db.driver as PostgresDriver).master as pg.Pool);
  try {
    return (await target.query<Row & pg.QueryResultRow>({ name: statementName(text), text, values, types: TYPES }))
      .rows;
  } catch (err) {
    throw new QueryFailedError(text, values, err as Error);
  }
}

const pgTypes = pg.types;
const parseTimestamptzSlowly = pgTypes.getTypeParser(pgTypes.builtins.TIMESTAMPTZ, "text") as (text: string) => Date;
const UTC_TIMESTAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?\+00$/;

/**
 * pg's timestamptz parser with a fast path for the form PostgreSQL sends when the session's time zone is
 * UTC (`2026-07-01 13:59:59.287123+00`): V8's own ISO parser gives the same Date to the millisecond (the
 * test compares them), several times faster. Any other form goes to pg's parser.
 */
export function parseTimestamptz(text: string): Date {
  return UTC_TIMESTAMP.test(text)
    ? new Date(`${text.slice(0, 10)}T${text.slice(11, -3)}Z`)
    : parseTimestamptzSlowly(text);
}

/** pg's type parsers, but for timestamptz (only for the statements sent through `queryPrepared`). */
const TYPES = {
  getTypeParser: (oid: number, format?: "text" | "binary") =>
    oid === pgTypes.builtins.TIMESTAMPTZ && format !== "binary" ? parseTimestamptz : pgTypes.getTypeParser(oid, format),
};

const names = new Map<string, string>();

/** A statement's name is derived from its text: one name never stands for two texts on a connection. */
function statementName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `n_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`;
    names.set(text, name);
  }
  return name;
}

const TIMESTAMP_TYPES = new Set<unknown>(["timestamptz", "timestamp", "timestamp with time zone", "datetime", Date]);
const BIGINT_TYPES = new Set<unknown>(["bigint", "int8"]);
/** Column types whose non-null values TypeORM's PostgreSQL driver hands over exactly as pg parsed them. */
const AS_PARSED_TYPES = new Set<unknown>([
  "uuid",
  "text",
  "varchar",
  "character varying",
  "char",
  "character",
  "int",
  "integer",
  "int4",
  "smallint",
  "int2",
  "real",
  "float4",
  "double precision",
  "float8",
  "bigint",
  "int8",
  "json",
  "jsonb",
  "boolean",
  "bool",
  String,
]);

type Source = "row" | "json";
type Hydrator = (row: Record<string, unknown>) => ObjectLiteral;
const hydrators = new WeakMap<EntityMetadata, Record<Source, Hydrator> | "general">();

/**
 * A hydrator per entity, compiled once: one plain assignment per column with the property names written
 * out, several times faster than a loop of keyed stores. Most columns are copied as pg parsed them; the
 * rest (timestamps from JSON, enum arrays, dates, hstore…) go through TypeORM's own per-column conversion.
 * Entities with transformers, embedded columns or lazy relations take the general path.
 */
function hydratorsOf(db: DataSource, metadata: EntityMetadata): Record<Source, Hydrator> | "general" {
  let found = hydrators.get(metadata);
  if (found) return found;
  const general =
    metadata.columns.some((c) => c.transformer || c.embeddedMetadata) ||
    metadata.lazyRelations.length > 0 ||
    typeof metadata.target !== "function" ||
    Boolean(db.options.typename);
  if (general) {
    hydrators.set(metadata, "general");
    return "general";
  }
  const columns = metadata.columns.filter((column) => !column.isVirtual);
  const compile = (source: Source): Hydrator => {
    const converters = columns.map((column): ((value: unknown) => unknown) | null => {
      const generic = (value: unknown) => db.driver.prepareHydratedValue(value, column);
      // A timestamp from JSON is ISO text: `new Date(text)`, as TypeORM's conversion does it.
      if (TIMESTAMP_TYPES.has(column.type)) {
        return (value) =>
          value instanceof Date ? value : typeof value === "string" ? new Date(value) : generic(value);
      }
      if (source === "json" && BIGINT_TYPES.has(column.type)) return (value) => String(value); // pg gives int8 as text
      if (column.type === Boolean) return (value) => Boolean(value);
      const stringEnum =
        column.type === "enum" && !column.isArray && (column.enum ?? []).every((v) => isNaN(Number(v)));
      if (AS_PARSED_TYPES.has(column.type) || stringEnum) return null;
      return generic;
    });
    const body = columns
      .map((column, i) => {
        const [from, to] = [JSON.stringify(column.databaseName), JSON.stringify(column.propertyName)];
        const value = converters[i] ? `v === null ? null : c[${i}](v)` : "v";
        return `v = row[${from}]; if (v !== undefined) e[${to}] = ${value};`;
      })
      .join("\n");
    // The same object TypeORM makes when it hydrates (`metadata.create` for a deserialized row): built by
    // the entity's constructor unless the entity skips it.
    const create = metadata.isAlwaysUsingConstructor ? "new Target()" : "Object.create(Target.prototype)";
    const make = new Function(
      "Target",
      "c",
      `return function hydrate(row) {\nconst e = ${create}; let v;\n${body}\nreturn e;\n}`,
    );
    return make(metadata.target, converters) as Hydrator;
  };
  found = { row: compile("row"), json: compile("json") };
  hydrators.set(metadata, found);
  return found;
}

/**
 * An entity from a row keyed by column names, made and converted exactly as TypeORM's own hydration does
 * (same object creation, same per-column conversion), without a query builder. `source: "json"` for a row that went
 * through `row_to_json` (inside a JSON aggregate): its timestamps arrive as ISO text, which converts to the
 * same Date as pg's text form (microseconds truncated alike), and int8 arrives as a number.
 */
export function hydrate<T extends ObjectLiteral>(
  db: DataSource,
  target: EntityTarget<T>,
  row: Record<string, unknown>,
  source: Source = "row",
): T {
  const metadata = db.getMetadata(target);
  const compiled = hydratorsOf(db, metadata);
  return (compiled === "general" ? hydrateGenerally(db, metadata, row, source) : compiled[source](row)) as T;
}

/** The general case (transformers, embedded columns): TypeORM's conversion and setter for every column. */
function hydrateGenerally<T>(
  db: DataSource,
  metadata: EntityMetadata,
  row: Record<string, unknown>,
  source: "row" | "json",
): T {
  const entity = metadata.create(undefined, { fromDeserializer: true }) as T;
  for (const column of metadata.columns) {
    if (column.isVirtual) continue;
    let value = row[column.databaseName];
    if (value === undefined) continue;
    if (source === "json" && typeof value === "number" && BIGINT_TYPES.has(column.type)) {
      value = String(value);
    }
    column.setEntityValue(entity as ObjectLiteral, db.driver.prepareHydratedValue(value, column));
  }
  return entity;
}
