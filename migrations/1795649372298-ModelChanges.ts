import type { MigrationInterface, QueryRunner } from "typeorm";

/** Who changed which catalogue fields of a model (prices, limits, availability). */
export class ModelChanges1795649372298 implements MigrationInterface {
  name = "ModelChanges1795649372298";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE "model_change" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "model_id" uuid NOT NULL, "actor_id" uuid NOT NULL, "changes" jsonb NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_323a165beb31d561fae64d2fc36" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_model_change_model" ON "model_change"  ("model_id", "created_at") `);
    await q.query(
      `ALTER TABLE "model_change" ADD CONSTRAINT "FK_2115db380e107442ad485b68067" FOREIGN KEY ("model_id") REFERENCES "generation_model"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "model_change" ADD CONSTRAINT "FK_71f783c0608b349cf1f1d6bda2f" FOREIGN KEY ("actor_id") REFERENCES "account"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "model_change" DROP CONSTRAINT "FK_71f783c0608b349cf1f1d6bda2f"`);
    await q.query(`ALTER TABLE "model_change" DROP CONSTRAINT "FK_2115db380e107442ad485b68067"`);
    await q.query(`DROP INDEX "public"."IDX_model_change_model"`);
    await q.query(`DROP TABLE "model_change"`);
  }
}
