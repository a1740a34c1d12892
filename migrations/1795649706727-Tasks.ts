import type { MigrationInterface, QueryRunner } from "typeorm";

/** Tasks, reference uploads and generated assets. */
export class Tasks1795649706727 implements MigrationInterface {
  name = "Tasks1795649706727";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TYPE "public"."task_status" AS ENUM('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED')`);
    await q.query(
      `CREATE TABLE "task" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "account_id" uuid NOT NULL, "status" "public"."task_status" NOT NULL DEFAULT 'QUEUED', "prompt" text NOT NULL, "negative_prompt" text, "model_id" uuid NOT NULL, "width" integer NOT NULL, "height" integer NOT NULL, "count" integer NOT NULL, "seed" integer NOT NULL, "reference_ids" uuid array NOT NULL DEFAULT '{}', "webhook_url" character varying(2000), "client_reference" character varying(200), "idempotency_key" character varying(200), "input_hash" character(64) NOT NULL, "cost" integer NOT NULL, "progress" real NOT NULL DEFAULT '0', "version" integer NOT NULL DEFAULT '1', "dispatched_at" TIMESTAMP WITH TIME ZONE, "attempts" integer NOT NULL DEFAULT '0', "error_code" character varying(60), "error_message" character varying(500), "started_at" TIMESTAMP WITH TIME ZONE, "finished_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_fb213f79ee45060ba925ecd576e" PRIMARY KEY ("id"))`,
    );
    await q.query(
      `CREATE UNIQUE INDEX "UQ_task_account_idempotency" ON "task"  ("account_id", "idempotency_key") WHERE "idempotency_key" IS NOT NULL`,
    );
    await q.query(`CREATE INDEX "IDX_task_status_created" ON "task"  ("status", "created_at") `);
    await q.query(`CREATE INDEX "IDX_task_account_created" ON "task"  ("account_id", "created_at", "id") `);
    await q.query(
      `CREATE TABLE "upload" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "account_id" uuid NOT NULL, "width" integer NOT NULL, "height" integer NOT NULL, "bytes" integer NOT NULL, "storage_key" character varying(300) NOT NULL, "used_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_1fe8db121b3de4ddfa677fc51f3" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_upload_account_created" ON "upload"  ("account_id", "created_at") `);
    await q.query(
      `CREATE TABLE "asset" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "task_id" uuid NOT NULL, "account_id" uuid NOT NULL, "index" integer NOT NULL, "width" integer NOT NULL, "height" integer NOT NULL, "bytes" integer NOT NULL, "content_type" character varying(60) NOT NULL, "sha256" character(64) NOT NULL, "storage_key" character varying(300) NOT NULL, "preview_key" character varying(300) NOT NULL, "thumbnail_key" character varying(300) NOT NULL, "deleted_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_1209d107fe21482beaea51b745e" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_asset_account_created" ON "asset"  ("account_id", "created_at", "id") `);
    await q.query(`CREATE UNIQUE INDEX "UQ_asset_task_index" ON "asset"  ("task_id", "index") `);
    await q.query(
      `ALTER TABLE "task" ADD CONSTRAINT "FK_50a6c864eb0a5a286527a7f2b05" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "task" ADD CONSTRAINT "FK_fe623649412a3fdad5899896d9c" FOREIGN KEY ("model_id") REFERENCES "generation_model"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "upload" ADD CONSTRAINT "FK_40515b3fe7956f851fad5fdd6a7" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "asset" ADD CONSTRAINT "FK_e9247f2f650b6e561a73e3a0733" FOREIGN KEY ("task_id") REFERENCES "task"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "asset" ADD CONSTRAINT "FK_0329f83a1954129b138e177d238" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "asset" DROP CONSTRAINT "FK_0329f83a1954129b138e177d238"`);
    await q.query(`ALTER TABLE "asset" DROP CONSTRAINT "FK_e9247f2f650b6e561a73e3a0733"`);
    await q.query(`ALTER TABLE "upload" DROP CONSTRAINT "FK_40515b3fe7956f851fad5fdd6a7"`);
    await q.query(`ALTER TABLE "task" DROP CONSTRAINT "FK_fe623649412a3fdad5899896d9c"`);
    await q.query(`ALTER TABLE "task" DROP CONSTRAINT "FK_50a6c864eb0a5a286527a7f2b05"`);
    await q.query(`DROP INDEX "public"."UQ_asset_task_index"`);
    await q.query(`DROP INDEX "public"."IDX_asset_account_created"`);
    await q.query(`DROP TABLE "asset"`);
    await q.query(`DROP INDEX "public"."IDX_upload_account_created"`);
    await q.query(`DROP TABLE "upload"`);
    await q.query(`DROP INDEX "public"."IDX_task_account_created"`);
    await q.query(`DROP INDEX "public"."IDX_task_status_created"`);
    await q.query(`DROP INDEX "public"."UQ_task_account_idempotency"`);
    await q.query(`DROP TABLE "task"`);
    await q.query(`DROP TYPE "public"."task_status"`);
  }
}
