import { Arg, Args, Authorized, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from "type-graphql";
import { GraphQLDateTimeISO } from "graphql-scalars";
import type { Context } from "../../infra/context.js";
import { BadUserInputError } from "../../infra/errors.js";
import { toConnection } from "../../infra/graphql/connection.js";
import { encodeCursor } from "../../infra/pagination.js";
import { IdInput } from "../accounts/accounts.types.js";
import type { WebhookService } from "./webhook.service.js";
import {
  CreateWebhookEndpointInput,
  TaskWebhookSecret,
  toAttempt,
  toDelivery,
  toEndpoint,
  UpdateWebhookEndpointInput,
  UsageBucket,
  UsageGranularity,
  WebhookAttempt,
  WebhookDeliveriesArgs,
  WebhookDelivery,
  WebhookDeliveryConnection,
  WebhookDeliveryPayload,
  WebhookEndpoint,
  WebhookEndpointPayload,
  WebhookEndpointSecretPayload,
} from "./webhooks.types.js";
import type { UsageService } from "./usage.service.js";

/** The Developer Center: webhook endpoints, the delivery log, usage. Managing them needs a session. */
@Resolver(() => WebhookDelivery)
export class WebhooksResolver {
  constructor(
    private readonly webhooks: WebhookService,
    private readonly usageService: UsageService,
  ) {}

  @Authorized("SESSION")
  @Query(() => [WebhookEndpoint], { description: "Your webhook endpoints, newest first." })
  async webhookEndpoints(@Ctx() ctx: Context): Promise<WebhookEndpoint[]> {
    return (await this.webhooks.list(ctx.viewer!.accountId)).map(toEndpoint);
  }

  @Authorized("SESSION")
  @Mutation(() => WebhookEndpointSecretPayload, {
    description: "Creates an endpoint; its signing secret is in the answer, once.",
  })
  async createWebhookEndpoint(
    @Arg("input", { description: "URL, events, note." }) input: CreateWebhookEndpointInput,
    @Ctx() ctx: Context,
  ) {
    const { endpoint, secret } = await this.webhooks.createEndpoint(ctx.viewer!.accountId, input);
    return { endpoint: toEndpoint(endpoint), secret };
  }

  @Authorized("SESSION")
  @Mutation(() => WebhookEndpointPayload, {
    description: "Changes an endpoint (enabling it again clears its failure state).",
  })
  async updateWebhookEndpoint(
    @Arg("input", { description: "Changes." }) input: UpdateWebhookEndpointInput,
    @Ctx() ctx: Context,
  ) {
    return { endpoint: toEndpoint(await this.webhooks.update(ctx.viewer!.accountId, input.id, input)) };
  }

  @Authorized("SESSION")
  @Mutation(() => WebhookEndpointPayload, { description: "Deletes an endpoint; its delivery log stays." })
  async deleteWebhookEndpoint(@Arg("input", { description: "The endpoint." }) input: IdInput, @Ctx() ctx: Context) {
    const [endpoint] = (await this.webhooks.list(ctx.viewer!.accountId)).filter((e) => e.id === input.id);
    await this.webhooks.remove(ctx.viewer!.accountId, input.id);
    return { endpoint: toEndpoint(endpoint) };
  }

  @Authorized("SESSION")
  @Mutation(() => WebhookEndpointSecretPayload, {
    description: "Gives the endpoint a new secret; the old one keeps signing too for 24 hours (signatures carry both).",
  })
  async rotateWebhookSecret(@Arg("input", { description: "The endpoint." }) input: IdInput, @Ctx() ctx: Context) {
    const { endpoint, secret } = await this.webhooks.rotateSecret(ctx.viewer!.accountId, input.id);
    return { endpoint: toEndpoint(endpoint), secret };
  }

  @Authorized("SESSION")
  @Mutation(() => WebhookDeliveryPayload, { description: "Sends a `webhook.test` event to the endpoint now." })
  async sendTestWebhook(@Arg("input", { description: "The endpoint." }) input: IdInput, @Ctx() ctx: Context) {
    return { delivery: toDelivery(await this.webhooks.sendTest(ctx.viewer!.accountId, input.id)) };
  }

  @Authorized("SESSION")
  @Mutation(() => WebhookDeliveryPayload, { description: "Sends a delivery again, from its first try." })
  async redeliverWebhook(@Arg("input", { description: "The delivery." }) input: IdInput, @Ctx() ctx: Context) {
    return { delivery: toDelivery(await this.webhooks.redeliver(ctx.viewer!.accountId, input.id)) };
  }

  @Authorized("SESSION")
  @Query(() => TaskWebhookSecret, { description: "The secret that signs deliveries to tasks' own webhookUrl." })
  async taskWebhookSecret(@Ctx() ctx: Context): Promise<TaskWebhookSecret> {
    return { secret: await this.webhooks.taskSecret(ctx.viewer!.accountId) };
  }

  @Authorized("SESSION")
  @Mutation(() => TaskWebhookSecret, { description: "Replaces the secret of tasks' own webhookUrl deliveries." })
  async rotateTaskWebhookSecret(@Ctx() ctx: Context): Promise<TaskWebhookSecret> {
    return { secret: await this.webhooks.rotateTaskSecret(ctx.viewer!.accountId) };
  }

  @Authorized("tasks:read")
  @Query(() => WebhookDeliveryConnection, { description: "The delivery log, newest first." })
  async webhookDeliveries(
    @Args() args: WebhookDeliveriesArgs,
    @Ctx() ctx: Context,
  ): Promise<WebhookDeliveryConnection> {
    const { rows, limit } = await this.webhooks.deliveries(ctx.viewer!.accountId, args);
    return toConnection(rows, limit, toDelivery, encodeCursor);
  }

  @FieldResolver(() => [WebhookAttempt], { description: "Every try, oldest first." })
  async attempts(@Root() delivery: WebhookDelivery, @Ctx() ctx: Context): Promise<WebhookAttempt[]> {
    return (await ctx.loaders.webhookAttempts.load(delivery.id)).map(toAttempt);
  }

  @Authorized("account:read")
  @Query(() => [UsageBucket], { description: "Tasks, images, credits spent and failures per day or hour (UTC)." })
  async usage(
    @Arg("from", () => GraphQLDateTimeISO, { description: "Start (inclusive)." }) from: Date,
    @Arg("to", () => GraphQLDateTimeISO, { description: "End (exclusive)." }) to: Date,
    @Arg("granularity", () => UsageGranularity, { defaultValue: UsageGranularity.DAY, description: "Bucket size." })
    granularity: UsageGranularity,
    @Ctx() ctx: Context,
  ): Promise<UsageBucket[]> {
    if (!(from < to)) throw new BadUserInputError("`from` must be before `to`.", { field: "from" });
    return this.usageService.usage(ctx.viewer!.accountId, from, to, granularity);
  }
}
