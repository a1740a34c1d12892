/** Runs one task (job id = task id). */
export const GENERATION_RUN_JOB = "generation.run";
/** Repeatable: re-enqueues tasks the queue lost and dispatches waiting ones. */
export const GENERATION_RECONCILE_JOB = "generation.reconcile";
/** Repeatable: retires expired assets and warns owners before their images expire. */
export const ASSETS_RETENTION_JOB = "assets.retention";
/** Repeatable: deletes unused uploads and forgets idempotency keys older than 24 h. */
export const GENERATION_MAINTENANCE_JOB = "generation.maintenance";
