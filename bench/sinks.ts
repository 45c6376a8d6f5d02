// Sink encode cost per event (numbers, not pass/fail): every sink driver the registry holds
// (src/sinks/index.ts) encodes the same ~5,000 OCSF events, made from every source's fixtures
// through the pipeline as ingest makes them (bench/pipeline.ts). The events reach encode the way the
// consumer hands them over: each event's queue line (JSON.stringify at ingest) parsed back, split
// into requests-to-be by the delivery layer's own splitBatch (storage sinks one object per class and
// event day, HTTP sinks by their batch limits). Only encode is timed, not the split, not the send.
// A second table takes an object sink's body apart (serialize, gzip by fflate at two levels, gzip by
// the runtime's CompressionStream) on the same objects.
// Every figure is process CPU time, the fastest of interleaved samples (bench/common.ts); all threads
// count (Node's CompressionStream runs zlib on its thread pool).
// Usage: npm run bench:sinks [-- --events 5000 --budget 8000 --json out.json]
import { writeFileSync } from "node:fs";
import { gzipSync, strToU8 } from "fflate";
import { parseConfig } from "../src/config/load";
import { driverFor, driverTypes } from "../src/sinks/index";
import { resolveSinks, type ResolvedSink } from "../src/deliver/sinks";
import { splitBatch, type Item } from "../src/deliver/attempt";
import { gzipText, utf8Length } from "../src/sinks/batch";
import type { SinkContext, SinkRequest } from "../src/sinks/types";
import { stableHex } from "../src/normalize/uid";
import { asDelivered, ocsfEvents } from "./pipeline";
import { defaultSteps } from "./pipeline-steps";
import { SOURCES, fixtureLines, ndjson, timeRoundsAsync, table, fmt, isMain, arg } from "./common";

export interface SinkRow {
  /** The config `type`. */
  sink: string;
  events: number;
  /** Requests (objects for storage sinks) encode made of the events. */
  requests: number;
  /** Events carried by a request (slack leaves out those below its threshold). */
  carried: number;
  /** CPU µs per event (fastest sample), and the same per second on one core. */
  usPerEvent: number;
  eventsPerSec: number;
  wallUsPerEvent: number;
  /** Request body bytes (as sent: compressed where the sink compresses) per event. */
  bytesOut: number;
}

export interface BodyRow {
  /** The events: those of the sink rows (cycled), or each fixture event once (distinct). */
  set: string;
  objects: number;
  /** Mean uncompressed object size. */
  objectBytes: number;
  step: string;
  usPerEvent: number;
  /** Bytes the step produces per event. */
  bytesOut: number;
}

export interface SinksResult {
  events: number;
  /** Mean bytes of an event's queue line. */
  lineBytes: number;
  /** Objects the object-store layout makes of the events (class and event day). */
  objects: number;
  /** Distinct events the fixtures make (the cycled events repeat them, with uids of their own). */
  distinct: number;
  rows: SinkRow[];
  body: BodyRow[];
}

// A webhook signing secret: "whsec_" + base64 of 32 bytes.
const WEBHOOK_SECRET = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;

/** A config for each driver type (the config `type`); a sink added to the registry without one here fails the bench. */
function sinkConfigs(classes: number[]): Record<string, Record<string, unknown>> {
  const s3 = { bucket: "bench-bucket", accessKeyId: "AKIABENCH", secretAccessKey: "secret" };
  return {
    s3,
    r2: { binding: "BENCH_BUCKET" },
    security_lake: { ...s3, accountId: "external", sources: Object.fromEntries(classes.map((c) => [String(c), `tributary_${c}`])) },
    splunk_hec: { url: "https://splunk.example:8088", token: "token" },
    elasticsearch: { url: "https://es.example:9200" },
    opensearch: { url: "https://os.example:9200" },
    datadog_logs: { apiKey: "key" },
    loki: { url: "https://loki.example:3100" },
    otlp_logs: { endpoint: "https://otel-collector.example:4318" },
    sentinel: {
      endpoint: "https://bench-dce.westeurope-1.ingest.monitor.azure.com",
      dcrImmutableId: "dcr-00000000000000000000000000000000",
      tenantId: "00000000-0000-0000-0000-000000000000",
      clientId: "00000000-0000-0000-0000-000000000000",
      clientSecret: "secret",
    },
    webhook: { url: "https://hooks.example/ocsf", secret: WEBHOOK_SECRET },
    // every event, not only High and above: the cost of a message per event
    slack: { url: "https://hooks.slack.com/services/T000/B000/XXXX", minSeverityId: 0 },
  };
}

/** The steps of making the objects' bodies; each returns the bytes it made. */
function bodySteps(objects: Item[][]): { step: string; run: () => Promise<number> }[] {
  const texts = objects.map((o) => o.map((i) => i.line).join("\n") + "\n");
  const gzipped = (level: 1 | 6) => async () => texts.reduce((n, t) => n + gzipSync(strToU8(t), { level, mtime: 0 }).byteLength, 0);
  return [
    { step: "JSON.stringify of each event, joined", run: async () => objects.reduce((n, o) => n + (o.map((i) => JSON.stringify(i.event)).join("\n") + "\n").length, 0) },
    { step: "the delivered lines, joined", run: async () => objects.reduce((n, o) => n + (o.map((i) => i.line).join("\n") + "\n").length, 0) },
    { step: "gzip: fflate gzipSync level 6", run: gzipped(6) },
    { step: "gzip: fflate gzipSync level 1", run: gzipped(1) },
    {
      step: "gzip: CompressionStream (runtime zlib)",
      run: async () => {
        let n = 0;
        for (const t of texts) n += (await gzipText(t)).byteLength;
        return n;
      },
    },
  ];
}

const bodyBytes = (r: SinkRequest) => (typeof r.body === "string" ? utf8Length(r.body) : r.body.byteLength);

/** Encodes every chunk the way attemptDelivery does (with the events' lines). */
async function encodeAll(sink: ResolvedSink, items: readonly Item[], chunks: number[][], ctx: SinkContext): Promise<SinkRequest[]> {
  const out: SinkRequest[] = [];
  for (const chunk of chunks) {
    const events = chunk.map((i) => items[i]!.event);
    out.push(...(await sink.driver.encode(events, sink.config, ctx, chunk.map((i) => items[i]!.line))));
  }
  return out;
}

export async function benchSinks(eventsWanted = 5000, budgetMs = 8000): Promise<SinksResult> {
  const { enrich, route } = defaultSteps();
  const lines = SOURCES.flatMap(([, dirs]) => fixtureLines(...dirs));
  const distinct = ocsfEvents(lines.join("\n"), enrich, route).map(asDelivered);
  const perLine = distinct.length / lines.length; // a CloudTrail file holds several records
  // the fixtures cycled: each copy gets a uid of its own, as distinct events have (object keys and
  // the uid order within an object depend on it)
  const produced = ocsfEvents(ndjson(lines, Math.ceil(eventsWanted / perLine)), enrich, route);
  produced.forEach((e, k) => (e.metadata.uid = stableHex(`${e.metadata.uid}/${k}`)));
  const items = produced.map(asDelivered);
  const classes = [...new Set(items.map((i) => i.event.class_uid))].sort((a, b) => a - b);
  const configs = sinkConfigs(classes);
  const sinks = resolveSinks(parseConfig({ sinks: Object.fromEntries(Object.entries(configs).map(([type, c]) => [type, { type, ...c }])) }));
  // one row per driver (aliases share one)
  const seen = new Set<unknown>();
  const chosen: ResolvedSink[] = [];
  for (const type of driverTypes()) {
    const driver = driverFor(type);
    if (seen.has(driver)) continue;
    seen.add(driver);
    const sink = [...sinks.values()].find((s) => s.driver === driver);
    if (!sink) throw new Error(`bench/sinks.ts has no config for sink type "${type}"`);
    chosen.push(sink);
  }
  const ctx: SinkContext = { env: {}, now: 1_700_000_000_000 };
  const chunks = new Map(chosen.map((s) => [s.name, splitBatch(s, items)]));
  const outputs = new Map<string, SinkRequest[]>();
  for (const s of chosen) outputs.set(s.name, await encodeAll(s, items, chunks.get(s.name)!, ctx));

  // the object bodies of the s3 layout, step by step: of the cycled events, and of the distinct ones alone
  const s3 = sinks.get("s3")!;
  const sets: [set: string, objects: Item[][]][] = [
    [`${items.length} cycled events`, splitBatch(s3, items).map((c) => c.map((i) => items[i]!))],
    [`${distinct.length} distinct events`, splitBatch(s3, distinct).map((c) => c.map((i) => distinct[i]!))],
    [`${distinct.length} distinct events in one object`, [distinct]],
  ];
  const steps = sets.flatMap(([set, objects]) => {
    const events = objects.reduce((n, o) => n + o.length, 0);
    const bytes = objects.reduce((n, o) => n + o.reduce((b, i) => b + utf8Length(i.line) + 1, 0), 0);
    return bodySteps(objects).map((st) => ({ ...st, set, events, objects: objects.length, objectBytes: bytes / objects.length }));
  });
  const bodyBytesOut = new Map<string, number>();
  for (const st of steps) bodyBytesOut.set(`${st.set}:${st.step}`, await st.run());

  const fns: Record<string, () => Promise<unknown>> = {};
  for (const s of chosen) fns[`sink:${s.name}`] = () => encodeAll(s, items, chunks.get(s.name)!, ctx);
  for (const st of steps) fns[`body:${st.set}:${st.step}`] = st.run;
  const t = await timeRoundsAsync(fns, { budgetMs });

  const n = items.length;
  const us = (ms: number) => (ms * 1000) / n;
  return {
    events: n,
    lineBytes: Math.round(items.reduce((b, i) => b + utf8Length(i.line), 0) / n),
    objects: chunks.get("s3")!.length,
    rows: chosen.map((s) => {
      const reqs = outputs.get(s.name)!;
      const tm = t[`sink:${s.name}`]!;
      return {
        sink: s.type,
        events: n,
        requests: reqs.length,
        carried: reqs.reduce((c, r) => c + r.events.length, 0),
        usPerEvent: us(tm.cpuMs),
        eventsPerSec: n / (tm.cpuMs / 1000),
        wallUsPerEvent: us(tm.wallMs),
        bytesOut: reqs.reduce((b, r) => b + bodyBytes(r), 0) / n,
      };
    }),
    distinct: distinct.length,
    body: steps.map((st) => ({
      set: st.set,
      objects: st.objects,
      objectBytes: st.objectBytes,
      step: st.step,
      usPerEvent: (t[`body:${st.set}:${st.step}`]!.cpuMs * 1000) / st.events,
      bytesOut: bodyBytesOut.get(`${st.set}:${st.step}`)! / st.events,
    })),
  };
}

export function formatSinks(r: SinksResult): string {
  const main = table(
    ["sink", "events", "requests", "events carried", "µs/event (CPU)", "events/s (1 core)", "bytes out/event", "wall µs/event"],
    r.rows.map((x) => [x.sink, x.events, x.requests, x.carried, fmt.f2(x.usPerEvent), fmt.int(x.eventsPerSec), fmt.int(x.bytesOut), fmt.f2(x.wallUsPerEvent)]),
  );
  const body = table(
    ["events", "objects (mean KB)", "step", "µs/event (CPU)", "bytes out/event"],
    r.body.map((x) => [x.set, `${x.objects} (${fmt.kb(x.objectBytes)})`, x.step, fmt.f2(x.usPerEvent), fmt.int(x.bytesOut)]),
  );
  return `${main}\n\nThe object bodies of the s3/r2 layout (${r.lineBytes} bytes per queue line), step by step, one object after another. The cycled events repeat ${r.distinct} distinct ones (with uids of their own), which gzip far better than real traffic would; the distinct events alone spread over many small objects (the fixtures' many classes and days), hence also all of them in one object:\n\n${body}`;
}

if (isMain(import.meta.url)) {
  const r = await benchSinks(Number(arg("events") ?? 0) || 5000, Number(arg("budget") ?? 0) || 8000);
  console.log(formatSinks(r));
  const out = arg("json");
  if (out) writeFileSync(out, JSON.stringify(r, null, 2));
}
