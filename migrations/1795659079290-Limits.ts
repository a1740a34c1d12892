import type { MigrationInterface, QueryRunner } from "typeorm";

/**
 * Tiers with their limits (FREE is the default), per-account tier and overrides, limit-increase requests,
 * model permissions, and the registration policy with admin invitations.
 */
export class Limits1795659079290 implements MigrationInterface {
  name = "Limits1795659079290";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE "tier" ("id" character varying(32) NOT NULL, "name" character varying(80) NOT NULL, "description" text NOT NULL DEFAULT '', "requests_per_minute" integer NOT NULL, "tasks_per_minute" integer NOT NULL, "concurrent_tasks" integer NOT NULL, "tasks_per_day" integer NOT NULL, "uploads_per_day" integer NOT NULL, "daily_spend_cap" integer, "is_default" boolean NOT NULL DEFAULT false, "sort_order" integer NOT NULL DEFAULT '0', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_14d67ceef0dbea040e39e97e7f6" PRIMARY KEY ("id"))`,
    );
    await q.query(
      `CREATE TABLE "account_limits" ("account_id" uuid NOT NULL, "tier_id" character varying(32), "overrides" jsonb NOT NULL DEFAULT '{}', "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_bb3dbf2e5793e0570d94fb911bd" PRIMARY KEY ("account_id"))`,
    );
    await q.query(`CREATE TYPE "public"."limit_request_status" AS ENUM('PENDING', 'APPROVED', 'REFUSED')`);
    await q.query(
      `CREATE TABLE "limit_request" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "account_id" uuid NOT NULL, "reason" character varying(2000) NOT NULL, "desired_tier_id" character varying(32), "desired_values" jsonb, "status" "public"."limit_request_status" NOT NULL DEFAULT 'PENDING', "decided_by_id" uuid, "decision_reason" character varying(500), "decided_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_315a4a74c85eb7348e130cf1106" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_limit_request_account" ON "limit_request"  ("account_id", "created_at") `);
    await q.query(`CREATE INDEX "IDX_limit_request_status" ON "limit_request"  ("status", "created_at") `);
    await q.query(`CREATE TYPE "public"."registration_mode" AS ENUM('OPEN', 'INVITE_ONLY', 'CLOSED')`);
    await q.query(
      `CREATE TABLE "registration_policy" ("id" integer NOT NULL DEFAULT '1', "mode" "public"."registration_mode" NOT NULL DEFAULT 'OPEN', "accounts_per_ip_per_day" integer, "block_disposable_email" boolean NOT NULL DEFAULT false, "blocked_email_domains" text array NOT NULL DEFAULT '{}', "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_0c8d312968405b119acb25f0e04" PRIMARY KEY ("id"))`,
    );
    await q.query(
      `CREATE TABLE "registration_invite" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "code_hash" character varying(64) NOT NULL, "created_by_id" uuid NOT NULL, "used_by_id" uuid, "used_at" TIMESTAMP WITH TIME ZONE, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_958b18ce4ceeadf9c77f6af225e" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE UNIQUE INDEX "UQ_registration_invite_code" ON "registration_invite"  ("code_hash") `);
    await q.query(`ALTER TABLE "account" ADD "signup_ip" character varying(45)`);
    await q.query(`ALTER TABLE "generation_model" ADD "allowed_tiers" text array NOT NULL DEFAULT '{}'`);
    await q.query(`ALTER TABLE "generation_model" ADD "allowed_account_ids" uuid array NOT NULL DEFAULT '{}'`);
    // Appeals get an answer; the escalation rule restricts without a moderator.
    await q.query(`ALTER TABLE "account_restriction" ALTER COLUMN "created_by_id" DROP NOT NULL`);
    await q.query(`ALTER TABLE "account_restriction" ADD "appeal_decision" character varying(500)`);
    await q.query(`ALTER TABLE "account_restriction" ADD "appeal_accepted" boolean`);
    await q.query(`ALTER TABLE "account_restriction" ADD "appeal_decided_at" TIMESTAMP WITH TIME ZONE`);
    // What a fresh install needs: three tiers (admins edit them) and the open registration policy.
    await q.query(
      `INSERT INTO "tier" ("id", "name", "description", "requests_per_minute", "tasks_per_minute", "concurrent_tasks", "tasks_per_day", "uploads_per_day", "daily_spend_cap", "is_default", "sort_order") VALUES
       ('FREE', 'Free', 'Every new account.', 120, 6, 4, 200, 100, NULL, true, 0),
       ('STANDARD', 'Standard', 'For regular creators.', 300, 20, 8, 1000, 500, NULL, false, 1),
       ('PRO', 'Pro', 'For studios and heavy API use.', 1200, 60, 16, 10000, 2000, NULL, false, 2)`,
    );
    await q.query(`INSERT INTO "registration_policy" ("id") VALUES (1)`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "account_restriction" DROP COLUMN "appeal_decided_at"`);
    await q.query(`ALTER TABLE "account_restriction" DROP COLUMN "appeal_accepted"`);
    await q.query(`ALTER TABLE "account_restriction" DROP COLUMN "appeal_decision"`);
    await q.query(`DELETE FROM "account_restriction" WHERE "created_by_id" IS NULL`);
    await q.query(`ALTER TABLE "account_restriction" ALTER COLUMN "created_by_id" SET NOT NULL`);
    await q.query(`ALTER TABLE "generation_model" DROP COLUMN "allowed_account_ids"`);
    await q.query(`ALTER TABLE "generation_model" DROP COLUMN "allowed_tiers"`);
    await q.query(`ALTER TABLE "account" DROP COLUMN "signup_ip"`);
    await q.query(`DROP INDEX "public"."UQ_registration_invite_code"`);
    await q.query(`DROP TABLE "registration_invite"`);
    await q.query(`DROP TABLE "registration_policy"`);
    await q.query(`DROP TYPE "public"."registration_mode"`);
    await q.query(`DROP INDEX "public"."IDX_limit_request_status"`);
    await q.query(`DROP INDEX "public"."IDX_limit_request_account"`);
    await q.query(`DROP TABLE "limit_request"`);
    await q.query(`DROP TYPE "public"."limit_request_status"`);
    await q.query(`DROP TABLE "account_limits"`);
    await q.query(`DROP TABLE "tier"`);
  }
}
