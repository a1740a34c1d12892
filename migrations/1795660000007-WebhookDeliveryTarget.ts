import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Deliveries say where they go (an endpoint or a task's own webhookUrl) instead of leaving it to a null
 * endpoint_id, which a deleted endpoint also leaves behind; and why one ended without trying again.
 */
export class WebhookDeliveryTarget1795660000007 implements MigrationInterface {
  name = "WebhookDeliveryTarget1795660000007";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TYPE "public"."webhook_delivery_target" AS ENUM('ENDPOINT', 'TASK_URL')`);
    await q.query(
      `ALTER TABLE "webhook_delivery" ADD "target" "public"."webhook_delivery_target" NOT NULL DEFAULT 'ENDPOINT'`,
    );
    await q.query(`ALTER TABLE "webhook_delivery" ADD "error" character varying(300)`);
    // Deliveries to a task's own URL were the only ones keyed `<event>:<task>:task-url`.
    await q.query(
      `UPDATE "webhook_delivery" SET "target" = 'TASK_URL' WHERE "endpoint_id" IS NULL AND "dedupe_key" LIKE '%:task-url'`,
    );
    // Deliveries of endpoints deleted before this migration must not be sent to those URLs any more.
    await q.query(
      `UPDATE "webhook_delivery" SET "status" = 'FAILED', "error" = 'endpoint deleted'
        WHERE "endpoint_id" IS NULL AND "target" = 'ENDPOINT' AND "status" = 'PENDING'`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "webhook_delivery" DROP COLUMN "error"`);
    await q.query(`ALTER TABLE "webhook_delivery" DROP COLUMN "target"`);
    await q.query(`DROP TYPE "public"."webhook_delivery_target"`);
  }
}
