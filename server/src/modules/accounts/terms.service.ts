import type { DataSource } from "typeorm";
import { BadUserInputError, NotFoundError } from "../../infra/errors.js";
import { TermsDocumentEntity } from "./terms-document.entity.js";

/** Versioned terms of use: the highest version is current; publishing adds a version, never edits one. */
export class TermsService {
  constructor(private readonly db: DataSource) {}

  async current(): Promise<TermsDocumentEntity> {
    const [doc] = await this.db.getRepository(TermsDocumentEntity).find({ order: { version: "DESC" }, take: 1 });
    if (!doc) throw new NotFoundError("Terms of use");
    return doc;
  }

  async byVersion(version: number): Promise<TermsDocumentEntity | null> {
    return this.db.getRepository(TermsDocumentEntity).findOneBy({ version });
  }

  async publish(actorId: string, input: { title: string; body: string }): Promise<TermsDocumentEntity> {
    const title = input.title.trim();
    const body = input.body.trim();
    if (!title || title.length > 200)
      throw new BadUserInputError("The title needs 1–200 characters.", { field: "title" });
    if (body.length < 20 || body.length > 200_000) {
      throw new BadUserInputError("The text needs 20–200 000 characters.", { field: "body" });
    }
    // The unique index on version settles two admins publishing at the same moment: the loser retries.
    for (let attempt = 0; ; attempt++) {
      try {
        const rows = (await this.db.query(
          `INSERT INTO terms_document (version, title, body, published_by_id)
           SELECT coalesce(max(version), 0) + 1, $1, $2, $3 FROM terms_document RETURNING id`,
          [title, body, actorId],
        )) as { id: string }[];
        return this.db.getRepository(TermsDocumentEntity).findOneByOrFail({ id: rows[0].id });
      } catch (err) {
        if ((err as { code?: string }).code !== "23505" || attempt >= 3) throw err;
      }
    }
  }
}
