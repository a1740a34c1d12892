import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from "typeorm";
import { AccountEntity } from "../accounts/account.entity.js";

/** An account-level receiver of task events. The signing secret is kept to sign; it is shown once. */
@Entity({ name: "webhook_endpoint" })
@Index("IDX_webhook_endpoint_account", ["accountId", "createdAt"])
export class WebhookEndpointEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => AccountEntity, { onDelete: "CASCADE" })
  @JoinColumn({ name: "account_id" })
  account: AccountEntity;

  @Column({ type: "uuid" })
  accountId: string;

  @Column({ type: "varchar", length: 2000 })
  url: string;

  @Column({ type: "varchar", length: 200, default: "" })
  description: string;

  @Column({ type: "text", array: true })
  events: string[];

  @Column({ type: "varchar", length: 100 })
  secret: string;

  /** After a rotation the old secret still signs (beside the new one) until `previousSecretExpiresAt`. */
  @Column({ type: "varchar", length: 100, nullable: true })
  previousSecret: string | null;

  @Column({ type: "timestamptz", nullable: true })
  previousSecretExpiresAt: Date | null;

  @Column({ type: "boolean", default: true })
  enabled: boolean;

  @Column({ type: "varchar", length: 300, nullable: true })
  disabledReason: string | null;

  /** Start of the current run of failed deliveries; null after a success. */
  @Column({ type: "timestamptz", nullable: true })
  failingSince: Date | null;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;

  @UpdateDateColumn({ type: "timestamptz" })
  updatedAt: Date;
}

export enum DeliveryStatus {
  PENDING = "PENDING",
  SUCCEEDED = "SUCCEEDED",
  FAILED = "FAILED",
}

/** Where a delivery goes: an account-level endpoint, or a task's own `webhookUrl`. */
export enum DeliveryTarget {
  ENDPOINT = "ENDPOINT",
  TASK_URL = "TASK_URL",
}

/** One event to one receiver; its attempts are recorded separately. */
@Entity({ name: "webhook_delivery" })
@Index("IDX_webhook_delivery_account", ["accountId", "createdAt", "id"])
@Index("IDX_webhook_delivery_endpoint", ["endpointId", "createdAt"])
@Index("IDX_webhook_delivery_task", ["taskId", "createdAt"])
@Index("UQ_webhook_delivery_event", ["dedupeKey"], { unique: true })
export class WebhookDeliveryEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "uuid" })
  accountId: string;

  @ManyToOne(() => WebhookEndpointEntity, { onDelete: "SET NULL", nullable: true })
  @JoinColumn({ name: "endpoint_id" })
  endpoint: WebhookEndpointEntity | null;

  /** Null for a task's own URL, and once the endpoint was deleted: `target` tells which. */
  @Column({ type: "uuid", nullable: true })
  endpointId: string | null;

  @Column({
    type: "enum",
    enum: DeliveryTarget,
    enumName: "webhook_delivery_target",
    default: DeliveryTarget.ENDPOINT,
  })
  target: DeliveryTarget;

  @Column({ type: "uuid", nullable: true })
  taskId: string | null;

  /** The event once per receiver: `<event>:<task>:<endpoint or task-url>`; redeliveries get a new key. */
  @Column({ type: "varchar", length: 200 })
  dedupeKey: string;

  @Column({ type: "varchar", length: 2000 })
  url: string;

  @Column({ type: "varchar", length: 60 })
  eventType: string;

  /** The exact JSON body sent (signatures cover these bytes). */
  @Column({ type: "text" })
  payload: string;

  @Column({ type: "enum", enum: DeliveryStatus, enumName: "webhook_delivery_status", default: DeliveryStatus.PENDING })
  status: DeliveryStatus;

  @Column({ type: "int", default: 0 })
  attempts: number;

  @Column({ type: "timestamptz", nullable: true })
  lastAttemptAt: Date | null;

  /** Why it ended FAILED without trying again (its endpoint was deleted or disabled); null otherwise. */
  @Column({ type: "varchar", length: 300, nullable: true })
  error: string | null;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}

/** One HTTP attempt of a delivery. */
@Entity({ name: "webhook_attempt" })
@Index("IDX_webhook_attempt_delivery", ["deliveryId", "attemptedAt"])
export class WebhookAttemptEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => WebhookDeliveryEntity, { onDelete: "CASCADE" })
  @JoinColumn({ name: "delivery_id" })
  delivery: WebhookDeliveryEntity;

  @Column({ type: "uuid" })
  deliveryId: string;

  @Column({ type: "timestamptz" })
  attemptedAt: Date;

  @Column({ type: "int", nullable: true })
  statusCode: number | null;

  @Column({ type: "int" })
  latencyMs: number;

  /** The first 1 KB of the answer. */
  @Column({ type: "text", default: "" })
  responseSnippet: string;

  @Column({ type: "varchar", length: 300, nullable: true })
  error: string | null;
}

/** The secret that signs the per-task `webhookUrl` deliveries of an account (created on first use). */
@Entity({ name: "task_webhook_secret" })
export class TaskWebhookSecretEntity {
  @Column({ type: "uuid", primary: true })
  accountId: string;

  @ManyToOne(() => AccountEntity, { onDelete: "CASCADE" })
  @JoinColumn({ name: "account_id" })
  account: AccountEntity;

  @Column({ type: "varchar", length: 100 })
  secret: string;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
