import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { AccountEntity } from "./account.entity.js";

/** One published version of the terms of use; the highest version is current. Never edited, only superseded. */
@Entity({ name: "terms_document" })
export class TermsDocumentEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Index("UQ_terms_document_version", { unique: true })
  @Column({ type: "int" })
  version: number;

  @Column({ type: "varchar", length: 200 })
  title: string;

  @Column({ type: "text" })
  body: string;

  @Column({ type: "timestamptz", default: () => "now()" })
  publishedAt: Date;

  @ManyToOne(() => AccountEntity, { nullable: true, onDelete: "SET NULL" })
  @JoinColumn({ name: "published_by_id" })
  publishedBy: AccountEntity | null;

  @Column({ type: "uuid", nullable: true })
  publishedById: string | null;
}
