import type { MigrationInterface, QueryRunner } from "typeorm";

/** The asset library: status (deleted, expired, removed), favourites, expiry and takedown reasons. */
export class AssetLibrary1795650724852 implements MigrationInterface {
  name = "AssetLibrary1795650724852";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TYPE "public"."asset_status" AS ENUM('ACTIVE', 'DELETED', 'EXPIRED', 'REMOVED')`);
    await q.query(`ALTER TABLE "asset" ADD "status" "public"."asset_status" NOT NULL DEFAULT 'ACTIVE'`);
    await q.query(`ALTER TABLE "asset" ADD "favorite" boolean NOT NULL DEFAULT false`);
    // Existing rows get 30 days from their creation; the default goes once they have a value.
    await q.query(`ALTER TABLE "asset" ADD "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()`);
    await q.query(`UPDATE "asset" SET "expires_at" = "created_at" + interval '30 days'`);
    await q.query(`ALTER TABLE "asset" ALTER COLUMN "expires_at" DROP DEFAULT`);
    await q.query(`ALTER TABLE "asset" ADD "expiry_warned_at" TIMESTAMP WITH TIME ZONE`);
    await q.query(`ALTER TABLE "asset" ADD "removed_reason" character varying(500)`);
    await q.query(`CREATE INDEX "IDX_asset_expires" ON "asset"  ("expires_at") `);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "public"."IDX_asset_expires"`);
    await q.query(`ALTER TABLE "asset" DROP COLUMN "removed_reason"`);
    await q.query(`ALTER TABLE "asset" DROP COLUMN "expiry_warned_at"`);
    await q.query(`ALTER TABLE "asset" DROP COLUMN "expires_at"`);
    await q.query(`ALTER TABLE "asset" DROP COLUMN "favorite"`);
    await q.query(`ALTER TABLE "asset" DROP COLUMN "status"`);
    await q.query(`DROP TYPE "public"."asset_status"`);
  }
}
