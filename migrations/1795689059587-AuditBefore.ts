import type { MigrationInterface, QueryRunner } from "typeorm";

/** The audit log keeps the state an action changed as it was before ("before"), and is searchable by target. */
export class AuditBefore1795689059587 implements MigrationInterface {
  name = "AuditBefore1795689059587";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "audit_entry" ADD "before" jsonb`);
    await q.query(`CREATE INDEX "IDX_audit_entry_target" ON "audit_entry"  ("target", "created_at") `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "public"."IDX_audit_entry_target"`);
    await q.query(`ALTER TABLE "audit_entry" DROP COLUMN "before"`);
  }
}
