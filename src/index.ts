// Worker entry: HTTP (Hono) and queue handlers.
import { Hono } from "hono";
import { ingestRoutes, type AppEnv } from "./routes/ingest";
import { healthRoutes } from "./routes/health";
import { archiveRoutes } from "./routes/archive";
import { dlqRoutes } from "./routes/dlq";
import { quarantineRoutes } from "./routes/quarantine";
import { backfillRoutes } from "./routes/backfill";
import { consumeQueue } from "./deliver/consumer";
import { consumeDeadLetterQueue, isDeadLetterQueue } from "./deliver/queue-dlq";
import { drainScheduled, SPOOL_CRON } from "./deliver/spool";
import { compactScheduled } from "./deliver/compact";
import { CONFIG_RETRY_AFTER_S, ConfigError, configFor } from "./config/load";
import { refreshFeeds } from "./enrich/refresh";
import { metricsRoutes, observeRequests } from "./routes/metrics";
import { testRoutes } from "./routes/test-event";
import { countConsumed, flushMetrics } from "./ops/record";
import { log, requestIdFrom } from "./ops/log";

// The Metrics Durable Object class (wrangler.toml binding METRICS).
export { MetricsStore } from "./ops/metrics-do";
// The noise dedup/throttle window Durable Object class (wrangler.toml binding NOISE).
export { NoiseWindow } from "./noise/durable";
// The correlation Durable Object class (wrangler.toml binding CORRELATOR, docs/correlation.md).
export { Correlator } from "./correlate/durable";

// Every export of this module must be a handler or a Durable Object class: workerd refuses to start
// ("Incorrect type for map entry") on anything else, e.g. a constant (test/index-exports.worker.test.ts).
export const app = new Hono<AppEnv>();

app.use("*", async (c, next) => {
  c.set("requestId", requestIdFrom(c.req.raw.headers));
  await next();
  c.header("x-request-id", c.get("requestId"));
});
app.use("*", observeRequests);
app.route("/", healthRoutes);
app.route("/", ingestRoutes);
app.route("/", archiveRoutes);
app.route("/", dlqRoutes);
app.route("/", quarantineRoutes);
app.route("/", backfillRoutes);
app.route("/", metricsRoutes);
app.route("/", testRoutes);

app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${new URL(c.req.url).pathname}` }, 404));
app.onError((err, c) => {
  if (err instanceof ConfigError) {
    // 503 + Retry-After: Vector retries any 5xx but 501; the audit webhook retries a 503 only with
    // Retry-After (docs/operate.md). The body names the fields, never the messages (they may quote
    // values); configFor logged those once.
    c.header("Retry-After", String(CONFIG_RETRY_AFTER_S));
    return c.json({ error: `the server's config is invalid: ${err.fields.join(", ") || "(root)"} (see its error log)`, requestId: c.get("requestId") }, 503);
  }
  log("error", "unhandled", { requestId: c.get("requestId"), error: err });
  return c.json({ error: "internal error", requestId: c.get("requestId") }, 500);
});

export default {
  fetch: app.fetch,
  // both queues (EVENTS from ingest, DELIVERIES for per-sink retries); messages are told apart by shape
  async queue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
    // the dead-letter queue of both (wrangler.toml dead_letter_queue): kept in R2, no config needed
    if (isDeadLetterQueue(batch.queue)) return consumeDeadLetterQueue(batch, env.ARCHIVE);
    countConsumed(batch.messages);
    await consumeQueue(batch, env);
    await flushMetrics(env); // after every batch (never throws: a failed flush keeps the counters)
  },
  // Cron Triggers (wrangler.toml [triggers]): every minute, send what ingest spooled while the queue
  // refused it back to the queue (src/deliver/spool.ts) and write the buffered storage sinks' due staged
  // events (src/deliver/compact.ts); hourly, refresh the threat-intel feeds into R2
  // (docs/enrichment.md). A trigger without a cron (wrangler dev's bare /cdn-cgi/handler/scheduled) runs both.
  async scheduled(controller: ScheduledController, env: Env, _ctx?: ExecutionContext): Promise<void> {
    const local = controller.cron === "";
    if (controller.cron === SPOOL_CRON || local) {
      await drainScheduled(env);
      await compactScheduled(env);
      await flushMetrics(env);
      if (!local) return;
    }
    await refreshFeeds(env, configFor(env));
  },
} satisfies ExportedHandler<Env>;
