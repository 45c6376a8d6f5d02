// Counts made inside the noise and correlation Durable Objects reach GET /metrics: their alarms flush them
// to the Metrics Durable Object (an object's isolate serves no request or batch that would; the Correlator
// also flushes after an add when a flush is due). Inside workerd: the store is read right after the alarm,
// and this isolate's unflushed counters are checked to hold none of those series, then GET /metrics.
import { createExecutionContext, env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import type { Correlator } from "../../src/correlate/durable";
import { summarize } from "../../src/correlate/chains";
import type { EventsMessage, Producer } from "../../src/deliver/enqueue";
import { queued } from "../support/queue-capture";
import { fingerprint, ruleOf } from "../../src/noise/fingerprint";
import { dedupObjectName, throttleObjectName } from "../../src/noise/gate";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { METRICS_OBJECT_NAME, buffer } from "../../src/ops/record";
import { CFG, execStory } from "../correlate/story";
import { consume, falcoCopies, firstEvent, hookRequests, ingest, noiseConfig } from "../noise/helpers";
import { parsePrometheus, sampleValue } from "./prom";

const store = () => env.METRICS.get(env.METRICS.idFromName(METRICS_OBJECT_NAME));

async function stored(series: string): Promise<number> {
  return (await store().snapshot()).counters[series] ?? 0;
}

async function scrape(): Promise<string> {
  const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify({ metrics: { public: true } }) } as unknown as Env;
  const res = await worker.fetch(new Request("http://tributary/metrics"), e, createExecutionContext());
  expect(res.status).toBe(200);
  return res.text();
}

/** Unflushed series of this isolate (the objects run in it under vitest-pool-workers) starting with `name`. */
function unflushed(name: string): string[] {
  const d = buffer.drain();
  buffer.restore(d);
  return Object.keys(d.counters).filter((k) => k.startsWith(name));
}

describe("Durable Object counts in GET /metrics", () => {
  it("the NoiseWindow alarm flushes the summaries it delivered (dedup and throttle) and their deliveries; a lone fold alert is no summary", async () => {
    const DEDUP = 'tributary_noise_summaries_total{kind="dedup"}';
    const THROTTLE = 'tributary_noise_summaries_total{kind="throttle"}';
    const before = { dedup: await stored(DEDUP), throttle: await stored(THROTTLE) };
    const prom = parsePrometheus(await scrape());

    const key = "do-metrics-noise";
    const cfg = noiseConfig(key, {
      dedup: [
        { name: "m-dedup", match: { fields: { "device.hostname": "node-m1" } }, window_seconds: 3600, mode: "first_then_summary" },
        { name: "m-lone", match: { fields: { "device.hostname": "node-m3" } }, window_seconds: 3600, mode: "fold" },
      ],
      throttle: [{ name: "m-throttle", sink: "hook", match: { fields: { "device.hostname": "node-m2" } }, per: "rule", max: 1, per_seconds: 3600 }],
    });
    const burst = await ingest(cfg, falcoCopies(5, "node-m1", key).ndjson);
    const flood = await ingest(cfg, falcoCopies(4, "node-m2", key).ndjson);
    expect((await consume(cfg, [...burst, ...flood], key)).retried).toEqual([]);
    // what the consumer sent at once: the burst's first copy and the one event the throttle let through
    expect((await hookRequests(key)).flatMap((r) => r.events)).toHaveLength(2);

    expect(await runDurableObjectAlarm(env.NOISE.getByName(dedupObjectName("m-dedup", fingerprint(firstEvent(burst)))))).toBe(true);
    expect(await stored(DEDUP)).toBe(before.dedup + 1);
    expect(await runDurableObjectAlarm(env.NOISE.getByName(throttleObjectName("m-throttle", "hook", ruleOf(firstEvent(flood)))))).toBe(true);
    expect(await stored(THROTTLE)).toBe(before.throttle + 1);
    expect(unflushed("tributary_noise_summaries_total")).toEqual([]);
    expect((await hookRequests(key)).flatMap((r) => r.events).map((e) => e.count)).toEqual([undefined, undefined, 5, 3]);

    // a fold window of one alert sends it unchanged when it closes: delivered, but not a summary
    const lone = await ingest(cfg, falcoCopies(1, "node-m3", key).ndjson);
    expect((await consume(cfg, lone, `${key}-lone`)).retried).toEqual([]);
    expect(await runDurableObjectAlarm(env.NOISE.getByName(dedupObjectName("m-lone", fingerprint(firstEvent(lone)))))).toBe(true);
    const sent = (await hookRequests(key)).flatMap((r) => r.events);
    expect(sent).toHaveLength(5);
    expect(sent[4]).toEqual(firstEvent(lone));
    expect(await stored(DEDUP)).toBe(before.dedup + 1);

    const after = parsePrometheus(await scrape());
    const delta = (labels: Record<string, string>) => sampleValue(after, "tributary_noise_summaries_total", labels) - sampleValue(prom, "tributary_noise_summaries_total", labels);
    expect(delta({ kind: "dedup" })).toBe(1);
    expect(delta({ kind: "throttle" })).toBe(1);
    // the summaries' own deliveries (made by the objects) are counted like any delivery
    const delivered = (f: Map<string, unknown>) => sampleValue(f as ReturnType<typeof parsePrometheus>, "tributary_sink_events_total", { sink: "hook", outcome: "delivered" });
    expect(delivered(after) - delivered(prom)).toBe(5);
  });

  it("the Correlator flushes the incidents it emitted (from its alarm at the latest), by chain and activity", async () => {
    const CREATE = 'tributary_correlate_incidents_total{chain="k8s_exec",activity="create"}';
    const UPDATE = 'tributary_correlate_incidents_total{chain="k8s_exec",activity="update"}';
    const before = { create: await stored(CREATE), update: await stored(UPDATE) };
    const prom = parsePrometheus(await scrape());

    const s = execStory("do-metrics-3c9e");
    const stub = env.CORRELATOR.getByName(s.scope);
    const sent: EventsMessage[] = [];
    const producer: Producer = {
      async sendBatch(batch) {
        for (const { body } of batch) sent.push(queued(body));
      },
    };
    await runInDurableObject(stub, (o: Correlator) => {
      o.producer = producer;
    });
    const sum = (...events: OcsfEvent[]) => events.flatMap((e) => summarize(e, CFG.correlate));
    expect((await stub.add(sum(s.audit, s.shell))).incidents).toHaveLength(1);
    expect((await stub.add(sum(s.exec, s.connect))).incidents).toHaveLength(1);
    expect(sent).toHaveLength(2);

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stored(CREATE)).toBe(before.create + 1);
    expect(await stored(UPDATE)).toBe(before.update + 1);
    expect(unflushed("tributary_correlate_incidents_total")).toEqual([]);

    const after = parsePrometheus(await scrape());
    const delta = (activity: string) =>
      sampleValue(after, "tributary_correlate_incidents_total", { chain: "k8s_exec", activity }) - sampleValue(prom, "tributary_correlate_incidents_total", { chain: "k8s_exec", activity });
    expect(delta("create")).toBe(1);
    expect(delta("update")).toBe(1);
  });
});
