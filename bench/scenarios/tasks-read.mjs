// R1: a signed-in user's tasks(first: 20) with assets and owner over HTTP, GraphQL vs node:http + pg.
import {
  assertSameAnswer,
  connect,
  createBenchAccount,
  measure,
  medianRps,
  roundTrips,
  startApi,
  startBaseline,
  stop,
} from "../lib.mjs";

/**
 * SQL statements per R1 request, asserted: the page of tasks (with owners and assets) in one. The session
 * (with its account and restrictions) costs none once the process has resolved it (it is re-read at most
 * every 10 s, and dropped at once when revoked). The count must not depend on the page size either (no
 * query per task), so it is checked at two page sizes.
 */
const R1_SQL_PER_REQUEST = 1;

export const tasksQuery = (first) =>
  `{ tasks(first: ${first}) { edges { node { id status prompt cost createdAt assets { id width height } owner { id displayName } } } } }`;

/** A user with 40 finished tasks of 2 images each and a session; answers its bearer headers. */
export async function seedTaskReader(databaseUrl) {
  const db = await connect(databaseUrl);
  const { id: accountId, token } = await createBenchAccount(db);
  await db.query(
    `WITH m AS (SELECT id FROM generation_model WHERE slug = 'novart-sketch'),
          t AS (INSERT INTO task (account_id, status, prompt, model_id, width, height, count, seed, input_hash, cost, progress, finished_at, created_at)
                SELECT $1, 'SUCCEEDED', 'bench prompt number ' || g, m.id, 512, 512, 2, g, repeat('0', 64), 4, 1, now(), now() - g * interval '1 second'
                  FROM generate_series(1, 40) g, m RETURNING id, account_id)
     INSERT INTO asset (task_id, account_id, index, width, height, bytes, content_type, sha256, storage_key, preview_key, thumbnail_key, expires_at)
     SELECT t.id, t.account_id, i, 512, 512, 100, 'image/png', repeat('0', 64), 'k', 'p', 'th', now() + interval '30 days'
       FROM t, generate_series(0, 1) i`,
    [accountId],
  );
  await db.end();
  return { authorization: `Bearer ${token}` };
}

export default async function tasksRead({ databaseUrl }) {
  const body = JSON.stringify({ query: tasksQuery(20) });
  const headers = await seedTaskReader(databaseUrl);
  const started = [];
  try {
    // Each process is stopped by `finally` from the moment it started, even if the next one fails to.
    const api = await startApi(databaseUrl).then((p) => (started.push(p), p));
    const baseline = await startBaseline("bench/baselines/tasks.mjs", databaseUrl).then((p) => (started.push(p), p));
    await assertSameAnswer(api.url, baseline.url, body, headers);
    // Counted while the session is fresh, so the throttled last-seen write (once a minute) cannot fall in,
    // request by request; the first request of each count resolves the session (and is not counted).
    const perRequest = await roundTrips(api, body, headers);
    const smallPage = await roundTrips(api, JSON.stringify({ query: tasksQuery(5) }), headers);
    const exact = (counts) => counts.every((n) => n === R1_SQL_PER_REQUEST);
    // Recorded as a failure (the run still measures, writes its results and then exits non-zero).
    const failures =
      exact(perRequest.sqlPerRequest) && exact(smallPage.sqlPerRequest)
        ? []
        : [
            `R1 must send exactly ${R1_SQL_PER_REQUEST} SQL statements per request, whatever the page size; ` +
              `it sent [${perRequest.sqlPerRequest}] for 20 tasks and [${smallPage.sqlPerRequest}] for 5`,
          ];
    const m = await measure(baseline, api, body, headers);
    return {
      failures,
      title: "R1 read",
      description: "tasks(first: 20) with assets and owner over HTTP with a session, 50 connections, vs node:http + pg",
      roundTripsPerRequest: perRequest,
      ...m,
      baseline: `${medianRps(m.runs, "baseline")} req/s`,
      ours: `${medianRps(m.runs, "contender")} req/s`,
      result: `${m.ratio.requestsPerSecond.toFixed(2)}× req/s, p99 ${m.ratio.latencyP99.toFixed(2)}×, CPU/request ${m.ratio.cpuPerRequest.toFixed(2)}×, ${perRequest.sql} SQL + ${perRequest.redis} Redis per request`,
      target: `≥ 0.60× req/s, p99 ≤ 2×, exactly ${R1_SQL_PER_REQUEST} SQL per request (asserted)`,
      met: failures.length === 0 && m.ratio.requestsPerSecond >= 0.6 && m.ratio.latencyP99 <= 2,
    };
  } finally {
    await Promise.all(started.map((p) => stop(p.child)));
  }
}
