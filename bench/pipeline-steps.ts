// The ingest steps the pipeline benchmarks time, shared by bench/pipeline.ts (in Node) and
// bench/pipeline-worker.ts (bundled and run in workerd by bench/pipeline-workerd.ts), so that both
// time the same code. No Node imports here: this module is bundled into a Worker.
import { layout, itemsOf, checkRecord } from "../src/routes/decode";
import { runPipeline, type PipelineOptions } from "../src/pipeline";
import { parseConfig } from "../src/config/load";
import { makeEnricher } from "../src/enrich/index";
import { makeRouter } from "../src/route/index";
import { Packer, type EventsMessage } from "../src/deliver/enqueue";
import type { OcsfEvent } from "../src/normalize/ocsf";

export type Steps = { enrich?: (e: OcsfEvent) => OcsfEvent; route?: (e: OcsfEvent) => string[]; serialize: boolean; normalize: boolean };

/** The enricher and router of the default config (`{}`), as the benchmarks use them. */
export function defaultSteps(): { enrich: (e: OcsfEvent) => OcsfEvent; route: (e: OcsfEvent) => string[] } {
  const cfg = parseConfig({});
  return { enrich: makeEnricher(cfg), route: makeRouter(cfg) };
}

/**
 * One body the way ingest takes it (src/routes/ingest.ts), minus HTTP and the queue call: decode (frame
 * the NDJSON, parse each line) -> admit (depth check) -> detect -> normalize -> enrich -> route ->
 * serialize (the queue packer). Returns the number of events produced.
 */
export function run(text: string, steps: Steps, onWindow?: () => void): number {
  const opts: PipelineOptions = {
    ctx: { ocsfVersion: "1.3.0", receivedAt: 1_700_000_000_000 },
    enrich: steps.enrich,
    route: steps.route,
    admit: (record) => checkRecord(record, 64),
  };
  const packer = new Packer();
  const out: EventsMessage[] = [];
  let events = 0;
  let window = 0;
  for (const item of itemsOf(text, layout(text, "ndjson"))) {
    if (item.type !== "value" || !steps.normalize) continue;
    const r = runPipeline([item.value], [item.path], [], opts);
    for (const e of r.events) {
      events++;
      if (steps.serialize) packer.add(e, out);
    }
    if (++window === 200) {
      window = 0;
      out.length = 0; // the Enqueuer would have sent these
      onWindow?.();
    }
  }
  packer.flush(out);
  return events;
}

/** The body's non-empty lines (split once, outside the timed floor). */
export function linesOf(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

/** The floor: JSON.parse + JSON.stringify of each line. Returns the characters written. */
export function jsonFloor(lines: string[]): number {
  let n = 0;
  for (const l of lines) n += JSON.stringify(JSON.parse(l)).length;
  if (n === 0) throw new Error("floor did nothing");
  return n;
}
