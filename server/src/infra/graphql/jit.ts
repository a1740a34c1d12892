import type { ApolloServerOptionsWithGateway } from "@apollo/server";
import { execute, type DocumentNode, type ExecutionResult, type GraphQLSchema } from "graphql";
import { compileQuery, isCompiledQuery, type CompiledQuery } from "graphql-jit";
import { LRUCache } from "lru-cache";
import type { Logger } from "../logger.js";

type Gateway = ApolloServerOptionsWithGateway<Record<string, unknown>>["gateway"];

/** Compiled documents kept per process (least recently used go first): a studio sends a few dozen. */
const MAX_COMPILED = 200;

/**
 * Apollo's executor, replaced through its `gateway` option (Apollo still parses, validates, caches the
 * documents, runs the plugins and formats the errors): queries run as JavaScript compiled by graphql-jit,
 * several times faster than graphql-js's interpretation of the document on every request.
 *
 * The answers stay graphql-js's, byte for byte:
 * - a document is compiled once per (query hash, operation name), when first executed;
 * - mutations and subscriptions, and documents graphql-jit cannot compile, run on graphql-js;
 * - an answer with errors is thrown away and the operation is run again by graphql-js: graphql-jit words
 *   variable errors differently and builds its errors without the fields Apollo and `formatError` read, so
 *   error answers (rare, and cheap next to a success) cost a second execution of a read-only operation.
 */
export function createJitGateway(schema: GraphQLSchema, logger: Logger): Gateway {
  /** The compiled query, or false when graphql-jit cannot compile it (graphql-js then runs it for good). */
  const compiledQueries = new LRUCache<string, CompiledQuery | false>({ max: MAX_COMPILED });
  const listeners = new Set<Parameters<Gateway["onSchemaLoadOrUpdate"]>[0]>();

  const runOnGraphQLJs = (
    document: DocumentNode,
    context: unknown,
    variables: Record<string, unknown> | undefined,
    operationName: string | undefined,
  ) => execute({ schema, document, contextValue: context, variableValues: variables, operationName });

  const compiledFor = (key: string, document: DocumentNode, operationName: string | undefined) => {
    let compiled = compiledQueries.get(key);
    if (compiled === undefined) {
      try {
        const result = compileQuery(schema, document, operationName);
        compiled = isCompiledQuery(result) ? result : false;
      } catch (err) {
        logger.warn({ err, operationName }, "graphql-jit could not compile a document: graphql-js runs it");
        compiled = false;
      }
      compiledQueries.set(key, compiled);
    }
    return compiled;
  };

  return {
    async load() {
      for (const listener of listeners) listener({ apiSchema: schema, coreSupergraphSdl: "" });
      return {
        executor: async ({ document, operation, request, context, queryHash }) => {
          const operationName = request.operationName ?? undefined;
          const variables = request.variables;
          // No operation of that name (graphql-js words the error), mutations, subscriptions: graphql-js.
          if (operation?.operation !== "query") return runOnGraphQLJs(document, context, variables, operationName);
          const compiled = compiledFor(`${queryHash}:${operationName ?? ""}`, document, operationName);
          if (!compiled) return runOnGraphQLJs(document, context, variables, operationName);
          const result = (await compiled.query(undefined, context, variables ?? {})) as ExecutionResult;
          return result.errors?.length ? runOnGraphQLJs(document, context, variables, operationName) : result;
        },
      };
    },
    onSchemaLoadOrUpdate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      compiledQueries.clear();
    },
  };
}
