// The metrics model (pure): metric definitions with bounded labels, a buffer of counter deltas
// (histograms are stored as their cumulative `_bucket`/`_sum`/`_count` counters, so every value
// merges by addition), last-write-wins gauges, and the Prometheus text exposition format 0.0.4.
//
// Every series is keyed by its canonical Prometheus name, e.g.
//   tributary_records_rejected_total{source="falco",reason="invalid_json"}
//   tributary_ingest_duration_seconds_bucket{le="0.25"}
// with labels in the definition's order (`le` last). The key is what the isolates send to the
// Metrics Durable Object (./metrics-do.ts) and what it stores.
//
// Label cardinality is bounded by construction: `source`, `reason`, `outcome`, `queue`, `code`,
// `action`, `kind`, `chain`, `activity` and `result` take values from small fixed sets (anything else becomes "unknown"/"other"); `sink` and `tenant`
// must look like config names, `policy` (a noise policy's config name) is text of at most 128
// characters, and at most MAX_NAMED_VALUES distinct values per label are kept per isolate (further
// ones become "other"); `policy` keeps MAX_POLICY_VALUES, as many as one config can name (every
// suppress entry and sample policy), so a valid config never overflows it. No rule, host, pod or
// namespace labels exist.
import { SOURCES } from "../config/routing";
import { CHAIN_NAMES } from "../config/correlate";
import { MAX_NOISE_POLICIES, MAX_SUPPRESS_ENTRIES } from "../config/noise";

export type MetricType = "counter" | "gauge" | "histogram";

export interface MetricDef<L extends string = string> {
  /** Family name; counters end in _total. */
  name: string;
  help: string;
  type: MetricType;
  /** Label names in output order. A label whose value is undefined is left out of the series. */
  labels: readonly L[];
  /** Histogram upper bounds (ascending, +Inf implied). */
  buckets?: readonly number[];
}

export type Labels<L extends string> = Partial<Record<L, string | undefined>>;

/** Why a record was rejected (see reasonOf in ./record.ts). */
export const REASONS = [
  "invalid_json",
  "unrecognised",
  "invalid_record",
  "too_large",
  "too_deep",
  "source_not_allowed",
  "text_not_allowed",
  "other",
] as const;
export type Reason = (typeof REASONS)[number];

/** What happened to events handed to a sink (disjoint: they add up to the events attempted). */
export const OUTCOMES = ["delivered", "retry", "reject", "dead_letter"] as const;
export type DeliveryOutcome = (typeof OUTCOMES)[number];

export const QUEUES = ["events", "deliveries"] as const;

export const NOISE_ACTIONS = ["folded", "throttled", "failed_open"] as const;

/** What a closing noise window summarized: a dedup burst or a throttle remainder. */
export const NOISE_KINDS = ["dedup", "throttle"] as const;

/** An incident's first emission, or a later one that grew the story. */
export const INCIDENT_ACTIVITIES = ["create", "update"] as const;

/** What became of a quarantined record re-ingested: accepted now, or still rejected. */
export const REINGEST_RESULTS = ["accepted", "rejected"] as const;

/** Request latency, seconds. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
/** Time a message waited on a queue, seconds (retries wait up to the queue's 12 h delay). */
export const AGE_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200] as const;

function def<L extends string>(d: MetricDef<L>): MetricDef<L> {
  return d;
}

export const M = {
  ingestRequests: def({
    name: "tributary_ingest_requests_total",
    help: "Ingest requests answered, by HTTP status code (401/403 auth, 413 too large, 415 unsupported encoding, 429/503 queue refused and the spool (R2) too, 400 no record accepted).",
    type: "counter",
    labels: ["code"],
  }),
  ingestDuration: def({
    name: "tributary_ingest_duration_seconds",
    help: "Time from receiving an ingest request to answering it (records queued), seconds.",
    type: "histogram",
    labels: [],
    buckets: LATENCY_BUCKETS,
  }),
  recordsReceived: def({
    name: "tributary_records_received_total",
    help: "Records received in ingest requests that were read (accepted + rejected), by detected source.",
    type: "counter",
    labels: ["source", "tenant"],
  }),
  recordsAccepted: def({
    name: "tributary_records_accepted_total",
    help: "Records normalized to OCSF and put on the events queue, by source.",
    type: "counter",
    labels: ["source", "tenant"],
  }),
  recordsRejected: def({
    name: "tributary_records_rejected_total",
    help: "Records rejected (reported in the response and written to the quarantine), by source and reason.",
    type: "counter",
    labels: ["source", "reason", "tenant"],
  }),
  intelHits: def({
    name: "tributary_intel_hits_total",
    help: "Accepted events carrying at least one threat-intel hit, by source.",
    type: "counter",
    labels: ["source"],
  }),
  queueSent: def({
    name: "tributary_queue_messages_sent_total",
    help: "Messages sent to a queue (events: from ingest; deliveries: per-sink retries).",
    type: "counter",
    labels: ["queue"],
  }),
  queueReceived: def({
    name: "tributary_queue_messages_received_total",
    help: "Messages handed to the consumer, redeliveries included.",
    type: "counter",
    labels: ["queue"],
  }),
  queueRedelivered: def({
    name: "tributary_queue_messages_redelivered_total",
    help: "Messages handed to the consumer again (attempts > 1).",
    type: "counter",
    labels: ["queue"],
  }),
  queueAge: def({
    name: "tributary_queue_message_age_seconds",
    help: "Time a message spent on the queue before the consumer got it (from message.timestamp), seconds.",
    type: "histogram",
    labels: ["queue"],
    buckets: AGE_BUCKETS,
  }),
  queueOldest: def({
    name: "tributary_queue_oldest_message_age_seconds",
    help: "Age of the oldest message in the most recent consumer batch, seconds.",
    type: "gauge",
    labels: ["queue"],
  }),
  queueLastConsumed: def({
    name: "tributary_queue_last_consumed_timestamp_seconds",
    help: "When the consumer last got a batch (unix seconds).",
    type: "gauge",
    labels: ["queue"],
  }),
  spooled: def({
    name: "tributary_spool_events_spooled_total",
    help: "Accepted events written to the R2 spool because the events queue refused them (answered 202, sent to the queue later).",
    type: "counter",
    labels: [],
  }),
  spoolDrained: def({
    name: "tributary_spool_events_drained_total",
    help: "Spooled events sent back to the events queue (their spool objects deleted).",
    type: "counter",
    labels: [],
  }),
  spoolBacklog: def({
    name: "tributary_spool_backlog_objects",
    help: "Spool objects waiting for the events queue after the last scheduled drain, counted over at most 10 list pages (10,000 objects); see tributary_spool_backlog_more.",
    type: "gauge",
    labels: [],
  }),
  spoolBacklogMore: def({
    name: "tributary_spool_backlog_more",
    help: "1 when the spool holds more objects than tributary_spool_backlog_objects counted (it is then a lower bound), else 0.",
    type: "gauge",
    labels: [],
  }),
  sinkEvents: def({
    name: "tributary_sink_events_total",
    help: "Events handed to a sink, by outcome: delivered; retry (scheduled again); reject (refused by the sink, dead-lettered); dead_letter (out of attempts, or no retry possible).",
    type: "counter",
    labels: ["sink", "outcome"],
  }),
  sinkRequests: def({
    name: "tributary_sink_requests_total",
    help: "Requests sent to a sink.",
    type: "counter",
    labels: ["sink"],
  }),
  sinkPartialRejects: def({
    name: "tributary_sink_partial_rejects_total",
    help: "Records a sink took the request for but said it dropped, without naming them (an OTLP partial success's rejectedLogRecords). Their events count as delivered in tributary_sink_events_total.",
    type: "counter",
    labels: ["sink"],
  }),
  sinkStaged: def({
    name: "tributary_sink_staged_events_total",
    help: "Events of a buffered storage sink staged in R2 (settled for the sink); the every-minute compaction writes them, counted then in tributary_sink_events_total.",
    type: "counter",
    labels: ["sink"],
  }),
  stagedObjects: def({
    name: "tributary_sink_staged_objects",
    help: "A buffered storage sink's staged objects left in R2 after the last compaction run, counted over at most 10 list pages.",
    type: "gauge",
    labels: ["sink"],
  }),
  stagedOldest: def({
    name: "tributary_sink_staged_oldest_seconds",
    help: "Age of the oldest staged object a buffered storage sink had left after the last compaction run (0 when none): above its buffer.seconds plus a few minutes, compaction is failing.",
    type: "gauge",
    labels: ["sink"],
  }),
  noiseSuppressed: def({
    name: "tributary_noise_suppressed_total",
    help: "Events kept from a sink by a noise allow-list entry (noise.suppress), by entry.",
    type: "counter",
    labels: ["policy"],
  }),
  noiseSampledOut: def({
    name: "tributary_noise_sampled_out_total",
    help: "Events left out of a sink by a sampling policy (noise.sample), by policy.",
    type: "counter",
    labels: ["policy"],
  }),
  noiseEvents: def({
    name: "tributary_noise_events_total",
    help: "Events held back by noise control: folded into a dedup window, throttled (both summarized when the window closes), or failed_open (sent unfiltered: the window object was unreachable).",
    type: "counter",
    labels: ["action"],
  }),
  noiseObjectCalls: def({
    name: "tributary_noise_object_calls_total",
    help: "Calls to the noise window Durable Objects.",
    type: "counter",
    labels: [],
  }),
  noiseSummaries: def({
    name: "tributary_noise_summaries_total",
    help: "Summaries delivered by closing noise windows (sent by the NoiseWindow Durable Object's alarm), by kind: a dedup burst of more than one event or a throttle remainder (one per OCSF class held back). A lone fold alert sent unchanged at the window's end is not a summary.",
    type: "counter",
    labels: ["kind"],
  }),
  noiseWindowsEvicted: def({
    name: "tributary_noise_windows_evicted_total",
    help: "Noise windows closed early because their Durable Object held its maximum of windows (their summaries are sent at once).",
    type: "counter",
    labels: [],
  }),
  incidents: def({
    name: "tributary_correlate_incidents_total",
    help: "Incidents (OCSF Incident Finding) the correlation Durable Objects handed to the queue, by chain and activity (create, or update when a story grew).",
    type: "counter",
    labels: ["chain", "activity"],
  }),
  quarantineReingested: def({
    name: "tributary_quarantine_reingested_total",
    help: "Quarantined records run through ingest again (POST /v1/quarantine/reingest, not a dry run), by result: accepted (queued or spooled, left the quarantine) or rejected (kept with its new reason). Not counted in tributary_records_*_total.",
    type: "counter",
    labels: ["result"],
  }),
  backfillEvents: def({
    name: "tributary_backfill_events_total",
    help: "Archived events a backfill page (POST /v1/backfill) handed to delivery for a sink (the deliveries queue); what the sink then took is counted in tributary_sink_events_total.",
    type: "counter",
    labels: ["sink"],
  }),
  metricsDropped: def({
    name: "tributary_metrics_series_dropped_total",
    help: "Samples dropped because the metrics store reached its series limit.",
    type: "counter",
    labels: [],
  }),
  metricsFlushErrors: def({
    name: "tributary_metrics_flush_errors_total",
    help: "Failed flushes of an isolate's counters to the metrics store (the counters are kept and sent with the next flush).",
    type: "counter",
    labels: [],
  }),
} as const;

/** Every family, in output order. */
export const ALL_METRICS: readonly MetricDef[] = Object.values(M);

/** Distinct values kept per free-form label (sink, tenant, feed) per isolate. */
export const MAX_NAMED_VALUES = 256;
/**
 * Distinct `policy` values kept per isolate: every name one config can give the policies counted by
 * policy (noise.suppress entries and noise.sample policies), so each is reported under its own name;
 * further ones (only after config changes within one isolate) count as "other".
 */
export const MAX_POLICY_VALUES = MAX_SUPPRESS_ENTRIES + MAX_NOISE_POLICIES;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const FIXED: Record<string, { values: readonly string[]; fallback: string }> = {
  source: { values: SOURCES, fallback: "unknown" },
  reason: { values: REASONS, fallback: "other" },
  outcome: { values: OUTCOMES, fallback: "other" },
  queue: { values: QUEUES, fallback: "other" },
  action: { values: NOISE_ACTIONS, fallback: "other" },
  kind: { values: NOISE_KINDS, fallback: "other" },
  chain: { values: CHAIN_NAMES, fallback: "other" },
  activity: { values: INCIDENT_ACTIVITIES, fallback: "other" },
  result: { values: REINGEST_RESULTS, fallback: "other" },
};

/** Labels whose values are config-given free text (noise policy names): any text up to this length. */
const FREE_TEXT: Record<string, number> = { policy: 128 };
/** Distinct values kept per isolate, for labels whose bound is not MAX_NAMED_VALUES. */
const NAMED_CAP: Record<string, number> = { policy: MAX_POLICY_VALUES };

/** Escapes a label value (text format: backslash, double quote, line feed). */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Formats a sample value: integers as such, +Inf/-Inf/NaN spelled as Prometheus does. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Counter deltas and gauge values, as sent by an isolate and as returned by the store. */
export interface MetricsDelta {
  /** series -> increment (or, in a snapshot, the total) */
  counters: Record<string, number>;
  /** series -> value and when it was set (ms): the value with the latest `at` wins. */
  gauges: Record<string, Gauge>;
}

export interface Gauge {
  value: number;
  at: number;
}

export type MetricsSnapshot = MetricsDelta;

/** Accumulates deltas in one isolate; drained by a flush. Label values are bounded here. */
export class MetricsBuffer {
  private counters = new Map<string, number>();
  private gauges = new Map<string, Gauge>();
  private named = new Map<string, Set<string>>();

  private value(label: string, v: string): string {
    const fixed = FIXED[label];
    if (fixed) return fixed.values.includes(v) ? v : fixed.fallback;
    if (label === "code") return /^[1-5]\d\d$/.test(v) ? v : "other";
    const free = FREE_TEXT[label];
    if (free !== undefined ? v.length === 0 || v.length > free : !NAME_RE.test(v)) return "other";
    let seen = this.named.get(label);
    if (!seen) this.named.set(label, (seen = new Set()));
    if (seen.has(v)) return v;
    if (seen.size >= (NAMED_CAP[label] ?? MAX_NAMED_VALUES)) return "other";
    seen.add(v);
    return v;
  }

  /** The canonical series key (labels in definition order, then `extra`, e.g. le). */
  key<L extends string>(d: MetricDef<L>, labels: Labels<L>, suffix = "", extra?: [string, string]): string {
    const parts: string[] = [];
    for (const l of d.labels) {
      const v = labels[l];
      if (v !== undefined) parts.push(`${l}="${escapeLabel(this.value(l, v))}"`);
    }
    if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
    return parts.length ? `${d.name}${suffix}{${parts.join(",")}}` : `${d.name}${suffix}`;
  }

  private add(key: string, n: number): void {
    this.counters.set(key, (this.counters.get(key) ?? 0) + n);
  }

  inc<L extends string>(d: MetricDef<L>, labels: Labels<L>, n = 1): void {
    if (n === 0 || !Number.isFinite(n)) return;
    this.add(this.key(d, labels), n);
  }

  observe<L extends string>(d: MetricDef<L>, labels: Labels<L>, v: number): void {
    if (!Number.isFinite(v)) return;
    for (const b of d.buckets ?? []) if (v <= b) this.add(this.key(d, labels, "_bucket", ["le", formatValue(b)]), 1);
    this.add(this.key(d, labels, "_bucket", ["le", "+Inf"]), 1);
    this.add(this.key(d, labels, "_sum"), v);
    this.add(this.key(d, labels, "_count"), 1);
  }

  set<L extends string>(d: MetricDef<L>, labels: Labels<L>, v: number, at: number): void {
    const key = this.key(d, labels);
    const old = this.gauges.get(key);
    if (!old || at >= old.at) this.gauges.set(key, { value: v, at });
  }

  /** Series held (not yet flushed). */
  get size(): number {
    return this.counters.size + this.gauges.size;
  }

  /** Takes everything held, leaving the buffer empty. */
  drain(): MetricsDelta {
    const out: MetricsDelta = { counters: Object.fromEntries(this.counters), gauges: Object.fromEntries(this.gauges) };
    this.counters.clear();
    this.gauges.clear();
    return out;
  }

  /** Puts a drained delta back (after a failed flush), adding to what arrived meanwhile. */
  restore(d: MetricsDelta): void {
    mergeDelta(this.counters, this.gauges, d);
  }
}

/** Adds a delta into a snapshot held as maps (what the store does, in memory). */
export function mergeDelta(counters: Map<string, number>, gauges: Map<string, Gauge>, d: MetricsDelta): void {
  for (const [k, n] of Object.entries(d.counters)) counters.set(k, (counters.get(k) ?? 0) + n);
  for (const [k, g] of Object.entries(d.gauges)) {
    const old = gauges.get(k);
    if (!old || g.at >= old.at) gauges.set(k, { value: g.value, at: g.at });
  }
}

const HIST_SUFFIX = /_(bucket|sum|count)$/;

interface Parsed {
  /** Series name before `{`. */
  name: string;
  /** The label part without `le` (e.g. `source="falco"`), "" when none. */
  base: string;
  le?: string;
}

/** Splits a canonical key into name, labels (without le) and le. */
function parseKey(key: string): Parsed {
  const i = key.indexOf("{");
  if (i < 0) return { name: key, base: "" };
  const name = key.slice(0, i);
  let inner = key.slice(i + 1, -1);
  let le: string | undefined;
  const m = /(?:^|,)le="([^"]*)"$/.exec(inner);
  if (m) {
    le = m[1];
    inner = inner.slice(0, m.index);
  }
  return { name, base: inner, le };
}

function leValue(le: string | undefined): number {
  if (le === undefined) return Infinity;
  return le === "+Inf" ? Infinity : Number(le);
}

/** Extra lines appended by the caller (e.g. info gauges computed at render time). */
export interface ExtraFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: { labels?: Record<string, string>; value: number }[];
}

function labelText(labels: Record<string, string> | undefined): string {
  const parts = Object.entries(labels ?? {}).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/**
 * Renders a snapshot in the Prometheus text format: `# HELP`/`# TYPE` for every known family, its
 * samples grouped per label set (histogram buckets in ascending `le`, then `_sum`, `_count`).
 * Series of families this version does not define (left in the store by an older version) are skipped.
 */
export function renderPrometheus(snap: MetricsSnapshot, extra: ExtraFamily[] = [], defs: readonly MetricDef[] = ALL_METRICS): string {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const families = new Map<string, { counters: [Parsed, string, number][]; gauges: [string, number][] }>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { counters: [], gauges: [] }));
    return f;
  };
  for (const [key, value] of Object.entries(snap.counters)) {
    const p = parseKey(key);
    const d = byName.get(p.name) ?? byName.get(p.name.replace(HIST_SUFFIX, ""));
    if (!d || d.type === "gauge") continue;
    family(d.name).counters.push([p, key, value]);
  }
  for (const [key, { value }] of Object.entries(snap.gauges)) {
    const d = byName.get(parseKey(key).name);
    if (d?.type === "gauge") family(d.name).gauges.push([key, value]);
  }
  const out: string[] = [];
  for (const d of defs) {
    out.push(`# HELP ${d.name} ${d.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    out.push(`# TYPE ${d.name} ${d.type}`);
    const f = families.get(d.name);
    if (!f) continue;
    if (d.type === "histogram") {
      const groups = new Map<string, { buckets: [number, string, number][]; sum?: [string, number]; count?: [string, number] }>();
      for (const [p, key, value] of f.counters) {
        let g = groups.get(p.base);
        if (!g) groups.set(p.base, (g = { buckets: [] }));
        if (p.name.endsWith("_bucket")) g.buckets.push([leValue(p.le), key, value]);
        else if (p.name.endsWith("_sum")) g.sum = [key, value];
        else if (p.name.endsWith("_count")) g.count = [key, value];
      }
      for (const base of [...groups.keys()].sort()) {
        const g = groups.get(base)!;
        // a bucket no observation fell in was never stored: write it with the count of the bucket
        // below (cumulative; 0 below the lowest), so every series has the same buckets
        const have = new Set(g.buckets.map(([le]) => le));
        for (const le of [...(d.buckets ?? []), Infinity]) {
          if (!have.has(le)) g.buckets.push([le, `${d.name}_bucket{${base ? `${base},` : ""}le="${formatValue(le)}"}`, NaN]);
        }
        g.buckets.sort((a, b) => a[0] - b[0]);
        let below = 0;
        for (const [, key, value] of g.buckets) {
          below = Number.isNaN(value) ? below : value;
          out.push(`${key} ${formatValue(below)}`);
        }
        if (g.sum) out.push(`${g.sum[0]} ${formatValue(g.sum[1])}`);
        if (g.count) out.push(`${g.count[0]} ${formatValue(g.count[1])}`);
      }
    } else if (d.type === "gauge") {
      for (const [key, value] of f.gauges.sort((a, b) => (a[0] < b[0] ? -1 : 1))) out.push(`${key} ${formatValue(value)}`);
    } else {
      for (const [, key, value] of f.counters.sort((a, b) => (a[1] < b[1] ? -1 : 1))) out.push(`${key} ${formatValue(value)}`);
    }
  }
  for (const e of extra) {
    out.push(`# HELP ${e.name} ${e.help}`);
    out.push(`# TYPE ${e.name} ${e.type}`);
    for (const s of e.samples) out.push(`${e.name}${labelText(s.labels)} ${formatValue(s.value)}`);
  }
  return out.join("\n") + "\n";
}

/** The HTTP statuses ingest answers with (docs/operate.md), shown at 0 before they count. */
export const INGEST_CODES = ["202", "400", "401", "403", "413", "415", "429", "503"] as const;

/** The label values of counters that come from the config (all bounded by it). */
export interface ConfigLabels {
  /** Configured sinks (not the built-in archive, which is counted by no sink counter). */
  sinks: readonly string[];
  /** The configured sinks whose resolved buffer is on (staged in R2, written by the compaction). */
  bufferedSinks?: readonly string[];
  /** With metrics.tenantLabels: every tenant an ingest request can be counted under; else undefined. */
  tenants?: readonly string[];
  /** Names of the noise.suppress entries and of the noise.sample policies. */
  suppress?: readonly string[];
  sample?: readonly string[];
  /** Correlation chains that can emit incidents (enabled ones). */
  chains?: readonly string[];
}

/**
 * Counter series to show as 0 until they count (Prometheus' advice: a series that first appears with
 * N is seen by no `rate()`/`increase()`, so an alert on a sink's first dead letters would never
 * fire): every counter without labels, and each labelled counter over its finite label sets: the
 * fixed ones (sources, reasons, ingest status codes, queues, noise actions and kinds, incident
 * activities, re-ingest results) crossed with the config's (sinks, tenants, noise policy names, enabled chains). Never a
 * value that is not known in advance.
 */
export function zeroSeries(c: ConfigLabels): string[] {
  const b = new MetricsBuffer();
  const keys = ALL_METRICS.filter((d) => d.type === "counter" && d.labels.length === 0).map((d) => d.name);
  const add = <L extends string>(d: MetricDef<L>, labels: Labels<L>) => keys.push(b.key(d, labels));
  for (const code of INGEST_CODES) add(M.ingestRequests, { code });
  for (const tenant of c.tenants ?? [undefined]) {
    for (const source of [...SOURCES, "unknown"]) {
      add(M.recordsReceived, { source, tenant });
      for (const reason of REASONS) add(M.recordsRejected, { source, reason, tenant });
    }
    for (const source of SOURCES) add(M.recordsAccepted, { source, tenant });
  }
  for (const source of SOURCES) add(M.intelHits, { source });
  for (const queue of QUEUES) for (const d of [M.queueSent, M.queueReceived, M.queueRedelivered]) add(d, { queue });
  for (const sink of c.sinks) {
    for (const outcome of OUTCOMES) add(M.sinkEvents, { sink, outcome });
    add(M.sinkRequests, { sink });
    add(M.backfillEvents, { sink });
  }
  for (const sink of c.bufferedSinks ?? []) add(M.sinkStaged, { sink });
  for (const policy of c.suppress ?? []) add(M.noiseSuppressed, { policy });
  for (const policy of c.sample ?? []) add(M.noiseSampledOut, { policy });
  for (const action of NOISE_ACTIONS) add(M.noiseEvents, { action });
  for (const kind of NOISE_KINDS) add(M.noiseSummaries, { kind });
  for (const chain of c.chains ?? []) for (const activity of INCIDENT_ACTIVITIES) add(M.incidents, { chain, activity });
  for (const result of REINGEST_RESULTS) add(M.quarantineReingested, { result });
  return keys;
}

/** The snapshot with each of `keys` it lacks added as a counter at 0. */
export function withZeros(snap: MetricsSnapshot, keys: readonly string[]): MetricsSnapshot {
  const counters = { ...snap.counters };
  for (const k of keys) counters[k] ??= 0;
  return { counters, gauges: snap.gauges };
}

/** Content-Type of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
