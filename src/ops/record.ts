// What the rest of the Worker calls to count things (one line at each place), and the flush of this
// isolate's counters to the Metrics Durable Object (./metrics-do.ts).
//
// Flush policy: counters accumulate in this isolate's buffer and are sent to the store at most once
// per `metrics.flushSeconds` (default 10), piggybacked on a request (ctx.waitUntil, after the
// answer) or at the end of a queue consumer batch (always). GET /metrics flushes its own isolate
// first. So what /metrics shows lags by at most flushSeconds per isolate that keeps serving; the
// counts of an isolate that goes idle are sent with its next request, and are lost if the runtime
// evicts it first (flushSeconds: 0 sends on every request and loses nothing but costs one Durable
// Object call per request).
import type { RoutedEvent } from "../pipeline";
import type { Producer } from "../deliver/enqueue";
import type { Config } from "../config/schema";
import { hasIntelHit, sourceOf } from "../route/fields";
import { M, MetricsBuffer, type Reason } from "./metrics";
import type { MetricsStore } from "./metrics-do";
import { log } from "./log";
import { noiseCounters, type NoiseCounters } from "../noise/stats";

/** This isolate's counters, not yet flushed. */
export const buffer = new MetricsBuffer();

export const DEFAULT_FLUSH_SECONDS = 10;
/** The one Metrics Durable Object every isolate adds to. */
export const METRICS_OBJECT_NAME = "metrics";

function tenantLabel(cfg: Config | undefined, tenant: string | undefined): string | undefined {
  return cfg?.metrics?.tenantLabels ? (tenant ?? "none") : undefined;
}

/** Maps a rejection reason (free text) to one of the fixed REASONS. */
export function reasonOf(reason: string): Reason {
  if (/^invalid JSON/i.test(reason)) return "invalid_json";
  if (/^unrecognised record/i.test(reason)) return "unrecognised";
  if (/limits\.maxRecordBytes/.test(reason)) return "too_large";
  if (/limits\.maxDepth/.test(reason)) return "too_deep";
  if (/may not send/.test(reason)) return "source_not_allowed";
  if (/^plain-text lines/.test(reason)) return "text_not_allowed";
  if (reason === "") return "other";
  return "invalid_record";
}

/** Events put on the queue by ingest (counted received + accepted, and intel hits). */
export function countAccepted(events: readonly RoutedEvent[], tenant: string | undefined, cfg?: Config): void {
  const t = tenantLabel(cfg, tenant);
  const bySource = new Map<string, { n: number; hits: number }>();
  for (const { event } of events) {
    const s = sourceOf(event) ?? "unknown";
    let c = bySource.get(s);
    if (!c) bySource.set(s, (c = { n: 0, hits: 0 }));
    c.n++;
    if (hasIntelHit(event)) c.hits++;
  }
  for (const [source, c] of bySource) {
    buffer.inc(M.recordsReceived, { source, tenant: t }, c.n);
    buffer.inc(M.recordsAccepted, { source, tenant: t }, c.n);
    buffer.inc(M.intelHits, { source }, c.hits);
  }
}

/** Records rejected by ingest (counted received + rejected by reason). */
export function countRejected(rejected: readonly { reason: string; source?: string }[], tenant: string | undefined, cfg?: Config): void {
  const t = tenantLabel(cfg, tenant);
  for (const r of rejected) {
    const source = r.source ?? "unknown";
    buffer.inc(M.recordsReceived, { source, tenant: t });
    buffer.inc(M.recordsRejected, { source, reason: reasonOf(r.reason), tenant: t });
  }
}

/** One ingest request answered. */
export function countIngestRequest(status: number, seconds: number): void {
  buffer.inc(M.ingestRequests, { code: String(status) });
  buffer.observe(M.ingestDuration, {}, seconds);
}

/** Messages sent to a queue. */
export function countQueued(queue: "events" | "deliveries", messages: number): void {
  buffer.inc(M.queueSent, { queue }, messages);
}

/** Events spooled to R2 by ingest (the queue refused them), and spooled events sent back to the queue. */
export function countSpool(step: "spooled" | "drained", events: number): void {
  buffer.inc(step === "spooled" ? M.spooled : M.spoolDrained, {}, events);
}

/** Spool objects left after a scheduled drain, as counted (bounded list pages); `more` when there are more than that. */
export function setSpoolBacklog(objects: number, more = false, now: number = Date.now()): void {
  buffer.set(M.spoolBacklog, {}, objects, now);
  buffer.set(M.spoolBacklogMore, {}, more ? 1 : 0, now);
}

/** A buffered sink's staged objects left after a compaction run, and the age of the oldest of them (seconds). */
export function setStagedBacklog(sink: string, objects: number, oldestSeconds: number, now: number = Date.now()): void {
  buffer.set(M.stagedObjects, { sink }, objects, now);
  buffer.set(M.stagedOldest, { sink }, oldestSeconds, now);
}

interface QueueMessageLike {
  timestamp: Date;
  attempts: number;
  body: unknown;
}

function queueOf(body: unknown): "events" | "deliveries" {
  return typeof body === "object" && body !== null && (body as { kind?: unknown }).kind === "delivery" ? "deliveries" : "events";
}

/** A consumer batch: messages received, redeliveries, and how long they waited. */
export function countConsumed(messages: readonly QueueMessageLike[], now: number = Date.now()): void {
  const oldest = new Map<string, number>();
  for (const m of messages) {
    const queue = queueOf(m.body);
    const age = Math.max(0, (now - m.timestamp.getTime()) / 1000);
    buffer.inc(M.queueReceived, { queue });
    if (m.attempts > 1) buffer.inc(M.queueRedelivered, { queue });
    buffer.observe(M.queueAge, { queue }, age);
    oldest.set(queue, Math.max(oldest.get(queue) ?? 0, age));
  }
  for (const [queue, age] of oldest) {
    buffer.set(M.queueOldest, { queue }, age, now);
    buffer.set(M.queueLastConsumed, { queue }, Math.floor(now / 1000), now);
  }
}

/** The settled outcome of one delivery to one sink (reject = refused by the sink, dead-lettered at once). */
export function countDelivery(sink: string, r: { delivered: number; staged?: number; retried: number; dead: number; requests: number; partialRejects?: number }, rejected = 0): void {
  buffer.inc(M.sinkEvents, { sink, outcome: "delivered" }, r.delivered);
  if (r.staged) buffer.inc(M.sinkStaged, { sink }, r.staged);
  buffer.inc(M.sinkEvents, { sink, outcome: "retry" }, r.retried);
  buffer.inc(M.sinkEvents, { sink, outcome: "reject" }, rejected);
  buffer.inc(M.sinkEvents, { sink, outcome: "dead_letter" }, r.dead - rejected);
  buffer.inc(M.sinkRequests, { sink }, r.requests);
  buffer.inc(M.sinkPartialRejects, { sink }, r.partialRejects ?? 0);
}

/** Summaries a closing noise window delivered (NoiseWindow alarm). */
export function countNoiseSummaries(kind: "dedup" | "throttle", n: number): void {
  buffer.inc(M.noiseSummaries, { kind }, n);
}

/** Noise windows closed early to stay within an object's window limit. */
export function countWindowsEvicted(n: number): void {
  buffer.inc(M.noiseWindowsEvicted, {}, n);
}

/** A quarantine re-ingest the queue (or spool) took: its records accepted now, and those still rejected. */
export function countReingested(accepted: number, rejected: number): void {
  buffer.inc(M.quarantineReingested, { result: "accepted" }, accepted);
  buffer.inc(M.quarantineReingested, { result: "rejected" }, rejected);
}

/** Archived events a backfill page handed to delivery for `sink`. */
export function countBackfill(sink: string, events: number): void {
  buffer.inc(M.backfillEvents, { sink }, events);
}

/** An incident the queue accepted (correlation Durable Object). */
export function countIncident(chain: string, activity: "create" | "update"): void {
  buffer.inc(M.incidents, { chain, activity });
}

// ---------------------------------------------------------------------------------------------
// flush

export interface MetricsEnv {
  METRICS?: DurableObjectNamespace<MetricsStore>;
}

let lastFlush = 0;
let inflight: Promise<void> | undefined;

export function metricsStore(env: MetricsEnv): DurableObjectStub<MetricsStore> | undefined {
  const ns = env.METRICS;
  return ns ? ns.get(ns.idFromName(METRICS_OBJECT_NAME)) : undefined;
}

let noiseSeen: NoiseCounters | undefined;

/** Adds what the noise stage counted (cumulative per isolate, src/noise/stats.ts) since the last call. */
export function collectNoise(): void {
  const now = noiseCounters();
  const before = noiseSeen;
  noiseSeen = now;
  // counters only grow; smaller means they were reset (tests): count from zero
  const d = (a: number, b: number | undefined) => (b !== undefined && a >= b ? a - b : a);
  for (const [policy, n] of Object.entries(now.suppressed_by_rule)) buffer.inc(M.noiseSuppressed, { policy }, d(n, before?.suppressed_by_rule[policy]));
  for (const [policy, n] of Object.entries(now.sampled_out_by_rule)) buffer.inc(M.noiseSampledOut, { policy }, d(n, before?.sampled_out_by_rule[policy]));
  for (const action of ["folded", "throttled", "failed_open"] as const) buffer.inc(M.noiseEvents, { action }, d(now[action], before?.[action]));
  buffer.inc(M.noiseObjectCalls, {}, d(now.object_calls, before?.object_calls));
}

/** Sends this isolate's counters to the store now (waits for a flush already running first). */
export async function flushMetrics(env: MetricsEnv): Promise<void> {
  while (inflight) await inflight;
  collectNoise();
  const stub = metricsStore(env);
  if (!stub || buffer.size === 0) return;
  const delta = buffer.drain();
  lastFlush = Date.now();
  inflight = (async () => {
    try {
      await stub.add(delta);
    } catch (e) {
      buffer.restore(delta);
      buffer.inc(M.metricsFlushErrors, {});
      log("warn", "metrics flush failed; counters kept for the next flush", { error: e });
    } finally {
      inflight = undefined;
    }
  })();
  await inflight;
}

/** Whether a flush is due (flushSeconds since the last one, and something to send). */
export function flushDue(cfg: Config | undefined, now: number = Date.now()): boolean {
  const every = (cfg?.metrics?.flushSeconds ?? DEFAULT_FLUSH_SECONDS) * 1000;
  return buffer.size > 0 && inflight === undefined && now - lastFlush >= every;
}

/** Flushes in the background when due (call after answering a request). */
export function maybeFlush(env: MetricsEnv, cfg: Config | undefined, waitUntil: (p: Promise<unknown>) => void): void {
  if (!env.METRICS || !flushDue(cfg)) return;
  waitUntil(flushMetrics(env));
}

/** Wraps the events queue producer so every message sent is counted (after the queue took it). */
export function countingProducer(queue: Producer): Producer {
  return {
    async sendBatch(messages) {
      const list = [...messages];
      const r = await queue.sendBatch(list);
      countQueued("events", list.length);
      return r;
    },
  };
}
