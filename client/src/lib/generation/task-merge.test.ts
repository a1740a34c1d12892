import { describe, expect, it } from "vitest";
import { mergeTask, newerFirst, replaces, TaskMerger, withPositions, type StudioTask } from "./task-merge";

function task(id: string, createdAt: string, change: Partial<StudioTask> = {}): StudioTask {
  return {
    __typename: "Task",
    id,
    status: "QUEUED",
    prompt: `prompt ${id}`,
    negativePrompt: null,
    width: 512,
    height: 512,
    count: 1,
    seed: 1,
    cost: 2,
    progress: 0,
    queuePosition: 1,
    createdAt,
    startedAt: null,
    finishedAt: null,
    referenceIds: [],
    error: null,
    model: { __typename: "GenerationModel", id: "m", slug: "novart-sketch", name: "Novart Sketch" },
    assets: [],
    ...change,
  };
}

const a = task("a", "2026-01-01T10:00:00.000Z");
const b = task("b", "2026-01-01T11:00:00.000Z");
const c = task("c", "2026-01-01T12:00:00.000Z");

describe("the task list's merging", () => {
  it("orders newest first, ties by id", () => {
    expect([a, c, b].sort(newerFirst).map((t) => t.id)).toEqual(["c", "b", "a"]);
    const twin = task("z", a.createdAt);
    expect([a, twin].sort(newerFirst).map((t) => t.id)).toEqual(["z", "a"]);
  });

  it("never takes a finished task back to an unfinished state", () => {
    const done = { ...a, status: "SUCCEEDED" as const, progress: 1 };
    expect(replaces(done, { ...a, status: "RUNNING", progress: 0.5 })).toBe(false);
    expect(replaces({ ...a, status: "RUNNING" }, done)).toBe(true);
    // A retry takes a running task back to the queue: live events are in order, so it is believed.
    expect(replaces({ ...a, status: "RUNNING" }, { ...a, status: "QUEUED" })).toBe(true);
  });

  it("merges a task by id, inserts new ones in order, and leaves older ones to Load more", () => {
    const list = [c, a];
    const running = mergeTask(list, { ...a, status: "RUNNING", progress: 0.25 }, false)!;
    expect(running.before).toBe(a);
    expect(running.tasks.map((t) => [t.id, t.progress])).toEqual([
      ["c", 0],
      ["a", 0.25],
    ]);
    expect(mergeTask(list, b, false)!.tasks.map((t) => t.id)).toEqual(["c", "b", "a"]);
    const older = task("o", "2025-12-31T00:00:00.000Z");
    expect(mergeTask(list, older, true)).toBeNull();
    expect(mergeTask(list, older, false)!.tasks.map((t) => t.id)).toEqual(["c", "a", "o"]);
    expect(mergeTask([{ ...a, status: "CANCELED" }], a, false)).toBeNull();
  });

  it("keeps live states newer than a page, and live events that came before the first page", () => {
    const merger = new TaskMerger();
    // Before the first page: a live event for b (running) and for an old task beyond the page.
    merger.live({ ...b, status: "RUNNING", progress: 0.5 }, 10, false);
    merger.live(task("old", "2025-01-01T00:00:00.000Z", { status: "RUNNING" }), 11, false);
    const first = merger.mergePage([], [c, b], { keepKnown: false, sentAt: 5, hasMore: true });
    expect(first.map((t) => [t.id, t.status])).toEqual([
      ["c", "QUEUED"],
      ["b", "RUNNING"],
    ]);

    // A later page read before b's next event keeps b's live state.
    merger.live({ ...b, status: "SUCCEEDED", progress: 1 }, 20, true);
    const again = merger.mergePage(first, [c, { ...b, status: "RUNNING" }], {
      keepKnown: true,
      sentAt: 15,
      hasMore: false,
    });
    expect(again.find((t) => t.id === "b")?.status).toBe("RUNNING"); // the list kept what it had
    const fresher = merger.mergePage(
      [c, { ...b, status: "SUCCEEDED" }],
      [
        { ...c, status: "RUNNING" },
        { ...b, status: "RUNNING" },
      ],
      { keepKnown: true, sentAt: 30, hasMore: false },
    );
    expect(fresher.map((t) => [t.id, t.status])).toEqual([
      ["c", "RUNNING"],
      ["b", "SUCCEEDED"],
    ]);
  });

  it("updates queue positions of queued tasks only", () => {
    const list = [c, { ...b, status: "RUNNING" as const, queuePosition: null }, a];
    const moved = withPositions(list, [
      { id: "c", queuePosition: 3 },
      { id: "b", queuePosition: 9 },
    ]);
    expect(moved.map((t) => t.queuePosition)).toEqual([3, null, 1]);
    expect(moved[2]).toBe(a);
  });
});
