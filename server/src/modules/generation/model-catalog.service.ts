import { parseInput } from "../../infra/validation.js";
import type { DataSource } from "typeorm";
import { z } from "zod";
import { BadUserInputError, NotFoundError } from "../../infra/errors.js";
import { GenerationModelEntity } from "./generation-model.entity.js";
import { creditsForSize } from "./generation.types.js";
import { ModelChangeEntity } from "./model-change.entity.js";

export interface CostEstimate {
  model: GenerationModelEntity;
  creditsPerImage: number;
  count: number;
  total: number;
}

const updateSchema = z.object({
  name: z.string().trim().min(1).max(120).optional(),
  description: z.string().trim().max(2000).optional(),
  creditsPerImage: z.number().int().min(0).max(1_000_000).optional(),
  maxImages: z.number().int().min(1).max(10).optional(),
  enabled: z.boolean().optional(),
  sortOrder: z.number().int().min(-1_000_000).max(1_000_000).optional(),
  allowedTiers: z
    .array(
      z
        .string()
        .trim()
        .regex(/^[A-Z][A-Z0-9_]{1,31}$/, "Tier ids are upper case (FREE, PRO)."),
    )
    .max(100)
    .transform((ids) => [...new Set(ids)])
    .optional(),
  allowedAccountIds: z
    .array(z.uuid("Unknown account."))
    .max(10_000)
    .transform((ids) => [...new Set(ids)])
    .optional(),
});

export type ModelUpdate = z.input<typeof updateSchema>;

/** The model catalogue: what can be generated, and at what price. */
export class ModelCatalogService {
  constructor(private readonly db: DataSource) {}

  private get repo() {
    return this.db.getRepository(GenerationModelEntity);
  }

  list(includeDisabled = false): Promise<GenerationModelEntity[]> {
    return this.repo.find({
      where: includeDisabled ? {} : { enabled: true },
      order: { sortOrder: "ASC", slug: "ASC" },
    });
  }

  byIds(ids: readonly string[]): Promise<GenerationModelEntity[]> {
    return this.repo.createQueryBuilder("m").where("m.id = ANY(:ids)", { ids }).getMany();
  }

  listEnabled(): Promise<GenerationModelEntity[]> {
    return this.list(false);
  }

  async bySlug(slug: string): Promise<GenerationModelEntity> {
    const model = await this.repo.findOneBy({ slug });
    if (!model || !model.enabled) throw new NotFoundError("Model", { field: "model" });
    return model;
  }

  /** The price of a task before it is submitted: per-image credits at the size, times the image count. */
  async estimate(input: { model: string; width: number; height: number; count: number }): Promise<CostEstimate> {
    const model = await this.bySlug(input.model);
    const size = model.sizes.find((s) => s.width === input.width && s.height === input.height);
    if (!size) {
      const allowed = model.sizes.map((s) => `${s.width}×${s.height}`).join(", ");
      throw new BadUserInputError(`${model.name} makes these sizes: ${allowed}.`, { field: "size" });
    }
    if (!Number.isInteger(input.count) || input.count < 1 || input.count > model.maxImages) {
      throw new BadUserInputError(`Ask for 1 to ${model.maxImages} images.`, { field: "count" });
    }
    const creditsPerImage = creditsForSize(model.creditsPerImage, size.creditMultiplier);
    return { model, creditsPerImage, count: input.count, total: creditsPerImage * input.count };
  }

  /** An admin's change of a model; each changed field is recorded with its old and new value. */
  async update(actorId: string, id: string, input: ModelUpdate): Promise<GenerationModelEntity> {
    const valid = parseInput(updateSchema, input);
    return this.db.transaction(async (manager) => {
      const repo = manager.getRepository(GenerationModelEntity);
      const model = await repo.findOne({ where: { id }, lock: { mode: "pessimistic_write" } });
      if (!model) throw new NotFoundError("Model");
      const changes: Record<string, { from: unknown; to: unknown }> = {};
      for (const [field, value] of Object.entries(valid) as [keyof ModelUpdate, unknown][]) {
        if (value === undefined || JSON.stringify(model[field]) === JSON.stringify(value)) continue;
        changes[field] = { from: model[field], to: value };
        Object.assign(model, { [field]: value });
      }
      if (Object.keys(changes).length === 0) return model;
      await repo.save(model);
      await manager.getRepository(ModelChangeEntity).insert({ modelId: id, actorId, changes: changes as never });
      return model;
    });
  }

  history(modelId: string): Promise<ModelChangeEntity[]> {
    return this.db
      .getRepository(ModelChangeEntity)
      .find({ where: { modelId }, order: { createdAt: "DESC" }, take: 100 });
  }
}
