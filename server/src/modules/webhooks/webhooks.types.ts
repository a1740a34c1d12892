import { GraphQLDateTimeISO } from "graphql-scalars";
import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { PageInfo, PageArgs } from "../../infra/graphql/connection.js";
import {
  DeliveryStatus,
  DeliveryTarget,
  type WebhookAttemptEntity,
  type WebhookDeliveryEntity,
  type WebhookEndpointEntity,
} from "./webhook.entities.js";

registerEnumType(DeliveryStatus, {
  name: "WebhookDeliveryStatus",
  description: "Where a delivery stands.",
  valuesConfig: {
    PENDING: { description: "Being tried, or waiting for its next try." },
    SUCCEEDED: { description: "The receiver answered 2xx." },
    FAILED: { description: "Every try failed (or the endpoint was disabled)." },
  },
});

registerEnumType(DeliveryTarget, {
  name: "WebhookDeliveryTarget",
  description: "Where a delivery goes.",
  valuesConfig: {
    ENDPOINT: { description: "An endpoint of the account (`endpointId`, null once it was deleted)." },
    TASK_URL: { description: "The task's own webhookUrl, signed with the task webhook secret." },
  },
});

@ObjectType({ description: "An account-level receiver of signed task events.", simpleResolvers: true })
export class WebhookEndpoint {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field({ description: "Where events are POSTed." })
  url: string;

  @Field({ description: "A note for you." })
  description: string;

  @Field(() => [String], { description: "Events sent: task.running, task.succeeded, task.failed, task.canceled." })
  events: string[];

  @Field({ description: "Whether events are sent." })
  enabled: boolean;

  @Field(() => String, { nullable: true, description: "Why it was disabled, when it was disabled by the system." })
  disabledReason: string | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "Since when deliveries keep failing." })
  failingSince: Date | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "Until when the previous secret still signs too." })
  previousSecretExpiresAt: Date | null;

  @Field(() => GraphQLDateTimeISO, { description: "When it was created." })
  createdAt: Date;
}

export const toEndpoint = (e: WebhookEndpointEntity): WebhookEndpoint => ({
  id: e.id,
  url: e.url,
  description: e.description,
  events: e.events,
  enabled: e.enabled,
  disabledReason: e.disabledReason,
  failingSince: e.failingSince,
  previousSecretExpiresAt:
    e.previousSecretExpiresAt && e.previousSecretExpiresAt > new Date() ? e.previousSecretExpiresAt : null,
  createdAt: e.createdAt,
});

@ObjectType({ description: "One HTTP try of a delivery.", simpleResolvers: true })
export class WebhookAttempt {
  @Field(() => GraphQLDateTimeISO, { description: "When." })
  attemptedAt: Date;

  @Field(() => Int, { nullable: true, description: "HTTP status answered, if any." })
  statusCode: number | null;

  @Field(() => Int, { description: "How long it took, ms." })
  latencyMs: number;

  @Field({ description: "The first 1 KB of the answer." })
  responseSnippet: string;

  @Field(() => String, { nullable: true, description: "What went wrong (timeout, refused address, HTTP 500…)." })
  error: string | null;
}

export const toAttempt = (a: WebhookAttemptEntity): WebhookAttempt => ({
  attemptedAt: a.attemptedAt,
  statusCode: a.statusCode,
  latencyMs: a.latencyMs,
  responseSnippet: a.responseSnippet,
  error: a.error,
});

@ObjectType({ description: "One event sent (or being sent) to one receiver." })
export class WebhookDelivery {
  @Field(() => ID, { description: "Unique id." })
  id: string;

  @Field(() => ID, {
    nullable: true,
    description: "The endpoint; null for a task's own webhookUrl and once the endpoint was deleted.",
  })
  endpointId: string | null;

  @Field(() => DeliveryTarget, { description: "An endpoint, or the task's own webhookUrl." })
  target: DeliveryTarget;

  @Field(() => ID, { nullable: true, description: "The task the event is about." })
  taskId: string | null;

  @Field({ description: "Where it goes." })
  url: string;

  @Field({ description: "The event type." })
  eventType: string;

  @Field({ description: "The exact JSON body (the signatures cover these bytes)." })
  payload: string;

  @Field(() => DeliveryStatus, { description: "Where it stands." })
  status: DeliveryStatus;

  @Field(() => Int, { description: "Tries so far." })
  attemptCount: number;

  @Field(() => String, {
    nullable: true,
    description: "Why it ended FAILED without trying again (`endpoint deleted`, `endpoint disabled`).",
  })
  error: string | null;

  @Field(() => GraphQLDateTimeISO, { description: "When the event happened." })
  createdAt: Date;
}

export const toDelivery = (d: WebhookDeliveryEntity): WebhookDelivery => ({
  id: d.id,
  endpointId: d.endpointId,
  target: d.target,
  taskId: d.taskId,
  url: d.url,
  eventType: d.eventType,
  payload: d.payload,
  status: d.status,
  attemptCount: d.attempts,
  error: d.error,
  createdAt: d.createdAt,
});

@ObjectType({ description: "A delivery with its cursor.", simpleResolvers: true })
export class WebhookDeliveryEdge {
  @Field(() => WebhookDelivery, { description: "The delivery." })
  node: WebhookDelivery;

  @Field({ description: "Opaque cursor." })
  cursor: string;
}

@ObjectType({ description: "A page of deliveries, newest first.", simpleResolvers: true })
export class WebhookDeliveryConnection {
  @Field(() => [WebhookDeliveryEdge], { description: "The deliveries." })
  edges: WebhookDeliveryEdge[];

  @Field(() => PageInfo, { description: "Where this page stands." })
  pageInfo: PageInfo;
}

@ArgsType()
export class WebhookDeliveriesArgs extends PageArgs("delivery") {
  @Field(() => ID, { nullable: true, description: "Only this endpoint's deliveries." })
  endpointId?: string | null;

  @Field(() => ID, { nullable: true, description: "Only deliveries about this task." })
  taskId?: string | null;

  @Field(() => DeliveryStatus, { nullable: true, description: "Only deliveries in this state." })
  status?: DeliveryStatus | null;
}

@InputType({ description: "A new webhook endpoint." })
export class CreateWebhookEndpointInput {
  @Field({ description: "An http(s) URL that accepts POST." })
  url: string;

  @Field(() => [String], { description: "Events to send: task.running, task.succeeded, task.failed, task.canceled." })
  events: string[];

  @Field({ nullable: true, description: "A note for you." })
  description?: string;
}

@InputType({ description: "Changes to an endpoint; absent fields stay." })
export class UpdateWebhookEndpointInput {
  @Field(() => ID, { description: "The endpoint." })
  id: string;

  @Field(() => String, { nullable: true, description: "New URL." })
  url?: string | null;

  @Field(() => [String], { nullable: true, description: "New events." })
  events?: string[] | null;

  @Field(() => String, { nullable: true, description: "New note." })
  description?: string | null;

  @Field(() => Boolean, { nullable: true, description: "Enable or disable." })
  enabled?: boolean | null;
}

@ObjectType({ description: "An endpoint and its signing secret, shown this once.", simpleResolvers: true })
export class WebhookEndpointSecretPayload {
  @Field(() => WebhookEndpoint, { description: "The endpoint." })
  endpoint: WebhookEndpoint;

  @Field({ description: "The signing secret (`whsec_…`): store it now, it is not shown again." })
  secret: string;
}

@ObjectType({ description: "The endpoint after the change.", simpleResolvers: true })
export class WebhookEndpointPayload {
  @Field(() => WebhookEndpoint, { description: "The endpoint." })
  endpoint: WebhookEndpoint;
}

@ObjectType({ description: "The delivery created or restarted.", simpleResolvers: true })
export class WebhookDeliveryPayload {
  @Field(() => WebhookDelivery, { description: "The delivery." })
  delivery: WebhookDelivery;
}

@ObjectType({ description: "The secret that signs deliveries to tasks' own webhookUrl.", simpleResolvers: true })
export class TaskWebhookSecret {
  @Field({ description: "The signing secret (`whsec_…`)." })
  secret: string;
}

export enum UsageGranularity {
  DAY = "DAY",
  HOUR = "HOUR",
}

registerEnumType(UsageGranularity, {
  name: "UsageGranularity",
  description: "Size of a usage bucket.",
  valuesConfig: { DAY: { description: "One bucket per day (UTC)." }, HOUR: { description: "One bucket per hour." } },
});

@ObjectType({ description: "Usage in one time bucket.", simpleResolvers: true })
export class UsageBucket {
  @Field(() => GraphQLDateTimeISO, { description: "Start of the bucket." })
  start: Date;

  @Field(() => Int, { description: "Tasks created." })
  tasks: number;

  @Field(() => Int, { description: "Images made by tasks that succeeded." })
  images: number;

  @Field(() => Int, { description: "Credits spent (charges minus refunds)." })
  creditsSpent: number;

  @Field(() => Int, { description: "Tasks that failed." })
  failures: number;
}
