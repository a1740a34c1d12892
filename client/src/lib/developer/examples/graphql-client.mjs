// A small client for the Novart Studio GraphQL API (Node.js 20 or newer, no dependencies): the API key as a
// Bearer token, errors thrown with their stable code, and RATE_LIMITED answers retried after the
// `retryAfter` seconds the server names.
//
// Use it from your code:   import { graphql } from "./graphql-client.mjs";
// or send one query:       node graphql-client.mjs '{ me { email } }'
// Needs NOVART_API_KEY; NOVART_URL defaults to http://localhost:4000.
import { fileURLToPath } from "node:url";

const NOVART_URL = process.env.NOVART_URL ?? "http://localhost:4000";
const NOVART_API_KEY = process.env.NOVART_API_KEY;

/** A GraphQL error with its `extensions.code` (UNAUTHENTICATED, INSUFFICIENT_BALANCE, …). */
export class NovartError extends Error {
  constructor(error) {
    super(error.message);
    this.name = "NovartError";
    this.code = error.extensions?.code ?? "INTERNAL_SERVER_ERROR";
    this.extensions = error.extensions ?? {};
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends one query or mutation and answers its `data`; throws a NovartError for an error answer. */
export async function graphql(query, variables = {}, { maxRetries = 3 } = {}) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${NOVART_URL}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${NOVART_API_KEY}` },
      body: JSON.stringify({ query, variables }),
    });
    if (!response.headers.get("content-type")?.includes("json")) {
      throw new Error(`HTTP ${response.status} from ${NOVART_URL}/graphql`);
    }
    const answer = await response.json();
    const error = answer.errors?.[0];
    if (!error) return answer.data;
    if (error.extensions?.code === "RATE_LIMITED" && attempt < maxRetries) {
      // The server says how long to wait; without it, back off exponentially.
      const seconds = error.extensions.retryAfter ?? 2 ** attempt;
      console.error(`Rate limited: retrying in ${seconds} s`);
      await sleep(seconds * 1000);
      continue;
    }
    throw new NovartError(error);
  }
}

// Run as a script: print the answer to the query given on the command line.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!NOVART_API_KEY) {
    console.error("Set NOVART_API_KEY to one of your API keys (Developer → API keys).");
    process.exit(2);
  }
  try {
    const data = await graphql(process.argv[2] ?? "{ me { email } }");
    console.log(JSON.stringify(data, null, 2));
  } catch (error) {
    console.error(error instanceof NovartError ? `${error.code}: ${error.message}` : error.message);
    process.exit(1);
  }
}
