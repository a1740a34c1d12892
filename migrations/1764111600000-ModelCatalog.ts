import type { MigrationInterface, QueryRunner } from "typeorm";

/** The model catalogue, seeded with the built-in offline models a fresh install ships with. */
export class ModelCatalog1764111600000 implements MigrationInterface {
  name = "ModelCatalog1764111600000";

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE EXTENSION IF NOT EXISTS pgcrypto`);
    await q.query(`CREATE TYPE "public"."model_provider" AS ENUM('OFFLINE', 'OPENAI_COMPATIBLE')`);
    await q.query(`CREATE TABLE "generation_model" (
      "id" uuid NOT NULL DEFAULT gen_random_uuid(),
      "slug" character varying(64) NOT NULL,
      "name" character varying(120) NOT NULL,
      "description" text NOT NULL DEFAULT '',
      "provider" "public"."model_provider" NOT NULL,
      "provider_model" character varying(120) NOT NULL,
      "sizes" jsonb NOT NULL,
      "max_images" integer NOT NULL,
      "credits_per_image" integer NOT NULL,
      "enabled" boolean NOT NULL DEFAULT true,
      "sort_order" integer NOT NULL DEFAULT 0,
      "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
      "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
      CONSTRAINT "UQ_generation_model_slug" UNIQUE ("slug"),
      CONSTRAINT "PK_generation_model" PRIMARY KEY ("id"),
      CONSTRAINT "CHK_generation_model_prices" CHECK ("credits_per_image" >= 0 AND "max_images" BETWEEN 1 AND 10)
    )`);

    const square = [
      { width: 512, height: 512 },
      { width: 768, height: 768 },
      { width: 1024, height: 1024, creditMultiplier: 2 },
    ];
    const wide = [
      { width: 768, height: 512 },
      { width: 1024, height: 576, creditMultiplier: 1.5 },
    ];
    const tall = [
      { width: 512, height: 768 },
      { width: 576, height: 1024, creditMultiplier: 1.5 },
    ];
    const models = [
      {
        slug: "novart-sketch",
        name: "Novart Sketch",
        description:
          "Built-in offline renderer: soft gradient compositions seeded by your prompt. Fast and free of any network.",
        providerModel: "gradient",
        sizes: [...square, ...wide, ...tall],
        maxImages: 4,
        creditsPerImage: 2,
        sortOrder: 10,
      },
      {
        slug: "novart-mosaic",
        name: "Novart Mosaic",
        description: "Built-in offline renderer: geometric tile patterns derived from your prompt and seed.",
        providerModel: "mosaic",
        sizes: square,
        maxImages: 4,
        creditsPerImage: 1,
        sortOrder: 20,
      },
    ];
    for (const m of models) {
      await q.query(
        `INSERT INTO "generation_model" ("slug", "name", "description", "provider", "provider_model", "sizes", "max_images", "credits_per_image", "sort_order")
         VALUES ($1, $2, $3, 'OFFLINE', $4, $5, $6, $7, $8)`,
        [
          m.slug,
          m.name,
          m.description,
          m.providerModel,
          JSON.stringify(m.sizes),
          m.maxImages,
          m.creditsPerImage,
          m.sortOrder,
        ],
      );
    }
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "generation_model"`);
    await q.query(`DROP TYPE "public"."model_provider"`);
  }
}
