import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from "typeorm";

export enum ModerationCategory {
  IDENTITY_DOCUMENTS = "IDENTITY_DOCUMENTS",
  CERTIFICATES_AND_SEALS = "CERTIFICATES_AND_SEALS",
  SEXUAL_CONTENT = "SEXUAL_CONTENT",
  MINORS = "MINORS",
  VIOLENCE = "VIOLENCE",
  HATE = "HATE",
  CUSTOM = "CUSTOM",
}

export enum MatchType {
  /** A word or word part; spaces and punctuation inside it are ignored. */
  TERM = "TERM",
  /** Several words in order; what separates them does not matter. */
  PHRASE = "PHRASE",
  /** A regular expression over the normalised text (lower case, look-alikes and leetspeak mapped). */
  REGEX = "REGEX",
}

export enum ModerationAction {
  BLOCK = "BLOCK",
  REVIEW = "REVIEW",
}

/** A rule prompts are checked against; edited by admins. */
@Entity({ name: "moderation_rule" })
export class ModerationRuleEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "enum", enum: ModerationCategory, enumName: "moderation_category" })
  category: ModerationCategory;

  @Column({ type: "enum", enum: MatchType, enumName: "moderation_match_type" })
  matchType: MatchType;

  @Column({ type: "varchar", length: 500 })
  pattern: string;

  @Column({ type: "enum", enum: ModerationAction, enumName: "moderation_action" })
  action: ModerationAction;

  @Column({ type: "boolean", default: true })
  enabled: boolean;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;

  @UpdateDateColumn({ type: "timestamptz" })
  updatedAt: Date;
}

/** A prompt that a rule blocked or sent to review: the moderation queue and the escalation count. */
@Entity({ name: "moderation_event" })
@Index("IDX_moderation_event_account", ["accountId", "createdAt"])
export class ModerationEventEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "uuid" })
  accountId: string;

  @Column({ type: "uuid", nullable: true })
  taskId: string | null;

  @Column({ type: "enum", enum: ModerationAction, enumName: "moderation_action" })
  action: ModerationAction;

  @Column({ type: "enum", enum: ModerationCategory, enumName: "moderation_category" })
  category: ModerationCategory;

  @Column({ type: "uuid", nullable: true })
  ruleId: string | null;

  /** The first 500 characters of the prompt, for the moderators. */
  @Column({ type: "varchar", length: 500 })
  excerpt: string;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
