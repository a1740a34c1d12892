/**
 * The sample webhook body the Docs page shows: a `task.succeeded` event whose `data` is the task with the
 * GraphQL `Task`'s field names. docs-examples.test.ts checks that its keys are exactly those of a real
 * delivery's, so the sample cannot drift from what the server sends.
 */
export function examplePayload(origin: string) {
  const taskId = "7f95c1d2-0b6e-4c1f-9a53-2f1d8e0b4a61";
  return {
    type: "task.succeeded",
    timestamp: "2026-03-01T12:00:03.120Z",
    data: {
      id: taskId,
      status: "SUCCEEDED",
      prompt: "a lighthouse at dusk, oil painting",
      negativePrompt: null,
      width: 512,
      height: 512,
      count: 1,
      seed: 1234,
      progress: 1,
      cost: 2,
      error: null,
      referenceIds: [],
      webhookUrl: null,
      clientReference: "order-1042",
      startedAt: "2026-03-01T12:00:00.410Z",
      finishedAt: "2026-03-01T12:00:03.080Z",
      createdAt: "2026-03-01T12:00:00.050Z",
      model: { id: "0c3f6a8e-5d2b-4e7a-8f1c-9b2d4e6f8a10", slug: "novart-sketch", name: "Novart Sketch" },
      queuePosition: null,
      assets: [
        {
          id: "c2a4e6f8-1b3d-4f5a-9c7e-0d2f4a6b8c1e",
          taskId,
          index: 0,
          width: 512,
          height: 512,
          bytes: 183_204,
          contentType: "image/png",
          sha256: "9f2c…",
          status: "ACTIVE",
          favorite: false,
          expiresAt: "2026-03-31T12:00:03.060Z",
          createdAt: "2026-03-01T12:00:03.060Z",
          url: `${origin}/files/c2a4e6f8-1b3d-4f5a-9c7e-0d2f4a6b8c1e/original?exp=…&dl=1&sig=…`,
        },
      ],
    },
  };
}
