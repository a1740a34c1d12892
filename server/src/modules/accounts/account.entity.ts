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

export enum AccountRole {
  USER = "USER",
  MODERATOR = "MODERATOR",
  ADMIN = "ADMIN",
}

@Entity({ name: "account" })
export class AccountEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  /** Lower-cased; replaced by a placeholder when the account is deleted. */
  @Index("UQ_account_email", { unique: true })
  @Column({ type: "varchar", length: 254 })
  email: string;

  @Column({ type: "timestamptz", nullable: true })
  emailVerifiedAt: Date | null;

  @Column({ type: "text" })
  passwordHash: string;

  @Column({ type: "varchar", length: 80 })
  displayName: string;

  @Column({ type: "enum", enum: AccountRole, enumName: "account_role", default: AccountRole.USER })
  role: AccountRole;

  @Index("UQ_account_referral_code", { unique: true })
  @Column({ type: "varchar", length: 16 })
  referralCode: string;

  @ManyToOne(() => AccountEntity, { nullable: true, onDelete: "SET NULL" })
  @JoinColumn({ name: "referred_by_id" })
  referredBy: AccountEntity | null;

  @Column({ type: "uuid", nullable: true })
  referredById: string | null;

  /** Version of the terms of use this account last accepted. */
  @Column({ type: "int", nullable: true })
  acceptedTermsVersion: number | null;

  /** The address that registered the account (the per-IP daily registration limit counts these). */
  @Column({ type: "varchar", length: 45, nullable: true })
  signupIp: string | null;

  @Column({ type: "timestamptz", nullable: true })
  deletedAt: Date | null;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;

  @UpdateDateColumn({ type: "timestamptz" })
  updatedAt: Date;
}
