import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { AccountEntity } from "./account.entity.js";

/** An internal message to one account (account, task, balance, moderation and referral events). */
@Entity({ name: "message" })
@Index("IDX_message_account_created", ["accountId", "createdAt", "id"])
export class MessageEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => AccountEntity, { onDelete: "CASCADE" })
  @JoinColumn({ name: "account_id" })
  account: AccountEntity;

  @Column({ type: "uuid" })
  accountId: string;

  /** Machine-readable kind (`account.welcome`), for clients that want to style or filter. */
  @Column({ type: "varchar", length: 60 })
  kind: string;

  @Column({ type: "varchar", length: 200 })
  title: string;

  @Column({ type: "text" })
  body: string;

  /** A path inside the studio (`/library`), or null. */
  @Column({ type: "varchar", length: 500, nullable: true })
  link: string | null;

  @Column({ type: "timestamptz", nullable: true })
  readAt: Date | null;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
