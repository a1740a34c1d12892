import type { DataSource, EntityManager } from "typeorm";

/** What stays of erased user text (the columns are NOT NULL, and a reviewer sees that text was there). */
export const ERASED_TEXT = "[deleted]";

/**
 * Erases the text a deleted account wrote that the risk tables keep: prompt excerpts of moderation events,
 * reasons of limit requests and appeal messages. The rows stay (counts, decisions, who decided) for the
 * records; only the account's own words go. Run inside the deletion's transaction.
 */
export async function eraseAccountText(db: DataSource | EntityManager, accountId: string): Promise<void> {
  await db.query(`UPDATE moderation_event SET excerpt = $2 WHERE account_id = $1 AND excerpt <> $2`, [
    accountId,
    ERASED_TEXT,
  ]);
  await db.query(`UPDATE limit_request SET reason = $2 WHERE account_id = $1 AND reason <> $2`, [
    accountId,
    ERASED_TEXT,
  ]);
  await db.query(
    `UPDATE account_restriction SET appeal_message = $2
      WHERE account_id = $1 AND appeal_message IS NOT NULL AND appeal_message <> $2`,
    [accountId, ERASED_TEXT],
  );
}
