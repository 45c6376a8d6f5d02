// Pipeline cost per event, per source, on the real fixtures (numbers, not pass/fail).
// Each body goes the way ingest takes it (src/routes/ingest.ts), minus HTTP and the queue call:
//   decode (frame the NDJSON, parse each line) -> admit (depth check) -> detect -> normalize -> enrich
//   -> route -> serialize (the queue packer: JSON line + its size as the queue counts it),
// compared with the floor: JSON.parse + JSON.stringify of the same lines, in the same run.
// The steps live in bench/pipeline-steps.ts, shared with bench/pipeline-workerd.ts (the same in workerd).
// Every figure is process CPU time, the fastest of interleaved samples (see bench/common.ts); the code runs on
// one thread (V8's GC and compiler threads are counted in the CPU time).
// Usage: npm run bench:pipeline [-- --events 5000 --json out.json --redact]
// --redact: the same with config `redact: {presets: ["credentials"]}` (docs/config.md#redact), the enrich step
// then includes the redaction.
import { writeFileSync } from "node:fs";
import { layout, itemsOf } from "../src/routes/decode";
import { runPipeline } from "../src/pipeline";
import { parseConfig } from "../src/config/load";
import { makeEnricher } from "../src/enrich/index";
import { makeRouter } from "../src/route/index";
import type { OcsfEvent } from "../src/normalize/ocsf";
import type { Item } from "../src/deliver/attempt";
import { run, defaultSteps, linesOf, jsonFloor, type Steps } from "./pipeline-steps";
import { SOURCES, fixtureLines, ndjson, timeRounds, table, fmt, isMain, arg } from "./common";

export interface PipelineRow {
  source: string;
  events: number;
  /** Mean input bytes per event, and mean serialized OCSF bytes per event. */
  inBytes: number;
  outBytes: number;
  /** CPU µs per event (fastest sample). */
  usPerEvent: number;
  /** Wall-clock µs per event (fastest sample; inflated on a busy machine). */
  wallUsPerEvent: number;
  eventsPerSec: number;
  floorUsPerEvent: number;
  /** JSON.stringify of the OCSF events alone (the least any pipeline writing this output pays). */
  outputStringifyUsPerEvent: number;
  /** JSON.parse of the input lines alone. */
  inputParseUsPerEvent: number;
  /**
   * The least any pipeline making this output can cost, as a ratio to the floor: JSON.parse of the input +
   * JSON.stringify of the OCSF output, with no mapping work at all in between.
   */
  lowerBoundRatio: number;
  ratio: number;
  /** Cumulative stages, µs/event: decode, +normalize, +enrich, +route, +serialize (= usPerEvent). */
  stages: { decode: number; normalize: number; enrich: number; route: number; serialize: number };
  /** Peak heap above the starting point while one body goes through (sampled every 200 events). */
  peakHeapMB: number;
}

/** The OCSF events an NDJSON body becomes (normalized, enriched and routed, as ingest makes them). */
export function ocsfEvents(text: string, enrich: (e: OcsfEvent) => OcsfEvent, route: (e: OcsfEvent) => string[]): OcsfEvent[] {
  const produced: OcsfEvent[] = [];
  for (const item of itemsOf(text, layout(text, "ndjson"))) {
    if (item.type !== "value") continue;
    for (const e of runPipeline([item.value], [item.path], [], { ctx: { ocsfVersion: "1.3.0", receivedAt: 0 }, enrich, route }).events) produced.push(e.event);
  }
  return produced;
}

/** What the consumer holds for an event: its queue line (JSON.stringify at ingest) and the event parsed back from it. */
export function asDelivered(e: OcsfEvent): Item {
  const line = JSON.stringify(e);
  return { line, event: JSON.parse(line) as OcsfEvent };
}

/** A source's fixtures cycled into an NDJSON body of about `events` events (a CloudTrail file holds several records a line). */
export function sourceBody(dirs: string[], events: number): string {
  const lines = fixtureLines(...dirs);
  const perLine = run(lines.join("\n"), { normalize: true, serialize: false }) / lines.length;
  return ndjson(lines, Math.ceil(events / perLine));
}

/** The config `redact` of the --redact run. */
export const REDACT_BENCH = { presets: ["credentials"] };

export function benchPipeline(eventsPerBody = 5000, budgetMs = 6000, redact = false): PipelineRow[] {
  const cfg = redact ? parseConfig({ redact: REDACT_BENCH }) : undefined;
  const { enrich, route } = cfg ? { enrich: makeEnricher(cfg), route: makeRouter(cfg) } : defaultSteps();
  const rows: PipelineRow[] = [];
  for (const [name, dirs] of SOURCES) {
    const text = sourceBody(dirs, eventsPerBody);
    const full: Steps = { enrich, route, normalize: true, serialize: true };
    const events = run(text, full);
    const produced = ocsfEvents(text, enrich, route);
    let outBytes = 0;
    for (const e of produced) outBytes += JSON.stringify(e).length;
    const bodyLines = linesOf(text);
    const t = timeRounds(
      {
        decode: () => run(text, { normalize: false, serialize: false }),
        normalize: () => run(text, { normalize: true, serialize: false }),
        enriched: () => run(text, { enrich, normalize: true, serialize: false }),
        routed: () => run(text, { enrich, route, normalize: true, serialize: false }),
        all: () => run(text, full),
        floor: () => jsonFloor(bodyLines),
        parseIn: () => {
          for (const l of bodyLines) JSON.parse(l);
        },
        outFloor: () => {
          for (const e of produced) JSON.stringify(e);
        },
      },
      { budgetMs },
    );
    const { decode, normalize, enriched, routed, all, floor, outFloor, parseIn } = t;
    produced.length = 0;
    // peak heap while one body goes through (after a collection when --expose-gc is on)
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const base = process.memoryUsage().heapUsed;
    let peak = base;
    run(text, full, () => (peak = Math.max(peak, process.memoryUsage().heapUsed)));
    const us = (ms: number) => (ms * 1000) / events;
    rows.push({
      source: name,
      events,
      inBytes: Math.round(text.length / events),
      outBytes: Math.round(outBytes / events),
      usPerEvent: us(all.cpuMs),
      wallUsPerEvent: us(all.wallMs),
      eventsPerSec: events / (all.cpuMs / 1000),
      floorUsPerEvent: us(floor.cpuMs),
      outputStringifyUsPerEvent: us(outFloor.cpuMs),
      inputParseUsPerEvent: us(parseIn.cpuMs),
      lowerBoundRatio: (parseIn.cpuMs + outFloor.cpuMs) / floor.cpuMs,
      ratio: all.cpuMs / floor.cpuMs,
      stages: {
        decode: us(decode.cpuMs),
        normalize: us(normalize.cpuMs),
        enrich: us(enriched.cpuMs),
        route: us(routed.cpuMs),
        serialize: us(all.cpuMs),
      },
      peakHeapMB: (peak - base) / 1048576,
    });
  }
  return rows;
}

export function formatPipeline(rows: PipelineRow[]): string {
  const main = table(
    ["source", "events", "bytes in → out per event", "µs/event (CPU)", "events/s (1 core)", "floor µs/event (JSON.parse+stringify)", "ratio to floor", "JSON.stringify of the OCSF output alone µs/event", "wall µs/event", "peak heap MB"],
    rows.map((r) => [r.source, r.events, `${r.inBytes} → ${r.outBytes}`, fmt.f2(r.usPerEvent), fmt.int(r.eventsPerSec), fmt.f2(r.floorUsPerEvent), `${fmt.f2(r.ratio)}×`, fmt.f2(r.outputStringifyUsPerEvent), fmt.f2(r.wallUsPerEvent), fmt.f1(r.peakHeapMB)]),
  );
  const stages = table(
    ["source", "decode (frame + parse)", "+ admit, detect, normalize", "+ enrich", "+ route", "+ serialize (queue packer)"],
    rows.map((r) => {
      const s = r.stages;
      return [r.source, fmt.f2(s.decode), `+${fmt.f2(s.normalize - s.decode)}`, `+${fmt.f2(s.enrich - s.normalize)}`, `+${fmt.f2(s.route - s.enrich)}`, `+${fmt.f2(s.serialize - s.route)}`];
    }),
  );
  return `${main}\n\nWhere the time goes (µs/event, CPU time, fastest sample of each cumulative run; small negative steps are noise):\n\n${stages}`;
}

if (isMain(import.meta.url)) {
  const redact = process.argv.includes("--redact");
  const rows = benchPipeline(Number(arg("events") ?? 0) || 5000, Number(arg("budget") ?? 0) || 6000, redact);
  if (redact) console.log(`With redaction: config redact ${JSON.stringify(REDACT_BENCH)}\n`);
  console.log(formatPipeline(rows));
  const out = arg("json");
  if (out) writeFileSync(out, JSON.stringify(rows, null, 2));
}
