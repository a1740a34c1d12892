import type { Client, OperationResult } from "@urql/core";
import { unseen } from "$lib/credits/credits";
import { errorCode, errorMessage, formError } from "$lib/graphql/errors";
import {
  ApproveTaskDocument,
  ModerationQueueDocument,
  RejectTaskDocument,
  type ModerationEventRowFragment,
  type ReviewTaskFragment,
} from "$lib/graphql/generated/graphql";

/** How often the queue is asked again while the page is visible. */
export const REFRESH_MS = 10_000;

/** What a decision answered: null when done, else the words to show and whether the task is gone anyway. */
export interface DecisionError {
  message: string;
  /** The task is no longer waiting (canceled by its owner, or decided by another moderator). */
  gone: boolean;
  code: string;
  field: string | null;
}

/**
 * The moderation queue: tasks held for review (oldest first) and recent blocked or held prompts (newest
 * first). Asked again every few seconds; tasks decided here leave at once and do not come back with an
 * answer that was on its way before the decision.
 */
export class ModerationQueue {
  tasks = $state<ReviewTaskFragment[]>([]);
  events = $state<ModerationEventRowFragment[]>([]);
  loaded = $state(false);
  loading = $state(false);
  /** The last load's error; with `loaded`, the list shown is the one from `updatedAt`. */
  error = $state<string | null>(null);
  updatedAt = $state<number | null>(null);
  /** Tasks that arrived with the last refresh (not the first load), for a highlight and an announcement. */
  fresh = $state<readonly string[]>([]);

  readonly #client: Client;
  /** Ids decided here (a short list: one per decision while the page is open). */
  #decided: string[] = [];
  #request = 0;

  constructor(client: Client) {
    this.#client = client;
  }

  async load(): Promise<void> {
    const mine = ++this.#request;
    this.loading = true;
    const result = await this.#client.query(ModerationQueueDocument, {}, { requestPolicy: "network-only" }).toPromise();
    if (mine !== this.#request) return;
    this.loading = false;
    if (result.error || !result.data) {
      this.error = result.error ? errorMessage(result.error) : "The moderation queue could not be loaded.";
      return;
    }
    const { tasksInReview, recentEvents } = result.data.moderationQueue;
    const tasks = tasksInReview.filter((t) => !this.#decided.includes(t.id));
    this.fresh = this.loaded ? unseen(this.tasks, tasks).map((t) => t.id) : [];
    this.tasks = tasks;
    this.events = recentEvents;
    this.error = null;
    this.loaded = true;
    this.updatedAt = Date.now();
  }

  approve(task: ReviewTaskFragment): Promise<DecisionError | null> {
    return this.#decide(task, () => this.#client.mutation(ApproveTaskDocument, { input: { id: task.id } }).toPromise());
  }

  reject(task: ReviewTaskFragment, reason: string): Promise<DecisionError | null> {
    return this.#decide(task, () =>
      this.#client.mutation(RejectTaskDocument, { input: { id: task.id, reason: reason.trim() } }).toPromise(),
    );
  }

  /** Takes a task off the list (decided, or found gone). */
  remove(id: string): void {
    this.#decided.push(id);
    this.tasks = this.tasks.filter((t) => t.id !== id);
  }

  async #decide(task: ReviewTaskFragment, send: () => Promise<OperationResult>): Promise<DecisionError | null> {
    // A refresh answering meanwhile must not bring the task back.
    this.#request++;
    this.loading = false;
    const result = await send();
    if (!result.error && result.data) {
      this.remove(task.id);
      return null;
    }
    if (!result.error) return { message: "The decision was not recorded.", gone: false, code: "UNKNOWN", field: null };
    const code = errorCode(result.error);
    if (code === "NOT_FOUND") {
      return {
        code,
        field: null,
        gone: true,
        message:
          "This task is no longer waiting for review: its owner canceled it, or another moderator decided it first.",
      };
    }
    return { ...formError(result.error), gone: false };
  }
}
