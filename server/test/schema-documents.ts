import { randomUUID } from "node:crypto";
import {
  buildClientSchema,
  getIntrospectionQuery,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
  type IntrospectionQuery,
} from "graphql";
import { getMetadataStorage } from "type-graphql";

/**
 * GraphQL documents built from the served schema, for tests that must cover every operation (the
 * authorization matrix, the cross-account checks, the fuzz): a new operation is picked up without a
 * test change, so it cannot be forgotten.
 */

export type OperationType = "query" | "mutation" | "subscription";

export interface RootOperation {
  type: OperationType;
  name: string;
  /** `Query.me`, `Mutation.createTask`, `Subscription.taskUpdated`. */
  key: string;
  field: GraphQLField<unknown, unknown>;
}

/** The schema as clients see it: introspected from a running server. */
export async function fetchSchema(url: string, headers: Record<string, string> = {}): Promise<GraphQLSchema> {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query: getIntrospectionQuery() }),
  });
  const body = (await res.json()) as { data?: IntrospectionQuery; errors?: unknown };
  if (!body.data) throw new Error(`introspection failed: ${JSON.stringify(body.errors)}`);
  return buildClientSchema(body.data);
}

const TYPE_KEYS = { query: "Query", mutation: "Mutation", subscription: "Subscription" } as const;

export function rootOperations(schema: GraphQLSchema): RootOperation[] {
  const roots: [OperationType, ReturnType<GraphQLSchema["getQueryType"]>][] = [
    ["query", schema.getQueryType()],
    ["mutation", schema.getMutationType()],
    ["subscription", schema.getSubscriptionType()],
  ];
  return roots.flatMap(([type, root]) =>
    Object.values(root?.getFields() ?? {}).map((field) => ({
      type,
      name: field.name,
      key: `${TYPE_KEYS[type]}.${field.name}`,
      field: field as GraphQLField<unknown, unknown>,
    })),
  );
}

/**
 * What `@Authorized(...)` asks of an operation, read from type-graphql's metadata (a field's roles replace
 * its class's, as in type-graphql): `null` when it carries no `@Authorized` at all, `[]` for "signed in".
 */
export function authRequirements(op: RootOperation): string[] | null {
  const storage = getMetadataStorage();
  const handlers = { query: storage.queries, mutation: storage.mutations, subscription: storage.subscriptions }[
    op.type
  ];
  const handler = handlers.find((h) => h.schemaName === op.name);
  if (!handler) throw new Error(`${op.key} has no type-graphql handler in the metadata storage`);
  const field = storage.authorizedFields.find((a) => a.target === handler.target && a.fieldName === handler.methodName);
  const cls = storage.authorizedResolver.find((a) => a.target === handler.target);
  const roles = field?.roles ?? cls?.roles;
  return roles ? roles.map(String) : null;
}

/** An enum value in a literal (printed bare, or as a string in JSON variables). */
export class EnumValue {
  constructor(readonly name: string) {}
}

/** Text printed as it is, in literals and in JSON (`1e999`, `NaN`, an unterminated string…). */
export class RawValue {
  constructor(readonly text: string) {}
}

export type Value = null | boolean | number | string | EnumValue | RawValue | Value[] | { [key: string]: Value };

/** A GraphQL literal. Strings go through JSON.stringify, whose escapes GraphQL shares. */
export function printLiteral(value: Value): string {
  if (value instanceof EnumValue) return value.name;
  if (value instanceof RawValue) return value.text;
  if (Array.isArray(value)) return `[${value.map(printLiteral).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${printLiteral(v)}`)
      .join(", ")}}`;
  }
  return value === null ? "null" : JSON.stringify(value);
}

/** The same value as JSON text (for `variables`). */
export function printJson(value: Value): string {
  if (value instanceof EnumValue) return JSON.stringify(value.name);
  if (value instanceof RawValue) return value.text;
  if (Array.isArray(value)) return `[${value.map(printJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${printJson(v)}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * Type-correct placeholders that no service would accept (empty strings, -1, random ids): an operation
 * that answers UNAUTHENTICATED or FORBIDDEN for them refused the caller before validating anything.
 */
const SCALAR_PLACEHOLDERS: Record<string, () => Value> = {
  ID: () => randomUUID(),
  String: () => "",
  Int: () => -1,
  Float: () => -1.5,
  Boolean: () => false,
  DateTimeISO: () => "2000-01-01T00:00:00.000Z",
  JSON: () => ({}),
  JSONObject: () => ({}),
};

export function placeholder(type: GraphQLInputType): Value {
  if (isNonNullType(type)) return placeholder(type.ofType);
  if (isListType(type)) return [placeholder(type.ofType)];
  if (isEnumType(type)) return new EnumValue(type.getValues()[0].name);
  if (isInputObjectType(type)) {
    return Object.fromEntries(
      Object.values(type.getFields())
        .filter((f) => isNonNullType(f.type) && f.defaultValue === undefined)
        .map((f) => [f.name, placeholder(f.type)]),
    );
  }
  const make = SCALAR_PLACEHOLDERS[type.name];
  if (!make) throw new Error(`No placeholder for the scalar ${type.name}: add one to SCALAR_PLACEHOLDERS`);
  return make();
}

/** The arguments an operation cannot go without, as placeholders. */
export function requiredArguments(op: RootOperation): Record<string, Value> {
  return Object.fromEntries(
    op.field.args
      .filter((a: GraphQLArgument) => isNonNullType(a.type) && a.defaultValue === undefined)
      .map((a) => [a.name, placeholder(a.type)]),
  );
}

/** `{ __typename }` for an object result, nothing for a scalar or enum one. */
export function minimalSelection(op: RootOperation): string {
  return isLeafType(getNamedType(op.field.type)) ? "" : " { __typename }";
}

/** A one-field document: the given arguments (the required placeholders by default) as literals. */
export function operationDocument(op: RootOperation, args: Record<string, Value> = requiredArguments(op)): string {
  const entries = Object.entries(args);
  const printed = entries.length ? `(${entries.map(([k, v]) => `${k}: ${printLiteral(v)}`).join(", ")})` : "";
  return `${op.type} { ${op.name}${printed}${minimalSelection(op)} }`;
}

/** An argument or input field that names something by id (`id`, `ids`, `…Id`, `…Ids`), by its path. */
export interface IdArgument {
  op: RootOperation;
  /** `input.referenceIds`, `filter.taskId`, `id`. */
  path: string;
  /** `Mutation.createTask(input.referenceIds)`. */
  key: string;
}

const ID_NAME = /^ids?$|Ids?$/;

export function idArguments(schema: GraphQLSchema): IdArgument[] {
  const found: IdArgument[] = [];
  for (const op of rootOperations(schema)) {
    const walk = (name: string, type: GraphQLInputType, path: string, seen: Set<string>) => {
      if (ID_NAME.test(name)) found.push({ op, path, key: `${op.key}(${path})` });
      const named = getNamedType(type);
      if (isInputObjectType(named) && !seen.has(named.name)) {
        for (const f of Object.values(named.getFields())) {
          walk(f.name, f.type, `${path}.${f.name}`, new Set([...seen, named.name]));
        }
      }
    };
    for (const arg of op.field.args) walk(arg.name, arg.type, arg.name, new Set());
  }
  return found;
}

/** Runs `fn` over `items` with at most `limit` at a time, keeping their order in the result. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>) {
  const results = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return results;
}
