import { buildSchema, execute, GraphQLError, parse, type ExecutionResult, type GraphQLSchema } from "graphql";
import { describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { createJitGateway } from "./jit.js";

class DomainError extends Error {
  code = "NOT_FOUND";
}

/** A schema with async and failing resolvers, counting how often each field resolver runs. */
function testSchema() {
  const runs = { items: 0, boom: 0, add: 0 };
  const schema = buildSchema(`
    type Item { id: ID! name: String! tags: [String!]! boom: String }
    type Query { items(first: Int = 2): [Item!]! item(id: ID!): Item }
    type Mutation { add(name: String!): Item! }
  `);
  const items = [1, 2, 3].map((n) => ({ id: `i${n}`, name: `item ${n}`, tags: ["a", `t${n}`] }));
  const resolvers = {
    Query: {
      items: async (_: unknown, { first }: { first: number }) => {
        runs.items++;
        return items.slice(0, first);
      },
      item: (_: unknown, { id }: { id: string }) => items.find((i) => i.id === id) ?? null,
    },
    Mutation: {
      add: (_: unknown, { name }: { name: string }) => {
        runs.add++;
        return { id: "new", name, tags: [] };
      },
    },
    Item: {
      boom: () => {
        runs.boom++;
        throw new DomainError("no boom here");
      },
    },
  };
  for (const [typeName, fields] of Object.entries(resolvers)) {
    const type = schema.getType(typeName) as unknown as { getFields(): Record<string, { resolve?: unknown }> };
    for (const [field, resolve] of Object.entries(fields)) type.getFields()[field].resolve = resolve;
  }
  return { schema, runs };
}

async function executorFor(schema: GraphQLSchema) {
  const gateway = createJitGateway(schema, createLogger("silent"));
  let loaded: GraphQLSchema | undefined;
  gateway.onSchemaLoadOrUpdate(({ apiSchema }) => (loaded = apiSchema));
  const { executor } = await gateway.load({ apollo: {} });
  expect(loaded).toBe(schema);
  return (query: string, variables?: Record<string, unknown>) => {
    const document = parse(query);
    const operation = document.definitions[0] as never;
    return executor!({
      document,
      operation,
      request: { query, variables },
      context: {},
      queryHash: query,
    } as never) as Promise<ExecutionResult>;
  };
}

/** The same answer, errors included, as graphql-js (what Apollo formats). */
async function expectSameAsGraphQLJs(schema: GraphQLSchema, result: ExecutionResult, query: string, variables = {}) {
  const reference = await execute({ schema, document: parse(query), variableValues: variables, contextValue: {} });
  expect(JSON.stringify(result)).toBe(JSON.stringify(reference));
  for (const [i, error] of (result.errors ?? []).entries()) {
    expect(error).toBeInstanceOf(GraphQLError);
    expect(error.extensions).toEqual(reference.errors![i].extensions);
    expect(error.originalError?.constructor).toBe(reference.errors![i].originalError?.constructor);
  }
}

describe("the graphql-jit gateway", () => {
  it("answers queries as graphql-js does, with and without variables, through fragments", async () => {
    const { schema } = testSchema();
    const run = await executorFor(schema);
    for (const [query, variables] of [
      [`{ items { id name tags } }`, {}],
      [`query($n: Int) { items(first: $n) { ...F } } fragment F on Item { id tags }`, { n: 3 }],
      [`query($id: ID!) { item(id: $id) { name } missing: item(id: "zz") { name } }`, { id: "i2" }],
    ] as const) {
      for (let i = 0; i < 2; i++) await expectSameAsGraphQLJs(schema, await run(query, variables), query, variables);
    }
  });

  it("hands an answer with errors to graphql-js, which runs the operation again and words them", async () => {
    const { schema, runs } = testSchema();
    const run = await executorFor(schema);
    const partial = `{ items { id boom } }`;
    const result = await run(partial);
    expect(runs.items).toBe(2); // the compiled run, then graphql-js's
    await expectSameAsGraphQLJs(schema, result, partial);
    expect(result.errors?.[0].originalError).toBeInstanceOf(DomainError);
    for (const [query, variables] of [
      [`query($n: Int) { items(first: $n) { id } }`, { n: "three" }],
      [`query($id: ID!) { item(id: $id) { id } }`, {}],
    ] as const) {
      await expectSameAsGraphQLJs(schema, await run(query, variables), query, variables);
    }
  });

  it("leaves an unknown operation name to graphql-js", async () => {
    const { schema } = testSchema();
    const gateway = createJitGateway(schema, createLogger("silent"));
    gateway.onSchemaLoadOrUpdate(() => undefined);
    const { executor } = await gateway.load({ apollo: {} });
    const query = `{ items { id } }`;
    const result = (await executor!({
      document: parse(query),
      operation: undefined,
      request: { query, operationName: "Nope" },
      context: {},
      queryHash: query,
    } as never)) as ExecutionResult;
    expect(result.errors?.map((e) => e.message)).toEqual(['Unknown operation named "Nope".']);
  });

  it("runs mutations on graphql-js, once", async () => {
    const { schema, runs } = testSchema();
    const run = await executorFor(schema);
    const mutation = `mutation { add(name: "x") { id name } }`;
    expect(await run(mutation)).toEqual({ data: { add: { id: "new", name: "x" } } });
    expect(runs.add).toBe(1);
  });
});
