// The dead-letter store: events a sink rejected (permanent failure) or that ran out of attempts,
// as JSON objects in the ARCHIVE R2 bucket:
//   dlq/<sink>/<yyyyMMdd>/<id>.json   {v, sink, type, reason, attempts, response?, item_status?, count, events[]}
// The id is a digest of the sink and the events' uids, so the same events dead-lettered twice (a
// redelivered queue message) overwrite one record. `npm run dlq -- list|replay` reads and replays them.
// The R2 metadata `tenants` counts the events per tenant (metadata.tenant_uid), for the per-tenant listing.
// A replay first moves a record aside to <id>.replaying.json (setAsideForReplay), so the consumer can write the
// same key again for the replayed events without the replay's delete removing it; a crash leaves that copy listed.
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

/** Suffix of a dead letter a replay set aside (`<id>.replaying.json` beside `<id>.json`) while it sends its events. */
export const REPLAYING_SUFFIX = ".replaying.json";

/**
 * Moves the dead letter at `key` aside before its replay sends the events: a copy (same body and metadata, with
 * `replaying`: when) at `<id>.replaying.json`, then `key` is deleted. The consumer may dead-letter the replayed
 * events again under `key` (the same sink, day and uids) before the replay is done: what it writes there then
 * stays, as the replay deletes only the copy, after sending. A key already set aside is returned as it is (the
 * consumer never writes one). Undefined when there is no such record (another replay took it). Throws what R2 throws.
 */
export async function setAsideForReplay(bucket: R2Bucket, key: string, now: number): Promise<string | undefined> {
  if (key.endsWith(REPLAYING_SUFFIX)) return key;
  const obj = await bucket.get(key);
  if (!obj) return undefined;
  const pending = `${key.replace(/\.json$/, "")}${REPLAYING_SUFFIX}`;
  await bucket.put(pending, await obj.arrayBuffer(), { httpMetadata: obj.httpMetadata, customMetadata: { ...obj.customMetadata, replaying: new Date(now).toISOString() } });
  await bucket.delete(key);
  return pending;
}

/** The events per tenant (metadata.tenant_uid; events without one are not counted), in first-seen order. */
export function tenantCounts(events: readonly OcsfEvent[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const e of events) {
    const t = e.metadata?.tenant_uid;
    if (typeof t === "string") counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  return [...counts];
}

/**
 * Longest `tenants` metadata kept (characters of its JSON; R2 allows 8,192 bytes of metadata in all, the
 * reason takes up to 500 characters): a longer list is not stored, and the listing reads the record instead.
 */
const MAX_TENANTS_META = 1024;

export async function writeDeadLetter(bucket: R2Bucket, d: Omit<DeadLetter, "v" | "count" | "dead_at">, now: number): Promise<string> {
  const itemStatus = d.item_status ?? (d.response?.status === 200 ? bulkItemStatus(d.reason) : undefined);
  const rec: DeadLetter = { v: 1, ...d, ...(itemStatus !== undefined ? { item_status: itemStatus } : {}), dead_at: new Date(now).toISOString(), count: d.events.length };
  const key = dlqKey(d.sink, d.events, now);
  const tenants = JSON.stringify(tenantCounts(d.events));
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
      ...(tenants.length <= MAX_TENANTS_META ? { tenants } : {}),
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
  /** Events per tenant (metadata.tenant_uid), from the `tenants` metadata; absent when it was not stored. */
  tenants?: Record<string, number>;
  /** Set aside by a replay that did not finish (setAsideForReplay): when; its events may be on the queue already. */
  replaying?: string;
}

/** The `tenants` metadata ([[tenant, events], ...]) as an object of own keys, or undefined when absent or unreadable. */
function storedTenants(m: Record<string, string>): Record<string, number> | undefined {
  if (m.tenants === undefined) return undefined;
  try {
    const pairs: unknown = JSON.parse(m.tenants);
    if (!Array.isArray(pairs) || !pairs.every((p) => Array.isArray(p) && typeof p[0] === "string" && typeof p[1] === "number")) return undefined;
    return Object.fromEntries(pairs as [string, number][]);
  } catch {
    return undefined;
  }
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
    const tenants = storedTenants(m);
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
      ...(tenants !== undefined ? { tenants } : {}),
      ...(m.replaying ? { replaying: m.replaying } : {}),
    };
  });
  return items;
}

/** Most dead letters a tenant's listing looks through, and most records it reads for want of `tenants` metadata. */
export const TENANT_SCAN = 10_000;
export const TENANT_READS = 500;

export interface TenantDeadLetters {
  /** The dead letters holding events of the tenant (each with all its tenants' counts), at most `limit`. */
  dead: DeadLetterInfo[];
  /** Records written without `tenants` metadata that were not read (over TENANT_READS): they may hold the tenant's events. */
  unchecked: number;
  /** Dead letters were left unlooked at: `limit` was reached, or there are more than TENANT_SCAN. */
  more: boolean;
}

/**
 * The dead letters (optionally of one sink) that hold events of `tenant`, by their `tenants` metadata; a record
 * written before it was stored is read (at most TENANT_READS of them) for its events' metadata.tenant_uid.
 */
export async function listTenantDeadLetters(bucket: R2Bucket, tenant: string, sink: string | undefined, limit: number): Promise<TenantDeadLetters> {
  const all = await listDeadLetters(bucket, sink, TENANT_SCAN + 1);
  const scanned = all.slice(0, TENANT_SCAN);
  const dead: DeadLetterInfo[] = [];
  let reads = 0;
  let unchecked = 0;
  let i = 0;
  for (; i < scanned.length && dead.length < limit; i++) {
    const d = scanned[i]!;
    let tenants = d.tenants;
    if (tenants === undefined) {
      if (reads >= TENANT_READS) {
        unchecked++;
        continue;
      }
      reads++;
      const rec = await readDeadLetter(bucket, d.key);
      tenants = Object.fromEntries(tenantCounts(Array.isArray(rec?.events) ? rec.events : []));
    }
    if (Object.hasOwn(tenants, tenant)) dead.push({ ...d, tenants });
  }
  return { dead, unchecked, more: i < all.length };
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
