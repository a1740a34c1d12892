import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { AccountEntity } from "../accounts/account.entity.js";

/** A reference image, re-encoded and stripped of metadata. Unused ones are deleted after 24 h. */
@Entity({ name: "upload" })
@Index("IDX_upload_account_created", ["accountId", "createdAt"])
export class UploadEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => AccountEntity, { onDelete: "RESTRICT" })
  @JoinColumn({ name: "account_id" })
  account: AccountEntity;

  @Column({ type: "uuid" })
  accountId: string;

  @Column({ type: "int" })
  width: number;

  @Column({ type: "int" })
  height: number;

  @Column({ type: "int" })
  bytes: number;

  /** Key of the PNG in the storage. */
  @Column({ type: "varchar", length: 300 })
  storageKey: string;

  /** Set when a task first uses it; kept then, with the task. */
  @Column({ type: "timestamptz", nullable: true })
  usedAt: Date | null;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
