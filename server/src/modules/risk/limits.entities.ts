import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from "typeorm";

/** The limits a tier (or an account's override) sets. `dailySpendCap` null means no cap. */
export interface LimitValues {
  requestsPerMinute: number;
  tasksPerMinute: number;
  concurrentTasks: number;
  tasksPerDay: number;
  uploadsPerDay: number;
  dailySpendCap: number | null;
}

export const LIMIT_KEYS = [
  "requestsPerMinute",
  "tasksPerMinute",
  "concurrentTasks",
  "tasksPerDay",
  "uploadsPerDay",
  "dailySpendCap",
] as const satisfies readonly (keyof LimitValues)[];

/** A tier of accounts (FREE, STANDARD, PRO or admin-defined): a named set of limits. */
@Entity({ name: "tier" })
export class TierEntity implements LimitValues {
  /** Upper-case name, stable (`FREE`). */
  @PrimaryColumn({ type: "varchar", length: 32 })
  id: string;

  @Column({ type: "varchar", length: 80 })
  name: string;

  @Column({ type: "text", default: "" })
  description: string;

  @Column({ type: "int" })
  requestsPerMinute: number;

  @Column({ type: "int" })
  tasksPerMinute: number;

  @Column({ type: "int" })
  concurrentTasks: number;

  @Column({ type: "int" })
  tasksPerDay: number;

  @Column({ type: "int" })
  uploadsPerDay: number;

  @Column({ type: "int", nullable: true })
  dailySpendCap: number | null;

  /** The tier of every account that has not been given another one (exactly one tier has it). */
  @Column({ type: "boolean", default: false })
  isDefault: boolean;

  @Column({ type: "int", default: 0 })
  sortOrder: number;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;

  @UpdateDateColumn({ type: "timestamptz" })
  updatedAt: Date;
}

/** An account's tier (when not the default) and its per-account overrides. No row: the default tier. */
@Entity({ name: "account_limits" })
export class AccountLimitsEntity {
  @PrimaryColumn({ type: "uuid" })
  accountId: string;

  @Column({ type: "varchar", length: 32, nullable: true })
  tierId: string | null;

  /** Only the overridden keys; `dailySpendCap: null` here means "no cap" for this account. */
  @Column({ type: "jsonb", default: {} })
  overrides: Partial<LimitValues>;

  @UpdateDateColumn({ type: "timestamptz" })
  updatedAt: Date;
}

export enum LimitRequestStatus {
  PENDING = "PENDING",
  APPROVED = "APPROVED",
  REFUSED = "REFUSED",
}

/** An account's request for higher limits, decided by an admin. */
@Entity({ name: "limit_request" })
@Index("IDX_limit_request_status", ["status", "createdAt"])
@Index("IDX_limit_request_account", ["accountId", "createdAt"])
export class LimitRequestEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "uuid" })
  accountId: string;

  @Column({ type: "varchar", length: 2000 })
  reason: string;

  @Column({ type: "varchar", length: 32, nullable: true })
  desiredTierId: string | null;

  @Column({ type: "jsonb", nullable: true })
  desiredValues: Partial<LimitValues> | null;

  @Column({ type: "enum", enum: LimitRequestStatus, enumName: "limit_request_status", default: "PENDING" })
  status: LimitRequestStatus;

  @Column({ type: "uuid", nullable: true })
  decidedById: string | null;

  @Column({ type: "varchar", length: 500, nullable: true })
  decisionReason: string | null;

  @Column({ type: "timestamptz", nullable: true })
  decidedAt: Date | null;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
