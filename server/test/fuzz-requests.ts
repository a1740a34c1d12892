import {
  getNamedType,
  isInterfaceType,
  isLeafType,
  isNonNullType,
  isObjectType,
  isUnionType,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLSchema,
} from "graphql";
import { randomValue, type Rng } from "./fuzz-values.js";
import { printJson, printLiteral, rootOperations, type OperationType, type RootOperation } from "./schema-documents.js";

/**
 * Seeded random requests built from the schema: documents with random arguments and selections, hostile
 * shapes (depth, aliases, directives, fragment cycles, token floods, broken syntax), HTTP envelopes around
 * them, and graphql-ws frames.
 */

interface Built {
  variables: Record<string, string>;
  declarations: string[];
}

/** A value as a literal or, half the time, as a variable with its declared type (sometimes a wrong one). */
function argumentText(rng: Rng, type: GraphQLInputType, built: Built): string {
  const value = randomValue(rng, type);
  if (rng.chance(0.5)) return printLiteral(value);
  const name = `v${built.declarations.length}`;
  const declared = rng.chance(0.9) ? String(type) : rng.pick(["String", "[Int!]!", "Nope", "ID!", "Boolean"]);
  built.declarations.push(`$${name}: ${declared}`);
  if (!rng.chance(0.05)) built.variables[name] = printJson(value);
  return `$${name}`;
}

function selection(rng: Rng, schema: GraphQLSchema, type: GraphQLNamedType, depth: number, built: Built): string {
  if (isLeafType(type)) return "";
  if (depth <= 0) return " { __typename }";
  if (isUnionType(type) || isInterfaceType(type)) {
    const possible = schema.getPossibleTypes(type);
    const target = rng.pick(possible);
    return ` { __typename ... on ${target.name}${selection(rng, schema, target, depth - 1, built)} }`;
  }
  if (!isObjectType(type)) return " { __typename }";
  const fields = Object.values(type.getFields());
  const chosen = Array.from({ length: rng.int(4) + 1 }, () => rng.pick(fields));
  const parts = chosen.map((f, k) => {
    const args = f.args
      .filter((a) => isNonNullType(a.type) || rng.chance(0.3))
      .map((a) => `${a.name}: ${argumentText(rng, a.type, built)}`);
    const alias = rng.chance(0.1) || chosen.indexOf(f) !== k ? `f${k}: ` : "";
    const argText = args.length ? `(${args.join(", ")})` : "";
    return `${alias}${f.name}${argText}${selection(rng, schema, getNamedType(f.type), depth - 1, built)}`;
  });
  return ` { ${parts.join(" ")} }`;
}

function rootField(rng: Rng, schema: GraphQLSchema, op: RootOperation, alias: string, built: Built): string {
  const args = op.field.args
    .filter((a) => (isNonNullType(a.type) ? rng.chance(0.95) : rng.chance(0.4)))
    .map((a) => `${a.name}: ${argumentText(rng, a.type, built)}`);
  if (rng.chance(0.03)) args.push(`unknownArgument: 1`);
  const depth = rng.chance(0.04) ? 20 : rng.int(4) + 1;
  const argText = args.length ? `(${args.join(", ")})` : "";
  return `${alias}${op.name}${argText}${selection(rng, schema, getNamedType(op.field.type), depth, built)}`;
}

export interface GraphQLRequestBody {
  query: string;
  /** JSON text of each variable (so non-JSON numbers like 1e999 survive). */
  variables: Record<string, string>;
  operationName?: string;
}

/** Operations a fuzzing caller would end its own session with (they take no input worth fuzzing). */
const SKIPPED = new Set(["Mutation.signOut", "Mutation.signOutEverywhere"]);

/** A random document over the schema's operations, with hostile shapes now and then. */
export function randomDocument(rng: Rng, schema: GraphQLSchema, only?: OperationType): GraphQLRequestBody {
  const built: Built = { variables: {}, declarations: [] };
  const type =
    only ?? rng.pick(["query", "query", "query", "mutation", "mutation", "mutation", "subscription"] as const);
  const ops = rootOperations(schema).filter((o) => o.type === type && !SKIPPED.has(o.key));
  const shape = rng.int(100);
  let fields: string[];
  if (shape < 3) {
    // Many aliases of one field (over the limit of 30).
    const op = rng.pick(ops);
    fields = Array.from({ length: rng.pick([31, 60]) }, (_, k) => `a${k}: ${op.name} { __typename }`);
  } else if (shape < 5) {
    fields = [`__schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } }`];
  } else {
    const count = rng.chance(0.8) ? 1 : rng.int(3) + 2;
    fields = Array.from({ length: count }, (_, k) =>
      rootField(rng, schema, rng.pick(ops), count > 1 ? `r${k}: ` : "", built),
    );
  }
  if (shape >= 5 && shape < 8)
    fields = fields.map((f) => f.replace(/^(\w+: )?(\w+)/, `$&${" @skip(if: false)".repeat(rng.pick([1, 25]))}`));
  const vars = built.declarations.length ? `(${built.declarations.join(", ")})` : "";
  const name = rng.chance(0.3) ? ` Op${rng.int(3)}` : "";
  let query = `${type}${name}${vars} { ${fields.join(" ")} }`;
  if (shape >= 8 && shape < 10) query += ` fragment F on Query { ...G } fragment G on Query { ...F }`;
  if (shape >= 10 && shape < 12) query = `query { ${"serverInfo { version } ".repeat(1600)} }`; // over 3000 tokens
  if (shape >= 12 && shape < 17) {
    // Broken syntax: a cut, a stray character, an unclosed string.
    const at = rng.int(query.length);
    query = rng.pick([
      query.slice(0, at),
      query.slice(0, at) + rng.pick(["{", '"', "$", "@", "#", "\\u"]) + query.slice(at),
    ]);
  }
  return { query, variables: built.variables, operationName: name && rng.chance(0.9) ? name.trim() : undefined };
}

/** The JSON text of a request body (variables keep their raw JSON text). */
export function requestJson(body: GraphQLRequestBody, extra: Record<string, string> = {}): string {
  const variables = Object.entries(body.variables)
    .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
    .join(",");
  const fields = [`"query":${JSON.stringify(body.query)}`, `"variables":{${variables}}`];
  if (body.operationName !== undefined) fields.push(`"operationName":${JSON.stringify(body.operationName)}`);
  for (const [k, v] of Object.entries(extra)) fields.push(`${JSON.stringify(k)}:${v}`);
  return `{${fields.join(",")}}`;
}

export interface FuzzRequest {
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

const GARBAGE_AUTH = [
  "Bearer nvs_" + "0".repeat(40),
  "Bearer ",
  "Basic YWxhZGRpbjpvcGVu",
  "Bearer " + "x".repeat(8000),
];
const BAD_UTF8 = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]];

/**
 * One request: a random document from a random caller (`callers` maps a name to its headers), usually as a
 * plain POST, sometimes in a hostile envelope (broken JSON or UTF-8, batches, persisted queries, GET, other
 * methods and content types, a body over `bodyLimit`, garbage credentials).
 */
export function randomRequest(
  rng: Rng,
  schema: GraphQLSchema,
  callers: Record<string, Record<string, string>>,
  bodyLimit: number,
): FuzzRequest {
  const who = rng.pick(Object.keys(callers));
  const headers: Record<string, string> = { "content-type": "application/json", ...callers[who] };
  const doc = randomDocument(rng, schema);
  const json = requestJson(doc);
  const post = (label: string, body: string | Buffer, extra: Record<string, string> = {}): FuzzRequest => ({
    label: `${who}: ${label}`,
    method: "POST",
    path: "/graphql",
    headers: { ...headers, ...extra },
    body,
  });
  if (rng.chance(0.75)) return post("document", json);
  switch (rng.int(10)) {
    case 0:
      return post(
        "malformed JSON",
        rng.pick([json.slice(0, rng.int(json.length)), "", "{", "null", "[]", "123", '"x"', '{"query": }', "{}"]),
      );
    case 1: {
      const at = json.indexOf('"query":"') + 9 + rng.int(Math.max(1, doc.query.length));
      const bytes = Buffer.from(rng.pick(BAD_UTF8));
      return post("invalid UTF-8", Buffer.concat([Buffer.from(json.slice(0, at)), bytes, Buffer.from(json.slice(at))]));
    }
    case 2:
      return post("batch", `[${Array.from({ length: rng.int(4) + 1 }, () => json).join(",")}]`);
    case 3: {
      const hash = rng.pick([`"${rng.hex(64)}"`, "5", '""']);
      const pq = `{"persistedQuery":{"version":${rng.pick(["1", "2", '"1"'])},"sha256Hash":${hash}}}`;
      return post("persisted query", rng.chance(0.5) ? `{"extensions":${pq}}` : requestJson(doc, { extensions: pq }));
    }
    case 4:
      return post(
        "wrong field types",
        rng.pick([
          `{"query":${rng.pick(["123", "[]", "{}", "null", "true"])}}`,
          `{"query":"{ serverInfo { version } }","variables":${rng.pick(['"x"', "[]", "5", '"{"'])}}`,
          `{"query":"{ serverInfo { version } }","operationName":${rng.pick(["5", '"Nope"', "[]"])}}`,
          `{"query":"{ serverInfo { version } }","extensions":${rng.pick(['"x"', "[]", "7"])}}`,
        ]),
      );
    case 5: {
      const params = `query=${encodeURIComponent(doc.query)}&variables=${rng.pick(["%7B", "x", "%5B%5D", ""])}`;
      const extra: Record<string, string> = rng.chance(0.5) ? { "apollo-require-preflight": "1" } : {};
      return {
        label: `${who}: GET`,
        method: "GET",
        path: `/graphql?${params}`,
        headers: { ...callers[who], ...extra },
      };
    }
    case 6:
      return post("content type", json, {
        "content-type": rng.pick([
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x",
          "application/graphql",
          "application/json; charset=utf-16",
          "",
        ]),
      });
    case 7:
      return post("oversized body", `{"query":"${"a".repeat(bodyLimit + 10)}"}`);
    case 8: {
      const method = rng.pick(["PUT", "DELETE", "PATCH", "OPTIONS"]);
      return { label: `${who}: ${method}`, method, path: "/graphql", headers, body: json };
    }
    default:
      return post("garbage credentials", json, { authorization: rng.pick(GARBAGE_AUTH), cookie: "nvs_session=%%%" });
  }
}

/**
 * Frames for one graphql-ws connection: usually `connection_init` with one of `tokens` (or garbage), then
 * mostly well-formed subscribe messages (so documents reach validation and the streams), some garbage.
 */
export function randomWsFrames(
  rng: Rng,
  schema: GraphQLSchema,
  tokens: (string | undefined)[],
  bodyLimit: number,
): (string | Buffer)[] {
  const frames: (string | Buffer)[] = [];
  if (rng.chance(0.8)) {
    const auth = rng.pick([...tokens, undefined, 42, "x".repeat(5000)]);
    const payload = rng.chance(0.9) ? { authorization: auth } : "x";
    frames.push(JSON.stringify({ type: "connection_init", payload }));
  }
  for (let k = rng.int(4) + 1; k > 0; k--) {
    const doc = randomDocument(rng, schema, rng.chance(0.8) ? "subscription" : undefined);
    const variables = Object.fromEntries(
      Object.entries(doc.variables).map(([n, v]) => [n, JSON.parse(v.replace(/-?1e999/g, "0")) as unknown]),
    );
    const id = rng.chance(0.9) ? `s${k}` : rng.pick(["s1", ""]);
    const type = rng.pick(["connection_init", "complete", "next", "bogus", "ping"]);
    frames.push(
      rng.chance(0.8)
        ? JSON.stringify({ id, type: "subscribe", payload: { query: doc.query, variables } })
        : rng.pick([
            JSON.stringify({ type, id: "s1" }),
            JSON.stringify({ id, type: "subscribe", payload: { query: rng.pick([5, null, ""]) } }),
            "{not json",
            Buffer.from([0xff, 0x00, 0x13]),
            "x".repeat(rng.chance(0.3) ? bodyLimit + 10 : 10),
          ]),
    );
  }
  return frames;
}
