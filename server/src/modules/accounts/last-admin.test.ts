import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountRole } from "./account.entity.js";
import { errorCode, signedInUser, type SignedInUser } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const DELETE = `mutation($input: PasswordInput!) { deleteAccount(input: $input) { ok } }`;
const deleteAccount = (user: SignedInUser) => t.graphql(DELETE, { input: { password: user.password } }, user.headers);

async function liveAdmins(): Promise<string[]> {
  const rows = (await t.app.db.query(`SELECT id FROM account WHERE role = 'ADMIN' AND deleted_at IS NULL`)) as {
    id: string;
  }[];
  return rows.map((r) => r.id);
}

describe("deleteAccount and the last administrator", () => {
  it("refuses to delete the last live administrator with CONFLICT, and deletes one that is not the last", async () => {
    // Only this test's administrators count.
    await t.app.db.query(`UPDATE account SET role = 'USER' WHERE role = 'ADMIN'`);
    const first = await signedInUser(t, { role: AccountRole.ADMIN });
    const second = await signedInUser(t, { role: AccountRole.ADMIN });

    expect((await deleteAccount(first)).body.errors).toBeUndefined();
    expect(await liveAdmins()).toEqual([second.account.id]);

    expect(errorCode(await deleteAccount(second))).toBe("CONFLICT");
    expect(await liveAdmins()).toEqual([second.account.id]);
    const [row] = (await t.app.db.query(`SELECT email, deleted_at FROM account WHERE id = $1`, [
      second.account.id,
    ])) as { email: string; deleted_at: Date | null }[];
    expect(row).toEqual({ email: second.email, deleted_at: null });
    // Still signed in: nothing was revoked.
    expect((await t.graphql(`{ me { id } }`, undefined, second.headers)).body.errors).toBeUndefined();
  });

  it("two administrators deleting themselves at once leave one", async () => {
    await t.app.db.query(`UPDATE account SET role = 'USER' WHERE role = 'ADMIN'`);
    const admins = [
      await signedInUser(t, { role: AccountRole.ADMIN }),
      await signedInUser(t, { role: AccountRole.ADMIN }),
    ];
    const answers = await Promise.all(admins.map(deleteAccount));
    expect(answers.map((a) => errorCode(a) ?? "OK").sort()).toEqual(["CONFLICT", "OK"]);
    expect(await liveAdmins()).toHaveLength(1);
  });

  it("deletes a user account (not an administrator) as before", async () => {
    const user = await signedInUser(t);
    expect((await deleteAccount(user)).body.errors).toBeUndefined();
  });
});
