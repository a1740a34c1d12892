import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from "typeorm";

/**
 * A stored file whose row is gone (an asset deleted, expired or taken down; an unused upload; a failed
 * task's images) but that the store refused to delete: retried until it goes, so no file outlives its row.
 */
@Entity({ name: "file_deletion" })
@Index("IDX_file_deletion_next_attempt", ["nextAttemptAt"])
export class FileDeletionEntity {
  /** The storage key (at most 300 characters, see assertSafeKey). */
  @PrimaryColumn({ type: "varchar", length: 300 })
  key: string;

  @Column({ type: "int", default: 1 })
  attempts: number;

  @Column({ type: "varchar", length: 500, nullable: true })
  lastError: string | null;

  @Column({ type: "timestamptz" })
  nextAttemptAt: Date;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
