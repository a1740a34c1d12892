import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from "typeorm";

export enum RestrictionScope {
  ALL = "ALL",
  SIGN_IN = "SIGN_IN",
  TASKS = "TASKS",
  API = "API",
  UPLOADS = "UPLOADS",
}

/** A restriction (ban) of an account, for a time or for good. Lifting keeps the row: the history stays. */
@Entity({ name: "account_restriction" })
@Index("IDX_account_restriction_account", ["accountId", "createdAt"])
export class RestrictionEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "uuid" })
  accountId: string;

  @Column({ type: "text", array: true })
  scopes: RestrictionScope[];

  @Column({ type: "varchar", length: 500 })
  reason: string;

  /** Null: permanent. It lifts itself at this time; no job has to run for that. */
  @Column({ type: "timestamptz", nullable: true })
  endsAt: Date | null;

  /** The moderator; null when the escalation rule restricted the account by itself. */
  @Column({ type: "uuid", nullable: true })
  createdById: string | null;

  @Column({ type: "timestamptz", nullable: true })
  liftedAt: Date | null;

  @Column({ type: "varchar", length: 500, nullable: true })
  liftReason: string | null;

  /** When the owner was told it ended (by time or lifted). */
  @Column({ type: "timestamptz", nullable: true })
  endNotifiedAt: Date | null;

  @Column({ type: "varchar", length: 2000, nullable: true })
  appealMessage: string | null;

  @Column({ type: "timestamptz", nullable: true })
  appealedAt: Date | null;

  /** The moderator's answer to the appeal; `appealAccepted` lifts the restriction. */
  @Column({ type: "varchar", length: 500, nullable: true })
  appealDecision: string | null;

  @Column({ type: "boolean", nullable: true })
  appealAccepted: boolean | null;

  @Column({ type: "timestamptz", nullable: true })
  appealDecidedAt: Date | null;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
