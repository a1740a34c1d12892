import fs from "node:fs";
import path from "node:path";
import { sveltekit } from "@sveltejs/kit/vite";
import { defineConfig, type Plugin } from "vite";

// `npm run dev -w client` proxies the API (HTTP and WebSocket) to a server started with `npm run dev`.
const api = process.env.NOVART_API ?? "http://localhost:4000";

const GENERATED = path.resolve(import.meta.dirname, "src/lib/graphql/generated/graphql.ts");
const DOCUMENT = "\0novart-document:";

/**
 * Gives each generated GraphQL document its own module in the build, so a route's chunk carries only the
 * documents it uses. codegen writes all ~100 documents (typed ASTs, ~170 KB) into one module, and a module
 * is never split across chunks: whichever documents any route used all landed in one chunk that the root
 * layout loads on every first visit. The generated module becomes re-exports of one virtual module per
 * document (same object literal, same export names), which tree-shaking and chunking then treat one by one.
 */
function documentPerModule(): Plugin {
  const DEFINITION = /^export const (\w+) = (\{.*\}) as unknown as DocumentNode<.*>;$/;
  let literals = new Map<string, string>();
  return {
    name: "novart-document-per-module",
    apply: "build",
    enforce: "pre",
    resolveId(id) {
      return id.startsWith(DOCUMENT) ? id : null;
    },
    load(id) {
      if (!id.startsWith(DOCUMENT)) return null;
      const name = id.slice(DOCUMENT.length);
      const literal = literals.get(name);
      if (!literal) throw new Error(`no generated document ${name}`);
      return { code: `export const ${name} = ${literal};\n`, moduleSideEffects: false };
    },
    transform(code, id) {
      if (id.split("?")[0] !== GENERATED) return null;
      literals = new Map();
      const lines = code.split("\n").map((line) => {
        const match = DEFINITION.exec(line);
        if (!match) return line;
        literals.set(match[1], match[2]);
        return `export { ${match[1]} } from ${JSON.stringify(DOCUMENT + match[1])};`;
      });
      return { code: lines.join("\n"), map: null, moduleSideEffects: false };
    },
  };
}

/**
 * Writes which modules make up each built chunk (largest first) beside Vite's manifest, for the bundle
 * breakdown of `npm run bench -- --only studio-bundle`.
 */
function chunkModules(): Plugin {
  return {
    name: "novart-chunk-modules",
    apply: "build",
    writeBundle(options, bundle) {
      if (!options.dir || !options.dir.endsWith(path.join("output", "client"))) return;
      const chunks: Record<string, { module: string; bytes: number }[]> = {};
      for (const [fileName, output] of Object.entries(bundle)) {
        if (output.type !== "chunk") continue;
        chunks[fileName] = Object.entries(output.modules)
          .map(([id, info]) => ({
            module: id.startsWith(DOCUMENT)
              ? `document ${id.slice(DOCUMENT.length)}`
              : path.relative(import.meta.dirname, id.replace(/^\0/, "")).replace(/^(\.\.\/)*node_modules\//, ""),
            bytes: info.renderedLength,
          }))
          .filter((m) => m.bytes > 0)
          .sort((a, b) => b.bytes - a.bytes);
      }
      fs.mkdirSync(path.join(options.dir, ".vite"), { recursive: true });
      fs.writeFileSync(path.join(options.dir, ".vite", "chunk-modules.json"), JSON.stringify(chunks, null, 1));
    },
  };
}

export default defineConfig({
  plugins: [documentPerModule(), sveltekit(), chunkModules()],
  server: {
    port: 5173,
    proxy: {
      "/graphql": { target: api, ws: true },
      "/api": api,
      "/files": api,
    },
  },
});
