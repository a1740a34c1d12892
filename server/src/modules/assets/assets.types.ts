import { GraphQLDateTimeISO } from "graphql-scalars";
import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { PageInfo, PageArgs } from "../../infra/graphql/connection.js";
import { AssetStatus, type AssetEntity } from "./asset.entity.js";

export enum AssetVariantEnum {
  ORIGINAL = "ORIGINAL",
  PREVIEW = "PREVIEW",
  THUMBNAIL = "THUMBNAIL",
}

registerEnumType(AssetVariantEnum, {
  name: "AssetVariant",
  description: "Which file of an image.",
  valuesConfig: {
    ORIGINAL: { description: "The full-size PNG." },
    PREVIEW: { description: "WebP, long side at most 1024 pixels." },
    THUMBNAIL: { description: "WebP, long side at most 256 pixels." },
  },
});

registerEnumType(AssetStatus, {
  name: "AssetStatus",
  description: "Whether an image's files still exist.",
  valuesConfig: {
    ACTIVE: { description: "Stored and downloadable until `expiresAt`." },
    DELETED: { description: "Deleted by its owner." },
    EXPIRED: { description: "Deleted after the retention period." },
    REMOVED: { description: "Taken down by an administrator." },
  },
});

export enum AssetOrder {
  NEWEST = "NEWEST",
  OLDEST = "OLDEST",
}

registerEnumType(AssetOrder, {
  name: "AssetOrder",
  description: "Order of an asset list.",
  valuesConfig: { NEWEST: { description: "Newest first." }, OLDEST: { description: "Oldest first." } },
});

@ObjectType({ description: "A generated image." })
export class Asset {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field(() => ID, { description: "The task that made it." })
  taskId: string;

  @Field(() => Int, { description: "Position within its task, from 0." })
  index: number;

  @Field(() => Int, { description: "Width in pixels." })
  width: number;

  @Field(() => Int, { description: "Height in pixels." })
  height: number;

  @Field(() => Int, { description: "Size of the original in bytes." })
  bytes: number;

  @Field({ description: "Media type of the original." })
  contentType: string;

  @Field({ description: "SHA-256 of the original, in hex." })
  sha256: string;

  @Field(() => AssetStatus, { description: "Whether its files still exist." })
  status: AssetStatus;

  @Field({ description: "Marked as a favourite by its owner." })
  favorite: boolean;

  @Field(() => GraphQLDateTimeISO, { description: "When its files are deleted (the retention period)." })
  expiresAt: Date;

  @Field(() => GraphQLDateTimeISO, { description: "When it was made." })
  createdAt: Date;

  /** Not fields: what the url resolver needs. */
  entity: AssetEntity;
}

export const toAsset = (a: AssetEntity): Asset => ({
  id: a.id,
  taskId: a.taskId,
  index: a.index,
  width: a.width,
  height: a.height,
  bytes: a.bytes,
  contentType: a.contentType,
  sha256: a.sha256,
  status: a.status,
  favorite: a.favorite,
  expiresAt: a.expiresAt,
  createdAt: a.createdAt,
  entity: a,
});

@ObjectType({ description: "An asset with its cursor.", simpleResolvers: true })
export class AssetEdge {
  @Field(() => Asset, { description: "The asset." })
  node: Asset;

  @Field({ description: "Opaque cursor of this asset." })
  cursor: string;
}

@ObjectType({ description: "A page of assets.", simpleResolvers: true })
export class AssetConnection {
  @Field(() => [AssetEdge], { description: "The assets of this page." })
  edges: AssetEdge[];

  @Field(() => PageInfo, { description: "Where this page stands." })
  pageInfo: PageInfo;
}

@InputType({ description: "Which assets to list." })
export class AssetFilterInput {
  @Field(() => ID, { nullable: true, description: "Only this task's images." })
  taskId?: string | null;

  @Field(() => String, { nullable: true, description: "Only this model's images (slug)." })
  model?: string | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "Made after this time." })
  createdAfter?: Date | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "Made before this time." })
  createdBefore?: Date | null;

  @Field(() => String, { nullable: true, description: "Text the prompt contains (case-insensitive)." })
  search?: string | null;

  @Field(() => Boolean, { nullable: true, description: "Only favourites (true) or only the others (false)." })
  favorite?: boolean | null;
}

@ArgsType()
export class AssetsArgs extends PageArgs("asset", 50) {
  @Field(() => AssetFilterInput, { nullable: true, description: "Filters." })
  filter?: AssetFilterInput | null;

  @Field(() => AssetOrder, { nullable: true, description: "Order (newest first by default)." })
  orderBy?: AssetOrder | null;
}

@InputType({ description: "A favourite mark." })
export class SetFavoriteInput {
  @Field(() => ID, { description: "The asset." })
  id: string;

  @Field({ description: "Favourite or not." })
  favorite: boolean;
}

@InputType({ description: "Assets to delete." })
export class DeleteAssetsInput {
  @Field(() => [ID], { description: "1 to 500 of your assets." })
  ids: string[];
}

@InputType({ description: "An administrator's takedown." })
export class RemoveAssetInput {
  @Field(() => ID, { description: "The asset." })
  id: string;

  @Field({ description: "Why; the owner is told." })
  reason: string;
}

@ObjectType({ description: "The asset after the change.", simpleResolvers: true })
export class AssetPayload {
  @Field(() => Asset, { description: "The asset." })
  asset: Asset;
}

@ObjectType({ description: "How many assets were deleted.", simpleResolvers: true })
export class DeleteAssetsPayload {
  @Field(() => Int, { description: "Assets deleted by this call." })
  deletedCount: number;
}
