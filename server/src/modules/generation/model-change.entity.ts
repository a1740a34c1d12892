import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { AccountEntity } from "../accounts/account.entity.js";
import { GenerationModelEntity } from "./generation-model.entity.js";

/** Who changed which catalogue fields of a model, from what to what (until the admin audit log exists). */
@Entity({ name: "model_change" })
@Index("IDX_model_change_model", ["modelId", "createdAt"])
export class ModelChangeEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @ManyToOne(() => GenerationModelEntity, { onDelete: "CASCADE" })
  @JoinColumn({ name: "model_id" })
  model: GenerationModelEntity;

  @Column({ type: "uuid" })
  modelId: string;

  @ManyToOne(() => AccountEntity, { onDelete: "RESTRICT" })
  @JoinColumn({ name: "actor_id" })
  actor: AccountEntity;

  @Column({ type: "uuid" })
  actorId: string;

  /** `{ field: { from, to } }` for each changed field. */
  @Column({ type: "jsonb" })
  changes: Record<string, { from: unknown; to: unknown }>;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
