import { createHash } from "node:crypto";
import fs from "node:fs";
import {
  GraphQLError,
  getOperationAST,
  parse,
  specifiedRules,
  validate,
  type ExecutionResult,
  type GraphQLSchema,
  type ValidationRule,
} from "graphql";
import { compileQuery, isCompiledQuery, type CompiledQuery } from "graphql-jit";
import { LRUCache } from "lru-cache";
import Negotiator from "negotiator";
import type { Logger } from "../logger.js";

/** Documents prepared per process by their text (least recently used go first): a studio sends a few dozen. */
const MAX_PREPARED = 200;
/** Longer documents are not worth remembering (a studio's are a few hundred characters). */
const MAX_SOURCE_CHARS = 10_000;
/** Apollo's media types for a single result, in its order of preference. */
const JSON_TYPE = "application/json; charset=utf-8";
const MEDIA_TYPES = [
  JSON_TYPE,
  "application/graphql-response+json; charset=utf-8",
  "application/json; callbackSpec=1.0; charset=utf-8",
];

export interface FastPathOptions {
  schema: GraphQLSchema;
  /** Apollo's extra validation rules (GraphQL Armor's limits): a document must pass them too. */
  validationRules: readonly ValidationRule[];
  maxTokens: number;
  /** Trusted documents by the SHA-256 of their text (the studio's persisted-documents manifest). */
  trustedDocuments: ReadonlyMap<string, string>;
  logger: Logger;
}

/** A request the fast path can answer: its compiled query and variables. */
export interface FastRequest {
  compiled: CompiledQuery;
  variables: Record<string, unknown>;
  contentType: string;
}

export interface FastPath {
  /**
   * For a parsed POST body: fills in the text of a trusted document sent by hash (so Apollo can run it
   * too), and answers the compiled query when the request is a valid query the fast path may answer, or
   * null when it goes through Apollo.
   */
  match(headers: Record<string, string | string[] | undefined>, body: unknown): FastRequest | null;
  /** The response body of a result without errors, exactly as Apollo writes it; null when it has errors. */
  answer(request: FastRequest, context: unknown): Promise<string | null>;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The lean path of `/graphql` for the common case: a valid query, sent as JSON by POST, answered without
 * errors. Each distinct document (by text, or by hash for a trusted one) is parsed, validated with Apollo's
 * rules and compiled by graphql-jit once; a request then costs its context, the compiled code and one
 * `JSON.stringify`, where Apollo would hash the text, look up its caches and run its request pipeline.
 *
 * It answers exactly what Apollo would (same status, media type and bytes) and steps aside for everything
 * else: mutations, subscriptions, documents that do not validate, variables that do not coerce, any answer
 * with errors (Apollo then runs the operation again and formats the errors), other media types, and any
 * request with `extensions` but a trusted document's hash (automatic persisted queries stay Apollo's).
 */
export function createFastPath(options: FastPathOptions): FastPath {
  const { schema, maxTokens, trustedDocuments, logger } = options;
  const rules = [...specifiedRules, ...options.validationRules];
  /** By operation name and text; false when the document is not for the fast path. */
  const prepared = new LRUCache<string, CompiledQuery | false>({ max: MAX_PREPARED });
  /** Apollo's choice per `accept` header; false when it accepts none of its types. */
  const mediaTypes = new LRUCache<string, string | false>({ max: 100 });

  const compile = (source: string, operationName: string | undefined): CompiledQuery | false => {
    try {
      const document = parse(source, { maxTokens });
      if (validate(schema, document, rules).length) return false;
      if (getOperationAST(document, operationName)?.operation !== "query") return false;
      const compiled = compileQuery(schema, document, operationName);
      return isCompiledQuery(compiled) ? compiled : false;
    } catch (err) {
      // Parse errors are Apollo's to report; anything else is graphql-jit refusing a document.
      if (!(err instanceof GraphQLError)) {
        logger.warn({ err, operationName }, "graphql-jit could not compile a document: Apollo runs it");
      }
      return false;
    }
  };

  const preparedFor = (source: string, operationName: string | undefined) => {
    const key = `${operationName ?? ""}\n${source}`;
    let compiled = prepared.get(key);
    if (compiled === undefined) {
      compiled = compile(source, operationName);
      prepared.set(key, compiled);
    }
    return compiled;
  };

  /** Apollo's choice for the `accept` header (Negotiator over its media types), remembered per header. */
  const mediaTypeFor = (accept: string | undefined) => {
    if (!accept) return JSON_TYPE;
    let type = mediaTypes.get(accept);
    if (type === undefined) {
      type = new Negotiator({ headers: { accept } }).mediaType(MEDIA_TYPES) ?? false;
      mediaTypes.set(accept, type);
    }
    return type;
  };

  return {
    match(headers, body) {
      if (!isRecord(body)) return null;
      const { query, operationName, variables, extensions } = body;
      let source: string;
      if (typeof query === "string") {
        if (extensions !== undefined && extensions !== null) return null;
        source = query;
      } else {
        const hash =
          query === undefined && isRecord(extensions) && isRecord(extensions.persistedQuery)
            ? extensions.persistedQuery.sha256Hash
            : undefined;
        const trusted = typeof hash === "string" ? trustedDocuments.get(hash) : undefined;
        if (trusted === undefined) return null;
        body.query = trusted; // Apollo checks the hash against the text and runs it when we step aside
        source = trusted;
      }
      if (source.length > MAX_SOURCE_CHARS) return null;
      if (operationName !== undefined && operationName !== null && typeof operationName !== "string") return null;
      if (variables !== undefined && variables !== null && !isRecord(variables)) return null;
      const contentType = headers["content-type"];
      if (typeof contentType !== "string" || contentType.split(";", 1)[0].trim().toLowerCase() !== "application/json")
        return null;
      const accept = headers.accept;
      if (accept !== undefined && typeof accept !== "string") return null;
      const mediaType = mediaTypeFor(accept);
      if (!mediaType) return null;
      const compiled = preparedFor(source, operationName ?? undefined);
      if (!compiled) return null;
      return { compiled, variables: variables ?? {}, contentType: mediaType };
    },

    async answer(request, context) {
      const result = (await request.compiled.query(undefined, context, request.variables)) as ExecutionResult;
      if (result.errors?.length || result.extensions) return null;
      return JSON.stringify({ data: result.data }) + "\n";
    },
  };
}

/**
 * The studio's trusted documents, from the manifest codegen writes (`persisted-documents.json`,
 * `sha256:<hex>` → document text). Only hashes that are the SHA-256 of their text are kept, as Apollo would check them.
 */
export function loadTrustedDocuments(file: string, logger: Logger): Map<string, string> {
  const documents = new Map<string, string>();
  if (!file || !fs.existsSync(file)) {
    if (file) logger.warn({ file }, "no persisted documents manifest: the studio's hashes will be refused");
    return documents;
  }
  const manifest = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, string>;
  for (const [key, text] of Object.entries(manifest)) {
    const hash = key.replace(/^sha256:/, ""); // codegen writes the persisted-documents appendix's form
    if (typeof text === "string" && sha256(text) === hash) documents.set(hash, text);
    else logger.warn({ hash }, "persisted document whose hash is not the SHA-256 of its text: ignored");
  }
  return documents;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
