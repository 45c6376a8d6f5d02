// The Metrics Durable Object: one instance (named "metrics") holds the counters of every isolate.
// Workers isolates share no memory, so each isolate buffers counter deltas (./record.ts) and adds
// them here at most once per `metrics.flushSeconds`; GET /metrics reads the sum. Storage is SQLite
// (counters survive restarts and deploys; a Prometheus counter only resets if the object is deleted).
//
// Methods are called over RPC: add(delta) and snapshot(). Writes of one add() are one transaction.
// The number of series is capped (MAX_SERIES): samples of new series past the cap are dropped and
// counted in tributary_metrics_series_dropped_total, so a labelling bug cannot grow it without end.
import { DurableObject } from "cloudflare:workers";
import { M, MetricsBuffer, type MetricsDelta, type MetricsSnapshot } from "./metrics";

export const MAX_SERIES = 10_000;

const DROPPED_KEY = new MetricsBuffer().key(M.metricsDropped, {});

export class MetricsStore extends DurableObject {
  private series = 0;
  private sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as Cloudflare.Env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS counters (series TEXT PRIMARY KEY, value REAL NOT NULL)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS gauges (series TEXT PRIMARY KEY, value REAL NOT NULL, at INTEGER NOT NULL)");
    this.series = this.count();
  }

  private count(): number {
    const c = this.sql.exec<{ n: number }>("SELECT (SELECT count(*) FROM counters) + (SELECT count(*) FROM gauges) AS n").one();
    return c.n;
  }

  private exists(table: "counters" | "gauges", series: string): boolean {
    return this.sql.exec(`SELECT 1 FROM ${table} WHERE series = ?`, series).toArray().length > 0;
  }

  /** Adds counter deltas and sets gauges (latest `at` wins). Returns how many samples were dropped. */
  add(delta: MetricsDelta): { dropped: number } {
    let dropped = 0;
    this.ctx.storage.transactionSync(() => {
      for (const [series, n] of Object.entries(delta.counters ?? {})) {
        if (typeof n !== "number" || !Number.isFinite(n)) continue;
        const known = this.exists("counters", series);
        if (!known && this.series >= MAX_SERIES && series !== DROPPED_KEY) {
          dropped++;
          continue;
        }
        this.sql.exec("INSERT INTO counters (series, value) VALUES (?, ?) ON CONFLICT(series) DO UPDATE SET value = value + excluded.value", series, n);
        if (!known) this.series++;
      }
      for (const [series, g] of Object.entries(delta.gauges ?? {})) {
        const { value, at } = g ?? {};
        if (typeof value !== "number" || typeof at !== "number") continue;
        const known = this.exists("gauges", series);
        if (!known && this.series >= MAX_SERIES) {
          dropped++;
          continue;
        }
        this.sql.exec("INSERT INTO gauges (series, value, at) VALUES (?, ?, ?) ON CONFLICT(series) DO UPDATE SET value = excluded.value, at = excluded.at WHERE excluded.at >= gauges.at", series, value, at);
        if (!known) this.series++;
      }
      if (dropped > 0) {
        this.sql.exec("INSERT INTO counters (series, value) VALUES (?, ?) ON CONFLICT(series) DO UPDATE SET value = value + excluded.value", DROPPED_KEY, dropped);
      }
    });
    if (dropped > 0) this.series = this.count();
    return { dropped };
  }

  /** Every counter and gauge. */
  snapshot(): MetricsSnapshot {
    const snap: MetricsSnapshot = { counters: {}, gauges: {} };
    for (const [series, value] of this.sql.exec("SELECT series, value FROM counters").raw<[string, number]>()) snap.counters[series] = value;
    for (const [series, value, at] of this.sql.exec("SELECT series, value, at FROM gauges").raw<[string, number, number]>()) snap.gauges[series] = { value, at };
    return snap;
  }
}
