import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from "typeorm";

export enum RegistrationMode {
  OPEN = "OPEN",
  INVITE_ONLY = "INVITE_ONLY",
  CLOSED = "CLOSED",
}

/** Who may register: one row (id 1), set by admins. */
@Entity({ name: "registration_policy" })
export class RegistrationPolicyEntity {
  @PrimaryColumn({ type: "int", default: 1 })
  id: number;

  @Column({ type: "enum", enum: RegistrationMode, enumName: "registration_mode", default: RegistrationMode.OPEN })
  mode: RegistrationMode;

  /** New accounts allowed from one IP address per day; null for no limit. */
  @Column({ type: "int", nullable: true })
  accountsPerIpPerDay: number | null;

  /** Refuse addresses at known disposable-mail domains. */
  @Column({ type: "boolean", default: false })
  blockDisposableEmail: boolean;

  /** Further refused domains (lower case). */
  @Column({ type: "text", array: true, default: () => "'{}'" })
  blockedEmailDomains: string[];

  @UpdateDateColumn({ type: "timestamptz" })
  updatedAt: Date;
}

/** A single-use invitation issued by an admin (registration in INVITE_ONLY mode). Only its hash is kept. */
@Entity({ name: "registration_invite" })
export class RegistrationInviteEntity {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Index("UQ_registration_invite_code", { unique: true })
  @Column({ type: "varchar", length: 64 })
  codeHash: string;

  @Column({ type: "uuid" })
  createdById: string;

  @Column({ type: "uuid", nullable: true })
  usedById: string | null;

  @Column({ type: "timestamptz", nullable: true })
  usedAt: Date | null;

  @Column({ type: "timestamptz" })
  expiresAt: Date;

  @CreateDateColumn({ type: "timestamptz" })
  createdAt: Date;
}
