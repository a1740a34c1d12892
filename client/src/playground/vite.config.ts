import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { defineConfig, type Plugin } from "vite";

/** Writes a .br and a .gz beside each built text file, as the studio's adapter does (`precompress`). */
function precompress(): Plugin {
  return {
    name: "novart-precompress",
    apply: "build",
    writeBundle(options, bundle) {
      for (const fileName of Object.keys(bundle)) {
        if (!/\.(js|css|html|svg|json)$/.test(fileName)) continue;
        const file = path.join(options.dir ?? "", fileName);
        const bytes = fs.readFileSync(file);
        fs.writeFileSync(`${file}.gz`, zlib.gzipSync(bytes, { level: 9 }));
        fs.writeFileSync(
          `${file}.br`,
          zlib.brotliCompressSync(bytes, {
            params: {
              [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
              [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
            },
          }),
        );
      }
    },
  };
}

// The GraphQL playground (GraphiQL) as static files beside the studio's build, served at /graphiql.
// Run after the studio's build: the static adapter empties `build/` first.
export default defineConfig({
  root: import.meta.dirname,
  base: "/graphiql/",
  publicDir: false,
  plugins: [precompress()],
  logLevel: "warn",
  build: {
    outDir: path.resolve(import.meta.dirname, "../../build/graphiql"),
    emptyOutDir: true,
    // GraphiQL, React and CodeMirror in one lazy-free bundle: large by nature, and only loaded on this page.
    chunkSizeWarningLimit: 4000,
    rolldownOptions: {
      // framer-motion (a GraphiQL dependency) marks modules "use client", which means nothing outside React
      // server components.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
});
