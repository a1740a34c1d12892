import type { TaskEntity, TaskStatus } from "./task.entity.js";

/** Every change of one task. */
export const taskTopic = (taskId: string) => `TASK_UPDATED:${taskId}`;
/** Every change of any task of one account. */
export const accountTasksTopic = (accountId: string) => `ACCOUNT_TASKS:${accountId}`;
/** A cancel request for a running task: the worker running it aborts its provider call. */
export const TASK_CANCEL_REQUESTED = "TASK_CANCEL_REQUESTED";

/** A task as it is after a change: enough to answer a subscription without reading the database. */
export interface TaskEvent {
  id: string;
  accountId: string;
  version: number;
  status: TaskStatus;
  progress: number;
  errorCode: string | null;
  errorMessage: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /**
   * SUCCEEDED only, when the worker inserted them: the task's asset rows as `row_to_json` gives them (column
   * names, ISO timestamps), so the API answers the event's images without reading them (events travel on
   * this installation's own Redis).
   */
  assets?: Record<string, unknown>[];
}

export function toTaskEvent(task: TaskEntity): TaskEvent {
  return {
    id: task.id,
    accountId: task.accountId,
    version: task.version,
    status: task.status,
    progress: task.progress,
    errorCode: task.errorCode,
    errorMessage: task.errorMessage,
    startedAt: task.startedAt ? new Date(task.startedAt).toISOString() : null,
    finishedAt: task.finishedAt ? new Date(task.finishedAt).toISOString() : null,
  };
}
