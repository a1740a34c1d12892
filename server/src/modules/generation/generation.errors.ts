import { AppError } from "../../infra/errors.js";

export class IdempotencyConflictError extends AppError {
  constructor(taskId: string) {
    super("IDEMPOTENCY_CONFLICT", "This idempotency key was used for a different task in the last 24 hours.", {
      taskId,
    });
  }
}

export class TaskNotCancelableError extends AppError {
  constructor(status: string) {
    super("TASK_NOT_CANCELABLE", `The task is ${status.toLowerCase()}: only queued or running tasks can be canceled.`, {
      status,
    });
  }
}
