import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { AccountEntity } from "./account.entity.js";

/** A signed-in session. Only the SHA-256 of its token is stored. */
@Entity({ name: "session" })
@Index("IDX_session_account", ["accountId", "createdAt"])
export class SessionEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => AccountEntity, { onDelete: "CASCADE" })
  @JoinColumn({ name: "account_id" })
  account: AccountEntity;

  @Column({ type: "uuid" })
  accountId: string;

  @Index("UQ_session_token_hash", { unique: true })
  @Column({ type: "char", length: 64 })
  tokenHash: string;

  @Column({ type: "varchar", length: 512, default: "" })
  userAgent: string;

  @Column({ type: "varchar", length: 64, default: "" })
  ip: string;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;

  @Column({ type: "timestamptz" })
  lastSeenAt: Date;

  @Column({ type: "timestamptz" })
  expiresAt: Date;

  @Column({ type: "timestamptz", nullable: true })
  revokedAt: Date | null;
}
