// Object layout shared by the storage sinks (S3, R2, the archive): events grouped by OCSF class and
// event day (the UTC day of the event's `time`, not of the upload; see fileTime for a wrong sensor clock),
// one gzip NDJSON object per group:
//   <prefix>/class_uid=2004/event_day=20261122/<id>.ndjson.gz
// The id is a digest of the group and of the uids of the events in it, so the same batch delivered
// again gets the same key and overwrites its object instead of duplicating it.
// The body is the events' NDJSON lines as the delivery has them (not serialized again), gzipped by the
// runtime's native CompressionStream (zlib), not by fflate in JavaScript: bench/sinks.ts.
import type { OcsfEvent } from "../normalize/ocsf";
import { stableHex } from "../normalize/uid";
import type { SinkRequest } from "./types";
import { gzipLines, jsonTextOf } from "./batch";
import { eventFileTime, fileTime } from "./file-time";

export { eventFileTime, fileTime, FILE_TIME_AHEAD_MS, FILE_TIME_MIN } from "./file-time";

/** yyyyMMdd of a time in ms, UTC. */
export function eventDay(ms: number): string {
  const d = new Date(Number.isFinite(ms) ? ms : 0);
  const y = d.getUTCFullYear();
  const m = String(d.getUTCMonth() + 1).padStart(2, "0");
  const day = String(d.getUTCDate()).padStart(2, "0");
  return `${y}${m}${day}`;
}

export interface Placed {
  classUid: number;
  time: number;
  /** metadata.logged_time, when known: see fileTime. */
  loggedTime?: number | undefined;
}

export interface Group {
  classUid: number;
  day: string;
  /** Indices into the items, in input order. */
  indices: number[];
}

/** Groups items by class and event day, in first-seen order. */
export function groupByClassDay(items: readonly Placed[]): Group[] {
  const groups = new Map<string, Group>();
  for (let i = 0; i < items.length; i++) {
    const { classUid, time, loggedTime } = items[i]!;
    const day = eventDay(fileTime(time, loggedTime));
    const k = `${classUid}/${day}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { classUid, day, indices: [] }));
    g.indices.push(i);
  }
  return [...groups.values()];
}

/** The partition of a storage object an event belongs in: "<class_uid>/<yyyyMMdd>" (the day of its fileTime). */
export function classDayOf(e: OcsfEvent): string {
  return `${e.class_uid}/${eventDay(eventFileTime(e))}`;
}

/** An event's class, time and receipt time, for groupByClassDay. */
export function placed(e: OcsfEvent): Placed {
  return { classUid: e.class_uid, time: e.time, loggedTime: e.metadata?.logged_time };
}

/** The event's deterministic uid (set by the normalizers), or a digest of its content. */
export function uidOf(e: OcsfEvent): string {
  const uid = e.metadata?.uid;
  return typeof uid === "string" && uid !== "" ? uid : stableHex(JSON.stringify(e));
}

/** A digest of a set of events (order-independent) and a discriminator, for object names. */
export function batchId(discriminator: string, events: readonly OcsfEvent[]): string {
  return stableHex(`${discriminator}|${events.map(uidOf).sort().join(",")}`);
}

export function normalizePrefix(p: string): string {
  return p.replace(/^\/+|\/+$/g, "");
}

/** Hive-style path of a group under a prefix (no leading or trailing slash). */
export function hivePath(prefix: string, classUid: number, day: string): string {
  const p = normalizePrefix(prefix);
  return `${p ? p + "/" : ""}class_uid=${classUid}/event_day=${day}`;
}

/**
 * One PUT request per class and event day, each a gzip NDJSON object with a deterministic key.
 * `lines` (parallel to `events`, see SinkDriver.encode): the events' NDJSON lines; without them each
 * event is serialized here (the same text: a line is JSON.stringify of its event).
 */
export async function encodeNdjsonObjects(events: readonly OcsfEvent[], prefix: string, lines?: readonly string[]): Promise<SinkRequest[]> {
  const lineOf = jsonTextOf(events, lines);
  const out: SinkRequest[] = [];
  for (const g of groupByClassDay(events.map(placed))) {
    const dir = hivePath(prefix, g.classUid, g.day);
    const id = batchId(dir, g.indices.map((i) => events[i]!));
    out.push({
      events: g.indices,
      url: `${dir}/${id}.ndjson.gz`,
      method: "PUT",
      headers: { "content-type": "application/gzip" },
      body: await gzipLines(g.indices.length, (k) => lineOf(g.indices[k]!)),
    });
  }
  return out;
}
