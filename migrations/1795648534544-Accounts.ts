import type { MigrationInterface, QueryRunner } from "typeorm";
import { DEFAULT_TERMS_BODY, DEFAULT_TERMS_TITLE } from "../server/src/modules/accounts/default-terms.js";

/** Accounts, sessions, emailed tokens, API keys, internal messages and the versioned terms of use (v1 seeded). */

export class Accounts1795648534544 implements MigrationInterface {
  name = "Accounts1795648534544";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TYPE "public"."account_role" AS ENUM('USER', 'MODERATOR', 'ADMIN')`);
    await q.query(
      `CREATE TABLE "account" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "email" character varying(254) NOT NULL, "email_verified_at" TIMESTAMP WITH TIME ZONE, "password_hash" text NOT NULL, "display_name" character varying(80) NOT NULL, "role" "public"."account_role" NOT NULL DEFAULT 'USER', "referral_code" character varying(16) NOT NULL, "referred_by_id" uuid, "accepted_terms_version" integer, "deleted_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_54115ee388cdb6d86bb4bf5b2ea" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE UNIQUE INDEX "UQ_account_email" ON "account"  ("email") `);
    await q.query(`CREATE UNIQUE INDEX "UQ_account_referral_code" ON "account"  ("referral_code") `);
    await q.query(`CREATE TYPE "public"."account_token_purpose" AS ENUM('VERIFY_EMAIL', 'RESET_PASSWORD')`);
    await q.query(
      `CREATE TABLE "account_token" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "account_id" uuid NOT NULL, "purpose" "public"."account_token_purpose" NOT NULL, "token_hash" character(64) NOT NULL, "email" character varying(254) NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "used_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_a55842d3341d42534e39f85e931" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_account_token_account" ON "account_token"  ("account_id") `);
    await q.query(`CREATE UNIQUE INDEX "UQ_account_token_hash" ON "account_token"  ("token_hash") `);
    await q.query(
      `CREATE TABLE "api_key" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "account_id" uuid NOT NULL, "name" character varying(80) NOT NULL, "lookup_id" character varying(16) NOT NULL, "secret_hash" character(64) NOT NULL, "scopes" text array NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "last_used_at" TIMESTAMP WITH TIME ZONE, "expires_at" TIMESTAMP WITH TIME ZONE, "revoked_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_b1bd840641b8acbaad89c3d8d11" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE UNIQUE INDEX "UQ_api_key_lookup_id" ON "api_key"  ("lookup_id") `);
    await q.query(`CREATE INDEX "IDX_api_key_account" ON "api_key"  ("account_id", "created_at") `);
    await q.query(
      `CREATE TABLE "message" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "account_id" uuid NOT NULL, "kind" character varying(60) NOT NULL, "title" character varying(200) NOT NULL, "body" text NOT NULL, "link" character varying(500), "read_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_ba01f0a3e0123651915008bc578" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_message_account_created" ON "message"  ("account_id", "created_at", "id") `);
    await q.query(
      `CREATE TABLE "session" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "account_id" uuid NOT NULL, "token_hash" character(64) NOT NULL, "user_agent" character varying(512) NOT NULL DEFAULT '', "ip" character varying(64) NOT NULL DEFAULT '', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "last_seen_at" TIMESTAMP WITH TIME ZONE NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "revoked_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_f55da76ac1c3ac420f444d2ff11" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE UNIQUE INDEX "UQ_session_token_hash" ON "session"  ("token_hash") `);
    await q.query(`CREATE INDEX "IDX_session_account" ON "session"  ("account_id", "created_at") `);
    await q.query(
      `CREATE TABLE "terms_document" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "version" integer NOT NULL, "title" character varying(200) NOT NULL, "body" text NOT NULL, "published_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "published_by_id" uuid, CONSTRAINT "PK_cb69ddef9302f84896f1bce795d" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE UNIQUE INDEX "UQ_terms_document_version" ON "terms_document"  ("version") `);
    await q.query(`INSERT INTO "terms_document" ("version", "title", "body") VALUES (1, $1, $2)`, [
      DEFAULT_TERMS_TITLE,
      DEFAULT_TERMS_BODY,
    ]);
    await q.query(
      `ALTER TABLE "account" ADD CONSTRAINT "FK_8897840aa5f28e07842494eeab8" FOREIGN KEY ("referred_by_id") REFERENCES "account"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "account_token" ADD CONSTRAINT "FK_f7da95d0844aa751d562d730fed" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "api_key" ADD CONSTRAINT "FK_e1c10c0d45f5331063b62d9573f" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "message" ADD CONSTRAINT "FK_51b78c6dd835845c569050ad361" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "session" ADD CONSTRAINT "FK_fae5a6b4a57f098e9af8520d499" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await q.query(
      `ALTER TABLE "terms_document" ADD CONSTRAINT "FK_2b00beb4e52c1eca371d9a7b3c4" FOREIGN KEY ("published_by_id") REFERENCES "account"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "terms_document" DROP CONSTRAINT "FK_2b00beb4e52c1eca371d9a7b3c4"`);
    await q.query(`ALTER TABLE "session" DROP CONSTRAINT "FK_fae5a6b4a57f098e9af8520d499"`);
    await q.query(`ALTER TABLE "message" DROP CONSTRAINT "FK_51b78c6dd835845c569050ad361"`);
    await q.query(`ALTER TABLE "api_key" DROP CONSTRAINT "FK_e1c10c0d45f5331063b62d9573f"`);
    await q.query(`ALTER TABLE "account_token" DROP CONSTRAINT "FK_f7da95d0844aa751d562d730fed"`);
    await q.query(`ALTER TABLE "account" DROP CONSTRAINT "FK_8897840aa5f28e07842494eeab8"`);
    await q.query(`DROP INDEX "public"."UQ_terms_document_version"`);
    await q.query(`DROP TABLE "terms_document"`);
    await q.query(`DROP INDEX "public"."IDX_session_account"`);
    await q.query(`DROP INDEX "public"."UQ_session_token_hash"`);
    await q.query(`DROP TABLE "session"`);
    await q.query(`DROP INDEX "public"."IDX_message_account_created"`);
    await q.query(`DROP TABLE "message"`);
    await q.query(`DROP INDEX "public"."IDX_api_key_account"`);
    await q.query(`DROP INDEX "public"."UQ_api_key_lookup_id"`);
    await q.query(`DROP TABLE "api_key"`);
    await q.query(`DROP INDEX "public"."UQ_account_token_hash"`);
    await q.query(`DROP INDEX "public"."IDX_account_token_account"`);
    await q.query(`DROP TABLE "account_token"`);
    await q.query(`DROP TYPE "public"."account_token_purpose"`);
    await q.query(`DROP INDEX "public"."UQ_account_referral_code"`);
    await q.query(`DROP INDEX "public"."UQ_account_email"`);
    await q.query(`DROP TABLE "account"`);
    await q.query(`DROP TYPE "public"."account_role"`);
  }
}
