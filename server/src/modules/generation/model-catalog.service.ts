import { parseInput } from "../../infra/validation.js";
import type { DataSource } from "typeorm";
import { z } from "zod";
import { BadUserInputError, NotFoundError } from "../../infra/errors.js";
import { hydrate, queryPrepared } from "../../infra/sql.js";
import { LRUCache } from "lru-cache";
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

/** An estimate from the process's copy of the model, with the row version it was read at. */
export interface CachedEstimate extends CostEstimate {
  /** PostgreSQL's `xmin` of the model row: every UPDATE of the row changes it. */
  version: string;
}

/**
 * True when the model row is still the version a cached estimate was made from: the condition a task's
 * creating statement puts on its own write ($model uuid, $version text), so a price, size or permission
 * change is honoured at once by every process without a read per task.
 */
export const modelIsCurrentSql = (model: string, version: string) =>
  `EXISTS (SELECT 1 FROM generation_model WHERE id = ${model} AND xmin = ${version}::xid)`;

const CACHE_MAX = 1000;

/** The model catalogue: what can be generated, and at what price. */
export class ModelCatalogService {
  /** Enabled models by slug as last read, with their row version; checked by the statement that uses them. */
  private readonly cached = new LRUCache<string, { model: GenerationModelEntity; version: string }>({
    max: CACHE_MAX,
  });

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
    return this.price(await this.bySlug(input.model), input);
  }

  /**
   * `estimate` from the process's copy of the model (read once, then kept). The caller must make its write
   * conditional on `modelIsCurrentSql(model.id, version)` and, when that fails, `forget` the slug and ask
   * again with `fresh`.
   */
  async estimateCached(
    input: { model: string; width: number; height: number; count: number },
    fresh = false,
  ): Promise<CachedEstimate> {
    const known = fresh ? undefined : this.cached.get(input.model);
    if (known) {
      try {
        return { ...this.price(known.model, input), version: known.version };
      } catch {
        // Refused by the copy: the model may have changed since (a new size), so the row decides.
      }
    }
    const [row] = await queryPrepared<Record<string, unknown>>(
      this.db,
      `SELECT m.*, m.xmin::text AS row_version FROM generation_model m WHERE m.slug = $1`,
      [input.model],
    );
    const model = row ? hydrate(this.db, GenerationModelEntity, row) : null;
    if (!model || !model.enabled) {
      this.cached.delete(input.model);
      throw new NotFoundError("Model", { field: "model" });
    }
    const entry = { model, version: String(row.row_version) };
    this.cached.set(input.model, entry);
    return { ...this.price(entry.model, input), version: entry.version };
  }

  /** Drops the process's copy of a model (all of them without a slug): the next estimate reads it again. */
  forget(slug?: string): void {
    if (slug) this.cached.delete(slug);
    else this.cached.clear();
  }

  private price(model: GenerationModelEntity, input: { width: number; height: number; count: number }): CostEstimate {
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
      // Other processes see the new row version in their next task's statement.
      this.forget();
      return model;
    });
  }

  history(modelId: string): Promise<ModelChangeEntity[]> {
    return this.db
      .getRepository(ModelChangeEntity)
      .find({ where: { modelId }, order: { createdAt: "DESC" }, take: 100 });
  }
}
