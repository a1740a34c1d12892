import type { MigrationInterface, QueryRunner } from "typeorm";

/** Moderation rules (with a default set for the terms of use's prohibited content) and their events; tasks may wait for review. */
export class Moderation1795651816755 implements MigrationInterface {
  name = "Moderation1795651816755";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TYPE "public"."moderation_category" AS ENUM('IDENTITY_DOCUMENTS', 'CERTIFICATES_AND_SEALS', 'SEXUAL_CONTENT', 'MINORS', 'VIOLENCE', 'HATE', 'CUSTOM')`,
    );
    await q.query(`CREATE TYPE "public"."moderation_match_type" AS ENUM('TERM', 'PHRASE', 'REGEX')`);
    await q.query(`CREATE TYPE "public"."moderation_action" AS ENUM('BLOCK', 'REVIEW')`);
    await q.query(
      `CREATE TABLE "moderation_rule" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "category" "public"."moderation_category" NOT NULL, "match_type" "public"."moderation_match_type" NOT NULL, "pattern" character varying(500) NOT NULL, "action" "public"."moderation_action" NOT NULL, "enabled" boolean NOT NULL DEFAULT true, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_fb351525420dfae879894d2f22c" PRIMARY KEY ("id"))`,
    );
    await q.query(
      `CREATE TABLE "moderation_event" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "account_id" uuid NOT NULL, "task_id" uuid, "action" "public"."moderation_action" NOT NULL, "category" "public"."moderation_category" NOT NULL, "rule_id" uuid, "excerpt" character varying(500) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_58724d91318a54243203d035ac1" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_moderation_event_account" ON "moderation_event"  ("account_id", "created_at") `);
    await q.query(`DROP INDEX "public"."IDX_task_status_created"`);
    await q.query(`ALTER TYPE "public"."task_status" ADD VALUE 'PENDING_REVIEW'`);
    await q.query(`CREATE INDEX "IDX_task_status_created" ON "task"  ("status", "created_at") `);
    // The default rule set: the prohibited content of the terms of use (admins edit it).
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["IDENTITY_DOCUMENTS", "TERM", "passport", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["IDENTITY_DOCUMENTS", "PHRASE", "id card", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["IDENTITY_DOCUMENTS", "PHRASE", "identity card", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["IDENTITY_DOCUMENTS", "PHRASE", "identity document", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["IDENTITY_DOCUMENTS", "PHRASE", "national id", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["IDENTITY_DOCUMENTS", "REGEX", "\\b(driver'?s?|driving)\\W*(licen[cs]e|permit)\\b", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["IDENTITY_DOCUMENTS", "PHRASE", "social security card", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["IDENTITY_DOCUMENTS", "PHRASE", "residence permit", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["IDENTITY_DOCUMENTS", "PHRASE", "id photo", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["CERTIFICATES_AND_SEALS", "PHRASE", "official seal", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["CERTIFICATES_AND_SEALS", "PHRASE", "notary stamp", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["CERTIFICATES_AND_SEALS", "PHRASE", "government stamp", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["CERTIFICATES_AND_SEALS", "PHRASE", "company seal", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["CERTIFICATES_AND_SEALS", "PHRASE", "birth certificate", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["CERTIFICATES_AND_SEALS", "PHRASE", "marriage certificate", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      [
        "CERTIFICATES_AND_SEALS",
        "REGEX",
        "\\b(forg\\w*|fake|counterfeit\\w*|replica)\\b.{0,40}\\b(certificates?|diplomas?|degrees?|licen[cs]es?|seals?|stamps?|documents?|transcripts?)\\b",
        "BLOCK",
      ],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["SEXUAL_CONTENT", "TERM", "porn", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["SEXUAL_CONTENT", "TERM", "hentai", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["SEXUAL_CONTENT", "TERM", "nsfw", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["SEXUAL_CONTENT", "PHRASE", "explicit sex", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["SEXUAL_CONTENT", "REGEX", "\\b(sex\\s*act|intercourse|genitals?)\\b", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["SEXUAL_CONTENT", "REGEX", "\\b(nude|naked|topless)\\b", "REVIEW"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      [
        "MINORS",
        "REGEX",
        "\\b(child|children|kids?|minors?|underage|teens?|preteens?|loli|schoolgirls?|schoolboys?|toddlers?)\\b.{0,60}\\b(nude|naked|sexy|sexual|erotic|lingerie|porn\\w*|seductive)\\b",
        "BLOCK",
      ],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      [
        "MINORS",
        "REGEX",
        "\\b(nude|naked|sexy|sexual|erotic|lingerie|porn\\w*|seductive)\\b.{0,60}\\b(child|children|kids?|minors?|underage|teens?|preteens?|loli|schoolgirls?|schoolboys?|toddlers?)\\b",
        "BLOCK",
      ],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["VIOLENCE", "REGEX", "\\b(behead\\w*|decapitat\\w*|dismember\\w*|disembowel\\w*)\\b", "BLOCK"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["VIOLENCE", "TERM", "gore", "REVIEW"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["VIOLENCE", "PHRASE", "mass shooting", "REVIEW"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["HATE", "TERM", "swastika", "REVIEW"],
    );
    await q.query(
      `INSERT INTO "moderation_rule" ("category", "match_type", "pattern", "action") VALUES ($1, $2, $3, $4)`,
      ["HATE", "REGEX", "\\b(white\\s*power|ethnic\\s*cleansing|gas\\s*the)\\b", "BLOCK"],
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "public"."IDX_task_status_created"`);
    await q.query(
      `CREATE TYPE "public"."task_status_old" AS ENUM('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED')`,
    );
    // Held tasks cannot exist without the value: they fail as rejected before the type shrinks.
    await q.query(
      `UPDATE "task" SET "status" = 'FAILED', "error_code" = 'CONTENT_REJECTED' WHERE "status" = 'PENDING_REVIEW'`,
    );
    await q.query(`ALTER TABLE "task" ALTER COLUMN "status" DROP DEFAULT`);
    await q.query(
      `ALTER TABLE "task" ALTER COLUMN "status" TYPE "public"."task_status_old" USING "status"::"text"::"public"."task_status_old"`,
    );
    await q.query(`DROP TYPE "public"."task_status"`);
    await q.query(`ALTER TYPE "public"."task_status_old" RENAME TO "task_status"`);
    await q.query(`ALTER TABLE "task" ALTER COLUMN "status" SET DEFAULT 'QUEUED'`);
    await q.query(`CREATE INDEX "IDX_task_status_created" ON "task" USING btree ("status", "created_at") `);
    await q.query(`DROP INDEX "public"."IDX_moderation_event_account"`);
    await q.query(`DROP TABLE "moderation_event"`);
    await q.query(`DROP TABLE "moderation_rule"`);
    await q.query(`DROP TYPE "public"."moderation_action"`);
    await q.query(`DROP TYPE "public"."moderation_match_type"`);
    await q.query(`DROP TYPE "public"."moderation_category"`);
  }
}
