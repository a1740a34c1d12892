// Creates a task, then follows it live over WebSocket (graphql-ws) until it ends, printing every state.
// Needs NOVART_API_KEY (tasks:write and tasks:read); optional NOVART_URL (default http://localhost:4000)
// and PROMPT. Install the two packages first: npm install graphql-ws ws
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const NOVART_URL = process.env.NOVART_URL ?? "http://localhost:4000";
const NOVART_API_KEY = process.env.NOVART_API_KEY;
const PROMPT = process.env.PROMPT ?? "A paper boat on a rainy street, watercolour";
if (!NOVART_API_KEY) {
  console.error("Set NOVART_API_KEY to an API key with the tasks:write and tasks:read scopes.");
  process.exit(2);
}

/** One GraphQL request over HTTP; exits with the error's code when it fails. */
async function request(query, variables) {
  const response = await fetch(`${NOVART_URL}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${NOVART_API_KEY}` },
    body: JSON.stringify({ query, variables }),
  });
  const { data, errors } = await response.json();
  if (errors) {
    console.error(`${errors[0].extensions?.code}: ${errors[0].message}`);
    process.exit(1);
  }
  return data;
}

// 1. Create the task over HTTP (the price is charged now, and refunded if it fails).
const created = await request(
  `mutation ($input: CreateTaskInput!) {
    createTask(input: $input) { task { id cost } }
  }`,
  { input: { model: "novart-sketch", prompt: PROMPT, width: 512, height: 512, count: 1 } },
);
const { id, cost } = created.createTask.task;
console.log(`created task ${id} (${cost} credits)`);

// 2. Follow it. Over WebSocket the key goes in the connection_init payload, not in a header.
const client = createClient({
  url: `${NOVART_URL.replace(/^http/, "ws")}/graphql`,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${NOVART_API_KEY}` },
});

const FINAL = ["SUCCEEDED", "FAILED", "CANCELED"];
try {
  // The subscription answers the current state first, then every change, in order.
  const updates = client.iterate({
    query: `subscription ($id: ID!) {
      taskUpdated(id: $id) {
        status
        progress
        queuePosition
      }
    }`,
    variables: { id },
  });
  for await (const result of updates) {
    if (result.errors) throw new Error(result.errors[0].message);
    const update = result.data.taskUpdated;
    const status = update.status;
    if (status === "QUEUED") console.log(`QUEUED, position ${update.queuePosition ?? "?"}`);
    else if (status === "RUNNING") console.log(`RUNNING ${Math.round(update.progress * 100)}%`);
    else console.log(status);
    if (FINAL.includes(status)) break; // leaving the loop ends the subscription
  }
} finally {
  await client.dispose();
}

// 3. The result: links to the images (signed, valid for a limited time), or why it did not succeed.
const { task } = await request(
  `query ($id: ID!) {
    task(id: $id) {
      status
      error { code message }
      assets { width height url(variant: ORIGINAL, download: true) }
    }
  }`,
  { id },
);
if (task.status === "SUCCEEDED") {
  for (const asset of task.assets)
    console.log(`image ${asset.width}×${asset.height}: ${new URL(asset.url, NOVART_URL)}`);
} else {
  if (task.error) console.error(`${task.error.code}: ${task.error.message}`);
  process.exitCode = 1;
}
