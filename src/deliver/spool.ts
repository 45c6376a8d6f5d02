// The spool: what ingest accepted while the queue refused it (429/503 from Cloudflare Queues). Falco's
// http_output ignores status codes and sends each alert once, so a refused request would lose it;
// instead the messages that were not queued are written to R2, exactly as they would have been sent,
// and the request is answered 202 (`spooled: n`): the events are durable, which is Tributary's ack rule.
//
//   spool/<yyyymmdd>/<request id>-<uniq>-<n>.json   {v, request_id, tenant, received_at, spooled_at,
//                                                    reason, count, messages: [queue text, ...]}
// One object per refused sendBatch call (at most 100 messages, ~230 KB). <uniq> is generated per
// request, as for the quarantine (a sender's x-request-id can repeat).
//
// drainSpool sends the objects back to EVENTS in key order (oldest day first), within a budget (objects,
// subrequests, wall time), and deletes an object only after the queue took all its messages: from the scheduled handler
// every minute, and opportunistically after a later request's successful enqueue. Drains may run at once (the
// cron, after-ingest drains in several isolates, the admin drain): each claims an object before sending it, by
// creating its lease spool-lease/<key> with a conditional put (R2 `onlyIf`, only if absent), deleted with the
// object; a lease older than SPOOL_LEASE_MS (its drain died) is taken over. So two drains do not send the same
// object. Sending an object twice is still possible (its delete failed after the queue took it, or a send
// outlasted its lease): the events keep their metadata.uid, and the sinks deduplicate on it (docs/delivery.md,
// "At least once"). Messages may reference spill/ objects (large events), which must outlive the spool
// (docs/deploy.md, retention). An object R2 does not give (get or body read fails) stays, its claim given back
// so the next drain retries it; one that is no spool record is copied aside to spool-unreadable/<key> and only
// then removed (drainSpool, `one`).
import { sendTexts, type Producer, type Fallback } from "./enqueue";
import { eventDay } from "../sinks/objects";
import { log } from "../ops/log";
import { listWithMetadata } from "./dlq";
import { keyPart } from "./quarantine";
import { countSpool, countingProducer, setSpoolBacklog } from "../ops/record";

export const SPOOL_PREFIX = "spool/";
/** A drain's claim on a spool object: spool-lease/<spool key> (not under spool/, so never listed as one). */
export const SPOOL_LEASE_PREFIX = "spool-lease/";
/** A claim older than this is taken over (the drain that made it died); a drain sends an object well within it. */
export const SPOOL_LEASE_MS = 120_000;
/**
 * Where a spool object that is no spool record (not UTF-8 JSON of SpoolRecord's shape) is set aside, byte for
 * byte: spool-unreadable/<spool key> (not under spool/: no drain reads it again). docs/operate.md.
 */
export const SPOOL_UNREADABLE_PREFIX = "spool-unreadable/";

/**
 * How much one drain may do. Each object costs four subrequests (claim, get, sendBatch, one delete of the
 * object and its claim) and each list page one; the time budget is checked before each object is started
 * (so a run ends at most one object's round trips after it).
 */
export interface DrainBudget {
  /** Objects sent back at most. */
  objects: number;
  /** Subrequests at most (Workers Paid allows 10,000 per invocation: docs/deploy.md, "Limits to plan for"). */
  subrequests: number;
  /** Wall time at most, in ms. */
  ms: number;
  /** Objects in flight at once (each holds one connection at a time; Workers allow 6 simultaneous). */
  lanes: number;
}

/**
 * The every-minute drain (and `npm run dlq -- spool --drain`): until ~20 s or 5,000 subrequests (half the
 * paid limit, so ~1,250 objects, ~100,000 events), whichever comes first, four objects at a time.
 */
export const SPOOL_DRAIN_SCHEDULED: DrainBudget = { objects: 10_000, subrequests: 5_000, ms: 20_000, lanes: 4 };
/**
 * One opportunistic drain after an ingest request: 3 objects, one at a time, from a random place among the
 * oldest SPOOL_SCATTER_PAGE (so isolates draining at once mostly pick different objects).
 */
export const SPOOL_DRAIN_AFTER_INGEST: DrainBudget = { objects: 3, subrequests: 1 + 3 * 4, ms: 5_000, lanes: 1 };
/** The oldest objects an after-ingest drain picks its start among (one list call). */
export const SPOOL_SCATTER_PAGE = 100;
/** List pages the backlog gauge counts at most (1,000 keys a page); past them it says "at least". */
export const SPOOL_BACKLOG_PAGES = 10;
/** The Cron Trigger that drains the spool (wrangler.toml [triggers]; the intel refresh keeps its hourly one). */
export const SPOOL_CRON = "* * * * *";
/** An isolate looks for spool objects after a successful enqueue at most this often, unless it spooled itself. */
export const SPOOL_CHECK_MS = 60_000;

export interface SpoolRecord {
  v: 1;
  request_id: string;
  tenant?: string;
  received_at: string;
  spooled_at: string;
  /** The queue's refusal. */
  reason: string;
  /** Events in `messages`. */
  count: number;
  /** EVENTS message texts (src/deliver/enqueue.ts encodeMessage), as sendBatch was given them. */
  messages: string[];
}

export interface SpoolMeta {
  requestId: string;
  /** Server-generated per request (see quarantineUniq). */
  uniq: string;
  tenant?: string;
  receivedAt: number;
}

export interface SpoolBucket {
  put(key: string, value: string, options?: { httpMetadata?: { contentType?: string }; customMetadata?: Record<string, string> }): Promise<unknown>;
}

export function spoolKey(meta: SpoolMeta, n: number): string {
  return `${SPOOL_PREFIX}${eventDay(meta.receivedAt)}/${keyPart(meta.requestId)}-${keyPart(meta.uniq)}-${n}.json`;
}

/** The Enqueuer fallback of one request: each refused batch becomes one spool object. */
export function spooler(bucket: SpoolBucket, meta: SpoolMeta, now: () => number = Date.now): Fallback & { objects: number } {
  const f = async (texts: string[], events: number, cause: unknown) => {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const rec: SpoolRecord = {
      v: 1,
      request_id: meta.requestId,
      ...(meta.tenant !== undefined ? { tenant: meta.tenant } : {}),
      received_at: new Date(meta.receivedAt).toISOString(),
      spooled_at: new Date(now()).toISOString(),
      reason,
      count: events,
      messages: texts,
    };
    const key = spoolKey(meta, f.objects);
    await bucket.put(key, JSON.stringify(rec), {
      httpMetadata: { contentType: "application/json" },
      customMetadata: { events: String(events), messages: String(texts.length), requestId: meta.requestId.slice(0, 128), reason: `queue refused: ${reason}`.slice(0, 256) },
    });
    f.objects++;
    spooledHere = true;
    countSpool("spooled", events);
  };
  f.objects = 0;
  return f;
}

export interface DrainResult {
  /** Objects sent back to the queue and deleted. */
  objects: number;
  events: number;
  /** Spool objects listed but left (the budget, or the queue refused again). */
  left: number;
  /** More objects than the pages listed (left is then a lower bound). */
  more: boolean;
  /** The queue's refusal that stopped the drain, if any. */
  error?: string;
}

export interface DrainOptions {
  /** Start at a random place among the oldest SPOOL_SCATTER_PAGE objects (after-ingest drains); the value in [0, 1). */
  scatter?: () => number;
  now?: () => number;
}

/**
 * Sends spool objects back to the queue, in key order (oldest day first), within `budget`, and deletes
 * each once the queue took it. Stops starting objects at the first refusal (the queue is still down; the
 * objects stay) and when the budget is spent. With `scatter`, one list of the oldest SPOOL_SCATTER_PAGE
 * and a random window of them instead.
 */
export async function drainSpool(bucket: R2Bucket, queue: Producer, budget: DrainBudget, opts: DrainOptions = {}): Promise<DrainResult> {
  const now = opts.now ?? Date.now;
  const deadline = now() + budget.ms;
  const r: DrainResult = { objects: 0, events: 0, left: 0, more: false };
  let used = 0;
  let started = 0;
  let at = 0; // the clock as canStart last read it
  const canStart = () => r.error === undefined && started < budget.objects && used + 4 <= budget.subrequests && (at = now()) < deadline;

  const one = async (key: string) => {
    used += 4; // counted up front: claim, get, sendBatch, delete (a claim taken over or given back costs one more)
    const lease = `${SPOOL_LEASE_PREFIX}${key}`;
    if (!(await claim(bucket, lease, at))) return; // another drain is sending it
    let bytes: ArrayBuffer;
    let meta: Record<string, string> | undefined;
    try {
      const obj = await bucket.get(key);
      if (!obj) {
        r.left--; // drained meanwhile by another drain
        await bucket.delete(lease);
        return;
      }
      meta = obj.customMetadata;
      bytes = await obj.arrayBuffer();
    } catch (e) {
      // R2 did not give the object (its get failed or its body broke off): it stays in place, and its claim is
      // given back so that the next drain (the cron's, within a minute) tries again, not SPOOL_LEASE_MS later.
      // Tried once a drain, as any other object.
      log("warn", "spool object could not be read, left for the next drain", { key, error: e });
      await giveBack(bucket, lease);
      return;
    }
    const rec = spoolRecordOf(bytes);
    if (typeof rec === "string") {
      // R2 gave the whole object and it is no spool record: reading it again gives the same bytes, so it is not
      // retried (every drain would read and refuse it again). It is set aside byte for byte under
      // SPOOL_UNREADABLE_PREFIX for an operator, then removed from the spool with its claim. Should setting it aside
      // fail, it stays where it is and its claim is given back: the next drain tries again, once a drain.
      const aside = `${SPOOL_UNREADABLE_PREFIX}${key}`;
      try {
        await bucket.put(aside, bytes, { customMetadata: { ...meta, unreadable: rec.slice(0, 256) } });
        await bucket.delete([key, lease]);
      } catch (e) {
        log("error", "spool object unreadable and could not be set aside, left for the next drain", { key, reason: rec, error: e });
        await giveBack(bucket, lease);
        return;
      }
      log("error", "spool object unreadable, set aside", { key, aside, reason: rec });
      r.left--;
      return;
    }
    let sent = false;
    if (r.error === undefined) {
      // (else another lane saw the queue refuse: do not send more)
      try {
        if (rec.messages.length > 0) await sendTexts(queue, rec.messages);
        sent = true;
      } catch (e) {
        r.error ??= e instanceof Error ? e.message : String(e);
      }
    }
    if (!sent) {
      await bucket.delete(lease); // the next drain may take it at once
      return;
    }
    await bucket.delete([key, lease]);
    countSpool("drained", rec.count);
    r.objects++;
    r.events += rec.count;
    r.left--;
  };

  let cursor: string | undefined;
  // bounded: one page per 1,000 objects of the budget, and a page only while an object could still start
  // (canStart: subrequests, time and objects left)
  for (let page = 0; page < Math.ceil(budget.objects / 1000) + 1 && canStart(); page++) {
    const limit = opts.scatter ? SPOOL_SCATTER_PAGE : Math.min(1000, Math.max(1, budget.objects - started));
    const list = await bucket.list({ prefix: SPOOL_PREFIX, limit, ...(cursor !== undefined ? { cursor } : {}) });
    used++;
    r.left += list.objects.length;
    r.more = list.truncated;
    let keys = list.objects.map((o) => o.key);
    if (opts.scatter) {
      const from = Math.floor(opts.scatter() * Math.max(1, keys.length - budget.objects + 1));
      keys = keys.slice(from);
    }
    let next = 0;
    const lane = async () => {
      while (next < keys.length && canStart()) {
        started++;
        await one(keys[next++]!);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, budget.lanes) }, lane));
    if (!list.truncated || opts.scatter) break;
    cursor = list.cursor;
  }
  if (r.objects > 0 || r.error) log(r.error ? "warn" : "info", "spool drained", { ...r });
  return r;
}

/** The spool record in an object's bytes, or why they are none (not UTF-8, not JSON, not a SpoolRecord's shape). */
function spoolRecordOf(bytes: ArrayBuffer): SpoolRecord | string {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch (e) {
    return `not a spool record: ${e instanceof Error ? e.message : String(e)}`;
  }
  const rec = v as Partial<SpoolRecord> | null;
  if (typeof rec !== "object" || rec === null || !Array.isArray(rec.messages) || !rec.messages.every((m) => typeof m === "string") || typeof rec.count !== "number") {
    return "not a spool record: expected an object with messages (strings) and count (a number)";
  }
  return rec as SpoolRecord;
}

/** Gives a claim back (the object stays for the next drain); a failure leaves it to expire after SPOOL_LEASE_MS. */
async function giveBack(bucket: R2Bucket, lease: string): Promise<void> {
  try {
    await bucket.delete(lease);
  } catch (e) {
    log("warn", "spool claim not given back, it expires by itself", { lease, error: e });
  }
}

/** Writes an empty lease (or hold) object at `key` that lasts until `until` (ms, its `until` custom metadata). */
export function putUntil(bucket: R2Bucket, key: string, until: number, onlyIf?: R2Conditional): Promise<R2Object | null> {
  return bucket.put(key, "", { ...(onlyIf ? { onlyIf } : {}), customMetadata: { until: String(until) } });
}

/** When a lease (or hold) object written by putUntil ends, ms (0 when it says nothing). */
export function untilOf(o: R2Object): number {
  return Number(o.customMetadata?.until ?? 0);
}

/**
 * Claims a spool object for one drain: creates its lease only if there is none, or takes over one older than
 * SPOOL_LEASE_MS (only if no other drain took it over first). False when another drain holds it.
 */
export async function claim(bucket: R2Bucket, lease: string, now: number): Promise<boolean> {
  const put = (onlyIf: R2Conditional) => putUntil(bucket, lease, now + SPOOL_LEASE_MS, onlyIf);
  if (await put({ etagDoesNotMatch: "*" })) return true;
  const held = await bucket.head(lease);
  if (held && untilOf(held) > now) return false;
  return (await put(held ? { etagMatches: held.etag } : { etagDoesNotMatch: "*" })) !== null;
}

/**
 * Spool objects, counted over at most `pages` list pages: `more` when there are more than `objects`. The
 * lists ask for no metadata, so each page holds as many keys as R2 gives (1,000).
 */
export async function countSpoolObjects(bucket: R2Bucket, pages = SPOOL_BACKLOG_PAGES): Promise<{ objects: number; more: boolean }> {
  const { items, more } = await listWithMetadata(bucket, SPOOL_PREFIX, Infinity, pages, () => 0, { metadata: false });
  return { objects: items.length, more };
}

let lastCheck = Number.NEGATIVE_INFINITY;
let spooledHere = false;

/**
 * Whether a request that enqueued successfully should drain a few spool objects (after its answer):
 * when this isolate spooled something since its last look, else at most every SPOOL_CHECK_MS (an R2
 * list per look, so not one per request).
 */
export function drainDue(now: number = Date.now()): boolean {
  if (!spooledHere && now - lastCheck < SPOOL_CHECK_MS) return false;
  lastCheck = now;
  spooledHere = false;
  return true;
}

/** A bounded drain; never throws (what it could not send stays in the spool for the next one). */
export async function drainQuietly(env: { ARCHIVE: R2Bucket; EVENTS: Producer }, budget: DrainBudget, opts: DrainOptions = {}): Promise<DrainResult | undefined> {
  try {
    return await drainSpool(env.ARCHIVE, countingProducer(env.EVENTS), budget, opts);
  } catch (e) {
    log("error", "spool drain failed", { error: e });
    return undefined;
  }
}

/** The opportunistic drain after an ingest request: a few objects from a random place among the oldest. */
export const drainAfterIngest = (env: { ARCHIVE: R2Bucket; EVENTS: Producer }) => drainQuietly(env, SPOOL_DRAIN_AFTER_INGEST, { scatter: Math.random });

/**
 * The scheduled drain (every minute), within SPOOL_DRAIN_SCHEDULED; then counts the backlog left over at
 * most SPOOL_BACKLOG_PAGES list pages (tributary_spool_backlog_objects, and _more when there are more).
 */
export async function drainScheduled(env: { ARCHIVE: R2Bucket; EVENTS: Producer }): Promise<DrainResult | undefined> {
  const r = await drainQuietly(env, SPOOL_DRAIN_SCHEDULED);
  try {
    const left = await countSpoolObjects(env.ARCHIVE);
    setSpoolBacklog(left.objects, left.more);
  } catch (e) {
    log("error", "spool backlog count failed", { error: e });
  }
  return r;
}

export interface SpoolInfo {
  key: string;
  events: number;
  messages: number;
  reason: string;
  size: number;
  uploaded: string;
}

/** The spool's objects in key order (oldest day first), at most `limit` (bounded R2 list pages), from their metadata. */
export async function listSpool(bucket: R2Bucket, limit = 1000): Promise<{ objects: SpoolInfo[]; more: boolean }> {
  const { items, more } = await listWithMetadata(bucket, SPOOL_PREFIX, limit, 10, (o): SpoolInfo => {
    const m = o.customMetadata ?? {};
    return { key: o.key, events: Number(m.events ?? 0), messages: Number(m.messages ?? 0), reason: m.reason ?? "", size: o.size, uploaded: o.uploaded.toISOString() };
  });
  return { objects: items, more };
}
