import "reflect-metadata";
import path from "node:path";
import { createResolvers, type Services } from "../app.js";
import { REPO_ROOT } from "../infra/config.js";
import { buildAppSchema, printAppSchema, writeSchemaFile } from "../schema.js";

/**
 * Writes schema/schema.graphql from the resolver classes (no database needed: the resolvers are built
 * with empty services because only their metadata is read). `--stdout` prints instead of writing.
 */
const schema = await buildAppSchema(
  createResolvers({} as Services, {
    SESSION_TTL_DAYS: 30,
    PUBLIC_URL: "http://localhost:4000",
    FILE_URL_TTL_SECONDS: 900,
  }),
);
if (process.argv.includes("--stdout")) {
  process.stdout.write(printAppSchema(schema));
} else {
  const file = path.join(REPO_ROOT, "schema", "schema.graphql");
  writeSchemaFile(schema, file);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
