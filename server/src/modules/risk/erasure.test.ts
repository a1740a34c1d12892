import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountRole } from "../accounts/account.entity.js";
import { errorCode, signedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";
import { ERASED_TEXT } from "./erasure.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
});
afterAll(() => t?.close());

const PROMPT = "a scanned passport of John Privatename";
const LIMIT_REASON = "I am Jane Privatename and I run a studio in Smalltown, I need more images.";
const APPEAL = "It was my brother Privatename using my laptop, sorry.";

describe("deleteAccount and the text kept by the risk tables", () => {
  it("erases prompt excerpts, limit request reasons and appeal messages the account wrote", async () => {
    const admin = await signedInUser(t, { role: AccountRole.ADMIN });
    const user = await signedInUser(t);
    const bystander = await signedInUser(t);

    // A blocked prompt leaves a moderation event with its excerpt.
    for (const who of [user, bystander]) {
      const blocked = await t.graphql(
        `mutation($prompt: String!) { createTask(input: { prompt: $prompt, model: "novart-sketch", width: 512, height: 512, count: 1 }) { task { id } } }`,
        { prompt: PROMPT },
        who.headers,
      );
      expect(errorCode(blocked)).toBe("CONTENT_REJECTED");
    }
    const asked = await t.graphql(
      `mutation($input: RequestLimitIncreaseInput!) { requestLimitIncrease(input: $input) { request { id } } }`,
      { input: { reason: LIMIT_REASON, desiredTierId: "PRO" } },
      user.headers,
    );
    expect(asked.body.errors).toBeUndefined();
    const restricted = await t.graphql<{ restrictAccount: { restriction: { id: string } } }>(
      `mutation($id: ID!) { restrictAccount(input: { accountId: $id, scopes: [UPLOADS], durationMinutes: 60, reason: "Review" }) { restriction { id } } }`,
      { id: user.account.id },
      admin.headers,
    );
    expect(restricted.body.errors).toBeUndefined();
    const appealed = await t.graphql(
      `mutation($id: ID!, $message: String!) { appealRestriction(input: { id: $id, message: $message }) { restriction { id } } }`,
      { id: restricted.body.data!.restrictAccount.restriction.id, message: APPEAL },
      user.headers,
    );
    expect(appealed.body.errors).toBeUndefined();

    const texts = async (accountId: string) => ({
      excerpts: (
        (await t.app.db.query(`SELECT excerpt FROM moderation_event WHERE account_id = $1`, [accountId])) as {
          excerpt: string;
        }[]
      ).map((r) => r.excerpt),
      reasons: (
        (await t.app.db.query(`SELECT reason FROM limit_request WHERE account_id = $1`, [accountId])) as {
          reason: string;
        }[]
      ).map((r) => r.reason),
      appeals: (
        (await t.app.db.query(
          `SELECT appeal_message FROM account_restriction WHERE account_id = $1 AND appeal_message IS NOT NULL`,
          [accountId],
        )) as { appeal_message: string }[]
      ).map((r) => r.appeal_message),
    });
    expect(await texts(user.account.id)).toEqual({ excerpts: [PROMPT], reasons: [LIMIT_REASON], appeals: [APPEAL] });

    const deleted = await t.graphql(
      `mutation($input: PasswordInput!) { deleteAccount(input: $input) { ok } }`,
      { input: { password: user.password } },
      user.headers,
    );
    expect(deleted.body.errors).toBeUndefined();

    // The rows stay (the records), the words go.
    expect(await texts(user.account.id)).toEqual({
      excerpts: [ERASED_TEXT],
      reasons: [ERASED_TEXT],
      appeals: [ERASED_TEXT],
    });
    const anywhere = (await t.app.db.query(
      `SELECT (SELECT count(*)::int FROM moderation_event WHERE account_id = $1 AND excerpt ILIKE '%Privatename%')
            + (SELECT count(*)::int FROM limit_request WHERE account_id = $1 AND reason ILIKE '%Privatename%')
            + (SELECT count(*)::int FROM account_restriction WHERE account_id = $1 AND appeal_message ILIKE '%Privatename%') AS n`,
      [user.account.id],
    )) as { n: number }[];
    expect(anywhere[0].n).toBe(0);
    // Another account's text is untouched.
    expect((await texts(bystander.account.id)).excerpts).toEqual([PROMPT]);
  });
});
