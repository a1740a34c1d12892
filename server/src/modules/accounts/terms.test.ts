import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, bearer, errorCode, signIn, signedInUser, uniqueEmail } from "../../../test/factories.js";
import { startTestApp, type TestApp } from "../../../test/harness.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const TERMS = `query($version: Int) { termsOfUse(version: $version) { version title body publishedAt } }`;
const PUBLISH = `mutation($input: PublishTermsInput!) { publishTermsOfUse(input: $input) { document { version title } } }`;
const ACCEPT = `mutation($input: AcceptTermsInput!) {
  acceptTermsOfUse(input: $input) { account { acceptedTermsVersion mustAcceptTerms } }
}`;
const ME = `{ me { acceptedTermsVersion mustAcceptTerms } }`;

type Terms = { termsOfUse: { version: number; title: string; body: string } | null };
type Me = { me: { acceptedTermsVersion: number | null; mustAcceptTerms: boolean } };

const NEW_TERMS = { title: "Terms of use, second edition", body: "These are the new terms of use. Read them well." };

describe("terms of use", () => {
  // One story: the tests below depend on each other's order (version 1, then 2 published).
  let user: Awaited<ReturnType<typeof signedInUser>>;
  beforeAll(async () => {
    user = await signedInUser(t);
  });

  it("serves the seeded version 1 to anyone, and null for a version that does not exist", async () => {
    const res = await t.graphql<Terms>(TERMS);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.termsOfUse?.version).toBe(1);
    expect(res.body.data?.termsOfUse?.body.length).toBeGreaterThan(20);
    expect((await t.graphql<Terms>(TERMS, { version: 2 })).body.data?.termsOfUse).toBeNull();
    const me = await t.graphql<Me>(ME, undefined, user.headers);
    expect(me.body.data?.me).toEqual({ acceptedTermsVersion: 1, mustAcceptTerms: false });
  });

  it("refuses publishing to a USER (FORBIDDEN) and to anonymous callers (UNAUTHENTICATED)", async () => {
    expect(errorCode(await t.graphql(PUBLISH, { input: NEW_TERMS }, user.headers))).toBe("FORBIDDEN");
    expect(errorCode(await t.graphql(PUBLISH, { input: NEW_TERMS }))).toBe("UNAUTHENTICATED");
    expect((await t.graphql<Terms>(TERMS)).body.data?.termsOfUse?.version).toBe(1);
  });

  it("lets an admin publish version 2; existing users must accept it, and only the current version", async () => {
    const email = uniqueEmail("admin");
    await t.app.services.accounts.ensureAdmin(email, PASSWORD);
    const signedIn = await signIn(t, email, PASSWORD);
    expect(signedIn.body.errors).toBeUndefined();
    const admin = bearer(signedIn.body.data!.signIn.token);

    const tooShort = await t.graphql(PUBLISH, { input: { title: "T", body: "short" } }, admin);
    expect(errorCode(tooShort)).toBe("BAD_USER_INPUT");
    expect(tooShort.body.errors?.[0].extensions?.field).toBe("body");

    const published = await t.graphql<{ publishTermsOfUse: { document: { version: number; title: string } } }>(
      PUBLISH,
      { input: NEW_TERMS },
      admin,
    );
    expect(published.body.errors).toBeUndefined();
    expect(published.body.data?.publishTermsOfUse.document).toEqual({ version: 2, title: NEW_TERMS.title });
    const current = await t.graphql<Terms>(TERMS);
    expect(current.body.data?.termsOfUse).toMatchObject({ version: 2, ...NEW_TERMS });
    expect((await t.graphql<Terms>(TERMS, { version: 1 })).body.data?.termsOfUse?.version).toBe(1);

    // An existing user now has to accept version 2 (the admin too).
    expect((await t.graphql<Me>(ME, undefined, user.headers)).body.data?.me).toEqual({
      acceptedTermsVersion: 1,
      mustAcceptTerms: true,
    });
    expect((await t.graphql<Me>(ME, undefined, admin)).body.data?.me.mustAcceptTerms).toBe(true);

    const old = await t.graphql(ACCEPT, { input: { version: 1 } }, user.headers);
    expect(errorCode(old)).toBe("TERMS_NOT_ACCEPTED");
    expect(old.body.errors?.[0].extensions?.currentVersion).toBe(2);
    expect((await t.graphql<Me>(ME, undefined, user.headers)).body.data?.me.mustAcceptTerms).toBe(true);

    const accepted = await t.graphql<{ acceptTermsOfUse: { account: Me["me"] } }>(
      ACCEPT,
      { input: { version: 2 } },
      user.headers,
    );
    expect(accepted.body.errors).toBeUndefined();
    expect(accepted.body.data?.acceptTermsOfUse.account).toEqual({ acceptedTermsVersion: 2, mustAcceptTerms: false });
    expect((await t.graphql<Me>(ME, undefined, user.headers)).body.data?.me).toEqual({
      acceptedTermsVersion: 2,
      mustAcceptTerms: false,
    });

    // New registrations must now accept version 2.
    const register = await t.graphql(`mutation($input: RegisterInput!) { register(input: $input) { ok } }`, {
      input: { email: uniqueEmail("late"), password: PASSWORD, acceptTermsVersion: 1 },
    });
    expect(errorCode(register)).toBe("TERMS_NOT_ACCEPTED");
  });
});
