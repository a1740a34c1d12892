import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { AccountEntity } from "../accounts/account.entity.js";
import { TaskEntity } from "../generation/task.entity.js";

export enum AssetStatus {
  ACTIVE = "ACTIVE",
  /** Deleted by its owner. */
  DELETED = "DELETED",
  /** Past the retention period. */
  EXPIRED = "EXPIRED",
  /** Taken down by an administrator. */
  REMOVED = "REMOVED",
}

/** A generated image. (task, index) is unique, so a retried task never makes duplicates. */
@Entity({ name: "asset" })
@Index("UQ_asset_task_index", ["taskId", "index"], { unique: true })
@Index("IDX_asset_account_created", ["accountId", "createdAt", "id"])
export class AssetEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => TaskEntity, { onDelete: "RESTRICT" })
  @JoinColumn({ name: "task_id" })
  task: TaskEntity;

  @Column({ type: "uuid" })
  taskId: string;

  @ManyToOne(() => AccountEntity, { onDelete: "RESTRICT" })
  @JoinColumn({ name: "account_id" })
  account: AccountEntity;

  @Column({ type: "uuid" })
  accountId: string;

  /** Position of the image within its task (0-based). */
  @Column({ type: "int" })
  index: number;

  @Column({ type: "int" })
  width: number;

  @Column({ type: "int" })
  height: number;

  @Column({ type: "int" })
  bytes: number;

  @Column({ type: "varchar", length: 60 })
  contentType: string;

  @Column({ type: "char", length: 64 })
  sha256: string;

  /** Storage key of the original (PNG). */
  @Column({ type: "varchar", length: 300 })
  storageKey: string;

  /** WebP, long side at most 1024. */
  @Column({ type: "varchar", length: 300 })
  previewKey: string;

  /** WebP, long side at most 256. */
  @Column({ type: "varchar", length: 300 })
  thumbnailKey: string;

  @Column({ type: "enum", enum: AssetStatus, enumName: "asset_status", default: AssetStatus.ACTIVE })
  status: AssetStatus;

  @Column({ type: "boolean", default: false })
  favorite: boolean;

  /** Files go after this (ASSET_RETENTION_DAYS after creation). */
  @Index("IDX_asset_expires")
  @Column({ type: "timestamptz" })
  expiresAt: Date;

  /** When the owner was told the asset expires soon. */
  @Column({ type: "timestamptz", nullable: true })
  expiryWarnedAt: Date | null;

  /** When it stopped being ACTIVE. */
  @Column({ type: "timestamptz", nullable: true })
  deletedAt: Date | null;

  /** An administrator's reason for a takedown. */
  @Column({ type: "varchar", length: 500, nullable: true })
  removedReason: string | null;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
