// Source detection and container unwrapping. Pure: JSON value in, classified records out.
import { type Json, type JsonObject, isObject } from "./json";
import type { SourceKind } from "./ocsf";
import { NormalizeError } from "./errors";

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
    throw new NormalizeError(`ambiguous Tetragon record: ${keys.length} event keys (${keys.join(", ")}); a Tetragon export line carries exactly one process_* event`);
  }
  return keys;
}

/** Which source a single record comes from, or undefined when it is not recognised. */
export function detectKind(rec: Json): SourceKind | undefined {
  if (!isObject(rec)) return undefined;
  if (typeof rec.rule === "string" && (typeof rec.output === "string" || typeof rec.priority === "string")) return "falco";
  for (const k in rec) if (TETRAGON.has(k) && isObject(rec[k])) return "tetragon";
  if (typeof rec.auditID === "string" && typeof rec.verb === "string") return "k8s_audit";
  if (rec.kind === "Event" && typeof rec.apiVersion === "string" && rec.apiVersion.startsWith("audit.k8s.io/")) return "k8s_audit";
  if (typeof rec.eventVersion === "string" && (typeof rec.eventName === "string" || typeof rec.eventType === "string")) return "cloudtrail";
  if (typeof rec.eventID === "string" && typeof rec.eventTime === "string" && typeof rec.eventSource === "string") return "cloudtrail";
  return undefined;
}

export interface Unwrapped {
  record: Json;
  /** Index of the record within the request, counting after unwrapping (what errors report). */
  index: number;
  /** Path of the record inside the request body, e.g. "[3].Records[2]" or "items[0]". */
  path: string;
  /** Set for records that arrived inside an EventBridge envelope (kept in unmapped). */
  envelope?: JsonObject;
}

/**
 * Expands container shapes into their records, appending to `out`:
 * - Kubernetes audit EventList (`{"kind":"EventList","items":[...]}`); items may lack kind/apiVersion;
 * - CloudTrail log files (`{"Records":[...]}`);
 * - EventBridge events (`{"detail-type":..., "detail": {CloudTrail record}}`);
 * - JSON arrays (Vector codec json, bare CloudTrail arrays), nested at most two levels.
 * `path` names the value's place in the body ("" for the whole body, "line 3" for NDJSON).
 */
export function unwrap(v: Json, path: string, out: Unwrapped[], depth = 0): Unwrapped[] {
  if (Array.isArray(v) && depth < 2) {
    for (let i = 0; i < v.length; i++) unwrap(v[i]!, `${path}[${i}]`, out, depth + 1);
    return out;
  }
  if (isObject(v)) {
    if (v.kind === "EventList" && Array.isArray(v.items)) {
      const items = v.items;
      for (let i = 0; i < items.length; i++) out.push({ record: items[i]!, index: out.length, path: `${path}.items[${i}]` });
      return out;
    }
    const recs = v.Records;
    if (Array.isArray(recs) && Object.keys(v).length <= 2) {
      for (let i = 0; i < recs.length; i++) out.push({ record: recs[i]!, index: out.length, path: `${path}.Records[${i}]` });
      return out;
    }
    if (typeof v["detail-type"] === "string" && isObject(v.detail)) {
      const { detail, ...envelope } = v;
      out.push({ record: detail, index: out.length, path: `${path}.detail`, envelope });
      return out;
    }
  }
  out.push({ record: v, index: out.length, path: path === "" ? "(body)" : path });
  return out;
}
