import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * An account's unfinished tasks by a partial index: the admission's and the dispatcher's counts read only
 * them, not every task the account ever made (the account index holds its whole history).
 */
export class TaskUnfinishedIndex1795700000000 implements MigrationInterface {
  name = "TaskUnfinishedIndex1795700000000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX "IDX_task_account_unfinished" ON "task" ("account_id", "status", "created_at") WHERE "status" IN ('QUEUED', 'RUNNING', 'PENDING_REVIEW')`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "public"."IDX_task_account_unfinished"`);
  }
}
