import type { DataSource } from "typeorm";
import type { Logger } from "../../infra/logger.js";
import type { Storage } from "./storage/storage.js";

/** Longest wait between two attempts at one file. */
const MAX_BACKOFF_MS = 6 * 3_600_000;

/**
 * Deletes files whose rows are gone. A store that refuses (S3 down, a permission changed) must not leave them
 * for ever: what fails is recorded in `file_deletion` and retried with backoff by the retention job.
 */
export class FileDeletions {
  constructor(
    private readonly db: DataSource,
    private readonly storage: Storage,
    private readonly logger: Logger,
  ) {}

  /** Deletes the files now; those the store refuses are recorded for `retry`. Never throws. */
  async delete(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => this.attempt(key, false)));
  }

  /** Tries again the recorded files that are due (the retention job); answers how many went and how many stay. */
  async retry(limit = 500): Promise<{ deleted: number; failed: number }> {
    const due = (await this.db.query(
      `SELECT key FROM file_deletion WHERE next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1`,
      [limit],
    )) as { key: string }[];
    const outcomes = await Promise.all(due.map(({ key }) => this.attempt(key, true)));
    const deleted = outcomes.filter(Boolean).length;
    if (due.length) this.logger.info({ deleted, failed: due.length - deleted }, "retried file deletions");
    return { deleted, failed: due.length - deleted };
  }

  private async attempt(key: string, recorded: boolean): Promise<boolean> {
    try {
      await this.storage.delete(key);
      if (recorded) await this.db.query(`DELETE FROM file_deletion WHERE key = $1`, [key]);
      return true;
    } catch (err) {
      const message = String((err as Error).message ?? err).slice(0, 500);
      this.logger.warn({ err: message, key }, "could not delete a file; it will be retried");
      // Backoff doubles from a minute with each attempt, up to MAX_BACKOFF_MS.
      await this.db
        .query(
          `INSERT INTO file_deletion (key, attempts, last_error, next_attempt_at)
           VALUES ($1, 1, $2, now() + interval '1 minute')
           ON CONFLICT (key) DO UPDATE SET attempts = file_deletion.attempts + 1, last_error = $2,
             next_attempt_at = now() + least(interval '1 minute' * power(2, file_deletion.attempts),
                                             $3 * interval '1 millisecond')`,
          [key, message, MAX_BACKOFF_MS],
        )
        .catch((dbErr: unknown) =>
          this.logger.error({ err: (dbErr as Error).message, key }, "could not record a file to delete"),
        );
      return false;
    }
  }
}
