import adapter from "@sveltejs/adapter-static";
import { vitePreprocess } from "@sveltejs/vite-plugin-svelte";

/** @type {import('@sveltejs/kit').Config} */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    // A single-page app: the server answers unknown paths with 200.html so deep links work. `precompress`
    // writes a .br and a .gz beside every text file, which the server sends to browsers that accept them.
    adapter: adapter({ pages: "build", assets: "build", fallback: "200.html", precompress: true, strict: true }),
  },
};

export default config;
