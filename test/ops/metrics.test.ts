// The metrics model: bounded labels, histogram buckets, drain/restore/merge, and the text format.
import { describe, expect, it } from "vitest";
import { MAX_NOISE_POLICIES, MAX_SUPPRESS_ENTRIES, policyLabel } from "../../src/config/noise";
import { INCIDENT_ACTIVITIES, INGEST_CODES, M, MAX_NAMED_VALUES, MAX_POLICY_VALUES, MetricsBuffer, NOISE_ACTIONS, NOISE_KINDS, QUEUES, REASONS, REINGEST_RESULTS, mergeDelta, renderPrometheus, withZeros, zeroSeries, escapeLabel, formatValue, type Gauge, type MetricsDelta } from "../../src/ops/metrics";
import { parsePrometheus, sampleValue } from "./prom";
import { SOURCES } from "../../src/config/routing";

function snapshotOf(...deltas: MetricsDelta[]): MetricsDelta {
  const counters = new Map<string, number>();
  const gauges = new Map<string, Gauge>();
  for (const d of deltas) mergeDelta(counters, gauges, d);
  return { counters: Object.fromEntries(counters), gauges: Object.fromEntries(gauges) };
}

describe("MetricsBuffer", () => {
  it("keys series canonically, labels in definition order, undefined labels left out", () => {
    const b = new MetricsBuffer();
    b.inc(M.recordsRejected, { reason: "invalid_json", source: "falco" }, 2);
    b.inc(M.recordsRejected, { source: "falco", reason: "invalid_json" });
    b.inc(M.recordsAccepted, { source: "tetragon", tenant: undefined }, 5);
    expect(b.drain().counters).toEqual({
      'tributary_records_rejected_total{source="falco",reason="invalid_json"}': 3,
      'tributary_records_accepted_total{source="tetragon"}': 5,
    });
    expect(b.size).toBe(0);
  });

  it("bounds label values: fixed sets fall back to unknown/other, names must look like config names", () => {
    const b = new MetricsBuffer();
    b.inc(M.recordsRejected, { source: "syslog", reason: "because I said so" });
    b.inc(M.sinkEvents, { sink: 'evil"} 1\nx', outcome: "exploded" });
    b.inc(M.ingestRequests, { code: "2000" });
    expect(Object.keys(b.drain().counters).sort()).toEqual([
      'tributary_ingest_requests_total{code="other"}',
      'tributary_records_rejected_total{source="unknown",reason="other"}',
      'tributary_sink_events_total{sink="other",outcome="other"}',
    ]);
  });

  it("takes a noise policy's config name as text (escaped), up to 128 characters", () => {
    const b = new MetricsBuffer();
    b.inc(M.noiseSuppressed, { policy: 'scanner "nessus" [1]' });
    b.inc(M.noiseSuppressed, { policy: "x".repeat(129) });
    b.inc(M.noiseEvents, { action: "vanished" });
    expect(Object.keys(b.drain().counters).sort()).toEqual([
      'tributary_noise_events_total{action="other"}',
      'tributary_noise_suppressed_total{policy="other"}',
      'tributary_noise_suppressed_total{policy="scanner \\"nessus\\" [1]"}',
    ]);
  });

  it(`reports every policy name one config can have (${MAX_SUPPRESS_ENTRIES} suppress entries + ${MAX_NOISE_POLICIES} sample policies) under its own name; more count as "other"`, () => {
    expect(MAX_POLICY_VALUES).toBe(MAX_SUPPRESS_ENTRIES + MAX_NOISE_POLICIES);
    const b = new MetricsBuffer();
    for (let i = 0; i < MAX_SUPPRESS_ENTRIES; i++) b.inc(M.noiseSuppressed, { policy: policyLabel("suppress", i, {}) });
    for (let i = 0; i < MAX_NOISE_POLICIES; i++) b.inc(M.noiseSampledOut, { policy: policyLabel("sample", i, {}) });
    const keys = Object.keys(b.drain().counters);
    expect(keys).toHaveLength(MAX_POLICY_VALUES);
    expect(keys).toContain(`tributary_noise_suppressed_total{policy="suppress[${MAX_SUPPRESS_ENTRIES - 1}]"}`);
    expect(keys).toContain(`tributary_noise_sampled_out_total{policy="sample[${MAX_NOISE_POLICIES - 1}]"}`);
    expect(keys.some((k) => k.includes('policy="other"'))).toBe(false);
    // a name past that (only after config changes within one isolate)
    b.inc(M.noiseSuppressed, { policy: "renamed later" });
    expect(Object.keys(b.drain().counters)).toEqual(['tributary_noise_suppressed_total{policy="other"}']);
  });

  it(`keeps at most ${MAX_NAMED_VALUES} distinct sink names per isolate; further ones count as "other"`, () => {
    const b = new MetricsBuffer();
    for (let i = 0; i < MAX_NAMED_VALUES + 50; i++) b.inc(M.sinkRequests, { sink: `sink-${i}` });
    const keys = Object.keys(b.drain().counters);
    expect(keys).toHaveLength(MAX_NAMED_VALUES + 1);
    expect(keys).toContain('tributary_sink_requests_total{sink="other"}');
    // names seen before the cap keep their own series
    b.inc(M.sinkRequests, { sink: "sink-3" });
    expect(Object.keys(b.drain().counters)).toEqual(['tributary_sink_requests_total{sink="sink-3"}']);
  });

  it("observes a histogram as cumulative buckets, +Inf, _sum and _count", () => {
    const b = new MetricsBuffer();
    b.observe(M.ingestDuration, {}, 0.03);
    b.observe(M.ingestDuration, {}, 0.2);
    b.observe(M.ingestDuration, {}, 99);
    const c = b.drain().counters;
    expect(c['tributary_ingest_duration_seconds_bucket{le="0.025"}']).toBeUndefined();
    expect(c['tributary_ingest_duration_seconds_bucket{le="0.05"}']).toBe(1);
    expect(c['tributary_ingest_duration_seconds_bucket{le="0.25"}']).toBe(2);
    expect(c['tributary_ingest_duration_seconds_bucket{le="30"}']).toBe(2);
    expect(c['tributary_ingest_duration_seconds_bucket{le="+Inf"}']).toBe(3);
    expect(c["tributary_ingest_duration_seconds_count"]).toBe(3);
    expect(c["tributary_ingest_duration_seconds_sum"]).toBeCloseTo(99.23, 10);
  });

  it("ignores zero and non-finite increments", () => {
    const b = new MetricsBuffer();
    b.inc(M.sinkRequests, { sink: "a" }, 0);
    b.inc(M.sinkRequests, { sink: "a" }, NaN);
    b.observe(M.ingestDuration, {}, Infinity);
    expect(b.size).toBe(0);
  });

  it("gauges keep the latest value by time; restore() adds a failed flush back", () => {
    const b = new MetricsBuffer();
    b.set(M.queueOldest, { queue: "events" }, 30, 2000);
    b.set(M.queueOldest, { queue: "events" }, 99, 1000); // older: ignored
    b.inc(M.sinkRequests, { sink: "a" }, 2);
    const d = b.drain();
    expect(d.gauges).toEqual({ 'tributary_queue_oldest_message_age_seconds{queue="events"}': { value: 30, at: 2000 } });
    b.inc(M.sinkRequests, { sink: "a" }, 1);
    b.restore(d);
    expect(b.drain().counters).toEqual({ 'tributary_sink_requests_total{sink="a"}': 3 });
  });

  it("mergeDelta adds counters and keeps the newest gauge", () => {
    const s = snapshotOf(
      { counters: { a_total: 1 }, gauges: { g: { value: 1, at: 5 } } },
      { counters: { a_total: 2, b_total: 1 }, gauges: { g: { value: 7, at: 4 } } },
      { counters: {}, gauges: { g: { value: 9, at: 6 } } },
    );
    expect(s).toEqual({ counters: { a_total: 3, b_total: 1 }, gauges: { g: { value: 9, at: 6 } } });
  });
});

describe("renderPrometheus", () => {
  it("writes valid text format: HELP/TYPE for every family, grouped samples, ordered histogram buckets", () => {
    const a = new MetricsBuffer();
    const b = new MetricsBuffer(); // a second isolate
    a.inc(M.recordsAccepted, { source: "falco" }, 3);
    b.inc(M.recordsAccepted, { source: "falco" }, 4);
    b.inc(M.recordsRejected, { source: "unknown", reason: "unrecognised" });
    for (const v of [0.002, 0.3, 4]) a.observe(M.ingestDuration, {}, v);
    b.observe(M.ingestDuration, {}, 0.3);
    a.observe(M.queueAge, { queue: "events" }, 12);
    b.observe(M.queueAge, { queue: "deliveries" }, 7200);
    a.set(M.queueOldest, { queue: "events" }, 12, 1000);
    b.inc(M.sinkEvents, { sink: "splunk", outcome: "delivered" }, 10);
    // histogram series arrive in any order in a snapshot: the renderer sorts them
    const snap = snapshotOf(b.drain(), a.drain());
    const shuffled: MetricsDelta = { counters: Object.fromEntries(Object.entries(snap.counters).reverse()), gauges: snap.gauges };
    const text = renderPrometheus(shuffled, [{ name: "tributary_build_info", help: "info", type: "gauge", samples: [{ labels: { ocsf_version: "1.3.0" }, value: 1 }] }]);
    const fams = parsePrometheus(text);
    for (const d of Object.values(M)) expect(fams.get(d.name)?.type).toBe(d.type);
    expect(sampleValue(fams, "tributary_records_accepted_total", { source: "falco" })).toBe(7);
    expect(sampleValue(fams, "tributary_records_rejected_total", { source: "unknown", reason: "unrecognised" })).toBe(1);
    expect(sampleValue(fams, "tributary_ingest_duration_seconds_count")).toBe(4);
    expect(sampleValue(fams, "tributary_ingest_duration_seconds_bucket", { le: "0.005" })).toBe(1);
    expect(sampleValue(fams, "tributary_ingest_duration_seconds_bucket", { le: "0.5" })).toBe(3);
    expect(sampleValue(fams, "tributary_queue_message_age_seconds_bucket", { queue: "deliveries", le: "3600" })).toBe(0);
    expect(sampleValue(fams, "tributary_queue_message_age_seconds_bucket", { queue: "deliveries", le: "7200" })).toBe(1);
    expect(sampleValue(fams, "tributary_queue_oldest_message_age_seconds", { queue: "events" })).toBe(12);
    expect(sampleValue(fams, "tributary_sink_events_total", { sink: "splunk", outcome: "delivered" })).toBe(10);
    expect(sampleValue(fams, "tributary_build_info", { ocsf_version: "1.3.0" })).toBe(1);
    expect(text).toContain("# TYPE tributary_ingest_duration_seconds histogram\n");
  });

  it("writes every bucket of a histogram series, those no observation fell in with the count below them", () => {
    const b = new MetricsBuffer();
    b.observe(M.queueAge, { queue: "events" }, 2); // above le=1: that bucket is never stored
    b.observe(M.queueAge, { queue: "events" }, 20);
    const snap = b.drain();
    expect(Object.keys(snap.counters)).not.toContain('tributary_queue_message_age_seconds_bucket{queue="events",le="1"}');
    const text = renderPrometheus(snap);
    expect(() => parsePrometheus(text)).not.toThrow();
    const lines = text.split("\n").filter((l) => l.startsWith("tributary_queue_message_age_seconds_bucket"));
    expect(lines).toHaveLength(M.queueAge.buckets!.length + 1);
    expect(lines.slice(0, 4)).toEqual([
      'tributary_queue_message_age_seconds_bucket{queue="events",le="1"} 0',
      'tributary_queue_message_age_seconds_bucket{queue="events",le="5"} 1',
      'tributary_queue_message_age_seconds_bucket{queue="events",le="15"} 1',
      'tributary_queue_message_age_seconds_bucket{queue="events",le="30"} 2',
    ]);
    expect(lines.at(-1)).toBe('tributary_queue_message_age_seconds_bucket{queue="events",le="+Inf"} 2');
  });

  it("zero series: every unlabelled counter and each sink's outcomes and requests, never over a counted value", () => {
    const b = new MetricsBuffer();
    b.inc(M.sinkEvents, { sink: "splunk", outcome: "delivered" }, 3);
    const text = renderPrometheus(withZeros(b.drain(), zeroSeries({ sinks: ["splunk", "lake"] })));
    expect(() => parsePrometheus(text)).not.toThrow();
    expect(text).toContain('\ntributary_sink_events_total{sink="splunk",outcome="delivered"} 3\n');
    for (const sink of ["splunk", "lake"]) {
      for (const outcome of ["retry", "reject", "dead_letter"]) expect(text).toContain(`\ntributary_sink_events_total{sink="${sink}",outcome="${outcome}"} 0\n`);
      expect(text).toContain(`\ntributary_sink_requests_total{sink="${sink}"} 0\n`);
    }
    expect(text).toContain('\ntributary_sink_events_total{sink="lake",outcome="delivered"} 0\n');
    // the staged count only for a sink that buffers
    expect(text).not.toContain("tributary_sink_staged_events_total{");
    const buffered = renderPrometheus(withZeros({ counters: {}, gauges: {} }, zeroSeries({ sinks: ["splunk", "lake"], bufferedSinks: ["lake"] })));
    expect(buffered).toContain('\ntributary_sink_staged_events_total{sink="lake"} 0\n');
    expect(buffered).not.toContain('tributary_sink_staged_events_total{sink="splunk"}');
    for (const name of ["tributary_spool_events_spooled_total", "tributary_metrics_flush_errors_total", "tributary_noise_windows_evicted_total"]) expect(text).toContain(`\n${name} 0\n`);
  });

  it("zero series: every finite label set of the labelled counters, crossed with the config's names, and nothing else", () => {
    const b = new MetricsBuffer();
    b.inc(M.recordsRejected, { source: "falco", reason: "invalid_json", tenant: "acme" }, 2);
    const keys = zeroSeries({ sinks: ["hook"], tenants: ["acme", "none"], suppress: ["ci shells"], sample: ["sample[0]"], chains: ["k8s_exec"] });
    const fams = parsePrometheus(renderPrometheus(withZeros(b.drain(), keys)));
    // the sample's value, undefined when there is no such sample (sampleValue would read 0)
    const want = (labels: Record<string, string>) => JSON.stringify(Object.entries(labels).sort());
    const at = (name: string, labels: Record<string, string>) => [...fams.values()].flatMap((f) => f.samples).find((x) => x.name === name && want(x.labels) === want(labels))?.value;
    expect(at("tributary_records_rejected_total", { source: "falco", reason: "invalid_json", tenant: "acme" })).toBe(2);
    for (const tenant of ["acme", "none"]) {
      for (const source of [...SOURCES, "unknown"]) {
        for (const reason of REASONS.filter((r) => source !== "falco" || r !== "invalid_json" || tenant !== "acme")) expect(at("tributary_records_rejected_total", { source, reason, tenant })).toBe(0);
        expect(at("tributary_records_received_total", { source, tenant })).toBe(0);
      }
      for (const source of SOURCES) expect(at("tributary_records_accepted_total", { source, tenant })).toBe(0);
    }
    for (const code of INGEST_CODES) expect(at("tributary_ingest_requests_total", { code })).toBe(0);
    for (const queue of QUEUES) {
      for (const name of ["tributary_queue_messages_sent_total", "tributary_queue_messages_received_total", "tributary_queue_messages_redelivered_total"]) expect(at(name, { queue })).toBe(0);
    }
    for (const action of NOISE_ACTIONS) expect(at("tributary_noise_events_total", { action })).toBe(0);
    for (const kind of NOISE_KINDS) expect(at("tributary_noise_summaries_total", { kind })).toBe(0);
    expect(at("tributary_noise_suppressed_total", { policy: "ci shells" })).toBe(0);
    expect(at("tributary_noise_sampled_out_total", { policy: "sample[0]" })).toBe(0);
    for (const activity of INCIDENT_ACTIVITIES) expect(at("tributary_correlate_incidents_total", { chain: "k8s_exec", activity })).toBe(0);
    for (const source of SOURCES) expect(at("tributary_intel_hits_total", { source })).toBe(0);
    for (const result of REINGEST_RESULTS) expect(at("tributary_quarantine_reingested_total", { result })).toBe(0);
    expect(at("tributary_backfill_events_total", { sink: "hook" })).toBe(0);
    // only known values: no fallback ("other"/"unknown" where it is not a real value), no chain not given
    expect(keys.filter((k) => /="other"/.test(k) && !/reason="other"/.test(k))).toEqual([]);
    expect(keys.filter((k) => k.includes("aws_credential_new_ip"))).toEqual([]);
    expect(new Set(keys).size).toBe(keys.length);
    // without tenant labels, the record counters have none
    expect(zeroSeries({ sinks: [] }).filter((k) => k.includes("tenant="))).toEqual([]);
    expect(zeroSeries({ sinks: [] })).toContain('tributary_records_rejected_total{source="unknown",reason="too_large"}');
  });

  it("skips series of families it does not define (left by an older version)", () => {
    const text = renderPrometheus({ counters: { 'tributary_gone_total{x="1"}': 5, "tributary_sink_requests_total": 1 }, gauges: { tributary_gone_gauge: { value: 1, at: 1 } } });
    expect(text).not.toContain("tributary_gone");
    expect(() => parsePrometheus(text)).not.toThrow();
  });

  it("escapes label values and spells special values", () => {
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect([formatValue(Infinity), formatValue(-Infinity), formatValue(NaN), formatValue(2.5), formatValue(3)]).toEqual(["+Inf", "-Inf", "NaN", "2.5", "3"]);
  });

  it("the reader used by these tests refuses broken exposition", () => {
    expect(() => parsePrometheus("x_total 1\n")).toThrow(/before its # TYPE/);
    expect(() => parsePrometheus("# TYPE x_total counter\nx_total{a=1} 1\n")).toThrow(/bad labels/);
    expect(() => parsePrometheus("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")).toThrow(/cumulative/);
    expect(() => parsePrometheus("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n")).toThrow(/_count/);
  });
});
