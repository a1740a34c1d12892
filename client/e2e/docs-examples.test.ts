import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../server/test/processes.js";
import { ERROR_CODES } from "../src/lib/developer/error-codes.js";
import { ALL_EVENTS } from "../src/lib/developer/events.js";
import { examplePayload } from "../src/lib/developer/webhook-payload.js";
import { startStudioServer, type Answer, type StudioServer } from "./support.js";

/**
 * The Docs page shows the files in client/src/lib/developer/examples/ exactly as they are; this test runs
 * each of them as its own process against a real server, so the documentation cannot rot.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const EXAMPLES = path.join(ROOT, "client/src/lib/developer/examples");

let studio: StudioServer;
let base: string;
let sessionToken: string;
let apiKey: string;
const running: ChildProcess[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "novart-docs-"));

const KATHERINE = { email: "katherine.docs@example.com", password: "orbital mechanics notebook 6", name: "Katherine" };

beforeAll(async () => {
  // No browser: the examples call the API.
  studio = await startStudioServer({
    LOCAL_PROVIDER_STEP_MS: "5",
    // The example receivers listen on loopback.
    WEBHOOK_ALLOW_PRIVATE: "true",
  });
  base = studio.base;
  await createAccount();
});

afterAll(async () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await studio?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A confirmed account (100 welcome credits), signed in over GraphQL, with an API key of every scope. */
async function createAccount(): Promise<void> {
  await studio.createAccount(KATHERINE);
  sessionToken = await studio.signInToken(KATHERINE);
  const key = await studio.graphqlData<{ createApiKey: { secret: string } }>(
    "mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }",
    { input: { name: "docs-examples", scopes: ["TASKS_READ", "TASKS_WRITE", "ASSETS_READ", "ACCOUNT_READ"] } },
    sessionToken,
  );
  apiKey = key.createApiKey.secret;
}

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code when the process ends. */
  exited: Promise<number | null>;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

/** Runs an example the way its comment says (`node file.mjs`, `bash file.sh`) with the example's env vars. */
function run(file: string, args: string[] = [], env: Record<string, string> = {}): Run {
  const command = file.endsWith(".sh") ? "bash" : process.execPath;
  const child = spawn(command, [path.join(EXAMPLES, file), ...args], {
    cwd: tmp,
    env: { PATH: process.env.PATH ?? "", HOME: tmp, NOVART_URL: base, NOVART_API_KEY: apiKey, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          clearInterval(poll);
          reject(new Error(`${file}: no ${pattern} within ${timeoutMs} ms; stdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        const poll = setInterval(() => {
          const match = out.match(pattern);
          if (match) {
            clearInterval(poll);
            clearTimeout(timer);
            resolve(match);
          }
        }, 20);
      });
    },
  };
}

/** Runs an example to its end and answers its exit code and output. */
async function runToEnd(file: string, args: string[] = [], env: Record<string, string> = {}, timeoutMs = 30_000) {
  const r = run(file, args, env);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    r.exited,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        r.child.kill("SIGKILL");
        reject(new Error(`${file} did not end within ${timeoutMs} ms; stdout:\n${r.stdout()}\nstderr:\n${r.stderr()}`));
      }, timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

function jsonOf<T>(output: string): T {
  return JSON.parse(output) as T;
}

interface CreatedTask {
  data: { createTask: { created: boolean; task: { id: string; status: string; cost: number } } };
}

async function taskStatus(id: string): Promise<string> {
  const data = await studio.graphqlData<{ task: { status: string } }>(
    "query ($id: ID!) { task(id: $id) { status } }",
    { id },
    apiKey,
  );
  return data.task.status;
}

describe("the Docs page's examples, run as they are shown", () => {
  it("whoami.sh authenticates with the API key", async () => {
    const result = await runToEnd("whoami.sh");
    expect(result.code, result.stderr).toBe(0);
    const answer = jsonOf<{ data: { me: { email: string; balance: { total: number } } } }>(result.stdout);
    expect(answer.data.me.email).toBe(KATHERINE.email);
    expect(answer.data.me.balance.total).toBe(100);
  });

  it("create-task.sh creates a task once per idempotency key", async () => {
    const first = await runToEnd("create-task.sh", [], {
      IDEMPOTENCY_KEY: "docs-key-1",
      PROMPT: 'A "quoted" \\ prompt',
    });
    expect(first.code, first.stderr).toBe(0);
    const created = jsonOf<CreatedTask>(first.stdout).data.createTask;
    expect(created.created).toBe(true);
    expect(created.task.cost).toBe(2);

    // The same key again: the original task, nothing charged again.
    const again = jsonOf<CreatedTask>(
      (await runToEnd("create-task.sh", [], { IDEMPOTENCY_KEY: "docs-key-1", PROMPT: 'A "quoted" \\ prompt' })).stdout,
    ).data.createTask;
    expect(again).toMatchObject({ created: false, task: { id: created.task.id } });

    // Without a key given, the script makes a fresh one: a new task.
    const other = jsonOf<CreatedTask>((await runToEnd("create-task.sh")).stdout).data.createTask;
    expect(other.created).toBe(true);
    expect(other.task.id).not.toBe(created.task.id);

    // The same key with other input is refused with its documented code.
    const conflict = await runToEnd("create-task.sh", [], { IDEMPOTENCY_KEY: "docs-key-1", PROMPT: "Something else" });
    const refused = jsonOf<Answer<unknown>>(conflict.stdout);
    expect(refused.errors?.[0]?.extensions?.code).toBe("IDEMPOTENCY_CONFLICT");

    const prompt = await studio.graphqlData<{ task: { prompt: string } }>(
      "query ($id: ID!) { task(id: $id) { prompt } }",
      { id: created.task.id },
      apiKey,
    );
    expect(prompt.task.prompt).toBe('A "quoted" \\ prompt');
    await expect.poll(() => taskStatus(created.task.id), { timeout: 30_000, interval: 200 }).toBe("SUCCEEDED");
  });

  it("upload-reference.sh uploads an image for referenceIds", async () => {
    const file = path.join(tmp, "reference.png");
    await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 80, b: 40 } } })
      .png()
      .toFile(file);
    const result = await runToEnd("upload-reference.sh", [file]);
    expect(result.code, result.stderr).toBe(0);
    const upload = jsonOf<{ id: string; width: number; height: number }>(result.stdout);
    expect(upload).toMatchObject({ width: 64, height: 48 });
    expect(upload.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("graphql-client.mjs retries a RATE_LIMITED answer after retryAfter, and reports error codes", async () => {
    // A proxy that answers the first request as the server does when a limit is hit, then passes through.
    let requests = 0;
    const proxy = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        requests++;
        if (requests === 1) {
          res.writeHead(200, { "content-type": "application/json" }).end(
            JSON.stringify({
              errors: [{ message: "Too many attempts.", extensions: { code: "RATE_LIMITED", retryAfter: 1 } }],
            }),
          );
          return;
        }
        void fetch(`${base}${req.url}`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: req.headers.authorization ?? "" },
          body,
        }).then(async (answer) =>
          res.writeHead(answer.status, { "content-type": "application/json" }).end(await answer.text()),
        );
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const started = Date.now();
      const result = await runToEnd("graphql-client.mjs", ["{ me { email } }"], { NOVART_URL: proxyUrl });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain("Rate limited: retrying in 1 s");
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(requests).toBe(2);
      expect(jsonOf<{ me: { email: string } }>(result.stdout).me.email).toBe(KATHERINE.email);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }

    const refused = await runToEnd("graphql-client.mjs", ["{ me { email } }"], { NOVART_API_KEY: "nvk_not_a_key" });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^UNAUTHENTICATED: /);
  });

  it("follow-task.mjs creates a task and follows it by subscription through SUCCEEDED", async () => {
    const result = await runToEnd("follow-task.mjs");
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const lines = result.stdout.trim().split("\n");
    const output = result.stdout;
    const id = lines[0].match(/^created task ([0-9a-f-]{36}) \(2 credits\)$/)?.[1];
    expect(id, lines[0]).toBeTruthy();
    const states = lines.slice(1, -1).map((line) => line.split(/[ ,]/)[0]);
    // In order, each state at most once as a run, ending with SUCCEEDED.
    const order = ["QUEUED", "RUNNING", "SUCCEEDED"];
    const indices = states.map((s) => order.indexOf(s));
    expect(
      indices.every((i) => i >= 0),
      states.join(),
    ).toBe(true);
    expect([...indices].sort((a, b) => a - b)).toEqual(indices);
    expect(states.at(-1), output).toBe("SUCCEEDED");
    expect(states.filter((s) => s === "SUCCEEDED")).toHaveLength(1);
    expect(lines.some((line) => /^RUNNING \d+%$/.test(line))).toBe(true);
    // The last line links to the image.
    const image = lines.at(-1)!.match(/^image 512×512: (http\S+)$/)?.[1];
    expect(image, lines.at(-1)).toBeTruthy();
    const file = await fetch(image!);
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("image/png");
    expect(await taskStatus(id!)).toBe("SUCCEEDED");
  });

  it("verify-webhook.mjs verifies real deliveries: a test event and task events, and refuses a forged one", async () => {
    const port = await freePort();
    const receiverUrl = `http://127.0.0.1:${port}/webhooks/novart`;
    const created = await studio.graphqlData<{ createWebhookEndpoint: { secret: string; endpoint: { id: string } } }>(
      `
        mutation ($input: CreateWebhookEndpointInput!) {
          createWebhookEndpoint(input: $input) {
            secret
            endpoint {
              id
            }
          }
        }
      `,
      { input: { url: receiverUrl, events: ["task.succeeded"], description: "docs example" } },
      sessionToken,
    );
    const { secret, endpoint } = created.createWebhookEndpoint;
    const receiver = run("verify-webhook.mjs", [], { NOVART_WEBHOOK_SECRET: secret, PORT: String(port) });
    await receiver.waitForOutput(new RegExp(`^listening on http://localhost:${port}$`, "m"));

    await studio.graphqlData(
      "mutation ($input: IdInput!) { sendTestWebhook(input: $input) { delivery { id } } }",
      { input: { id: endpoint.id } },
      sessionToken,
    );
    await receiver.waitForOutput(/^verified webhook\.test: .*This is a test delivery/m);

    // A request that is not signed with the secret is refused with 400 and never handled.
    const forged = await fetch(receiverUrl, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": "msg_forged",
        "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
        "webhook-signature": "v1,Zm9yZ2VkIHNpZ25hdHVyZSBvZiB0aGUgcmlnaHQgbGVuZ3RoIQ==",
      },
      body: JSON.stringify({ type: "task.succeeded", timestamp: new Date().toISOString(), data: {} }),
    });
    expect(forged.status).toBe(400);
    await receiver.waitForOutput(/^refused a delivery: /m);

    // A real task: the endpoint gets task.succeeded with the image links.
    const task = jsonOf<CreatedTask>((await runToEnd("create-task.sh")).stdout).data.createTask.task;
    const succeeded = await receiver.waitForOutput(
      new RegExp(`^verified task\\.succeeded: task ${task.id} is SUCCEEDED\\n  image 512×512: (http\\S+)$`, "m"),
      30_000,
    );
    expect((await fetch(succeeded[1])).status).toBe(200);

    // A task's own webhookUrl is signed with the account's task webhook secret.
    const taskSecret = await studio.graphqlData<{ taskWebhookSecret: { secret: string } }>(
      "{ taskWebhookSecret { secret } }",
      {},
      sessionToken,
    );
    const taskPort = await freePort();
    const taskReceiver = run("verify-webhook.mjs", [], {
      NOVART_WEBHOOK_SECRET: taskSecret.taskWebhookSecret.secret,
      PORT: String(taskPort),
    });
    await taskReceiver.waitForOutput(/^listening on /m);
    const own = jsonOf<CreatedTask>(
      (await runToEnd("create-task.sh", [], { WEBHOOK_URL: `http://127.0.0.1:${taskPort}/task-events` })).stdout,
    ).data.createTask.task;
    await taskReceiver.waitForOutput(new RegExp(`^verified task\\.running: task ${own.id} is RUNNING$`, "m"), 30_000);
    await taskReceiver.waitForOutput(
      new RegExp(`^verified task\\.succeeded: task ${own.id} is SUCCEEDED$`, "m"),
      30_000,
    );
    expect(taskReceiver.stdout()).not.toContain("refused");
    expect(receiver.stdout().match(/^refused/gm)).toHaveLength(1);
  });

  it("shows a webhook payload sample with exactly the keys of a real delivery", async () => {
    const receiver = http.createServer((req, res) => req.resume().on("end", () => res.writeHead(204).end()));
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/sample`;
      const created = await studio.graphqlData<{ createTask: { task: { id: string } } }>(
        "mutation ($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }",
        {
          input: {
            model: "novart-sketch",
            prompt: "a payload sample",
            width: 512,
            height: 512,
            webhookUrl: url,
            clientReference: "sample",
          },
        },
        apiKey,
      );
      const taskId = created.createTask.task.id;
      type Deliveries = { webhookDeliveries: { edges: { node: { eventType: string; payload: string } }[] } };
      const succeeded = async () =>
        (
          await studio.graphqlData<Deliveries>(
            "query ($taskId: ID) { webhookDeliveries(taskId: $taskId) { edges { node { eventType payload } } } }",
            { taskId },
            sessionToken,
          )
        ).webhookDeliveries.edges.find((e) => e.node.eventType === "task.succeeded")?.node.payload;
      await expect.poll(succeeded, { timeout: 30_000 }).toBeTruthy();
      const real = JSON.parse((await succeeded())!) as Record<string, unknown>;

      /** Every key path of a JSON value (arrays by their first element), sorted. */
      const keys = (value: unknown, prefix = ""): string[] => {
        const item = Array.isArray(value) ? value[0] : value;
        if (!item || typeof item !== "object") return [];
        return Object.entries(item as Record<string, unknown>)
          .flatMap(([key, v]) => [`${prefix}${key}`, ...keys(v, `${prefix}${key}.`)])
          .sort();
      };
      const sample = examplePayload(base);
      expect(keys(sample)).toEqual(keys(real));
      // The sample's values have the real ones' kinds (the error of a succeeded task is null in both).
      const kinds = (value: unknown, prefix = ""): string[] => {
        const item = Array.isArray(value) ? value[0] : value;
        if (!item || typeof item !== "object") return [];
        return Object.entries(item as Record<string, unknown>)
          .flatMap(([key, v]) => [
            `${prefix}${key}:${v === null ? "null" : Array.isArray(v) ? "array" : typeof v}`,
            ...kinds(v, `${prefix}${key}.`),
          ])
          .sort();
      };
      // The sample's task has no webhookUrl (this one has one): the rest has the same kinds.
      const ignore = (list: string[]) => list.filter((k) => !k.startsWith("data.webhookUrl:"));
      expect(ignore(kinds(sample))).toEqual(ignore(kinds(real)));
    } finally {
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it("documents every error code of the README and every webhook event of the schema", () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Errors"), readme.indexOf("\n## ", readme.indexOf("## Errors") + 1));
    const readmeCodes = [...section.matchAll(/^\| `([A-Z_]+)`/gm)].map((m) => m[1]);
    expect(readmeCodes.length).toBeGreaterThan(20);
    // Every public code is on the Docs page (which may say more, such as why a task failed).
    expect(ERROR_CODES.map((c) => c.code)).toEqual(expect.arrayContaining(readmeCodes));

    const schema = fs.readFileSync(path.join(ROOT, "schema/schema.graphql"), "utf8");
    const described = schema.match(/Events to send: ([^"]+)\./)?.[1].split(", ");
    expect(described).toEqual(ALL_EVENTS);
  });
});
