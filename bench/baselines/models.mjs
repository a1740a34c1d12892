// The hand-written baseline for the models scenario: node:http + pg running the minimal SQL and writing
// the same JSON as the GraphQL answer. Usage: PORT=… DATABASE_URL=… node bench/baselines/models.mjs
import http from "node:http";
import pg from "pg";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const SQL = `SELECT id, slug, name, credits_per_image, max_images, sizes FROM generation_model
             WHERE enabled ORDER BY sort_order, slug`;

function gcd(a, b) {
  return b === 0 ? a : gcd(b, a % b);
}

const server = http.createServer(async (req, res) => {
  let body = "";
  for await (const chunk of req) body += chunk;
  if (req.method === "POST") JSON.parse(body);
  const { rows } = await pool.query({ name: "models", text: SQL });
  const models = rows.map((r) => ({
    id: r.id,
    slug: r.slug,
    name: r.name,
    creditsPerImage: r.credits_per_image,
    maxImages: r.max_images,
    sizes: r.sizes.map((s) => {
      const d = gcd(s.width, s.height);
      return {
        width: s.width,
        height: s.height,
        aspectRatio: `${s.width / d}:${s.height / d}`,
        creditsPerImage: Math.ceil(r.credits_per_image * (s.creditMultiplier ?? 1) - 1e-9),
      };
    }),
  }));
  const text = JSON.stringify({ data: { models } });
  res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
});
server.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("baseline listening"));
process.on("SIGTERM", () => server.close(() => pool.end().then(() => process.exit(0))));
