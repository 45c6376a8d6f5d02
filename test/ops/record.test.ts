// The counting hooks: rejection reasons mapped to the fixed set (from the reasons the real code
// writes), accepted/rejected/intel counters, delivery outcomes, queue batches, the counting producer.
import { beforeEach, describe, expect, it } from "vitest";
import { buffer, countAccepted, countConsumed, countDelivery, countIngestRequest, countingProducer, countRejected, reasonOf } from "../../src/ops/record";
import { frame, checkRecord, oversize } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { parseConfig } from "../../src/config/load";
import { REASONS } from "../../src/ops/metrics";
import type { Json } from "../../src/normalize/json";
import type { EventsMessage, Producer } from "../../src/deliver/enqueue";
import { fixture } from "../support/fixtures";

const ctx = { ocsfVersion: "1.3.0", receivedAt: Date.UTC(2026, 0, 1) };

function events(name: string) {
  const f = frame(fixture(name), "application/json");
  return runPipeline(f.values, f.paths, f.textLines, { ctx }).events;
}

beforeEach(() => void buffer.drain());

describe("reasonOf", () => {
  it("maps the reasons ingest writes to the fixed set", () => {
    const broken = frame('{"rule":"x"}\n{"rule": oops}\n', "application/x-ndjson").errors[0]!.reason;
    const unknown = runPipeline([{ hello: "world" }], ["[0]"], [], { ctx }).errors[0]!.reason;
    const invalid = runPipeline([{ process_exec: {} }], ["[0]"], [], { ctx, kind: "tetragon" }).errors[0]!.reason;
    let deep: Json = 1;
    for (let i = 0; i < 10; i++) deep = { d: deep };
    const tooDeep = checkRecord(deep, 3)!;
    const tooLarge = `record is ${oversize("x".repeat(100), 10)} bytes, more than limits.maxRecordBytes (10)`;
    expect(reasonOf(broken)).toBe("invalid_json");
    expect(reasonOf(unknown)).toBe("unrecognised");
    expect(reasonOf(invalid)).toBe("invalid_record");
    expect(reasonOf(tooDeep)).toBe("too_deep");
    expect(reasonOf(tooLarge)).toBe("too_large");
    expect(reasonOf(checkRecord({ a: "x".repeat(100) }, 64, 10)!)).toBe("too_large");
    expect(reasonOf('credentials of tenant "a" may not send tetragon records')).toBe("source_not_allowed");
    expect(reasonOf("plain-text lines are only accepted as Falco output (json_output: false); tetragon records must be JSON")).toBe("text_not_allowed");
    for (const r of [broken, unknown, invalid, tooDeep, tooLarge]) expect(REASONS).toContain(reasonOf(r));
  });
});

describe("counters", () => {
  it("counts accepted events by source, intel hits, and received = accepted + rejected", () => {
    const evs = [...events("falco/terminal-shell-in-container__falco-docs.json"), ...events("cloudtrail/record__start-logging__aws-docs.json")];
    evs[0]!.event.enrichments = [{ name: "x", value: "1.2.3.4", type: "threat_intel" } as never];
    countAccepted(evs, "team-a");
    countRejected([{ reason: "invalid JSON: x" }, { reason: "unrecognised record: x" }, { reason: "process_exec has no process", source: "tetragon" }], "team-a");
    const c = buffer.drain().counters;
    expect(c).toMatchObject({
      'tributary_records_accepted_total{source="falco"}': 1,
      'tributary_records_accepted_total{source="cloudtrail"}': 1,
      'tributary_intel_hits_total{source="falco"}': 1,
      'tributary_records_received_total{source="falco"}': 1,
      'tributary_records_received_total{source="unknown"}': 2,
      'tributary_records_received_total{source="tetragon"}': 1,
      'tributary_records_rejected_total{source="unknown",reason="invalid_json"}': 1,
      'tributary_records_rejected_total{source="unknown",reason="unrecognised"}': 1,
      'tributary_records_rejected_total{source="tetragon",reason="invalid_record"}': 1,
    });
    expect(c['tributary_intel_hits_total{source="cloudtrail"}']).toBeUndefined();
    expect(Object.keys(c).some((k) => k.includes("tenant"))).toBe(false);
  });

  it("adds the tenant label only when metrics.tenantLabels is on", () => {
    const cfg = parseConfig({ metrics: { tenantLabels: true } });
    countAccepted(events("falco/terminal-shell-in-container__falco-docs.json"), "team-a", cfg);
    countRejected([{ reason: "invalid JSON: x" }], undefined, cfg);
    expect(Object.keys(buffer.drain().counters).sort()).toEqual([
      'tributary_records_accepted_total{source="falco",tenant="team-a"}',
      'tributary_records_received_total{source="falco",tenant="team-a"}',
      'tributary_records_received_total{source="unknown",tenant="none"}',
      'tributary_records_rejected_total{source="unknown",reason="invalid_json",tenant="none"}',
    ]);
  });

  it("splits a delivery into disjoint outcomes (dead letters = reject + dead_letter), and counts records a sink dropped unnamed", () => {
    countDelivery("siem", { delivered: 5, retried: 2, dead: 3, requests: 4 }, 1);
    countDelivery("gone", { delivered: 0, retried: 0, dead: 7, requests: 0 });
    countDelivery("otel", { delivered: 6, retried: 0, dead: 0, requests: 1, partialRejects: 2 });
    expect(buffer.drain().counters).toEqual({
      'tributary_sink_events_total{sink="otel",outcome="delivered"}': 6,
      'tributary_sink_requests_total{sink="otel"}': 1,
      'tributary_sink_partial_rejects_total{sink="otel"}': 2,
      'tributary_sink_events_total{sink="siem",outcome="delivered"}': 5,
      'tributary_sink_events_total{sink="siem",outcome="retry"}': 2,
      'tributary_sink_events_total{sink="siem",outcome="reject"}': 1,
      'tributary_sink_events_total{sink="siem",outcome="dead_letter"}': 2,
      'tributary_sink_requests_total{sink="siem"}': 4,
      'tributary_sink_events_total{sink="gone",outcome="dead_letter"}': 7,
    });
  });

  it("counts a consumer batch per queue: received, redelivered, age histogram, oldest age and last-consumed gauges", () => {
    const now = Date.UTC(2026, 0, 1, 12);
    countConsumed(
      [
        { timestamp: new Date(now - 3_000), attempts: 1, body: { v: 1, sinks: ["archive"], count: 1, ndjson: "{}" } },
        { timestamp: new Date(now - 40_000), attempts: 2, body: { v: 1, sinks: ["archive"], count: 1, ndjson: "{}" } },
        { timestamp: new Date(now - 600_000), attempts: 1, body: { v: 1, kind: "delivery", sink: "siem", attempt: 2 } },
      ],
      now,
    );
    const d = buffer.drain();
    expect(d.counters).toMatchObject({
      'tributary_queue_messages_received_total{queue="events"}': 2,
      'tributary_queue_messages_redelivered_total{queue="events"}': 1,
      'tributary_queue_messages_received_total{queue="deliveries"}': 1,
      'tributary_queue_message_age_seconds_bucket{queue="events",le="5"}': 1,
      'tributary_queue_message_age_seconds_bucket{queue="events",le="60"}': 2,
      'tributary_queue_message_age_seconds_sum{queue="events"}': 43,
      'tributary_queue_message_age_seconds_bucket{queue="deliveries",le="600"}': 1,
    });
    expect(d.counters['tributary_queue_message_age_seconds_bucket{queue="deliveries",le="300"}']).toBeUndefined();
    expect(d.gauges).toEqual({
      'tributary_queue_oldest_message_age_seconds{queue="events"}': { value: 40, at: now },
      'tributary_queue_oldest_message_age_seconds{queue="deliveries"}': { value: 600, at: now },
      'tributary_queue_last_consumed_timestamp_seconds{queue="events"}': { value: now / 1000, at: now },
      'tributary_queue_last_consumed_timestamp_seconds{queue="deliveries"}': { value: now / 1000, at: now },
    });
  });

  it("counts ingest requests by status with a latency histogram", () => {
    countIngestRequest(202, 0.04);
    countIngestRequest(401, 0.001);
    expect(buffer.drain().counters).toMatchObject({
      'tributary_ingest_requests_total{code="202"}': 1,
      'tributary_ingest_requests_total{code="401"}': 1,
      "tributary_ingest_duration_seconds_count": 2,
      'tributary_ingest_duration_seconds_bucket{le="0.005"}': 1,
    });
  });

  it("counts messages the events queue took, not the ones it refused", async () => {
    let fail = false;
    const q: Producer = {
      async sendBatch() {
        if (fail) throw new Error("Too Many Requests");
      },
    };
    const p = countingProducer(q);
    const msg: EventsMessage = { v: 1, sinks: ["archive"], count: 1, ndjson: "{}" };
    await p.sendBatch([{ body: msg }, { body: msg }]);
    fail = true;
    await expect(p.sendBatch([{ body: msg }])).rejects.toThrow(/Too Many/);
    expect(buffer.drain().counters).toEqual({ 'tributary_queue_messages_sent_total{queue="events"}': 2 });
  });
});

describe("noise counters", () => {
  it("adds what the noise stage counted since the last collection, per policy", async () => {
    const { countNoise, resetNoiseCounters } = await import("../../src/noise/stats");
    const { collectNoise } = await import("../../src/ops/record");
    resetNoiseCounters();
    collectNoise();
    buffer.drain();
    countNoise.suppressed("known scanner", 3);
    countNoise.sampledOut("sample[0]", 2);
    countNoise.add("folded", 10);
    countNoise.add("object_calls", 4);
    collectNoise();
    countNoise.suppressed("known scanner", 1);
    collectNoise();
    expect(buffer.drain().counters).toEqual({
      'tributary_noise_suppressed_total{policy="known scanner"}': 4,
      'tributary_noise_sampled_out_total{policy="sample[0]"}': 2,
      'tributary_noise_events_total{action="folded"}': 10,
      "tributary_noise_object_calls_total": 4,
    });
    // a reset counts again from zero, never negative
    resetNoiseCounters();
    countNoise.add("throttled", 2);
    collectNoise();
    expect(buffer.drain().counters).toEqual({ 'tributary_noise_events_total{action="throttled"}': 2 });
  });
});
