import type { MigrationInterface, QueryRunner } from "typeorm";

/** Webhook endpoints, deliveries and their attempts, and the per-account secret of task URLs. */
export class Webhooks1795651018578 implements MigrationInterface {
  name = "Webhooks1795651018578";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE "webhook_endpoint" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "account_id" uuid NOT NULL, "url" character varying(2000) NOT NULL, "description" character varying(200) NOT NULL DEFAULT '', "events" text array NOT NULL, "secret" character varying(100) NOT NULL, "previous_secret" character varying(100), "previous_secret_expires_at" TIMESTAMP WITH TIME ZONE, "enabled" boolean NOT NULL DEFAULT true, "disabled_reason" character varying(300), "failing_since" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_6c98112122b2b8a4f3984d2efa8" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_webhook_endpoint_account" ON "webhook_endpoint"  ("account_id", "created_at") `);
    await q.query(`CREATE TYPE "public"."webhook_delivery_status" AS ENUM('PENDING', 'SUCCEEDED', 'FAILED')`);
    await q.query(
      `CREATE TABLE "webhook_delivery" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "account_id" uuid NOT NULL, "endpoint_id" uuid, "task_id" uuid, "dedupe_key" character varying(200) NOT NULL, "url" character varying(2000) NOT NULL, "event_type" character varying(60) NOT NULL, "payload" text NOT NULL, "status" "public"."webhook_delivery_status" NOT NULL DEFAULT 'PENDING', "attempts" integer NOT NULL DEFAULT '0', "last_attempt_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_b1ae290239a778f12399db91354" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE UNIQUE INDEX "UQ_webhook_delivery_event" ON "webhook_delivery"  ("dedupe_key") `);
    await q.query(`CREATE INDEX "IDX_webhook_delivery_task" ON "webhook_delivery"  ("task_id", "created_at") `);
    await q.query(`CREATE INDEX "IDX_webhook_delivery_endpoint" ON "webhook_delivery"  ("endpoint_id", "created_at") `);
    await q.query(
      `CREATE INDEX "IDX_webhook_delivery_account" ON "webhook_delivery"  ("account_id", "created_at", "id") `,
    );
    await q.query(
      `CREATE TABLE "webhook_attempt" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "delivery_id" uuid NOT NULL, "attempted_at" TIMESTAMP WITH TIME ZONE NOT NULL, "status_code" integer, "latency_ms" integer NOT NULL, "response_snippet" text NOT NULL DEFAULT '', "error" character varying(300), CONSTRAINT "PK_e4ff77b66cdd20591ba6189a1f9" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_webhook_attempt_delivery" ON "webhook_attempt"  ("delivery_id", "attempted_at") `);
    await q.query(
      `CREATE TABLE "task_webhook_secret" ("account_id" uuid NOT NULL, "secret" character varying(100) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_db2a28b43e73d8847aa8eb857cc" PRIMARY KEY ("account_id"))`,
    );
    await q.query(
      `ALTER TABLE "webhook_endpoint" ADD CONSTRAINT "FK_5c628be8d5dd39a6a614a626c2b" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "webhook_delivery" ADD CONSTRAINT "FK_f53f5aec02217a54927b13e39d9" FOREIGN KEY ("endpoint_id") REFERENCES "webhook_endpoint"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "webhook_attempt" ADD CONSTRAINT "FK_d7ed48c4841159bfd6bdee166ea" FOREIGN KEY ("delivery_id") REFERENCES "webhook_delivery"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "task_webhook_secret" ADD CONSTRAINT "FK_db2a28b43e73d8847aa8eb857cc" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "task_webhook_secret" DROP CONSTRAINT "FK_db2a28b43e73d8847aa8eb857cc"`);
    await q.query(`ALTER TABLE "webhook_attempt" DROP CONSTRAINT "FK_d7ed48c4841159bfd6bdee166ea"`);
    await q.query(`ALTER TABLE "webhook_delivery" DROP CONSTRAINT "FK_f53f5aec02217a54927b13e39d9"`);
    await q.query(`ALTER TABLE "webhook_endpoint" DROP CONSTRAINT "FK_5c628be8d5dd39a6a614a626c2b"`);
    await q.query(`DROP TABLE "task_webhook_secret"`);
    await q.query(`DROP INDEX "public"."IDX_webhook_attempt_delivery"`);
    await q.query(`DROP TABLE "webhook_attempt"`);
    await q.query(`DROP INDEX "public"."IDX_webhook_delivery_account"`);
    await q.query(`DROP INDEX "public"."IDX_webhook_delivery_endpoint"`);
    await q.query(`DROP INDEX "public"."IDX_webhook_delivery_task"`);
    await q.query(`DROP INDEX "public"."UQ_webhook_delivery_event"`);
    await q.query(`DROP TABLE "webhook_delivery"`);
    await q.query(`DROP TYPE "public"."webhook_delivery_status"`);
    await q.query(`DROP INDEX "public"."IDX_webhook_endpoint_account"`);
    await q.query(`DROP TABLE "webhook_endpoint"`);
  }
}
