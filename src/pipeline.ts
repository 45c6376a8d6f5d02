// The pure core: framed JSON values -> unwrap -> detect -> normalize -> enrich -> route.
// No I/O: runs the same in the Worker, in Node (CLI, benchmarks) and in unit tests.
import type { Json } from "./normalize/json";
import { isObject } from "./normalize/json";
import { unwrap, detectKind, envelopeHint, type Unwrapped, type EmptyContainers } from "./normalize/detect";
import { normalize } from "./normalize/index";
import { normalizeFalcoText } from "./normalize/falco";
import { keyList } from "./normalize/errors";
import type { NormalizeContext, OcsfEvent, SourceKind } from "./normalize/ocsf";

export interface RecordError {
  /** Position of the record in the request (after containers are unwrapped). */
  index: number;
  /** Where it sits in the body, e.g. "line 3" or "[0].Records[2]". */
  path: string;
  reason: string;
  /** The record's kind when it was detected. */
  source?: SourceKind;
  /** The rejected record itself (for the quarantine; the ingest layer leaves it out of responses). */
  record?: Json;
}

export interface RoutedEvent {
  event: OcsfEvent;
  /** Sink names this event goes to. */
  sinks: string[];
}

export interface PipelineOptions {
  ctx: NormalizeContext;
  /** Skip detection: the route said which source this is. */
  kind?: SourceKind;
  /** Enrichment step (identity when absent). */
  enrich?: (e: OcsfEvent) => OcsfEvent;
  /** Routing step: event -> sink names. */
  route?: (e: OcsfEvent) => string[];
  /** Largest accepted record (bytes of JSON text); larger ones are rejected. */
  maxRecordBytes?: number;
  /** Admission check before normalizing a detected record (limits, token scope): a reason rejects it. */
  admit?: (record: Json, kind: SourceKind) => string | undefined;
  /** Notes the containers that hold no record (`[]`, `"Records": []`, `"items": []`), which no count includes. */
  empty?: EmptyContainers;
}

export interface PipelineResult {
  events: RoutedEvent[];
  errors: RecordError[];
  /** Records seen after unwrapping (accepted + rejected). */
  total: number;
}

const DEFAULT_ROUTE = (): string[] => ["archive"];

/**
 * `paths`: the values' paths, then optionally the text lines' ("line 3"; else "text line N", the N-th text
 * line); a text line that is not Falco's text output is an error there.
 * `texts` (optional, parallel to `values`): each value's exact text in the body. With ocsf.rawData on,
 * raw_data is then each record's own slice of it (byte for byte as received); without a text the
 * normalizer writes the parsed record out instead (JSON.stringify: long integers come out quoted).
 */
export function runPipeline(values: Json[], paths: string[], textLines: string[], opts: PipelineOptions, texts?: (string | undefined)[]): PipelineResult {
  const enrich = opts.enrich ?? ((e: OcsfEvent) => e);
  const route = opts.route ?? DEFAULT_ROUTE;
  const events: RoutedEvent[] = [];
  const errors: RecordError[] = [];
  const records: Unwrapped[] = [];
  const withTexts = opts.ctx.rawData === true && texts !== undefined;
  for (let i = 0; i < values.length; i++) unwrap(values[i]!, paths[i] ?? `[${i}]`, records, 0, withTexts ? texts[i] : undefined, opts.empty);
  // a record with its own text: the normalizer need not write one out for raw_data (uids never use raw_data)
  const ctxOwnText = withTexts ? { ...opts.ctx, rawData: false } : opts.ctx;
  for (const r of records) {
    if (Array.isArray(r.record)) {
      // only the top array is unwrapped (unwrap): an array in it is no record of any source, whatever the route
      errors.push({ index: r.index, path: r.path, reason: NESTED_ARRAY, record: r.record });
      continue;
    }
    const kind = opts.kind ?? detectKind(r.record);
    if (!kind) {
      errors.push({ index: r.index, path: r.path, reason: describeUnknown(r.record), record: r.record });
      continue;
    }
    const refused = opts.admit?.(r.record, kind);
    if (refused !== undefined) {
      errors.push({ index: r.index, path: r.path, reason: refused, source: kind, record: r.record });
      continue;
    }
    try {
      const ctx = r.raw === undefined ? opts.ctx : ctxOwnText;
      // an EventBridge event's envelope goes to the normalizer with the record (NormalizeContext.envelope)
      const ev = normalize(r.record, kind, r.envelope ? { ...ctx, envelope: r.envelope } : ctx);
      if (r.raw !== undefined) ev.raw_data = r.raw;
      const enriched = enrich(ev);
      events.push({ event: enriched, sinks: route(enriched) });
    } catch (e) {
      errors.push({ index: r.index, path: r.path, reason: (e as Error).message, source: kind, record: r.record });
    }
  }
  let index = records.length;
  for (let i = 0; i < textLines.length; i++, index++) {
    let ev: OcsfEvent;
    try {
      ev = normalizeFalcoText(textLines[i]!, opts.ctx);
    } catch (e) {
      errors.push({ index, path: paths[values.length + i] ?? `text line ${i + 1}`, reason: (e as Error).message, source: "falco", record: textLines[i]! });
      continue;
    }
    const enriched = enrich(ev);
    events.push({ event: enriched, sinks: route(enriched) });
  }
  return { events, errors, total: index };
}

const NESTED_ARRAY =
  "an array inside an array or container is not unwrapped: a body, an NDJSON line or an element of the body's array may be an array of records (one level), a record is a JSON object";

function describeUnknown(v: Json): string {
  if (!isObject(v)) return `unrecognised record: expected a JSON object, got ${Array.isArray(v) ? "an array" : v === null ? "null" : typeof v}`;
  return `unrecognised record: not a Falco alert, Tetragon event, Kubernetes audit event or CloudTrail record (keys: ${keyList(v)})${envelopeHint(v)}`;
}
