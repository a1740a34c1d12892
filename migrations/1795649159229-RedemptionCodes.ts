import type { MigrationInterface, QueryRunner } from "typeorm";

/** Code batches, hashed redemption codes and who redeemed which. */
export class RedemptionCodes1795649159229 implements MigrationInterface {
  name = "RedemptionCodes1795649159229";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TYPE "public"."credit_kind" AS ENUM('PAID', 'BONUS')`);
    await q.query(
      `CREATE TABLE "code_batch" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "label" character varying(120) NOT NULL, "channel" character varying(120) NOT NULL DEFAULT '', "credits" integer NOT NULL, "kind" "public"."credit_kind" NOT NULL, "code_count" integer NOT NULL, "max_redemptions_per_code" integer NOT NULL DEFAULT '1', "per_user_limit" integer NOT NULL DEFAULT '1', "expires_at" TIMESTAMP WITH TIME ZONE, "disabled_at" TIMESTAMP WITH TIME ZONE, "created_by_id" uuid NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "CHK_code_batch_limits" CHECK ("credits" > 0 AND "code_count" > 0 AND "max_redemptions_per_code" > 0 AND "per_user_limit" > 0), CONSTRAINT "PK_0088d1075f6b5935a985b3073be" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_code_batch_created" ON "code_batch"  ("created_at", "id") `);
    await q.query(
      `CREATE TABLE "redemption_code" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "batch_id" uuid NOT NULL, "code_hash" character(64) NOT NULL, "redemption_count" integer NOT NULL DEFAULT '0', "disabled_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "CHK_redemption_code_count" CHECK ("redemption_count" >= 0), CONSTRAINT "PK_443cfed664376c917994098fc06" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_redemption_code_batch" ON "redemption_code"  ("batch_id") `);
    await q.query(`CREATE UNIQUE INDEX "UQ_redemption_code_hash" ON "redemption_code"  ("code_hash") `);
    await q.query(
      `CREATE TABLE "code_redemption" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "code_id" uuid NOT NULL, "batch_id" uuid NOT NULL, "account_id" uuid NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_ed4c1a367637df5f2e548201c55" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_code_redemption_batch_account" ON "code_redemption"  ("batch_id", "account_id") `);
    await q.query(
      `ALTER TABLE "code_batch" ADD CONSTRAINT "FK_3f1a460d5a621229f8a451c1644" FOREIGN KEY ("created_by_id") REFERENCES "account"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "redemption_code" ADD CONSTRAINT "FK_857b1b032685c467b96f9ad1fcc" FOREIGN KEY ("batch_id") REFERENCES "code_batch"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "code_redemption" ADD CONSTRAINT "FK_ad392d18805ad9fb211e9cf0417" FOREIGN KEY ("code_id") REFERENCES "redemption_code"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "code_redemption" ADD CONSTRAINT "FK_59b867ce065fff6274be43ff02b" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "code_redemption" DROP CONSTRAINT "FK_59b867ce065fff6274be43ff02b"`);
    await q.query(`ALTER TABLE "code_redemption" DROP CONSTRAINT "FK_ad392d18805ad9fb211e9cf0417"`);
    await q.query(`ALTER TABLE "redemption_code" DROP CONSTRAINT "FK_857b1b032685c467b96f9ad1fcc"`);
    await q.query(`ALTER TABLE "code_batch" DROP CONSTRAINT "FK_3f1a460d5a621229f8a451c1644"`);
    await q.query(`DROP INDEX "public"."IDX_code_redemption_batch_account"`);
    await q.query(`DROP TABLE "code_redemption"`);
    await q.query(`DROP INDEX "public"."UQ_redemption_code_hash"`);
    await q.query(`DROP INDEX "public"."IDX_redemption_code_batch"`);
    await q.query(`DROP TABLE "redemption_code"`);
    await q.query(`DROP INDEX "public"."IDX_code_batch_created"`);
    await q.query(`DROP TABLE "code_batch"`);
    await q.query(`DROP TYPE "public"."credit_kind"`);
  }
}
