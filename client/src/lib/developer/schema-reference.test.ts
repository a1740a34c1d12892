import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildReference, searchReference } from "./schema-reference";

const sdl = fs.readFileSync(path.resolve(import.meta.dirname, "../../../../schema/schema.graphql"), "utf8");

describe("the API reference built from the schema", () => {
  const reference = buildReference(sdl);

  it("lists every root field as an operation, with its arguments and descriptions", () => {
    const create = reference.operations.find((op) => op.name === "createWebhookEndpoint")!;
    expect(create.kind).toBe("mutation");
    expect(create.description).toBe("Creates an endpoint; its signing secret is in the answer, once.");
    expect(create.type).toEqual({ text: "WebhookEndpointSecretPayload!", named: "WebhookEndpointSecretPayload" });
    expect(create.args).toEqual([
      {
        name: "input",
        description: "URL, events, note.",
        type: { text: "CreateWebhookEndpointInput!", named: "CreateWebhookEndpointInput" },
        defaultValue: null,
      },
    ]);
    const usage = reference.operations.find((op) => op.name === "usage")!;
    expect(usage.args.find((a) => a.name === "granularity")?.defaultValue).toBe("DAY");
    expect(reference.operations.filter((op) => op.kind === "subscription").map((op) => op.name)).toContain(
      "taskUpdated",
    );
  });

  it("lists the other types, every one with a description", () => {
    const names = reference.types.map((t) => t.name);
    expect(names).not.toContain("Query");
    expect(reference.types.find((t) => t.name === "WebhookDeliveryStatus")?.values.map((v) => v.name)).toEqual([
      "FAILED",
      "PENDING",
      "SUCCEEDED",
    ]);
    expect(reference.types.find((t) => t.name === "CreateTaskInput")?.kind).toBe("input");
    for (const type of reference.types) expect(type.description, type.name).not.toBe("");
    for (const op of reference.operations) expect(op.description, op.name).not.toBe("");
  });

  it("searches names, descriptions, fields and arguments, every word", () => {
    const found = searchReference(reference, "webhook secret");
    expect(found.operations.map((op) => op.name)).toEqual(
      expect.arrayContaining(["createWebhookEndpoint", "rotateWebhookSecret", "taskWebhookSecret"]),
    );
    expect(found.operations.map((op) => op.name)).not.toContain("createTask");
    expect(searchReference(reference, "idempotencyKey").types.map((t) => t.name)).toContain("CreateTaskInput");
    expect(searchReference(reference, "   ")).toBe(reference);
    expect(searchReference(reference, "zzzz-nothing").operations).toEqual([]);
  });
});
