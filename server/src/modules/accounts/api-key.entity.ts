import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { AccountEntity } from "./account.entity.js";

/** A developer API key: `nvk_<lookupId>_<secret>`; the row keeps the lookup id and SHA-256 of the whole key. */
@Entity({ name: "api_key" })
@Index("IDX_api_key_account", ["accountId", "createdAt"])
export class ApiKeyEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => AccountEntity, { onDelete: "CASCADE" })
  @JoinColumn({ name: "account_id" })
  account: AccountEntity;

  @Column({ type: "uuid" })
  accountId: string;

  @Column({ type: "varchar", length: 80 })
  name: string;

  @Index("UQ_api_key_lookup_id", { unique: true })
  @Column({ type: "varchar", length: 16 })
  lookupId: string;

  @Column({ type: "char", length: 64 })
  secretHash: string;

  @Column({ type: "text", array: true })
  scopes: string[];

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;

  @Column({ type: "timestamptz", nullable: true })
  lastUsedAt: Date | null;

  @Column({ type: "timestamptz", nullable: true })
  expiresAt: Date | null;

  @Column({ type: "timestamptz", nullable: true })
  revokedAt: Date | null;
}
