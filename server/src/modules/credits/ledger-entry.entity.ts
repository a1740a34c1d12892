import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { AccountEntity } from "../accounts/account.entity.js";

export enum LedgerKind {
  RECHARGE = "RECHARGE",
  REDEMPTION = "REDEMPTION",
  WELCOME_BONUS = "WELCOME_BONUS",
  REFERRAL_REWARD = "REFERRAL_REWARD",
  TASK_CHARGE = "TASK_CHARGE",
  TASK_REFUND = "TASK_REFUND",
  ADMIN_ADJUSTMENT = "ADMIN_ADJUSTMENT",
}

/** Append-only: rows are inserted, never updated or deleted; corrections are compensating entries. */
@Entity({ name: "ledger_entry" })
@Index("IDX_ledger_entry_account_created", ["accountId", "createdAt", "id"])
export class LedgerEntryEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => AccountEntity, { onDelete: "RESTRICT" })
  @JoinColumn({ name: "account_id" })
  account: AccountEntity;

  @Column({ type: "uuid" })
  accountId: string;

  @Column({ type: "enum", enum: LedgerKind, enumName: "ledger_kind" })
  kind: LedgerKind;

  @Column({ type: "int" })
  paidDelta: number;

  @Column({ type: "int" })
  bonusDelta: number;

  @Column({ type: "int" })
  paidAfter: number;

  @Column({ type: "int" })
  bonusAfter: number;

  /** Idempotency key: one reference, one effect (`task:<id>:charge`, `code:<id>`, `order:<store>:<id>`). */
  @Index("UQ_ledger_entry_reference", { unique: true })
  @Column({ type: "varchar", length: 200 })
  reference: string;

  @Column({ type: "varchar", length: 500, default: "" })
  note: string;

  /** Who caused it when a person did (an admin's adjustment), else null. */
  @Column({ type: "uuid", nullable: true })
  actorId: string | null;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
