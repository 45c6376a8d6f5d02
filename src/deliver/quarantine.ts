// The quarantine: every record the ingest layer rejects is written to R2 with the reason, so
// nothing is dropped silently (Falco ignores HTTP status codes, so a 400 alone would be lost).
//
// Layout (day = the day the request was received, UTC):
//   quarantine/<yyyymmdd>/<request id>-<index>.json   one object per rejected record, for the first
//                                                     QUARANTINE_SINGLE_OBJECTS of a request;
//   quarantine/<yyyymmdd>/<request id>-rest.ndjson    the others of that request, one JSON per line
//                                                     (bounds the R2 writes per request).
import type { Json } from "../normalize/json";
import { eventDay } from "./archive";

export const QUARANTINE_PREFIX = "quarantine/";
export const QUARANTINE_SINGLE_OBJECTS = 25;

export interface Rejected {
  /** Position of the record in the request. */
  index: number;
  path: string;
  reason: string;
  source?: string;
  /** The record as parsed (when its own text is not at hand). */
  record?: Json;
  /** The record's text as received (a line, or the whole body). Preferred over `record`. */
  raw?: string;
}

export interface QuarantineMeta {
  requestId: string;
  tenant?: string;
  receivedAt: number;
  /** Request path, e.g. /v1/events/falco. */
  route: string;
}

export interface QuarantineObject {
  key: string;
  body: string;
  /** Short reason, kept in the object's custom metadata (visible in listings). */
  reason: string;
}

function entry(r: Rejected, meta: QuarantineMeta): string {
  const head = {
    reason: r.reason,
    path: r.path,
    index: r.index,
    source: r.source,
    tenant: meta.tenant,
    request_id: meta.requestId,
    route: meta.route,
    received_at: new Date(meta.receivedAt).toISOString(),
  };
  if (r.raw !== undefined) return JSON.stringify({ ...head, raw: r.raw });
  try {
    return JSON.stringify({ ...head, record: r.record ?? null });
  } catch (e) {
    // e.g. nested too deep for JSON.stringify: keep the reason at least
    return JSON.stringify({ ...head, record_error: `record could not be serialized: ${(e as Error).message}` });
  }
}

/** The R2 objects for a request's rejected records. Pure. */
export function quarantineObjects(rejected: Rejected[], meta: QuarantineMeta): QuarantineObject[] {
  const day = eventDay(meta.receivedAt);
  const id = meta.requestId.replace(/[^A-Za-z0-9._-]/g, "_");
  const out: QuarantineObject[] = [];
  for (const r of rejected.slice(0, QUARANTINE_SINGLE_OBJECTS)) out.push({ key: `${QUARANTINE_PREFIX}${day}/${id}-${r.index}.json`, body: entry(r, meta), reason: r.reason.slice(0, 256) });
  if (rejected.length > QUARANTINE_SINGLE_OBJECTS) {
    const lines = rejected.slice(QUARANTINE_SINGLE_OBJECTS).map((r) => entry(r, meta));
    out.push({ key: `${QUARANTINE_PREFIX}${day}/${id}-rest.ndjson`, body: lines.join("\n") + "\n", reason: `${lines.length} more records` });
  }
  return out;
}

export interface QuarantineBucket {
  put(key: string, value: string, options?: { httpMetadata?: { contentType?: string }; customMetadata?: Record<string, string> }): Promise<unknown>;
}

/** Writes the objects (a few at a time). Throws the first R2 error after trying them all. */
export async function writeQuarantine(bucket: QuarantineBucket, rejected: Rejected[], meta: QuarantineMeta): Promise<number> {
  const objects = quarantineObjects(rejected, meta);
  let failure: unknown;
  for (let i = 0; i < objects.length; i += 6) {
    const results = await Promise.allSettled(
      objects.slice(i, i + 6).map((o) =>
        bucket.put(o.key, o.body, {
          httpMetadata: { contentType: o.key.endsWith(".ndjson") ? "application/x-ndjson" : "application/json" },
          customMetadata: { reason: o.reason },
        }),
      ),
    );
    for (const r of results) if (r.status === "rejected" && failure === undefined) failure = r.reason;
  }
  if (failure !== undefined) throw failure;
  return objects.length;
}
