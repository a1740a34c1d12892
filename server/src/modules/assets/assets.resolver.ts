import { Audited } from "../risk/audit.js";
import {
  Arg,
  Args,
  Authorized,
  Ctx,
  FieldResolver,
  ID,
  Mutation,
  Query,
  Resolver,
  Root,
  UseMiddleware,
} from "type-graphql";
import type { Context } from "../../infra/context.js";
import { toConnection } from "../../infra/graphql/connection.js";
import { encodeCursor } from "../../infra/pagination.js";
import { Task, toTask } from "../generation/generation.types.js";
import { AssetStatus } from "./asset.entity.js";
import type { AssetService } from "./asset.service.js";
import {
  Asset,
  AssetConnection,
  AssetPayload,
  AssetsArgs,
  AssetVariantEnum,
  DeleteAssetsInput,
  DeleteAssetsPayload,
  RemoveAssetInput,
  SetFavoriteInput,
  toAsset,
} from "./assets.types.js";
import type { AssetUrls } from "./file-urls.js";

/** The asset library: list, read, favourite, delete; signed links; admins' takedowns. */
@Resolver(() => Asset)
export class AssetsResolver {
  constructor(
    private readonly assetService: AssetService,
    private readonly urls: AssetUrls,
  ) {}

  @Authorized("assets:read")
  @Query(() => AssetConnection, { description: "Your images that still exist." })
  async assets(@Args() args: AssetsArgs, @Ctx() ctx: Context): Promise<AssetConnection> {
    const { rows, limit } = await this.assetService.list(ctx.viewer!.accountId, args);
    return toConnection(rows, limit, toAsset, encodeCursor);
  }

  @Authorized("assets:read")
  @Query(() => Asset, { nullable: true, description: "One of your images by id (null when missing or not yours)." })
  async asset(
    @Arg("id", () => ID, { description: "The asset." }) id: string,
    @Ctx() ctx: Context,
  ): Promise<Asset | null> {
    const asset = await this.assetService.owned(ctx.viewer!.accountId, id);
    return asset ? toAsset(asset) : null;
  }

  @Authorized("SESSION")
  @Mutation(() => AssetPayload, { description: "Marks or unmarks one of your images as a favourite." })
  async setFavorite(@Arg("input", { description: "Asset and mark." }) input: SetFavoriteInput, @Ctx() ctx: Context) {
    return { asset: toAsset(await this.assetService.setFavorite(ctx.viewer!.accountId, input.id, input.favorite)) };
  }

  @Authorized("SESSION")
  @Mutation(() => DeleteAssetsPayload, { description: "Deletes your images: their files go at once." })
  async deleteAssets(@Arg("input", { description: "The assets." }) input: DeleteAssetsInput, @Ctx() ctx: Context) {
    return { deletedCount: await this.assetService.deleteAssets(ctx.viewer!.accountId, input.ids) };
  }

  @UseMiddleware(Audited)
  @Authorized("ADMIN")
  @Mutation(() => AssetPayload, { description: "Takes an image down: its files go at once and the owner is told why." })
  async removeAsset(@Arg("input", { description: "Asset and reason." }) input: RemoveAssetInput) {
    return { asset: toAsset(await this.assetService.removeAsset(input.id, input.reason)) };
  }

  @FieldResolver(() => String, {
    nullable: true,
    description: "A short-lived signed link to one of the image's files (null once the image is gone).",
  })
  async url(
    @Root() asset: Asset,
    @Arg("variant", () => AssetVariantEnum, { defaultValue: AssetVariantEnum.PREVIEW, description: "Which file." })
    variant: AssetVariantEnum,
    @Arg("download", () => Boolean, { defaultValue: false, description: "Ask the browser to save it as a file." })
    download: boolean,
  ): Promise<string | null> {
    if (asset.status !== AssetStatus.ACTIVE) return null;
    return this.urls.url(asset.entity, variant, download);
  }

  @FieldResolver(() => Task, { description: "The task that made it (prompt, model, seed, size)." })
  async task(@Root() asset: Asset, @Ctx() ctx: Context): Promise<Task> {
    return toTask(await ctx.loaders.task.load(asset.taskId));
  }
}
