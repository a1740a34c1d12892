import { randomUUID } from "node:crypto";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { signedInUser, type SignedInUser, recharge } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { accountTasksTopic, type TaskEvent } from "./generation.topics.js";

/** An API without a worker: tasks stay QUEUED, and the test tells the subscribers what happened to them. */
let t: TestApp;
let user: SignedInUser;
let ws: Client;
beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  user = await signedInUser(t);
  await recharge(t, user.account.id, 100);
  ws = createClient({
    url: t.url.replace("http", "ws") + "/graphql",
    webSocketImpl: WebSocket,
    connectionParams: { authorization: user.headers.authorization },
    retryAttempts: 0,
  });
});
afterAll(async () => {
  await ws?.dispose();
  await t?.close();
});

type Frame = { myTaskUpdates: { id: string; status: string; assets: { id: string; width: number; index: number }[] } };

describe("live task events", () => {
  it("answer a SUCCEEDED event's images from the event itself, without reading them", async () => {
    const created = await t.graphql<{ createTask: { task: { id: string } } }>(
      `mutation { createTask(input: { prompt: "a quiet bay", model: "novart-sketch", width: 512, height: 512, count: 2 }) { task { id } } }`,
      undefined,
      user.headers,
    );
    const taskId = created.body.data!.createTask.task.id;
    const frames = ws.iterate<Frame>({
      query: "subscription { myTaskUpdates { id status assets { id width index } } }",
    });
    // The starting state: the task, QUEUED, no images.
    const first = await frames.next();
    expect(first.value?.data?.myTaskUpdates).toMatchObject({ id: taskId, status: "QUEUED", assets: [] });

    // A SUCCEEDED event as the worker publishes it, with asset rows that are in no table: an answer read
    // from the database would have no images.
    const [task] = (await t.app.db.query(`SELECT version, created_at FROM task WHERE id = $1`, [taskId])) as {
      version: number;
      created_at: Date;
    }[];
    const now = new Date().toISOString();
    const row = (index: number) => ({
      id: randomUUID(),
      task_id: taskId,
      account_id: user.account.id,
      index,
      width: 512,
      height: 512,
      bytes: 1234,
      content_type: "image/png",
      sha256: "0".repeat(64),
      storage_key: `assets/${user.account.id}/${taskId}/${index}.png`,
      preview_key: `assets/${user.account.id}/${taskId}/${index}.preview.webp`,
      thumbnail_key: `assets/${user.account.id}/${taskId}/${index}.thumb.webp`,
      favorite: false,
      status: "ACTIVE",
      expires_at: now,
      created_at: now,
      deleted_at: null,
      removed_reason: null,
    });
    const assets = [row(0), row(1)];
    const event: TaskEvent = {
      id: taskId,
      accountId: user.account.id,
      version: task.version + 2,
      status: "SUCCEEDED" as TaskEvent["status"],
      progress: 1,
      errorCode: null,
      errorMessage: null,
      startedAt: now,
      finishedAt: now,
      assets,
    };
    t.app.pubsub.publish(accountTasksTopic(user.account.id), event);
    const next = await frames.next();
    expect(next.value?.data?.myTaskUpdates).toEqual({
      id: taskId,
      status: "SUCCEEDED",
      assets: assets.map((a) => ({ id: a.id, width: 512, index: a.index })),
    });
    await frames.return?.();
  });
});
