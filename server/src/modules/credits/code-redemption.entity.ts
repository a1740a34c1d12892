import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { AccountEntity } from "../accounts/account.entity.js";
import { RedemptionCodeEntity } from "./redemption-code.entity.js";

/** Who redeemed which code when; its id is the ledger reference of the credit. */
@Entity({ name: "code_redemption" })
@Index("IDX_code_redemption_batch_account", ["batchId", "accountId"])
export class CodeRedemptionEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => RedemptionCodeEntity, { onDelete: "RESTRICT" })
  @JoinColumn({ name: "code_id" })
  code: RedemptionCodeEntity;

  @Column({ type: "uuid" })
  codeId: string;

  @Column({ type: "uuid" })
  batchId: string;

  @ManyToOne(() => AccountEntity, { onDelete: "RESTRICT" })
  @JoinColumn({ name: "account_id" })
  account: AccountEntity;

  @Column({ type: "uuid" })
  accountId: string;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
