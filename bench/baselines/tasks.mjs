// The hand-written baseline for the tasks-read scenario: node:http + pg, the minimal SQL for
// tasks(first: 20) { id status prompt cost createdAt assets { id width height } owner { id displayName } },
// the same JSON as the GraphQL answer. Usage: PORT=… DATABASE_URL=… node bench/baselines/tasks.mjs
import { createHash } from "node:crypto";
import http from "node:http";
import pg from "pg";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const SQL = `SELECT t.id, t.status, t.prompt, t.cost, t.created_at, a.id AS owner_id, a.display_name,
                    coalesce(json_agg(json_build_object('id', s.id, 'width', s.width, 'height', s.height) ORDER BY s.index)
                             FILTER (WHERE s.id IS NOT NULL), '[]') AS assets
               FROM session se JOIN task t ON t.account_id = se.account_id JOIN account a ON a.id = t.account_id
               LEFT JOIN asset s ON s.task_id = t.id AND s.status = 'ACTIVE'
              WHERE se.token_hash = $1 AND se.revoked_at IS NULL AND se.expires_at > now()
              GROUP BY t.id, a.id ORDER BY t.created_at DESC, t.id DESC LIMIT 20`;

const server = http.createServer(async (req, res) => {
  for await (const _ of req);
  const token = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
  const { rows } = await pool.query({
    name: "tasks",
    text: SQL,
    values: [createHash("sha256").update(token).digest("hex")],
  });
  const edges = rows.map((r) => ({
    node: {
      id: r.id,
      status: r.status,
      prompt: r.prompt,
      cost: r.cost,
      createdAt: r.created_at.toISOString(),
      assets: r.assets,
      owner: { id: r.owner_id, displayName: r.display_name },
    },
  }));
  const text = JSON.stringify({ data: { tasks: { edges } } });
  res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => pool.end().then(() => process.exit(0))));
