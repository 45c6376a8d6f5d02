// What the ARCHIVE bucket holds for an operator besides dead letters, for `npm run dlq -- staged|unreadable`
// (../routes/dlq.ts, docs/operate.md):
//   stage/<sink>/<class_uid>/<yyyyMMdd>/<id>.ndjson   a buffered sink's staged objects (./stage), summed per sink
//   spool-unreadable/<spool key>                      spool objects that were no spool record (./spool)
//   stage-unreadable/<staged key>                     staged objects that were not NDJSON (./compact)
// Both listings read R2 metadata only (bounded list pages), never an object's body.
import { stagedObject, STAGE_UNREADABLE_PREFIX } from "./compact";
import { listWithMetadata } from "./dlq";
import { SPOOL_UNREADABLE_PREFIX } from "./spool";
import { STAGE_PREFIX, stagePrefix } from "./stage";

export interface StagedSummary {
  sink: string;
  objects: number;
  /** From the objects' `events` metadata. */
  events: number;
  bytes: number;
  /** When the oldest object was staged (its `staged` metadata, else its upload time). */
  oldest: string;
  oldestAgeSeconds: number;
}

/**
 * The staged objects per sink (of one sink with `sink`), sinks in name order, over at most `limit` objects
 * (R2 list pages with metadata, 20 at most): `more` when there are more, then the sums are a lower bound.
 */
export async function stagedBySink(bucket: R2Bucket, now: number, sink?: string, limit = 10_000): Promise<{ sinks: StagedSummary[]; more: boolean }> {
  const { items, more } = await listWithMetadata(bucket, sink ? stagePrefix(sink) : STAGE_PREFIX, limit, 20, (o) => {
    const name = o.key.slice(STAGE_PREFIX.length).split("/")[0] ?? "";
    // a key not of the staged form (none is written so) still counts, as an object of its sink without events
    const s = stagedObject(o, stagePrefix(name)) ?? { events: 0, bytes: o.size, staged: o.uploaded.getTime() };
    return { sink: name, events: s.events, bytes: s.bytes, staged: s.staged };
  });
  const sums = new Map<string, { objects: number; events: number; bytes: number; oldest: number }>();
  for (const o of items) {
    const t = sums.get(o.sink) ?? { objects: 0, events: 0, bytes: 0, oldest: o.staged };
    sums.set(o.sink, { objects: t.objects + 1, events: t.events + o.events, bytes: t.bytes + o.bytes, oldest: Math.min(t.oldest, o.staged) });
  }
  const sinks = [...sums.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, t]) => ({ sink: name, objects: t.objects, events: t.events, bytes: t.bytes, oldest: new Date(t.oldest).toISOString(), oldestAgeSeconds: Math.max(0, Math.floor((now - t.oldest) / 1000)) }));
  return { sinks, more };
}

export interface UnreadableInfo {
  key: string;
  /** Which store set it aside: "spool" (./spool) or "stage" (./compact). */
  from: "spool" | "stage";
  size: number;
  /** When it was set aside. */
  uploaded: string;
  /** Why it was set aside (its `unreadable` metadata). */
  reason: string;
}

/** The objects set aside as unreadable, spool's then stage's, in key order, at most `limit` of each (10 list pages each). */
export async function listUnreadable(bucket: R2Bucket, limit = 1000): Promise<{ objects: UnreadableInfo[]; more: boolean }> {
  const stores = [
    ["spool", SPOOL_UNREADABLE_PREFIX],
    ["stage", STAGE_UNREADABLE_PREFIX],
  ] as const;
  const lists = await Promise.all(
    stores.map(([from, prefix]) =>
      listWithMetadata(bucket, prefix, limit, 10, (o): UnreadableInfo => ({ key: o.key, from, size: o.size, uploaded: o.uploaded.toISOString(), reason: o.customMetadata?.unreadable ?? "" })),
    ),
  );
  return { objects: lists.flatMap((l) => l.items), more: lists.some((l) => l.more) };
}
