import type { StudioTaskFragment } from "$lib/graphql/generated/graphql";
import { isFinished } from "./task-status";

export type StudioTask = StudioTaskFragment;

/** Newest first; ties (same millisecond) by id so the order is stable. */
export function newerFirst(a: StudioTask, b: StudioTask): number {
  const at = Date.parse(a.createdAt);
  const bt = Date.parse(b.createdAt);
  if (at !== bt) return bt - at;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * Whether `incoming` may replace `current`. Live events arrive in order, so the newest one wins; only a
 * finished task is never taken back to an unfinished state (a list answer read before it finished).
 */
export function replaces(current: StudioTask, incoming: StudioTask): boolean {
  return !(isFinished(current.status) && !isFinished(incoming.status));
}

/**
 * What the task list knows besides the tasks: live events that came before the first page, and when each
 * task last changed live — so a list answer never overwrites a newer live state.
 */
export class TaskMerger {
  /** Live events received before the first page: merged when it arrives. */
  readonly #early = new Map<string, StudioTask>();
  /** When each task last changed through the live connection (a monotonic clock). */
  readonly #liveAt = new Map<string, number>();

  /** Records a live event; before the first page it is kept for `mergePage`. */
  live(task: StudioTask, at: number, loaded: boolean): void {
    this.#liveAt.set(task.id, at);
    if (loaded) return;
    const early = this.#early.get(task.id);
    if (!early || replaces(early, task)) this.#early.set(task.id, task);
  }

  /**
   * The list after a page of `tasks`: `known` (kept when `keepKnown`) merged with `fresh`, the page asked
   * for at `sentAt`; early live events join when they fall within the loaded range.
   */
  mergePage(
    known: StudioTask[],
    fresh: StudioTask[],
    options: { keepKnown: boolean; sentAt: number; hasMore: boolean },
  ): StudioTask[] {
    const byId = new Map((options.keepKnown ? known : []).map((t) => [t.id, t]));
    for (const task of fresh) {
      const current = byId.get(task.id);
      // A live event received after the request was sent may be newer than the answer: it stays.
      const liveSince = (this.#liveAt.get(task.id) ?? -Infinity) > options.sentAt;
      if (!current || (!liveSince && replaces(current, task))) byId.set(task.id, task);
    }
    const oldest = fresh.at(-1);
    for (const task of this.#early.values()) {
      const inRange = !options.hasMore || (oldest !== undefined && newerFirst(task, oldest) <= 0);
      const current = byId.get(task.id);
      if (inRange && (!current || replaces(current, task))) byId.set(task.id, task);
    }
    this.#early.clear();
    return [...byId.values()].sort(newerFirst);
  }
}

/**
 * `tasks` with `task` merged in: replaced in place, or inserted in order. Null when nothing changes: the
 * update is older than what is shown, or the task is older than every loaded one while more pages exist
 * ("Load more" brings it).
 */
export function mergeTask(
  tasks: StudioTask[],
  task: StudioTask,
  hasMore: boolean,
): { tasks: StudioTask[]; before: StudioTask | undefined } | null {
  const index = tasks.findIndex((t) => t.id === task.id);
  if (index >= 0) {
    const before = tasks[index];
    return replaces(before, task) ? { tasks: tasks.with(index, task), before } : null;
  }
  const oldest = tasks.at(-1);
  if (hasMore && oldest && newerFirst(task, oldest) > 0) return null;
  return { tasks: [...tasks, task].sort(newerFirst), before: undefined };
}

/** Queued tasks with their current place in the queue. */
export function withPositions(tasks: StudioTask[], positions: { id: string; queuePosition: number | null }[]) {
  const byId = new Map(positions.map((p) => [p.id, p.queuePosition]));
  return tasks.map((t) =>
    t.status === "QUEUED" && byId.has(t.id) && byId.get(t.id) !== t.queuePosition
      ? { ...t, queuePosition: byId.get(t.id) ?? null }
      : t,
  );
}
