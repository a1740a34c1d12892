import type { MigrationInterface, QueryRunner } from "typeorm";

/** The append-only audit log of admin and moderator actions (a trigger refuses changes). */
export class AuditLog1795652162031 implements MigrationInterface {
  name = "AuditLog1795652162031";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE "audit_entry" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "actor_id" uuid NOT NULL, "action" character varying(80) NOT NULL, "target" character varying(200), "reason" character varying(500), "input" jsonb NOT NULL, "result" jsonb, "ip" character varying(64) NOT NULL DEFAULT '', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_58a130a4b9da189f46ba2a01801" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_audit_entry_actor" ON "audit_entry"  ("actor_id", "created_at") `);
    await q.query(`CREATE INDEX "IDX_audit_entry_created" ON "audit_entry"  ("created_at", "id") `);
    await q.query(`CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit_entry is append-only'; END $$`);
    await q.query(`CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON "audit_entry"
      FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER audit_entry_append_only ON "audit_entry"`);
    await q.query(`DROP FUNCTION audit_entry_append_only()`);
    await q.query(`DROP INDEX "public"."IDX_audit_entry_created"`);
    await q.query(`DROP INDEX "public"."IDX_audit_entry_actor"`);
    await q.query(`DROP TABLE "audit_entry"`);
  }
}
