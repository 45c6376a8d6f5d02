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
// drainSpool sends the objects back to EVENTS in key order (oldest day first), a bounded number per
// call, and deletes an object only after the queue took all its messages: from the scheduled handler
// every minute, and opportunistically after a later request's successful enqueue. Draining the same object twice (two
// drains at once, or a delete that failed) queues its events twice: they keep their metadata.uid, and the
// sinks deduplicate on it (docs/delivery.md, "At least once"). Messages may reference spill/ objects
// (large events), which must outlive the spool (docs/deploy.md, retention).
import type { Producer, Fallback } from "./enqueue";
import { eventDay } from "../sinks/objects";
import { log } from "../ops/log";
import { countSpool, countingProducer, setSpoolBacklog } from "../ops/record";

export const SPOOL_PREFIX = "spool/";
/** Objects one opportunistic drain (after an ingest request) sends back at most. */
export const SPOOL_DRAIN_AFTER_INGEST = 3;
/** Objects one scheduled drain sends back at most (each is one sendBatch call). */
export const SPOOL_DRAIN_SCHEDULED = 100;
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

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_");

export function spoolKey(meta: SpoolMeta, n: number): string {
  return `${SPOOL_PREFIX}${eventDay(meta.receivedAt)}/${safe(meta.requestId)}-${safe(meta.uniq)}-${n}.json`;
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
  /** Spool objects seen but left (the drain's bound, or the queue refused again). */
  left: number;
  /** More objects than one list page (left is then a lower bound). */
  more: boolean;
  /** The queue's refusal that stopped the drain, if any. */
  error?: string;
}

/**
 * Sends up to `max` spool objects back to the queue and deletes each once the queue took it. Stops at
 * the first refusal (the queue is still down; the objects stay). `listLimit` bounds the one list call
 * (the scheduled drain lists a full page to report the backlog).
 */
export async function drainSpool(bucket: R2Bucket, queue: Producer, max: number, listLimit = max): Promise<DrainResult> {
  const list = await bucket.list({ prefix: SPOOL_PREFIX, limit: Math.max(max, listLimit) });
  const r: DrainResult = { objects: 0, events: 0, left: list.objects.length, more: list.truncated };
  for (const o of list.objects.slice(0, max)) {
    const obj = await bucket.get(o.key);
    if (!obj) {
      r.left--; // drained meanwhile by another drain
      continue;
    }
    let rec: SpoolRecord;
    try {
      rec = await obj.json<SpoolRecord>();
    } catch (e) {
      log("error", "spool object unreadable, left in place", { key: o.key, error: e });
      continue;
    }
    try {
      if (rec.messages.length > 0) await queue.sendBatch(rec.messages.map((body) => ({ body, contentType: "text" as const })));
    } catch (e) {
      r.error = e instanceof Error ? e.message : String(e);
      break;
    }
    await bucket.delete(o.key);
    countSpool("drained", rec.count);
    r.objects++;
    r.events += rec.count;
    r.left--;
  }
  if (r.objects > 0 || r.error) log(r.error ? "warn" : "info", "spool drained", { ...r });
  return r;
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
export async function drainQuietly(env: { ARCHIVE: R2Bucket; EVENTS: Producer }, max: number, listLimit = max): Promise<DrainResult | undefined> {
  try {
    return await drainSpool(env.ARCHIVE, countingProducer(env.EVENTS), max, listLimit);
  } catch (e) {
    log("error", "spool drain failed", { error: e });
    return undefined;
  }
}

/** The scheduled drain (every minute): up to SPOOL_DRAIN_SCHEDULED objects; reports the backlog left. */
export async function drainScheduled(env: { ARCHIVE: R2Bucket; EVENTS: Producer }): Promise<DrainResult | undefined> {
  const r = await drainQuietly(env, SPOOL_DRAIN_SCHEDULED, 1000);
  if (r) setSpoolBacklog(r.left);
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
  const objects: SpoolInfo[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10 && objects.length < limit; page++) {
    const list = await bucket.list({ prefix: SPOOL_PREFIX, cursor, include: ["customMetadata"] });
    for (const o of list.objects) {
      const m = o.customMetadata ?? {};
      objects.push({ key: o.key, events: Number(m.events ?? 0), messages: Number(m.messages ?? 0), reason: m.reason ?? "", size: o.size, uploaded: o.uploaded.toISOString() });
    }
    if (!list.truncated) return { objects: objects.slice(0, limit), more: objects.length > limit };
    cursor = list.cursor;
  }
  return { objects: objects.slice(0, limit), more: true };
}
