// The dead-letter store: events a sink rejected (permanent failure) or that ran out of attempts,
// as JSON objects in the ARCHIVE R2 bucket:
//   dlq/<sink>/<yyyyMMdd>/<id>.json   {v, sink, type, reason, attempts, response?, item_status?, count, events[]}
// The id is a digest of the sink and the events' uids, so the same events dead-lettered twice (a
// redelivered queue message) overwrite one record. `npm run dlq -- list|replay` reads and replays them.
import { stableHex } from "../normalize/uid";
import { eventDay, uidOf } from "../sinks/objects";
import type { OcsfEvent } from "../normalize/ocsf";
import type { ResponseSummary } from "./attempt";
import { bulkItemStatus } from "../sinks/elasticsearch";

export const DLQ_PREFIX = "dlq/";

export interface DeadLetter {
  v: 1;
  sink: string;
  /** The sink's type when it was dead-lettered ("unknown" when the sink is not configured). */
  type: string;
  reason: string;
  /** Attempts made (1 = rejected on the first delivery). */
  attempts: number;
  first_attempt_at: string;
  dead_at: string;
  /** The sink's last answer, when there was one (none for network errors and timeouts). */
  response?: ResponseSummary;
  /**
   * The refused item's own status when `response` is a bulk request's 200 (Elasticsearch / OpenSearch):
   * given by the writer (the delivery path carries the sink's Outcome.itemStatus), else, for a writer that has
   * none, read from the reason when the record is written (bulkItemStatus).
   */
  item_status?: number;
  count: number;
  events: OcsfEvent[];
}

export function dlqKey(sink: string, events: readonly OcsfEvent[], now: number): string {
  return `${DLQ_PREFIX}${sink}/${eventDay(now)}/${stableHex(`${sink}|${events.map(uidOf).sort().join(",")}`)}.json`;
}

export async function writeDeadLetter(bucket: R2Bucket, d: Omit<DeadLetter, "v" | "count" | "dead_at">, now: number): Promise<string> {
  const itemStatus = d.item_status ?? (d.response?.status === 200 ? bulkItemStatus(d.reason) : undefined);
  const rec: DeadLetter = { v: 1, ...d, ...(itemStatus !== undefined ? { item_status: itemStatus } : {}), dead_at: new Date(now).toISOString(), count: d.events.length };
  const key = dlqKey(d.sink, d.events, now);
  await bucket.put(key, JSON.stringify(rec), {
    httpMetadata: { contentType: "application/json" },
    customMetadata: {
      sink: d.sink,
      count: String(rec.count),
      attempts: String(d.attempts),
      status: d.response ? String(d.response.status) : "",
      // always set ("" for none): a record without it was written before it was stored (listing reads the reason then)
      item_status: itemStatus !== undefined ? String(itemStatus) : "",
      reason: d.reason.slice(0, 500),
    },
  });
  return key;
}

export interface DeadLetterInfo {
  key: string;
  sink: string;
  count: number;
  attempts: number;
  status?: number;
  /**
   * The failed item's status when `status` is a bulk request's 200 (Elasticsearch / OpenSearch): the record's
   * `item_status` metadata; for records written before it was stored, read from the reason.
   */
  itemStatus?: number;
  reason: string;
  size: number;
  uploaded: string;
}

/** Lists dead letters (optionally of one sink), at most `limit` (bounded R2 list pages). */
export function listDeadLetters(bucket: R2Bucket, sink?: string, limit = 10_000): Promise<DeadLetterInfo[]> {
  return listDeadLetterObjects(bucket, sink ? `${DLQ_PREFIX}${sink}/` : DLQ_PREFIX, limit, (key) => key.split("/")[1] ?? "");
}

/** The dead-letter records under `prefix` from their R2 metadata; `sinkOf(key)` when it has no `sink`. */
export async function listDeadLetterObjects(bucket: R2Bucket, prefix: string, limit: number, sinkOf: (key: string) => string): Promise<DeadLetterInfo[]> {
  const { items } = await listWithMetadata(bucket, prefix, limit, 100, (o) => {
    const m = o.customMetadata ?? {};
    const reason = m.reason ?? "";
    const itemStatus = storedItemStatus(m, reason);
    return {
      key: o.key,
      sink: m.sink ?? sinkOf(o.key),
      count: Number(m.count ?? 0),
      attempts: Number(m.attempts ?? 0),
      ...(m.status ? { status: Number(m.status) } : {}),
      ...(itemStatus !== undefined ? { itemStatus } : {}),
      reason,
      size: o.size,
      uploaded: o.uploaded.toISOString(),
    };
  });
  return items;
}

/**
 * A bulk item's own status (a bulk answer, HTTP 200, that refused some items): the `item_status` metadata
 * writeDeadLetter stores ("" when there is none); a record written before it was stored has no such key,
 * and its reason names the item's status instead.
 */
function storedItemStatus(m: Record<string, string>, reason: string): number | undefined {
  const stored = m.item_status;
  if (stored !== undefined) return stored === "" || !Number.isInteger(Number(stored)) ? undefined : Number(stored);
  return m.status === "200" ? bulkItemStatus(reason) : undefined;
}

/**
 * The objects under `prefix` (with their custom metadata) in key order, each mapped by `map`, at most
 * `limit` of them over at most `pages` list pages: `more` when there are more than it returns. With
 * `metadata: false` the lists ask for no custom metadata (R2 may return fewer keys a page with it).
 */
export async function listWithMetadata<T>(
  bucket: R2Bucket,
  prefix: string,
  limit: number,
  pages: number,
  map: (o: R2Object) => T,
  opts: { metadata?: boolean } = {},
): Promise<{ items: T[]; more: boolean }> {
  const items: T[] = [];
  const include: R2ListOptions["include"] = opts.metadata === false ? undefined : ["customMetadata"];
  let cursor: string | undefined;
  for (let page = 0; page < pages && items.length < limit; page++) {
    const list = await bucket.list({ prefix, cursor, ...(include ? { include } : {}) });
    for (const o of list.objects) items.push(map(o));
    if (!list.truncated) return { items: items.slice(0, limit), more: items.length > limit };
    cursor = list.cursor;
  }
  return { items: items.slice(0, limit), more: true };
}

export function readDeadLetter(bucket: R2Bucket, key: string): Promise<DeadLetter | undefined> {
  return readRecord<DeadLetter>(bucket, DLQ_PREFIX, key);
}

/** The JSON record stored at `key`, if the key lies under `prefix` and the object exists. */
export async function readRecord<T>(bucket: R2Bucket, prefix: string, key: string): Promise<T | undefined> {
  if (!key.startsWith(prefix)) return undefined;
  const obj = await bucket.get(key);
  return obj ? ((await obj.json()) as T) : undefined;
}
