import type { Client } from "@urql/core";
import { errorMessage } from "$lib/graphql/errors";
import {
  QueuedTaskPositionsDocument,
  StudioTaskDocument,
  StudioTasksDocument,
  StudioTaskUpdatesDocument,
} from "$lib/graphql/generated/graphql";
import { mergeTask, TaskMerger, withPositions, type StudioTask } from "./task-merge";

export type { StudioTask } from "./task-merge";

export interface TaskChange {
  before: StudioTask | undefined;
  after: StudioTask;
}

/**
 * The signed-in account's tasks, newest first: a page of `tasks`, then `myTaskUpdates` merged in by id.
 * Tasks the subscription reports that are older than the loaded pages wait until "Load more" reaches them.
 */
export class TaskList {
  /** Immutable snapshots, replaced whole: progress events arrive several times a second. */
  tasks = $state.raw<StudioTask[]>([]);
  loaded = $state(false);
  loading = $state(false);
  /** Why the first page could not be loaded (or a later page, when `loaded`). */
  error = $state<string | null>(null);
  hasMore = $state(false);
  /** When a load last succeeded (Date.now()). */
  loadedAt = 0;

  readonly #client: Client;
  readonly #pageSize: number;
  readonly #merger = new TaskMerger();
  #endCursor: string | null = null;
  #request = 0;
  #listeners: ((change: TaskChange) => void)[] = [];
  #positionsTimer: ReturnType<typeof setTimeout> | undefined;
  /** Ids of tasks being asked for again because an event came without their images. */
  #refetching: string[] = [];

  constructor(client: Client, pageSize = 20) {
    this.#client = client;
    this.#pageSize = pageSize;
  }

  /** Loads the first page again (`more`: the next page) and merges it with what is known. */
  async load(more = false): Promise<void> {
    const mine = ++this.#request;
    const sentAt = performance.now();
    this.loading = true;
    this.error = null;
    // Loading again covers every loaded task (fresh image URLs for all of them), up to the page limit.
    const first = more ? this.#pageSize : Math.min(100, Math.max(this.#pageSize, this.tasks.length));
    const result = await this.#client
      .query(StudioTasksDocument, { first, after: more ? this.#endCursor : null }, { requestPolicy: "network-only" })
      .toPromise();
    if (mine !== this.#request) return;
    this.loading = false;
    if (!result.data) {
      this.error = result.error ? errorMessage(result.error) : "Your tasks could not be loaded.";
      return;
    }
    const page = result.data.tasks;
    this.#endCursor = page.pageInfo.endCursor ?? (more ? this.#endCursor : null);
    this.hasMore = page.pageInfo.hasNextPage;
    this.tasks = this.#merger.mergePage(
      this.tasks,
      page.edges.map((edge) => edge.node),
      { keepKnown: more || this.loaded, sentAt, hasMore: this.hasMore },
    );
    this.loaded = true;
    this.loadedAt = Date.now();
  }

  get(id: string): StudioTask | undefined {
    return this.tasks.find((t) => t.id === id);
  }

  /** A task as the server answered it (created, canceled, or from the live connection). */
  upsert(task: StudioTask, live = false): void {
    if (live) {
      this.#merger.live(task, performance.now(), this.loaded);
      if (task.status === "SUCCEEDED" && task.assets.length < task.count) void this.#refetch(task.id);
    }
    if (!this.loaded) return;
    const merged = mergeTask(this.tasks, task, this.hasMore);
    if (!merged) return;
    this.tasks = merged.tasks;
    if (merged.before?.status !== task.status) this.#schedulePositions();
    for (const listener of this.#listeners) listener({ before: merged.before, after: task });
  }

  /** Calls `listener` for each change of a loaded task (live or from a mutation). */
  onChange(listener: (change: TaskChange) => void): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** Follows `myTaskUpdates` until the returned function is called. */
  follow(): () => void {
    const subscription = this.#client.subscription(StudioTaskUpdatesDocument, {}).subscribe((result) => {
      const task = result.data?.myTaskUpdates;
      if (task) this.upsert(task, true);
    });
    return () => {
      subscription.unsubscribe();
      clearTimeout(this.#positionsTimer);
    };
  }

  /**
   * A live event may come without the task's images (the server resolved them when the subscription
   * started): the task is asked for again until its images are there.
   */
  async #refetch(id: string): Promise<void> {
    if (this.#refetching.includes(id)) return;
    this.#refetching = [...this.#refetching, id];
    try {
      for (const wait of [0, 500, 2000]) {
        if (wait) await new Promise((resolve) => setTimeout(resolve, wait));
        const result = await this.#client
          .query(StudioTaskDocument, { id }, { requestPolicy: "network-only" })
          .toPromise();
        const task = result.data?.task;
        if (!task) continue;
        this.upsert(task);
        if (task.assets.length >= task.count || task.status !== "SUCCEEDED") return;
      }
    } finally {
      this.#refetching = this.#refetching.filter((r) => r !== id);
    }
  }

  /**
   * A task's place in the queue changes when another task starts, but events only come for the task that
   * changed: when any task moves, the queued ones ask for their positions again (once per burst).
   */
  #schedulePositions(): void {
    clearTimeout(this.#positionsTimer);
    this.#positionsTimer = setTimeout(() => void this.#refreshPositions(), 400);
  }

  async #refreshPositions(): Promise<void> {
    if (!this.tasks.some((t) => t.status === "QUEUED")) return;
    const result = await this.#client
      .query(QueuedTaskPositionsDocument, {}, { requestPolicy: "network-only" })
      .toPromise();
    if (result.data)
      this.tasks = withPositions(
        this.tasks,
        result.data.tasks.edges.map((e) => e.node),
      );
  }
}
