import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { AccountEntity } from "./account.entity.js";

export enum AccountTokenPurpose {
  VERIFY_EMAIL = "VERIFY_EMAIL",
  RESET_PASSWORD = "RESET_PASSWORD",
}

/** A single-use emailed token (verification, email change, password reset); stored as SHA-256 only. */
@Entity({ name: "account_token" })
export class AccountTokenEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => AccountEntity, { onDelete: "CASCADE" })
  @JoinColumn({ name: "account_id" })
  account: AccountEntity;

  @Index("IDX_account_token_account")
  @Column({ type: "uuid" })
  accountId: string;

  @Column({ type: "enum", enum: AccountTokenPurpose, enumName: "account_token_purpose" })
  purpose: AccountTokenPurpose;

  @Index("UQ_account_token_hash", { unique: true })
  @Column({ type: "char", length: 64 })
  tokenHash: string;

  /** The address the token was sent to: for an email change, the new address it will confirm. */
  @Column({ type: "varchar", length: 254 })
  email: string;

  @Column({ type: "timestamptz" })
  expiresAt: Date;

  @Column({ type: "timestamptz", nullable: true })
  usedAt: Date | null;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
