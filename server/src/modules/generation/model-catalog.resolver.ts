import { Audited } from "../risk/audit.js";
import { Arg, Authorized, Ctx, Mutation, Query, Resolver, UseMiddleware } from "type-graphql";
import type { Context } from "../../infra/context.js";
import { authorize } from "../accounts/authorization.js";
import {
  CostEstimate,
  EstimateCostInput,
  GenerationModel,
  toGenerationModel,
  UpdateModelInput,
  UpdateModelPayload,
} from "./generation.types.js";
import type { ModelCatalogService } from "./model-catalog.service.js";

@Resolver()
export class ModelCatalogResolver {
  constructor(private readonly catalog: ModelCatalogService) {}

  @Query(() => [GenerationModel], { description: "The models new tasks can use, in display order." })
  async models(
    @Arg("includeDisabled", () => Boolean, { nullable: true, description: "Admins only: list disabled models too." })
    includeDisabled: boolean | undefined,
    @Ctx() ctx: Context,
  ): Promise<GenerationModel[]> {
    if (includeDisabled) authorize(ctx.viewer, ["ADMIN"]);
    const admin = ctx.viewer?.role === "ADMIN" && ctx.viewer.via === "SESSION";
    return (await this.catalog.list(includeDisabled ?? false)).map((m) => toGenerationModel(m, admin));
  }

  @Query(() => CostEstimate, { description: "The price of a task before it is submitted (no sign-in needed)." })
  async estimateCost(
    @Arg("input", { description: "Model, size and count." }) input: EstimateCostInput,
  ): Promise<CostEstimate> {
    const { creditsPerImage, count, total } = await this.catalog.estimate(input);
    return { creditsPerImage, count, total };
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => UpdateModelPayload, {
    description: "Changes a model's price, limits or availability; recorded with the admin's id.",
  })
  async updateModel(
    @Arg("input", { description: "The changes." }) input: UpdateModelInput,
    @Ctx() ctx: Context,
  ): Promise<UpdateModelPayload> {
    const { id, ...changes } = input;
    const model = await this.catalog.update(ctx.viewer!.accountId, id, changes);
    const history = await this.catalog.history(id);
    return { model: toGenerationModel(model, true), history };
  }
}
