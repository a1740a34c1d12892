import type { DataSource } from "typeorm";
import { BadUserInputError } from "../../infra/errors.js";

const MAX_BUCKETS = 400;

/** Per-account usage from the tasks and the ledger, bucketed by day or hour (UTC). */
export class UsageService {
  constructor(private readonly db: DataSource) {}

  async usage(accountId: string, from: Date, to: Date, granularity: "DAY" | "HOUR") {
    const step = granularity === "DAY" ? 86_400_000 : 3_600_000;
    if ((to.getTime() - from.getTime()) / step > MAX_BUCKETS) {
      throw new BadUserInputError(`At most ${MAX_BUCKETS} buckets: shorten the range or use DAY.`, { field: "to" });
    }
    const unit = granularity === "DAY" ? "day" : "hour";
    const rows = (await this.db.query(
      `WITH buckets AS (
         SELECT generate_series(date_trunc('${unit}', $2::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                                $3::timestamptz - interval '1 microsecond', interval '1 ${unit}') AS start),
       t AS (
         SELECT date_trunc('${unit}', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start,
                count(*)::int AS tasks,
                coalesce(sum(count) FILTER (WHERE status = 'SUCCEEDED'), 0)::int AS images,
                count(*) FILTER (WHERE status = 'FAILED')::int AS failures
           FROM task WHERE account_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1),
       l AS (
         SELECT date_trunc('${unit}', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start,
                (-sum(paid_delta + bonus_delta))::int AS spent
           FROM ledger_entry WHERE account_id = $1 AND kind IN ('TASK_CHARGE', 'TASK_REFUND')
            AND created_at >= $2 AND created_at < $3 GROUP BY 1)
       SELECT b.start, coalesce(t.tasks, 0) AS tasks, coalesce(t.images, 0) AS images,
              coalesce(l.spent, 0) AS "creditsSpent", coalesce(t.failures, 0) AS failures
         FROM buckets b LEFT JOIN t ON t.start = b.start LEFT JOIN l ON l.start = b.start ORDER BY b.start`,
      [accountId, from, to],
    )) as { start: Date; tasks: number; images: number; creditsSpent: number; failures: number }[];
    return rows;
  }
}
