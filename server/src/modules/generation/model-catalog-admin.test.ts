import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../../test/harness.js";

let t: TestApp;
let admin: Record<string, string>;
let user: Record<string, string>;

async function signIn(email: string) {
  const res = await t.graphql<{ signIn: { token: string } }>(
    `mutation($input: SignInInput!) { signIn(input: $input) { token } }`,
    { input: { email, password: "a fine password 1" } },
  );
  return { authorization: `Bearer ${res.body.data!.signIn.token}` };
}

beforeAll(async () => {
  t = await startTestApp({ ROLE: "api" });
  await t.app.services.accounts.ensureAdmin("pricing-admin@example.com", "a fine password 1");
  await t.app.services.accounts.createVerified("pricing-user@example.com", "a fine password 1");
  admin = await signIn("pricing-admin@example.com");
  user = await signIn("pricing-user@example.com");
});
afterAll(() => t?.close());

const ESTIMATE = `query($input: EstimateCostInput!) { estimateCost(input: $input) { creditsPerImage count total } }`;

describe("estimateCost", () => {
  it("prices a task from the catalogue, with size multipliers, before submitting", async () => {
    const square = await t.graphql(ESTIMATE, { input: { model: "novart-sketch", width: 512, height: 512, count: 3 } });
    expect(square.body.data).toEqual({ estimateCost: { creditsPerImage: 2, count: 3, total: 6 } });
    const wide = await t.graphql(ESTIMATE, { input: { model: "novart-sketch", width: 1024, height: 576, count: 4 } });
    expect(wide.body.data).toEqual({ estimateCost: { creditsPerImage: 3, count: 4, total: 12 } });
  });

  it("refuses unknown models, sizes the model does not make, and counts out of range", async () => {
    const unknown = await t.graphql(ESTIMATE, { input: { model: "nope", width: 512, height: 512, count: 1 } });
    expect(unknown.body.errors?.[0].extensions).toMatchObject({ code: "NOT_FOUND", field: "model" });
    const size = await t.graphql(ESTIMATE, { input: { model: "novart-mosaic", width: 1024, height: 576, count: 1 } });
    expect(size.body.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "size" });
    for (const count of [0, 5, -1]) {
      const res = await t.graphql(ESTIMATE, { input: { model: "novart-sketch", width: 512, height: 512, count } });
      expect(res.body.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "count" });
    }
  });
});

describe("updateModel", () => {
  const UPDATE = `mutation($input: UpdateModelInput!) { updateModel(input: $input) { model { slug creditsPerImage enabled } history { actorId changes } } }`;

  it("lets an admin change prices and availability, recording who changed what", async () => {
    const models = await t.graphql<{ models: { id: string; slug: string }[] }>(`{ models { id slug } }`);
    const mosaic = models.body.data!.models.find((m) => m.slug === "novart-mosaic")!;
    const changed = await t.graphql<{ updateModel: { history: { changes: unknown }[] } }>(
      UPDATE,
      { input: { id: mosaic.id, creditsPerImage: 5, enabled: false } },
      admin,
    );
    expect(changed.body.data?.updateModel).toMatchObject({
      model: { slug: "novart-mosaic", creditsPerImage: 5, enabled: false },
      history: [{ changes: { creditsPerImage: { from: 1, to: 5 }, enabled: { from: true, to: false } } }],
    });
    const visible = await t.graphql<{ models: { slug: string }[] }>(`{ models { slug } }`);
    expect(visible.body.data!.models.map((m) => m.slug)).toEqual(["novart-sketch"]);
    const all = await t.graphql<{ models: { slug: string }[] }>(
      `{ models(includeDisabled: true) { slug } }`,
      undefined,
      admin,
    );
    expect(all.body.data!.models).toHaveLength(2);
    const priced = await t.graphql(ESTIMATE, { input: { model: "novart-mosaic", width: 512, height: 512, count: 1 } });
    expect(priced.body.errors?.[0].extensions?.code).toBe("NOT_FOUND");
  });

  it("is admin-only and validates", async () => {
    const models = await t.graphql<{ models: { id: string }[] }>(`{ models { id } }`);
    const id = models.body.data!.models[0].id;
    const denied = await t.graphql(UPDATE, { input: { id, creditsPerImage: 0 } }, user);
    expect(denied.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const hidden = await t.graphql(`{ models(includeDisabled: true) { slug } }`, undefined, user);
    expect(hidden.body.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const negative = await t.graphql(UPDATE, { input: { id, creditsPerImage: -1 } }, admin);
    expect(negative.body.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "creditsPerImage" });
    const missing = await t.graphql(
      UPDATE,
      { input: { id: "00000000-0000-4000-8000-000000000000", enabled: true } },
      admin,
    );
    expect(missing.body.errors?.[0].extensions?.code).toBe("NOT_FOUND");
  });
});
