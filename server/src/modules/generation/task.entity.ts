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
import { GenerationModelEntity } from "./generation-model.entity.js";

export enum TaskStatus {
  /** Held by a REVIEW moderation rule until a moderator approves (→ QUEUED) or rejects (→ FAILED). */
  PENDING_REVIEW = "PENDING_REVIEW",
  QUEUED = "QUEUED",
  RUNNING = "RUNNING",
  SUCCEEDED = "SUCCEEDED",
  FAILED = "FAILED",
  CANCELED = "CANCELED",
}

export const TERMINAL_STATUSES = [TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED];

/** A generation task. PostgreSQL is the source of truth; the queue only carries its id. */
@Entity({ name: "task" })
@Index("IDX_task_account_created", ["accountId", "createdAt", "id"])
@Index("IDX_task_status_created", ["status", "createdAt"])
// An account's unfinished tasks, whatever its history: admission counts them, dispatch orders them.
@Index("IDX_task_account_unfinished", ["accountId", "status", "createdAt"], {
  where: `"status" IN ('QUEUED', 'RUNNING', 'PENDING_REVIEW')`,
})
@Index("UQ_task_account_idempotency", ["accountId", "idempotencyKey"], {
  unique: true,
  where: `"idempotency_key" IS NOT NULL`,
})
export class TaskEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => AccountEntity, { onDelete: "RESTRICT" })
  @JoinColumn({ name: "account_id" })
  account: AccountEntity;

  @Column({ type: "uuid" })
  accountId: string;

  @Column({ type: "enum", enum: TaskStatus, enumName: "task_status", default: TaskStatus.QUEUED })
  status: TaskStatus;

  @Column({ type: "text" })
  prompt: string;

  @Column({ type: "text", nullable: true })
  negativePrompt: string | null;

  @ManyToOne(() => GenerationModelEntity, { onDelete: "RESTRICT" })
  @JoinColumn({ name: "model_id" })
  model: GenerationModelEntity;

  @Column({ type: "uuid" })
  modelId: string;

  @Column({ type: "int" })
  width: number;

  @Column({ type: "int" })
  height: number;

  @Column({ type: "int" })
  count: number;

  @Column({ type: "int" })
  seed: number;

  @Column({ type: "uuid", array: true, default: () => "'{}'" })
  referenceIds: string[];

  @Column({ type: "varchar", length: 2000, nullable: true })
  webhookUrl: string | null;

  @Column({ type: "varchar", length: 200, nullable: true })
  clientReference: string | null;

  /** Cleared after 24 h by the maintenance job, so a key can be used again. */
  @Column({ type: "varchar", length: 200, nullable: true })
  idempotencyKey: string | null;

  /** SHA-256 of the normalised input, to tell a retry from a different request with the same key. */
  @Column({ type: "char", length: 64 })
  inputHash: string;

  @Column({ type: "int" })
  cost: number;

  /** Progress 0..1 while running. */
  @Column({ type: "real", default: 0 })
  progress: number;

  /** Bumped on every change; live events carry it so subscribers never go back in time. */
  @Column({ type: "int", default: 1 })
  version: number;

  /** Handed to the queue (at most the account's running limit at a time: the fairness rule). */
  @Column({ type: "timestamptz", nullable: true })
  dispatchedAt: Date | null;

  @Column({ type: "int", default: 0 })
  attempts: number;

  @Column({ type: "varchar", length: 60, nullable: true })
  errorCode: string | null;

  @Column({ type: "varchar", length: 500, nullable: true })
  errorMessage: string | null;

  @Column({ type: "timestamptz", nullable: true })
  startedAt: Date | null;

  @Column({ type: "timestamptz", nullable: true })
  finishedAt: Date | null;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;

  @UpdateDateColumn({ type: "timestamptz" })
  updatedAt: Date;
}
