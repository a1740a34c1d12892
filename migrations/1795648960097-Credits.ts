import type { MigrationInterface, QueryRunner } from "typeorm";

/** Cached balances and the append-only ledger (enforced by a trigger: rows can be inserted, never changed). */
export class Credits1795648960097 implements MigrationInterface {
  name = "Credits1795648960097";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE "credit_account" ("account_id" uuid NOT NULL, "paid" integer NOT NULL DEFAULT '0', "bonus" integer NOT NULL DEFAULT '0', "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "CHK_credit_account_non_negative" CHECK ("paid" >= 0 AND "bonus" >= 0), CONSTRAINT "PK_a2d96cade4149e6ee95fbb91933" PRIMARY KEY ("account_id"))`,
    );
    await q.query(
      `CREATE TYPE "public"."ledger_kind" AS ENUM('RECHARGE', 'REDEMPTION', 'WELCOME_BONUS', 'REFERRAL_REWARD', 'TASK_CHARGE', 'TASK_REFUND', 'ADMIN_ADJUSTMENT')`,
    );
    await q.query(
      `CREATE TABLE "ledger_entry" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "account_id" uuid NOT NULL, "kind" "public"."ledger_kind" NOT NULL, "paid_delta" integer NOT NULL, "bonus_delta" integer NOT NULL, "paid_after" integer NOT NULL, "bonus_after" integer NOT NULL, "reference" character varying(200) NOT NULL, "note" character varying(500) NOT NULL DEFAULT '', "actor_id" uuid, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_04e9d274911f909a5848a15cd74" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE UNIQUE INDEX "UQ_ledger_entry_reference" ON "ledger_entry"  ("reference") `);
    await q.query(
      `CREATE INDEX "IDX_ledger_entry_account_created" ON "ledger_entry"  ("account_id", "created_at", "id") `,
    );
    await q.query(`CREATE FUNCTION ledger_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'ledger_entry is append-only: write a compensating entry instead'; END $$`);
    await q.query(`CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON "ledger_entry"
      FOR EACH ROW EXECUTE FUNCTION ledger_entry_append_only()`);
    await q.query(
      `ALTER TABLE "credit_account" ADD CONSTRAINT "FK_a2d96cade4149e6ee95fbb91933" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "ledger_entry" ADD CONSTRAINT "FK_f51c20726076921b4697f67a8c1" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER ledger_entry_append_only ON "ledger_entry"`);
    await q.query(`DROP FUNCTION ledger_entry_append_only()`);
    await q.query(`ALTER TABLE "ledger_entry" DROP CONSTRAINT "FK_f51c20726076921b4697f67a8c1"`);
    await q.query(`ALTER TABLE "credit_account" DROP CONSTRAINT "FK_a2d96cade4149e6ee95fbb91933"`);
    await q.query(`DROP INDEX "public"."IDX_ledger_entry_account_created"`);
    await q.query(`DROP INDEX "public"."UQ_ledger_entry_reference"`);
    await q.query(`DROP TABLE "ledger_entry"`);
    await q.query(`DROP TYPE "public"."ledger_kind"`);
    await q.query(`DROP TABLE "credit_account"`);
  }
}
