import { Check, Column, Entity, JoinColumn, OneToOne, PrimaryColumn, UpdateDateColumn } from "typeorm";
import { AccountEntity } from "../accounts/account.entity.js";

/**
 * The cached balance of one account. Changed only by LedgerService, in the same statement that appends
 * the ledger entry; `npm run ledger:verify` re-checks it against the sum of the entries.
 */
@Entity({ name: "credit_account" })
@Check("CHK_credit_account_non_negative", `"paid" >= 0 AND "bonus" >= 0`)
export class CreditAccountEntity {
  @PrimaryColumn({ type: "uuid" })
  accountId: string;

  @OneToOne(() => AccountEntity, { onDelete: "RESTRICT" })
  @JoinColumn({ name: "account_id" })
  account: AccountEntity;

  @Column({ type: "int", default: 0 })
  paid: number;

  @Column({ type: "int", default: 0 })
  bonus: number;

  @UpdateDateColumn({ type: "timestamptz" })
  updatedAt: Date;
}
