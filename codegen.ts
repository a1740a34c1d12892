import type { CodegenConfig } from "@graphql-codegen/cli";
import { addTypenameSelectionDocumentTransform } from "@graphql-codegen/client-preset";

/**
 * Typed documents for the studio, from the committed SDL and the studio's `.graphql` operations.
 * `CODEGEN_OUT` redirects the output (the drift check writes to a temporary folder and compares).
 */
const out = process.env.CODEGEN_OUT ?? "client/src/lib/graphql/generated/";

const config: CodegenConfig = {
  schema: "schema/schema.graphql",
  documents: ["client/src/**/*.graphql"],
  ignoreNoDocuments: false,
  generates: {
    [out]: {
      preset: "client",
      // Each document carries the SHA-256 of its text (`__meta__.hash`), and persisted-documents.json lists
      // them all: the studio sends hashes, the server serves them as trusted documents on its lean path.
      presetConfig: { fragmentMasking: false, persistedDocuments: { hashAlgorithm: "sha256" } },
      // `__typename` on every selection, as urql's cache adds it: the server runs the persisted text, and urql
      // needs the typenames in answers to know which queries a mutation invalidates.
      documentTransforms: [addTypenameSelectionDocumentTransform],
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTimeISO: "string", ID: "string", JSONObject: "Record<string, unknown>", JSON: "unknown" },
        strictScalars: true,
      },
    },
  },
};

export default config;
