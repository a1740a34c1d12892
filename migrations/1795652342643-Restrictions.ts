import type { MigrationInterface, QueryRunner } from "typeorm";

/** Account restrictions (bans) with scopes, an optional end, lifts and appeals. */
export class Restrictions1795652342643 implements MigrationInterface {
  name = "Restrictions1795652342643";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE "account_restriction" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "account_id" uuid NOT NULL, "scopes" text array NOT NULL, "reason" character varying(500) NOT NULL, "ends_at" TIMESTAMP WITH TIME ZONE, "created_by_id" uuid NOT NULL, "lifted_at" TIMESTAMP WITH TIME ZONE, "lift_reason" character varying(500), "end_notified_at" TIMESTAMP WITH TIME ZONE, "appeal_message" character varying(2000), "appealed_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_f7533752dabb68f8261ecbecea3" PRIMARY KEY ("id"))`,
    );
    await q.query(
      `CREATE INDEX "IDX_account_restriction_account" ON "account_restriction"  ("account_id", "created_at") `,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "public"."IDX_account_restriction_account"`);
    await q.query(`DROP TABLE "account_restriction"`);
  }
}
