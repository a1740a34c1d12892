import { Check, Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from "typeorm";

export enum ModelProvider {
  /** Built in: renders real images locally without any network or model weights. */
  OFFLINE = "OFFLINE",
  /** Any server speaking the OpenAI images API (`POST /v1/images/generations`). */
  OPENAI_COMPATIBLE = "OPENAI_COMPATIBLE",
}

/** One size a model accepts; `creditMultiplier` scales the per-image price (1 when absent). */
export interface ModelSize {
  width: number;
  height: number;
  creditMultiplier?: number;
}

@Entity({ name: "generation_model" })
@Check("CHK_generation_model_prices", `"credits_per_image" >= 0 AND "max_images" BETWEEN 1 AND 10`)
export class GenerationModelEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  /** Stable public name used by API clients (`novart-sketch`). */
  @Column({ type: "varchar", length: 64, unique: true })
  slug: string;

  @Column({ type: "varchar", length: 120 })
  name: string;

  @Column({ type: "text", default: "" })
  description: string;

  @Column({ type: "enum", enum: ModelProvider, enumName: "model_provider" })
  provider: ModelProvider;

  /** Provider-side model name (for OPENAI_COMPATIBLE), or the offline renderer's style. */
  @Column({ type: "varchar", length: 120 })
  providerModel: string;

  @Column({ type: "jsonb" })
  sizes: ModelSize[];

  @Column({ type: "int" })
  maxImages: number;

  @Column({ type: "int" })
  creditsPerImage: number;

  @Column({ type: "boolean", default: true })
  enabled: boolean;

  @Column({ type: "int", default: 0 })
  sortOrder: number;

  /** Tiers whose accounts may use the model; with `allowedAccountIds` both empty, everyone may. */
  @Column({ type: "text", array: true, default: () => "'{}'" })
  allowedTiers: string[];

  /** Accounts that may use the model whatever their tier. */
  @Column({ type: "uuid", array: true, default: () => "'{}'" })
  allowedAccountIds: string[];

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;

  @UpdateDateColumn({ type: "timestamptz" })
  updatedAt: Date;
}
