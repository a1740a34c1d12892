import {
  Arg,
  Args,
  Authorized,
  Ctx,
  FieldResolver,
  ID,
  Info,
  Int,
  Mutation,
  Query,
  Resolver,
  Root,
  Subscription,
} from "type-graphql";
import type { GraphQLResolveInfo } from "graphql";
import DataLoader from "dataloader";
import { LRUCache } from "lru-cache";
import type { Context } from "../../infra/context.js";
import { selectedFields, selects } from "../../infra/graphql/selection.js";
import { shareLive, type LiveSource } from "../../infra/graphql/subscription-fanout.js";
import { toConnection } from "../../infra/graphql/connection.js";
import { encodeCursor } from "../../infra/pagination.js";
import { authorize } from "../accounts/authorization.js";
import { Asset, toAsset } from "../assets/assets.types.js";
import {
  CancelTaskPayload,
  CreateTaskInput,
  CreateTaskPayload,
  GenerationModel,
  Task,
  TaskConnection,
  TaskOwner,
  TasksArgs,
  toGenerationModel,
  toTask,
} from "./generation.types.js";
import { IdInput } from "../accounts/accounts.types.js";
import { NotFoundError } from "../../infra/errors.js";
import { accountTasksTopic, taskTopic, toTaskEvent, type TaskEvent } from "./generation.topics.js";
import type { AssetEntity } from "../assets/asset.entity.js";
import type { GenerationModelEntity } from "./generation-model.entity.js";
import { TaskStatus, type TaskEntity } from "./task.entity.js";
import type { TaskService } from "./task.service.js";

/**
 * What a page of tasks brought along (owner, assets) for the field resolvers of its tasks, which then
 * answer at once: no loader round and no promise per field (40 of them on a page of 20).
 */
const FROM_PAGE = Symbol("fromPage");
type ListedTask = Task & { [FROM_PAGE]?: { owner?: TaskOwner; assets?: AssetEntity[] } };

/** Tasks: create, cancel, read, follow live. */
@Resolver(() => Task)
export class TaskResolver {
  constructor(private readonly taskService: TaskService) {}

  @Authorized("tasks:write")
  @Mutation(() => CreateTaskPayload, {
    description: "Creates a task: validates, charges its price and queues it, in one transaction.",
  })
  async createTask(@Arg("input", { description: "What to generate." }) input: CreateTaskInput, @Ctx() ctx: Context) {
    const { task, created } = await this.taskService.create(ctx.viewer!, {
      prompt: input.prompt,
      negativePrompt: input.negativePrompt ?? null,
      model: input.model,
      width: input.width,
      height: input.height,
      count: input.count,
      seed: input.seed ?? null,
      referenceIds: input.referenceIds ?? [],
      webhookUrl: input.webhookUrl ?? null,
      clientReference: input.clientReference ?? null,
      idempotencyKey: input.idempotencyKey ?? null,
    });
    return { task: toTask(task), created };
  }

  @Authorized("tasks:write")
  @Mutation(() => CancelTaskPayload, {
    description: "Cancels a queued or running task and refunds it (TASK_NOT_CANCELABLE once it has finished).",
  })
  async cancelTask(@Arg("input", { description: "The task." }) input: IdInput, @Ctx() ctx: Context) {
    return { task: toTask(await this.taskService.cancel(ctx.viewer!, input.id)) };
  }

  @Authorized("tasks:read")
  @Query(() => Task, { nullable: true, description: "A task of yours by id (null when missing or not yours)." })
  async task(@Arg("id", () => ID, { description: "The task." }) id: string, @Ctx() ctx: Context): Promise<Task | null> {
    const task = await this.taskService.get(ctx.viewer!, id);
    return task ? toTask(task) : null;
  }

  @Authorized("tasks:read")
  @Query(() => TaskConnection, { description: "Your tasks, newest first." })
  async tasks(@Args() args: TasksArgs, @Ctx() ctx: Context, @Info() info: GraphQLResolveInfo): Promise<TaskConnection> {
    const page = await this.taskService.list(ctx.viewer!.accountId, args, {
      assets: selects(info, ["edges", "node", "assets"]),
      fields: selectedFields(info, ["edges", "node"]),
      assetFields: selectedFields(info, ["edges", "node", "assets"]),
    });
    const toNode = (row: TaskEntity): Task => {
      // An instance of Task: type-graphql would copy a plain object into a new one for every field
      // resolver it meets (and the page's data would not follow). `new` then assign is the fast way to
      // make one (Object.create with a prototype, or a WeakMap beside it, cost several times more).
      const task: ListedTask = Object.assign(new Task(), toTask(row));
      task[FROM_PAGE] = { owner: page.owner, assets: page.assets?.get(row.id) };
      return task;
    };
    return toConnection(page.rows, page.limit, toNode, encodeCursor);
  }

  @FieldResolver(() => [Asset], { description: "The images, once SUCCEEDED." })
  assets(@Root() task: Task, @Ctx() ctx: Context): Asset[] | Promise<Asset[]> {
    const listed = (task as ListedTask)[FROM_PAGE]?.assets;
    if (listed) return listed.map(toAsset);
    return ctx.loaders.assetsByTask.load(task.id).then((assets) => assets.map(toAsset));
  }

  @FieldResolver(() => TaskOwner, { description: "Who created it." })
  owner(@Root() task: Task, @Ctx() ctx: Context): TaskOwner | Promise<TaskOwner> {
    return (task as ListedTask)[FROM_PAGE]?.owner ?? ctx.loaders.owner.load(task.accountId);
  }

  @FieldResolver(() => GenerationModel, { description: "The model it runs on." })
  async model(@Root() task: Task, @Ctx() ctx: Context): Promise<GenerationModel> {
    return toGenerationModel(await ctx.loaders.model.load(task.modelId));
  }

  @FieldResolver(() => Int, { nullable: true, description: "Place in the queue while QUEUED (1 = next)." })
  async queuePosition(@Root() task: Task, @Ctx() ctx: Context): Promise<number | null> {
    if (task.status !== "QUEUED") return null;
    return (await ctx.loaders.queuePosition.load(task.id)) ?? null;
  }

  @Subscription(() => Task, {
    description:
      "Every change of one task, starting with its current state. Only its owner (or an admin) may follow it.",
    subscribe: ({ args, context }) => {
      const ctx = context as Context;
      const id = String(args.id);
      const viewer = () => authorize(ctx.viewer, ["tasks:read"]);
      const current = async () => {
        const task = await ctx.services.tasks.get(viewer(), id);
        if (!task) throw new NotFoundError("Task");
        return [task];
      };
      const source = (async function* () {
        viewer();
        yield* followTask(ctx.services.tasks.streamTask(id), current);
      })();
      // Subscribers of one task share its stream under the graphql-ws fan-out (refused ones get the error).
      if (!ctx.viewer) return source;
      return shareLive(
        source,
        liveTask(
          `task:${id}`,
          () => ctx.services.tasks.streamTask(id),
          current,
          viewer,
          () => liveTasksOf(ctx).context(ctx),
          () => ctx.pubsub.subscribed(taskTopic(id)),
        ),
      );
    },
  })
  taskUpdated(
    @Arg("id", () => ID, { description: "The task." }) _id: string,
    @Root() event: TaskEvent,
    @Ctx() ctx: Context,
  ): Task | Promise<Task> {
    return liveTasksOf(ctx).fromEvent(event, ctx);
  }

  @Subscription(() => Task, {
    description: "Every change of any of your tasks, starting with the current state of your unfinished ones.",
    subscribe: ({ context }) => {
      const ctx = context as Context;
      const viewer = () => authorize(ctx.viewer, ["tasks:read"]);
      const source = (async function* () {
        const { accountId } = viewer();
        yield* followTask(ctx.services.tasks.streamAccount(accountId), () => ctx.services.tasks.unfinished(accountId));
      })();
      // Refused viewers get the generator's error; the others share their account's stream.
      if (!ctx.viewer) return source;
      const accountId = ctx.viewer.accountId;
      return shareLive(
        source,
        liveTask(
          `account:${accountId}`,
          () => ctx.services.tasks.streamAccount(accountId),
          () => ctx.services.tasks.unfinished(viewer().accountId),
          viewer,
          () => liveTasksOf(ctx).context(ctx),
          () => ctx.pubsub.subscribed(accountTasksTopic(accountId)),
        ),
      );
    },
  })
  myTaskUpdates(@Root() event: TaskEvent, @Ctx() ctx: Context): Task | Promise<Task> {
    return liveTasksOf(ctx).fromEvent(event, ctx);
  }
}

/**
 * Subscribes first, then reads the current state, then relays events newer than what was sent: no change
 * can fall between the read and the subscription, and none is delivered out of order.
 */
async function* followTask(
  stream: AsyncIterable<TaskEvent>,
  current: () => Promise<TaskEntity[]>,
): AsyncGenerator<TaskEvent> {
  const iterator = stream[Symbol.asyncIterator]();
  const seen = new Map<string, number>();
  try {
    for (const task of await current()) {
      seen.set(task.id, task.version);
      yield toTaskEvent(task);
    }
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      const event = next.value;
      if ((seen.get(event.id) ?? 0) >= event.version) continue;
      seen.set(event.id, event.version);
      yield event;
    }
  } finally {
    await iterator.return?.();
  }
}

/**
 * followTask for a shared stream: the subscriber's current tasks first, then the stream's events newer than
 * what it was sent (the filter keeps its versions). `current` reads the current tasks (authorizing with the
 * viewer of the subscriber that reads them); `authorize` refuses a subscriber before it shares a read: the
 * subscribers of one stream have one visibility (the fan-out groups them by it), so they read the same.
 */
function liveTask(
  key: string,
  open: () => AsyncIterable<TaskEvent>,
  current: () => Promise<TaskEntity[]>,
  authorize: () => unknown,
  context: () => Context,
  /** Resolves once the stream's Redis subscription is confirmed: the starting state is read after it. */
  subscribed: () => Promise<void>,
): LiveSource<TaskEvent> {
  return {
    key,
    open,
    context,
    // The rows come along, so the starting frames are answered without reading them again.
    snapshot: async () => (await current()).map(withRow),
    async start(snapshot) {
      authorize();
      // An event published between a read begun earlier and the subscription's confirmation would be lost.
      await subscribed();
      const initial = await snapshot();
      const seen = new Map<string, number>();
      for (const event of initial) seen.set(event.id, event.version);
      return {
        initial,
        accept(event) {
          if ((seen.get(event.id) ?? 0) >= event.version) return false;
          seen.set(event.id, event.version);
          return true;
        },
      };
    },
  };
}

/** A task's row, carried by the events of a subscriber's starting state (it was just read). */
const ROW = Symbol("taskRow");
type StartingEvent = TaskEvent & { [ROW]?: TaskEntity };

const withRow = (task: TaskEntity): StartingEvent => Object.assign(toTaskEvent(task), { [ROW]: task });

/**
 * A task as a live event tells it: the event's fields (all that change) over the rest of the task, even when
 * `task` is a newer read (a subscriber sees every step; its own filter drops what it has seen newer of).
 */
function applyEvent(task: Task, event: TaskEvent): Task {
  return {
    ...task,
    status: event.status,
    progress: event.progress,
    error: event.errorCode ? { code: event.errorCode, message: event.errorMessage ?? event.errorCode } : null,
    startedAt: event.startedAt ? new Date(event.startedAt) : null,
    finishedAt: event.finishedAt ? new Date(event.finishedAt) : null,
    version: event.version,
  };
}

/**
 * The tasks live events are about, per API process. An event carries every field of a task that changes
 * after creation (status, progress, error, start and finish, version: the worker's and the service's updates
 * touch nothing else a Task shows), so a task is read from PostgreSQL once, on its first event here (or
 * taken from a subscriber's starting read), not once per event: the newest state seen is kept and each
 * event laid over it. For a while only (account erasure rewrites prompts without an event; it cancels the
 * account's unfinished tasks first, and finished tasks get no more events).
 *
 * Answers never go back in time: an event older than the state kept (a slow one, or one read after the
 * row had moved on) answers the newer state, and concurrent first events of a task share one read, so the
 * frames of a task, sent in event order, show its states in order.
 */
class LiveTasks {
  private readonly tasks = new LRUCache<string, Task>({ max: 10_000, ttl: 10 * 60_000 });
  private readonly reading = new Map<string, Promise<Task>>();

  /**
   * Models for live events: read at most once per model and 10 s per process (an admin's rename shows in
   * live frames within that), not once per event.
   */
  private readonly models: DataLoader<string, GenerationModelEntity>;
  /**
   * Images for live events. A task has asset rows only once SUCCEEDED (the runner inserts them in the
   * statement that makes it SUCCEEDED), so for a task in any other state (the state its events answer,
   * kept here) there is nothing to read; a SUCCEEDED task's are read once for all groups (10 s).
   */
  private readonly assets: DataLoader<string, AssetEntity[]>;

  constructor(private readonly services: Context["services"]) {
    this.models = new DataLoader(
      async (ids) => {
        const found = new Map((await services.catalog.byIds(ids)).map((m) => [m.id, m]));
        return ids.map((id) => found.get(id) ?? new Error(`model ${id} not found`));
      },
      { cacheMap: new LRUCache<string, Promise<GenerationModelEntity>>({ max: 1_000, ttl: 10_000 }) },
    );
    const succeeded = (id: string) => this.tasks.get(id)?.status === "SUCCEEDED";
    this.assets = new DataLoader(
      async (ids) => {
        const finished = ids.filter(succeeded);
        const found = finished.length ? await services.assets.byTasks(finished) : new Map<string, AssetEntity[]>();
        return ids.map((id) => found.get(id) ?? []);
      },
      {
        cacheKeyFn: (id) => `${id}:${succeeded(id)}`,
        cacheMap: new LRUCache<string, Promise<AssetEntity[]>>({ max: 10_000, ttl: 10_000 }),
      },
    );
  }

  /** The context live events execute with: the subscriber's, with the model and image loaders above. */
  context(ctx: Context): Context {
    return { ...ctx, loaders: { ...ctx.loaders, model: this.models, assetsByTask: this.assets } };
  }

  fromEvent(event: TaskEvent, ctx: Context): Task | Promise<Task> {
    const row = (event as StartingEvent)[ROW];
    if (row) return this.merge(toTask(row), event);
    const kept = this.tasks.get(event.id);
    if (kept) return this.merge(kept, event);
    let read = this.reading.get(event.id);
    if (!read) {
      const started = ctx.services.tasks.byIds([event.id]).then(([entity]) => {
        if (!entity) throw new NotFoundError("Task");
        return toTask(entity);
      });
      const done = () => {
        if (this.reading.get(event.id) === started) this.reading.delete(event.id);
      };
      started.then(done, done);
      this.reading.set(event.id, (read = started));
    }
    return read.then((task) => this.merge(task, event));
  }

  /** A SUCCEEDED event's images, carried by the event: kept for its task so answering it reads nothing. */
  private primeAssets(event: TaskEvent): void {
    if (!event.assets?.length || event.status !== TaskStatus.SUCCEEDED) return;
    // After the task is kept as SUCCEEDED: the loader's key says which state its images are for.
    this.assets.prime(event.id, this.services.assets.fromJsonRows(event.assets));
  }

  /**
   * The event's own state over `base` (the task's fixed fields). Each event answers its own change, even one
   * that arrives after a newer read: a task read for its QUEUED event may be RUNNING already, and answering
   * the newer state would lose QUEUED and send RUNNING twice. The newest state is kept for the next events.
   */
  private merge(base: Task, event: TaskEvent): Task {
    const task: ListedTask = applyEvent(base, event);
    // Asset rows come with SUCCEEDED (one statement): an earlier state told late has no images, even if the
    // task has them by now.
    task[FROM_PAGE] = task.status === TaskStatus.SUCCEEDED ? undefined : { assets: [] };
    const kept = this.tasks.get(task.id);
    if (!kept || kept.version < task.version) this.tasks.set(task.id, task);
    this.primeAssets(event);
    return task;
  }
}

/** Each app's LiveTasks (by its services): per app, gone with it. */
const liveTasksByApp = new WeakMap<Context["services"], LiveTasks>();

function liveTasksOf(ctx: Context): LiveTasks {
  let live = liveTasksByApp.get(ctx.services);
  if (!live) liveTasksByApp.set(ctx.services, (live = new LiveTasks(ctx.services)));
  return live;
}
