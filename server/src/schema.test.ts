import "reflect-metadata";
import fs from "node:fs";
import path from "node:path";
import {
  isEnumType,
  isInputObjectType,
  isIntrospectionType,
  isObjectType,
  isScalarType,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
} from "graphql";
import { beforeAll, describe, expect, it } from "vitest";
import { createResolvers, type Services } from "./app.js";
import { REPO_ROOT } from "./infra/config.js";
import { GenerationModelEntity } from "./modules/generation/generation-model.entity.js";
import { Task } from "./modules/generation/generation.types.js";
import { buildAppSchema, printAppSchema } from "./schema.js";

let schema: GraphQLSchema;
beforeAll(async () => {
  schema = await buildAppSchema(
    createResolvers({} as Services, {
      SESSION_TTL_DAYS: 30,
      PUBLIC_URL: "http://localhost:4000",
      FILE_URL_TTL_SECONDS: 900,
    }),
  );
});

describe("decorator metadata under the test transform", () => {
  it("is emitted exactly as tsc emits it for the built server", () => {
    // vite's transform must emit `design:type`; without it type-graphql and TypeORM guess or throw.
    expect(Reflect.getMetadata("design:type", GenerationModelEntity.prototype, "enabled")).toBe(Boolean);
    expect(Reflect.getMetadata("design:type", GenerationModelEntity.prototype, "maxImages")).toBe(Number);
    expect(Reflect.getMetadata("design:type", GenerationModelEntity.prototype, "createdAt")).toBe(Date);
  });

  it("builds the same SDL as the committed schema/schema.graphql (emitted from the same classes)", () => {
    const committed = fs.readFileSync(path.join(REPO_ROOT, "schema", "schema.graphql"), "utf8");
    expect(printAppSchema(schema)).toBe(committed);
  });
});

describe("schema documentation", () => {
  it("describes every type, field, argument and enum value", () => {
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (isIntrospectionType(type) || (isScalarType(type) && !type.astNode && type.name !== "DateTimeISO")) continue;
      if (["Query", "Mutation", "Subscription"].includes(type.name)) {
        // Root types are documented through their fields.
      } else if (!type.description) missing.push(type.name);
      if (isObjectType(type) || isInputObjectType(type)) {
        for (const field of Object.values(type.getFields())) {
          if (!field.description) missing.push(`${type.name}.${field.name}`);
          for (const arg of "args" in field ? field.args : []) {
            if (!arg.description) missing.push(`${type.name}.${field.name}(${arg.name})`);
          }
        }
      }
      if (isEnumType(type)) {
        for (const value of type.getValues()) if (!value.description) missing.push(`${type.name}.${value.name}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe("field resolvers", () => {
  const fields = (type: string) => (schema.getType(type) as GraphQLObjectType).getFields();

  it("calls one without arguments or guards directly, with its root and context, as type-graphql would", async () => {
    const resolve = fields("Task").owner.resolve!;
    expect(resolve.name).toBe("direct");
    const context = { loaders: { owner: { load: (id: string) => Promise.resolve({ id, displayName: `of ${id}` }) } } };
    const info = {} as GraphQLResolveInfo;
    const asInstance = Object.assign(new Task(), { id: "t1", accountId: "a1" });
    expect(await resolve(asInstance, {}, context, info)).toEqual({ id: "a1", displayName: "of a1" });
    // A plain object as root goes through type-graphql's wrapper (which makes it an instance): same answer.
    expect(await resolve({ id: "t1", accountId: "a2" }, {}, context, info)).toEqual({ id: "a2", displayName: "of a2" });
  });

  it("keeps type-graphql's wrapper for one with arguments", () => {
    expect(fields("Asset").url.resolve!.name).not.toBe("direct");
  });
});
