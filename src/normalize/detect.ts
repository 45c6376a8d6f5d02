// Source detection and container unwrapping. Pure: JSON value in, classified records out.
import { type Json, type JsonObject, isObject } from "./json";
import type { SourceKind } from "./ocsf";
import { NormalizeError, keyList } from "./errors";
import { elementTexts, memberText } from "./json-spans";

export const TETRAGON_KEYS = [
  "process_exec",
  "process_exit",
  "process_kprobe",
  "process_tracepoint",
  "process_uprobe",
  "process_lsm",
  "process_usdt",
  "process_loader",
  "process_throttle",
  "process_connect",
  "process_close",
  "process_listen",
] as const;
const TETRAGON = new Set<string>(TETRAGON_KEYS);

/**
 * The event keys of a Tetragon record: every `process_*` key (known or not) and `rate_limit_info`, with a
 * non-null value. A Tetragon export line (protojson of GetEventsResponse, a oneof) carries exactly one.
 */
export function tetragonEventKeys(rec: JsonObject): string[] {
  const keys: string[] = [];
  for (const k in rec) if ((k.startsWith("process_") || k === "rate_limit_info") && rec[k] !== null && rec[k] !== undefined) keys.push(k);
  return keys;
}

/**
 * Refuses a Tetragon record with two or more event keys: which one is the event would be a guess, and the
 * others would be mapped as if they were details of it. Returns the keys (one or none).
 */
export function singleTetragonKey(rec: JsonObject): string[] {
  const keys = tetragonEventKeys(rec);
  if (keys.length > 1) {
    throw new NormalizeError(`ambiguous Tetragon record: ${keys.length} event keys (${keyList(keys)}); a Tetragon export line carries exactly one process_* event`);
  }
  return keys;
}

/** Which source a single record comes from, or undefined when it is not recognised. */
export function detectKind(rec: Json): SourceKind | undefined {
  if (!isObject(rec)) return undefined;
  if (typeof rec.rule === "string" && (typeof rec.output === "string" || typeof rec.priority === "string")) return "falco";
  for (const k in rec) if (TETRAGON.has(k) && isObject(rec[k])) return "tetragon";
  // Tetragon's export-loss notice (GetEventsResponse.rate_limit_info): a line of the same export stream
  if (isObject(rec.rate_limit_info)) return "tetragon";
  if (typeof rec.auditID === "string" && typeof rec.verb === "string") return "k8s_audit";
  if (rec.kind === "Event" && typeof rec.apiVersion === "string" && rec.apiVersion.startsWith("audit.k8s.io/")) return "k8s_audit";
  if (typeof rec.eventVersion === "string" && (typeof rec.eventName === "string" || typeof rec.eventType === "string")) return "cloudtrail";
  if (typeof rec.eventID === "string" && typeof rec.eventTime === "string" && typeof rec.eventSource === "string") return "cloudtrail";
  return undefined;
}

const REMAP = 'send the parsed line, e.g. Vector remap `. = parse_json!(string!(.message))` (docs/vector.md)';

const WHAT: Record<SourceKind, string> = {
  falco: "a Falco alert",
  tetragon: "a Tetragon event",
  k8s_audit: "a Kubernetes audit event",
  cloudtrail: "a CloudTrail record",
};

/**
 * How a source's record starts, for a "message" that does not parse (cut, e.g. by `head -c`): its own keys
 * within the first 4096 characters. Tetragon: any process_* key or rate_limit_info holding an object.
 */
const STARTS: Record<SourceKind, (head: string) => boolean> = {
  tetragon: (h) => /^\s*\{[\s\S]*"(?:process_[a-z]+|rate_limit_info)"\s*:\s*\{/.test(h),
  falco: (h) => /"rule"\s*:\s*"/.test(h) && /"(?:output|priority)"\s*:\s*"/.test(h),
  k8s_audit: (h) => /"auditID"\s*:\s*"|"apiVersion"\s*:\s*"audit\.k8s\.io\//.test(h),
  cloudtrail: (h) => /"eventVersion"\s*:\s*"/.test(h) && /"event(?:Name|Type|Source|Time)"\s*:\s*"/.test(h),
};

const ALL_KINDS = Object.keys(WHAT) as SourceKind[];

/**
 * For the refusal of a record that is a log shipper's envelope holding a record as text (Vector's file or
 * kubernetes_logs source without the remap: {"file", "host", "message": "<line>", "source_type", ...}):
 * a clause naming the remap when "message" parses as (or, cut, starts like) a record of one of `kinds`,
 * else "". Names the source when `kinds` has several. Refusal path only: it parses the message.
 */
export function envelopeHint(rec: JsonObject, kinds: readonly SourceKind[] = ALL_KINDS): string {
  const m = rec.message;
  if (typeof m !== "string" || !/^\s*[[{]/.test(m)) return "";
  const kind = envelopedKind(m, kinds);
  if (kind === undefined) return "";
  return `; the event is the text in "message" (a log shipper's envelope${kinds.length > 1 ? ` holding ${WHAT[kind]}` : ""}): ${REMAP}`;
}

function envelopedKind(m: string, kinds: readonly SourceKind[]): SourceKind | undefined {
  let v: Json | undefined;
  try {
    v = JSON.parse(m) as Json;
  } catch {
    const head = m.slice(0, 4096);
    return kinds.find((k) => STARTS[k](head));
  }
  // a CloudTrail file, an EventList, an EventBridge event or an array: judged by its first record
  const first = unwrap(v, "", [])[0]?.record;
  if (!isObject(first)) return undefined;
  const kind = detectKind(first) ?? (tetragonEventKeys(first).some((k) => isObject(first[k])) ? "tetragon" : undefined);
  return kind !== undefined && kinds.includes(kind) ? kind : undefined;
}

export interface Unwrapped {
  record: Json;
  /** Index of the record within the request, counting after unwrapping (what errors report). */
  index: number;
  /** Path of the record inside the request body, e.g. "[3].Records[2]" or "items[0]". */
  path: string;
  /** Set for records that arrived inside an EventBridge envelope (kept in unmapped). */
  envelope?: JsonObject;
  /** The record's exact text in the body, when `unwrap` was given the value's text (ocsf.rawData). */
  raw?: string;
}

/**
 * Expands container shapes into their records, appending to `out`:
 * - Kubernetes audit EventList (`{"kind":"EventList","items":[...]}`); items may lack kind/apiVersion;
 * - CloudTrail log files (`{"Records":[...]}`);
 * - EventBridge events (`{"detail-type":..., "detail": {CloudTrail record}}`);
 * - a JSON array given as `v` itself (depth 0: the whole body, an NDJSON line, or an element of the body's
 *   array, which the framing splits: a bare array of CloudTrail records). An array inside it is a record (and
 *   not one any source has: rejected), however deep: one level of arrays, whatever the framing.
 * `path` names the value's place in the body ("" for the whole body, "line 3" for NDJSON, "[2]" for an element).
 * `text`, when given, is the value's exact text: each record then carries its own slice of it in `raw`
 * (found by a scan of the text, json-spans.ts; an element whose text cannot be found has none).
 * `empty`, when given, notes every container that holds no record (`[]`, `"Records": []`, `"items": []`):
 * they are part of the body, but no record of it.
 */
export function unwrap(v: Json, path: string, out: Unwrapped[], depth = 0, text?: string, empty?: EmptyContainers): Unwrapped[] {
  const c = containerOf(v, depth);
  if (c === ARRAY) {
    const a = v as Json[];
    if (a.length === 0) empty?.add(path, undefined);
    const texts = text === undefined ? undefined : partTexts(elementTexts(text), a.length);
    for (let i = 0; i < a.length; i++) unwrap(a[i]!, `${path}[${i}]`, out, depth + 1, texts?.[i], empty);
    return out;
  }
  if (c !== undefined) {
    const list = (v as JsonObject)[c] as Json[];
    if (list.length === 0) empty?.add(path, c);
    const texts = text === undefined ? undefined : partTexts(memberElements(text, c), list.length);
    const at = `${path}.${c}[`; // built once: the paths differ only in the index
    for (let i = 0; i < list.length; i++) out.push(withRaw({ record: list[i]!, index: out.length, path: `${at}${i}]` }, texts?.[i]));
    return out;
  }
  // an EventBridge event is one record (its detail): recordCount needs no rule for it
  if (isObject(v) && typeof v["detail-type"] === "string" && isObject(v.detail)) {
    const { detail, ...envelope } = v;
    out.push(withRaw({ record: detail, index: out.length, path: `${path}.detail`, envelope }, text === undefined ? undefined : memberText(text, "detail")));
    return out;
  }
  out.push(withRaw({ record: v, index: out.length, path: path === "" ? "(body)" : path }, text));
  return out;
}

/** The containers without records that `unwrap` met: how many, and the paths of the first `max`. */
export class EmptyContainers {
  count = 0;
  readonly paths: string[] = [];
  constructor(readonly max: number) {}
  /** A container at `path` (its `member` for an EventList / Records file) held no record. */
  add(path: string, member: string | undefined): void {
    if (this.count++ >= this.max) return;
    this.paths.push(member === undefined ? (path === "" ? "(body)" : path) : path === "" ? member : `${path}.${member}`);
  }
}

/** How many records `unwrap` makes of a value (the same container rules, containerOf, without building them). */
export function recordCount(v: Json, depth = 0): number {
  const c = containerOf(v, depth);
  if (c === ARRAY) {
    let n = 0;
    for (const x of v as Json[]) n += recordCount(x, depth + 1);
    return n;
  }
  return c === undefined ? 1 : ((v as JsonObject)[c] as Json[]).length;
}

/** Whether `unwrap` opens a value given it as a whole (an NDJSON line, the body): an array, an EventList, a CloudTrail file. */
export function isContainer(v: Json): boolean {
  return containerOf(v, 0) !== undefined;
}

const ARRAY = 0;

/**
 * The container rules of unwrap and recordCount: ARRAY for a JSON array at depth 0 (the value unwrap is
 * given; one inside it is a record), the member holding the records for a Kubernetes EventList ("items")
 * or a CloudTrail log file ("Records", beside at most one other key), else undefined (one record).
 */
function containerOf(v: Json, depth: number): typeof ARRAY | "items" | "Records" | undefined {
  if (Array.isArray(v)) return depth === 0 ? ARRAY : undefined;
  if (!isObject(v)) return undefined;
  if (v.kind === "EventList" && Array.isArray(v.items)) return "items";
  if (Array.isArray(v.Records) && Object.keys(v).length <= 2) return "Records";
  return undefined;
}

function withRaw(u: Unwrapped, raw: string | undefined): Unwrapped {
  if (raw !== undefined) u.raw = raw;
  return u;
}

/** The element texts of member `key`'s array. */
function memberElements(text: string, key: string): string[] | undefined {
  const m = memberText(text, key);
  return m === undefined ? undefined : elementTexts(m);
}

/** The texts when there is one per parsed element (else none: the scan and the parse disagree). */
function partTexts(texts: string[] | undefined, count: number): string[] | undefined {
  return texts !== undefined && texts.length === count ? texts : undefined;
}
