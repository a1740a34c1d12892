import type { DataSource } from "typeorm";
import { BadUserInputError, NotFoundError } from "../../infra/errors.js";
import { pastCursorSql, decodeCursor, pageSize } from "../../infra/pagination.js";
import type { AccountEntity, AccountRole } from "../accounts/account.entity.js";
import { AccountEntity as AccountTable } from "../accounts/account.entity.js";
import type { MessageService } from "../accounts/message.service.js";

export interface AccountSearchFilter {
  /** Part of the email or display name, or an exact id. */
  search?: string | null;
  role?: AccountRole | null;
  tierId?: string | null;
  restricted?: boolean | null;
  includeDeleted?: boolean | null;
}

export interface AccountSummaryRow {
  id: string;
  email: string;
  displayName: string;
  role: AccountRole;
  emailVerified: boolean;
  tierId: string;
  balance: number;
  restricted: boolean;
  deleted: boolean;
  createdAt: Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Administration of accounts: search, detail and announcements (reads across modules, writes messages). */
export class AdminAccountService {
  constructor(
    private readonly db: DataSource,
    private readonly messages: MessageService,
  ) {}

  async search(filter: AccountSearchFilter, args: { first?: number; after?: string | null }) {
    const limit = pageSize(args.first);
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replaceAll("$?", `$${params.length}`));
    };
    const search = filter.search?.trim();
    if (search) {
      if (search.length > 254) throw new BadUserInputError("Search at most 254 characters.", { field: "search" });
      if (UUID.test(search)) add(`a.id = $?::uuid`, search);
      else add(`(a.email ILIKE $? OR a.display_name ILIKE $?)`, `%${search.replace(/[\\%_]/g, "\\$&")}%`);
    }
    if (filter.role) add(`a.role = $?`, filter.role);
    if (filter.tierId) add(`coalesce(l.tier_id, (SELECT id FROM tier WHERE is_default LIMIT 1)) = $?`, filter.tierId);
    if (filter.restricted !== null && filter.restricted !== undefined) {
      where.push(`${filter.restricted ? "" : "NOT "}EXISTS (SELECT 1 FROM account_restriction r WHERE r.account_id = a.id
        AND r.lifted_at IS NULL AND (r.ends_at IS NULL OR r.ends_at > now()))`);
    }
    if (!filter.includeDeleted) where.push(`a.deleted_at IS NULL`);
    if (args.after) {
      const cursor = decodeCursor(args.after);
      params.push(cursor.createdAt, cursor.id);
      where.push(pastCursorSql("a", "account", { createdAt: `$${params.length - 1}`, id: `$${params.length}` }));
    }
    params.push(limit + 1);
    const rows = (await this.db.query(
      `SELECT a.id, a.email, a.display_name AS "displayName", a.role, a.email_verified_at IS NOT NULL AS "emailVerified",
              coalesce(l.tier_id, (SELECT id FROM tier WHERE is_default LIMIT 1)) AS "tierId",
              coalesce(c.paid + c.bonus, 0)::int AS balance,
              EXISTS (SELECT 1 FROM account_restriction r WHERE r.account_id = a.id AND r.lifted_at IS NULL
                       AND (r.ends_at IS NULL OR r.ends_at > now())) AS restricted,
              a.deleted_at IS NOT NULL AS deleted, a.created_at AS "createdAt"
         FROM account a
         LEFT JOIN account_limits l ON l.account_id = a.id
         LEFT JOIN credit_account c ON c.account_id = a.id
        ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
        ORDER BY a.created_at DESC, a.id DESC
        LIMIT $${params.length}`,
      params,
    )) as AccountSummaryRow[];
    return { rows, limit };
  }

  async account(id: string): Promise<AccountEntity> {
    if (!UUID.test(id)) throw new NotFoundError("Account");
    const account = await this.db.getRepository(AccountTable).findOneBy({ id });
    if (!account) throw new NotFoundError("Account");
    return account;
  }

  /**
   * An internal message to every account, or to the accounts of one tier; answers how many got it. Live
   * clients are told at once.
   */
  async announce(input: { title: string; body: string; link: string | null; tierId: string | null }): Promise<number> {
    const title = input.title.trim();
    const body = input.body.trim();
    if (title.length < 3 || title.length > 200) {
      throw new BadUserInputError("Write a title of 3–200 characters.", { field: "title" });
    }
    if (body.length < 1 || body.length > 5000) {
      throw new BadUserInputError("Write a message of 1–5 000 characters.", { field: "body" });
    }
    if (input.link && !/^\/[^\s]*$|^https:\/\/[^\s]+$/.test(input.link)) {
      throw new BadUserInputError("A link is a studio path (/billing) or an https URL.", { field: "link" });
    }
    // message.link is varchar(500): a longer one must not reach the INSERT (an internal error).
    if (input.link && input.link.length > 500) {
      throw new BadUserInputError("A link has at most 500 characters.", { field: "link" });
    }
    if (input.tierId) {
      const [tier] = (await this.db.query(`SELECT 1 FROM tier WHERE id = $1`, [input.tierId])) as unknown[];
      if (!tier) throw new NotFoundError("Tier", { field: "tierId" });
    }
    const recipients = input.tierId
      ? (
          (await this.db.query(
            `SELECT a.id FROM account a LEFT JOIN account_limits l ON l.account_id = a.id
            WHERE a.deleted_at IS NULL AND coalesce(l.tier_id, (SELECT id FROM tier WHERE is_default LIMIT 1)) = $1`,
            [input.tierId],
          )) as { id: string }[]
        ).map((r) => r.id)
      : null;
    return this.messages.broadcast({ kind: "announcement", title, body, link: input.link }, recipients);
  }
}
