import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { CodeBatchEntity } from "./code-batch.entity.js";

/** One code of a batch, stored only as the SHA-256 of its normalized form. */
@Entity({ name: "redemption_code" })
@Check("CHK_redemption_code_count", `"redemption_count" >= 0`)
export class RedemptionCodeEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => CodeBatchEntity, { onDelete: "RESTRICT" })
  @JoinColumn({ name: "batch_id" })
  batch: CodeBatchEntity;

  @Index("IDX_redemption_code_batch")
  @Column({ type: "uuid" })
  batchId: string;

  @Index("UQ_redemption_code_hash", { unique: true })
  @Column({ type: "char", length: 64 })
  codeHash: string;

  @Column({ type: "int", default: 0 })
  redemptionCount: number;

  @Column({ type: "timestamptz", nullable: true })
  disabledAt: Date | null;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
