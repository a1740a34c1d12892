import { GraphQLDateTimeISO, GraphQLJSONObject } from "graphql-scalars";
import { ArgsType, Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { PageInfo, PageArgs } from "../../infra/graphql/connection.js";
import { Asset } from "../assets/assets.types.js";
import { TaskStatus, type TaskEntity } from "./task.entity.js";
import { ModelProvider, type GenerationModelEntity } from "./generation-model.entity.js";

registerEnumType(ModelProvider, {
  name: "ModelProvider",
  description: "Where a model's images come from.",
  valuesConfig: {
    OFFLINE: { description: "The built-in renderer: real images made locally, no network needed." },
    OPENAI_COMPATIBLE: { description: "A server speaking the OpenAI images API." },
  },
});

@ObjectType({ description: "An output size a model accepts, with its price per image.", simpleResolvers: true })
export class ImageSize {
  @Field(() => Int, { description: "Width in pixels." })
  width: number;

  @Field(() => Int, { description: "Height in pixels." })
  height: number;

  @Field({ description: "Reduced aspect ratio, for example `16:9`." })
  aspectRatio: string;

  @Field(() => Int, { description: "Credits charged per image at this size." })
  creditsPerImage: number;
}

@ObjectType({ description: "A model of the catalogue that tasks can be run on.", simpleResolvers: true })
export class GenerationModel {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field({ description: "Stable public name, used when creating tasks (for example `novart-sketch`)." })
  slug: string;

  @Field({ description: "Name shown to people." })
  name: string;

  @Field({ description: "What the model is good at." })
  description: string;

  @Field(() => ModelProvider, { description: "Where the model's images come from." })
  provider: ModelProvider;

  @Field(() => [ImageSize], { description: "Output sizes the model accepts." })
  sizes: ImageSize[];

  @Field(() => Int, { description: "Most images one task may ask for." })
  maxImages: number;

  @Field(() => Int, { description: "Base price in credits of one image (the size may scale it)." })
  creditsPerImage: number;

  @Field({ description: "Whether new tasks may use the model." })
  enabled: boolean;

  @Field(() => [String], {
    description: "Tiers whose accounts may use it; with `allowedAccountIds`, both empty means everyone may.",
  })
  allowedTiers: string[];

  @Field(() => [ID], { description: "Accounts that may use it whatever their tier (administrators only; else empty)." })
  allowedAccountIds: string[];
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Price of one image at a size: integer credits, rounded up so a multiplier never undercharges. */
export function creditsForSize(base: number, multiplier = 1): number {
  return Math.ceil(base * multiplier - 1e-9);
}

/** `showAccounts`: only administrators see which accounts a model is opened to. */
export function toGenerationModel(entity: GenerationModelEntity, showAccounts = false): GenerationModel {
  return {
    id: entity.id,
    slug: entity.slug,
    name: entity.name,
    description: entity.description,
    provider: entity.provider,
    maxImages: entity.maxImages,
    creditsPerImage: entity.creditsPerImage,
    enabled: entity.enabled,
    allowedTiers: entity.allowedTiers,
    allowedAccountIds: showAccounts ? entity.allowedAccountIds : [],
    sizes: entity.sizes.map((s) => {
      const d = gcd(s.width, s.height);
      return {
        width: s.width,
        height: s.height,
        aspectRatio: `${s.width / d}:${s.height / d}`,
        creditsPerImage: creditsForSize(entity.creditsPerImage, s.creditMultiplier),
      };
    }),
  };
}

@InputType({ description: "What a task would ask for, to price it before submitting." })
export class EstimateCostInput {
  @Field({ description: "Model slug." })
  model: string;

  @Field(() => Int, { description: "Width in pixels (one of the model's sizes)." })
  width: number;

  @Field(() => Int, { description: "Height in pixels (one of the model's sizes)." })
  height: number;

  @Field(() => Int, { description: "Number of images." })
  count: number;
}

@ObjectType({ description: "The price of a task.", simpleResolvers: true })
export class CostEstimate {
  @Field(() => Int, { description: "Credits per image at this size." })
  creditsPerImage: number;

  @Field(() => Int, { description: "Number of images." })
  count: number;

  @Field(() => Int, { description: "Credits the task would cost." })
  total: number;
}

@InputType({ description: "An administrator's change of a model; absent fields stay as they are." })
export class UpdateModelInput {
  @Field(() => ID, { description: "The model." })
  id: string;

  @Field({ nullable: true, description: "Name shown to people." })
  name?: string;

  @Field({ nullable: true, description: "Description." })
  description?: string;

  @Field(() => Int, { nullable: true, description: "Base price in credits of one image." })
  creditsPerImage?: number;

  @Field(() => Int, { nullable: true, description: "Most images per task (1–10)." })
  maxImages?: number;

  @Field({ nullable: true, description: "Whether new tasks may use it." })
  enabled?: boolean;

  @Field(() => Int, { nullable: true, description: "Position in lists (lower first)." })
  sortOrder?: number;

  @Field(() => [String], { nullable: true, description: "Tiers allowed to use it (empty list: no tier limit)." })
  allowedTiers?: string[];

  @Field(() => [ID], { nullable: true, description: "Accounts allowed to use it whatever their tier." })
  allowedAccountIds?: string[];
}

@ObjectType({ description: "A recorded change of a model.", simpleResolvers: true })
export class ModelChange {
  @Field(() => ID, { description: "The administrator who made it." })
  actorId: string;

  @Field(() => GraphQLJSONObject, { description: "Each changed field with `from` and `to`." })
  changes: Record<string, unknown>;

  @Field(() => GraphQLDateTimeISO, { description: "When." })
  createdAt: Date;
}

@ObjectType({ description: "The model after the change, and its change history.", simpleResolvers: true })
export class UpdateModelPayload {
  @Field(() => GenerationModel, { description: "The model as it is now." })
  model: GenerationModel;

  @Field(() => [ModelChange], { description: "Recorded changes, newest first." })
  history: ModelChange[];
}

registerEnumType(TaskStatus, {
  name: "TaskStatus",
  description: "Where a task is: QUEUED → RUNNING → SUCCEEDED | FAILED, or CANCELED from QUEUED or RUNNING.",
  valuesConfig: {
    PENDING_REVIEW: { description: "Paid and held for a moderator's review of its prompt." },
    QUEUED: { description: "Paid and waiting for a worker (or waiting to retry)." },
    RUNNING: { description: "Being generated." },
    SUCCEEDED: { description: "Done: the images are in `assets`." },
    FAILED: { description: "Failed (see `error`); its cost was refunded." },
    CANCELED: { description: "Canceled; its cost was refunded." },
  },
});

@ObjectType({ description: "Why a task failed.", simpleResolvers: true })
export class TaskError {
  @Field({
    description: "Stable code: CONTENT_REJECTED, TIMEOUT, UPSTREAM_ERROR, RATE_LIMITED, BAD_RESPONSE, MISCONFIGURED…",
  })
  code: string;

  @Field({ description: "What happened, in plain words." })
  message: string;
}

@ObjectType({ description: "Who owns a task.", simpleResolvers: true })
export class TaskOwner {
  @Field(() => ID, { description: "Account id." })
  id: string;

  @Field({ description: "Display name." })
  displayName: string;
}

@ObjectType({ description: "An image-generation task." })
export class Task {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field(() => TaskStatus, { description: "Where the task is." })
  status: TaskStatus;

  @Field({ description: "The prompt." })
  prompt: string;

  @Field(() => String, { nullable: true, description: "The negative prompt." })
  negativePrompt: string | null;

  @Field(() => Int, { description: "Width of each image." })
  width: number;

  @Field(() => Int, { description: "Height of each image." })
  height: number;

  @Field(() => Int, { description: "Number of images." })
  count: number;

  @Field(() => Int, { description: "Seed used (given, or chosen at random)." })
  seed: number;

  @Field(() => Float, { description: "Progress from 0 to 1 while running." })
  progress: number;

  @Field(() => Int, { description: "Credits charged (refunded when FAILED or CANCELED)." })
  cost: number;

  @Field(() => TaskError, { nullable: true, description: "Why it failed, when FAILED." })
  error: TaskError | null;

  @Field(() => [ID], { description: "Reference images given." })
  referenceIds: string[];

  @Field(() => String, { nullable: true, description: "Where task events are delivered, if set." })
  webhookUrl: string | null;

  @Field(() => String, { nullable: true, description: "The caller's own reference." })
  clientReference: string | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When a worker first started it." })
  startedAt: Date | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "When it reached its final state." })
  finishedAt: Date | null;

  @Field(() => GraphQLDateTimeISO, { description: "When it was created." })
  createdAt: Date;

  /** Not a field: for the field resolvers. */
  accountId: string;
  modelId: string;
  version: number;
}

export const toTask = (t: TaskEntity): Task => ({
  id: t.id,
  status: t.status,
  prompt: t.prompt,
  negativePrompt: t.negativePrompt,
  width: t.width,
  height: t.height,
  count: t.count,
  seed: t.seed,
  progress: t.progress,
  cost: t.cost,
  error: t.errorCode ? { code: t.errorCode, message: t.errorMessage ?? t.errorCode } : null,
  referenceIds: t.referenceIds,
  webhookUrl: t.webhookUrl,
  clientReference: t.clientReference,
  startedAt: t.startedAt,
  finishedAt: t.finishedAt,
  createdAt: t.createdAt,
  accountId: t.accountId,
  modelId: t.modelId,
  version: t.version,
});

@ObjectType({ description: "A task with its cursor.", simpleResolvers: true })
export class TaskEdge {
  @Field(() => Task, { description: "The task." })
  node: Task;

  @Field({ description: "Opaque cursor of this task." })
  cursor: string;
}

@ObjectType({ description: "A page of tasks, newest first.", simpleResolvers: true })
export class TaskConnection {
  @Field(() => [TaskEdge], { description: "The tasks of this page." })
  edges: TaskEdge[];

  @Field(() => PageInfo, { description: "Where this page stands." })
  pageInfo: PageInfo;
}

@InputType({ description: "Which tasks to list." })
export class TaskFilter {
  @Field(() => TaskStatus, { nullable: true, description: "Only tasks in this state." })
  status?: TaskStatus | null;

  @Field(() => String, { nullable: true, description: "Only tasks of this model (slug)." })
  model?: string | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "Created after this time." })
  createdAfter?: Date | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "Created before this time." })
  createdBefore?: Date | null;
}

@ArgsType()
export class TasksArgs extends PageArgs("task") {
  @Field(() => TaskFilter, { nullable: true, description: "Filters." })
  filter?: TaskFilter | null;
}

@InputType({ description: "A new generation task." })
export class CreateTaskInput {
  @Field({ description: "What to generate: 1–2 000 characters." })
  prompt: string;

  @Field(() => String, { nullable: true, description: "What to avoid." })
  negativePrompt?: string | null;

  @Field({ description: "Model slug (see `models`)." })
  model: string;

  @Field(() => Int, { description: "Width: one of the model's sizes." })
  width: number;

  @Field(() => Int, { description: "Height: one of the model's sizes." })
  height: number;

  @Field(() => Int, { defaultValue: 1, description: "Number of images, 1–4 (up to the model's maximum)." })
  count: number;

  @Field(() => Int, { nullable: true, description: "Seed for reproducible results; random when absent." })
  seed?: number | null;

  @Field(() => [ID], { nullable: true, description: "Up to 4 reference images uploaded with POST /api/uploads." })
  referenceIds?: string[] | null;

  @Field(() => String, { nullable: true, description: "An http(s) URL that receives signed task events." })
  webhookUrl?: string | null;

  @Field(() => String, { nullable: true, description: "Your own reference, echoed back (up to 200 characters)." })
  clientReference?: string | null;

  @Field(() => String, {
    nullable: true,
    description: "Sending the same key again within 24 h returns the original task and charges nothing again.",
  })
  idempotencyKey?: string | null;
}

@ObjectType({
  description: "The task created (or the original one, for a repeated idempotency key).",
  simpleResolvers: true,
})
export class CreateTaskPayload {
  @Field(() => Task, { description: "The task." })
  task: Task;

  @Field({ description: "False when the idempotency key had been used: the original task, nothing charged." })
  created: boolean;
}

@ObjectType({ description: "The canceled task.", simpleResolvers: true })
export class CancelTaskPayload {
  @Field(() => Task, { description: "The task, now CANCELED and refunded." })
  task: Task;
}

export { Asset };
