import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from "typeorm";

/** One admin or moderator action. Append-only (a trigger refuses updates and deletes). */
@Entity({ name: "audit_entry" })
@Index("IDX_audit_entry_created", ["createdAt", "id"])
@Index("IDX_audit_entry_actor", ["actorId", "createdAt"])
@Index("IDX_audit_entry_target", ["target", "createdAt"])
export class AuditEntryEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "uuid" })
  actorId: string;

  /** The GraphQL operation (`adjustBalance`). */
  @Column({ type: "varchar", length: 80 })
  action: string;

  /** What it acted on, as far as the input names it (an id, usually). */
  @Column({ type: "varchar", length: 200, nullable: true })
  target: string | null;

  @Column({ type: "varchar", length: 500, nullable: true })
  reason: string | null;

  /** The input, secrets removed. */
  @Column({ type: "jsonb" })
  input: Record<string, unknown>;

  /** The state the action changed, as it was just before (null: none recorded). */
  @Column({ type: "jsonb", nullable: true })
  before: unknown;

  /** The answer: the values after the action. */
  @Column({ type: "jsonb", nullable: true })
  result: unknown;

  @Column({ type: "varchar", length: 64, default: "" })
  ip: string;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
