import type { MigrationInterface, QueryRunner } from "typeorm";

/** Files the store refused to delete, retried by the retention job until they go. */
export class FileDeletions1795712738683 implements MigrationInterface {
  name = "FileDeletions1795712738683";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE TABLE "file_deletion" ("key" character varying(300) NOT NULL, "attempts" integer NOT NULL DEFAULT '1', "last_error" character varying(500), "next_attempt_at" TIMESTAMP WITH TIME ZONE NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_cd33fc0d3eca828e1d5d90c5bc6" PRIMARY KEY ("key"))`,
    );
    await q.query(`CREATE INDEX "IDX_file_deletion_next_attempt" ON "file_deletion"  ("next_attempt_at") `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "public"."IDX_file_deletion_next_attempt"`);
    await q.query(`DROP TABLE "file_deletion"`);
  }
}
