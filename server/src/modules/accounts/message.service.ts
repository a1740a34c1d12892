import type { DataSource, EntityManager } from "typeorm";
import { pastCursorSql, CURSOR_PARAMS, decodeCursor, pageSize } from "../../infra/pagination.js";
import { readList, wroteFor } from "../../infra/read-replica.js";
import type { PubSubBus } from "../../infra/pubsub.js";
import { messageTopic, type MessagePayload } from "./accounts.topics.js";
import { MessageEntity } from "./message.entity.js";

export interface NewMessage {
  kind: string;
  title: string;
  body: string;
  link?: string | null;
}

export function toMessagePayload(m: MessageEntity): MessagePayload {
  return {
    id: m.id,
    kind: m.kind,
    title: m.title,
    body: m.body,
    link: m.link,
    readAt: m.readAt?.toISOString() ?? null,
    createdAt: m.createdAt.toISOString(),
  };
}

/** Internal messages: every module sends through `send`; each new message is pushed to live clients. */
export class MessageService {
  constructor(
    private readonly db: DataSource,
    private readonly pubsub: PubSubBus,
  ) {}

  /**
   * Stores a message; with `manager` it joins the caller's transaction, and the caller must then call
   * `publish` after commit (live clients must never see a message that was rolled back).
   */
  async send(accountId: string, message: NewMessage, manager?: EntityManager): Promise<MessageEntity> {
    const repo = (manager ?? this.db.manager).getRepository(MessageEntity);
    const saved = await repo.save(repo.create({ accountId, ...message, link: message.link ?? null, readAt: null }));
    if (!manager) {
      await wroteFor(this.db, accountId);
      this.publish(saved);
    }
    return saved;
  }

  /**
   * One message to many accounts (every account not deleted when `accountIds` is null) in one statement;
   * live clients are told. Answers how many accounts got it.
   */
  async broadcast(message: NewMessage, accountIds: string[] | null): Promise<number> {
    const rows = (await this.db.query(
      `INSERT INTO message (account_id, kind, title, body, link)
       SELECT a.id, $1, $2, $3, $4 FROM account a
        WHERE a.deleted_at IS NULL AND ($5::uuid[] IS NULL OR a.id = ANY($5::uuid[]))
       RETURNING id, account_id AS "accountId", kind, title, body, link, read_at AS "readAt", created_at AS "createdAt"`,
      [message.kind, message.title, message.body, message.link ?? null, accountIds],
    )) as MessageEntity[];
    for (const saved of rows) this.publish(saved);
    return rows.length;
  }

  publish(message: MessageEntity): void {
    this.pubsub.publish(messageTopic(message.accountId), toMessagePayload(message));
  }

  stream(accountId: string): AsyncIterable<MessagePayload> {
    return this.pubsub.subscribe<MessagePayload>(messageTopic(accountId));
  }

  async list(accountId: string, args: { first?: number; after?: string | null; unreadOnly?: boolean }) {
    const limit = pageSize(args.first);
    const qb = this.db
      .getRepository(MessageEntity)
      .createQueryBuilder("m")
      .where("m.account_id = :accountId", { accountId })
      .orderBy("m.created_at", "DESC")
      .addOrderBy("m.id", "DESC")
      .take(limit + 1);
    if (args.unreadOnly) qb.andWhere("m.read_at IS NULL");
    if (args.after) {
      const cursor = decodeCursor(args.after);
      qb.andWhere(pastCursorSql("m", "message", CURSOR_PARAMS, "account_id = :accountId"), cursor);
    }
    // A list: read from a replica when one is configured and has this account's latest write.
    const rows = await readList(this.db, accountId, (on) =>
      (on.runner ? qb.clone().setQueryRunner(on.runner) : qb).getMany(),
    );
    return { rows, limit };
  }

  async unreadCount(accountId: string): Promise<number> {
    const rows = (await this.db.query(
      `SELECT count(*)::int AS n FROM message WHERE account_id = $1 AND read_at IS NULL`,
      [accountId],
    )) as { n: number }[];
    return rows[0].n;
  }

  /** Marks the given messages (or all, when `ids` is null) read; ids of other accounts are ignored. */
  async markRead(accountId: string, ids: string[] | null): Promise<number> {
    if (ids) {
      await this.db.query(
        `UPDATE message SET read_at = now() WHERE account_id = $1 AND id = ANY($2::uuid[]) AND read_at IS NULL`,
        [accountId, ids],
      );
    } else {
      await this.db.query(`UPDATE message SET read_at = now() WHERE account_id = $1 AND read_at IS NULL`, [accountId]);
    }
    await wroteFor(this.db, accountId);
    return this.unreadCount(accountId);
  }
}
