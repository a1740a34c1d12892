// A webhook receiver that checks each delivery's Standard Webhooks signature before trusting it.
// Needs NOVART_WEBHOOK_SECRET: the endpoint's whsec_… secret (or your task webhook secret, for tasks' own
// webhookUrl); optional PORT (default 8080). Install the package first: npm install standardwebhooks
import http from "node:http";
import { Webhook } from "standardwebhooks";

const secret = process.env.NOVART_WEBHOOK_SECRET;
if (!secret) {
  console.error("Set NOVART_WEBHOOK_SECRET to the signing secret shown when the endpoint was created.");
  process.exit(2);
}
const webhook = new Webhook(secret);
// Retries and redeliveries repeat the webhook-id: handle each event once.
const handled = new Set();

const server = http.createServer((request, response) => {
  if (request.method !== "POST") {
    response.writeHead(405).end();
    return;
  }
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    // Verify the exact bytes received: parsing and serialising the JSON again would change them.
    const body = Buffer.concat(chunks).toString("utf8");
    let event;
    try {
      // Checks the signature (any of the ones sent, during a secret rotation) and that the timestamp is recent.
      event = webhook.verify(body, request.headers);
    } catch (error) {
      console.log(`refused a delivery: ${error.message}`);
      response.writeHead(400).end("invalid signature");
      return;
    }
    // Answer 2xx at once: a receiver that takes longer than 10 s counts as failed and is retried.
    response.writeHead(204).end();
    const id = request.headers["webhook-id"];
    if (handled.has(id)) return;
    handled.add(id);
    handle(event);
  });
});

/** Your own work goes here (better: put it in a queue of your own and return). */
function handle(event) {
  if (event.type.startsWith("task.")) {
    const task = event.data;
    console.log(`verified ${event.type}: task ${task.id} is ${task.status}`);
    for (const asset of task.assets) console.log(`  image ${asset.width}×${asset.height}: ${asset.url}`);
  } else {
    console.log(`verified ${event.type}: ${JSON.stringify(event.data)}`);
  }
}

server.listen(Number(process.env.PORT ?? 8080), () => {
  console.log(`listening on http://localhost:${server.address().port}`);
});
