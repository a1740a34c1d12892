import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { AccountEntity } from "../accounts/account.entity.js";

export enum CreditKind {
  PAID = "PAID",
  BONUS = "BONUS",
}

/** A batch of redemption codes or recharge cards issued together (for one sales channel, say). */
@Entity({ name: "code_batch" })
@Index("IDX_code_batch_created", ["createdAt", "id"])
@Check(
  "CHK_code_batch_limits",
  `"credits" > 0 AND "code_count" > 0 AND "max_redemptions_per_code" > 0 AND "per_user_limit" > 0`,
)
export class CodeBatchEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "varchar", length: 120 })
  label: string;

  /** Where the codes are sold or handed out (an external store's name, a campaign). */
  @Column({ type: "varchar", length: 120, default: "" })
  channel: string;

  @Column({ type: "int" })
  credits: number;

  @Column({ type: "enum", enum: CreditKind, enumName: "credit_kind" })
  kind: CreditKind;

  @Column({ type: "int" })
  codeCount: number;

  @Column({ type: "int", default: 1 })
  maxRedemptionsPerCode: number;

  /** Redemptions one account may make from this batch. */
  @Column({ type: "int", default: 1 })
  perUserLimit: number;

  @Column({ type: "timestamptz", nullable: true })
  expiresAt: Date | null;

  @Column({ type: "timestamptz", nullable: true })
  disabledAt: Date | null;

  @ManyToOne(() => AccountEntity, { onDelete: "RESTRICT" })
  @JoinColumn({ name: "created_by_id" })
  createdBy: AccountEntity;

  @Column({ type: "uuid" })
  createdById: string;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
