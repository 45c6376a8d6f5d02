// The last layer of delivery (docs/delivery.md, "Nothing is dropped silently"): a message that
// EVENTS or DELIVERIES could not settle within the consumer's max_retries is moved by Cloudflare Queues
// to the dead-letter queue (wrangler.toml `dead_letter_queue = "tributary-events-dlq"` on both
// consumers). This consumer keeps each such message in R2 as it came, without reading the config (a
// bad config may be why it is here) and without touching any sink:
//   dlq-queue/<origin>/<yyyyMMdd>/<message id>.json   {v, origin, dlq, id, attempts, timestamp, dead_at, count, body,
//                                                      objects?, missing?}
// Self-contained: a body may only point at R2 objects (EVENTS `spill` keys of events too large for a
// message, a DELIVERIES `ref` to a parked batch), which a lifecycle rule deletes after some days, while
// a message reaches this queue after ~51 h and its record may wait longer than that for a replay. So
// the record keeps a copy of each: its text in `objects` (up to INLINE_OBJECT_BYTES in all), or, past
// that, a copy under dlq-queue-objects/ (same lifetime as the record, removed with it on replay).
// Objects already gone are named in `missing` (the message is kept all the same).
// <origin> is the queue the message belongs back to, told by its shape as the main consumer does:
// "deliveries" (a DeliveryMessage) or "events" (anything else, as ingest sent it). A message is
// acked only once its object is stored; otherwise it comes back (backing off) until R2 takes it.
// `npm run dlq -- list|show|replay` (GET /v1/dlq, src/routes/dlq.ts) lists them as sink
// "queue:<origin>" and replay puts the referenced objects back where the body expects them (as enqueue
// and scheduleDelivery wrote them), then sends the body back to its queue unchanged.
import { eventDay } from "../sinks/objects";
import { redeliver } from "./backoff";
import { isDeliveryMessage } from "./retry";
import { log } from "../ops/log";
import { listDeadLetterObjects, readRecord, type DeadLetterInfo } from "./dlq";
import { decodeMessage, encodeMessage } from "./enqueue";
import { jsonContentType, keyPart } from "./quarantine";

export const QUEUE_DLQ_PREFIX = "dlq-queue/";
/** Copies of referenced objects too large to keep inside their record (see ReferencedObject.copy). */
export const QUEUE_DLQ_OBJECTS_PREFIX = "dlq-queue-objects/";
/** Text of referenced objects kept inside one record, at most (the rest is copied beside it). */
export const INLINE_OBJECT_BYTES = 8_000_000;
/** Deliveries of a dead letter that try to copy the objects it points at; later ones store the pointers only. */
export const KEEP_OBJECTS_ATTEMPTS = 5;
/** How GET /v1/dlq names these records' "sink" (filter with ?sink=queue:events). */
export const QUEUE_SINK_PREFIX = "queue:";

export type QueueOrigin = "events" | "deliveries";

export interface QueueDeadLetter {
  v: 1;
  origin: QueueOrigin;
  /** The dead-letter queue it was read from. */
  dlq: string;
  id: string;
  /** Deliveries of the message before it was dead-lettered (msg.attempts on the DLQ counts again from 1). */
  attempts: number;
  /** When the message was first sent (ISO 8601). */
  timestamp: string;
  dead_at: string;
  /** Events the body carries, as its header says (0 when it does not say). */
  count: number;
  /** The message body exactly as the queue handed it over (text for EVENTS, an object for DELIVERIES). */
  body: unknown;
  /** The R2 objects the body points at, as they were when it was dead-lettered (none: the body is all). */
  objects?: ReferencedObject[];
  /** Keys the body points at that were already gone then (their events cannot be replayed). */
  missing?: string[];
  /** Why `objects` is not there although the body points at objects (copying kept failing). */
  objects_error?: string;
}

export interface ReferencedObject {
  /** Where the body expects it (spill/<uid>.json, deliveries/<sink>/<id>.ndjson). */
  key: string;
  /** Its text, or: */
  text?: string;
  /** the key of its copy under QUEUE_DLQ_OBJECTS_PREFIX (when the record would grow past INLINE_OBJECT_BYTES). */
  copy?: string;
}

/** The R2 keys a message body points at: spilled events of an EVENTS message, a DELIVERIES message's parked batch. */
export function referencedKeys(body: unknown): string[] {
  if (isDeliveryMessage(body)) return body.ndjson === undefined && body.ref ? [body.ref] : [];
  return decodeMessage(body)?.spill ?? [];
}

/** Reads what the body points at: inline up to the budget, copied beside the record past it. Throws what R2 throws. */
async function keepReferenced(archive: R2Bucket, keys: string[], copyPrefix: string, budget: number): Promise<{ objects: ReferencedObject[]; missing: string[] }> {
  const objects: ReferencedObject[] = [];
  const missing: string[] = [];
  for (const key of keys) {
    const obj = await archive.get(key);
    if (!obj) {
      missing.push(key);
      continue;
    }
    if (obj.size <= budget) {
      budget -= obj.size;
      objects.push({ key, text: await obj.text() });
    } else {
      const copy = `${copyPrefix}${key}`;
      await archive.put(copy, await obj.arrayBuffer(), { httpMetadata: obj.httpMetadata, customMetadata: obj.customMetadata });
      objects.push({ key, copy });
    }
  }
  return { objects, missing };
}

/** True for a batch from a dead-letter queue: by convention its name ends with "-dlq". */
export function isDeadLetterQueue(queue: string): boolean {
  return queue.endsWith("-dlq");
}

export function originOf(body: unknown): QueueOrigin {
  return isDeliveryMessage(body) ? "deliveries" : "events";
}

export function queueDeadLetterKey(origin: QueueOrigin, id: string, now: number): string {
  return `${QUEUE_DLQ_PREFIX}${origin}/${eventDay(now)}/${keyPart(id)}.json`;
}

/** Events a body carries, when it says (header count of EVENTS text, `count` of a DeliveryMessage). */
function countOf(body: unknown): number {
  if (isDeliveryMessage(body)) return body.count;
  if (typeof body === "string") {
    const nl = body.indexOf("\n");
    try {
      const head = JSON.parse(nl < 0 ? body : body.slice(0, nl)) as { count?: unknown };
      return typeof head.count === "number" ? head.count : 0;
    } catch {
      return 0;
    }
  }
  const c = (body as { count?: unknown } | null)?.count;
  return typeof c === "number" ? c : 0;
}

export async function consumeDeadLetterQueue(batch: MessageBatch<unknown>, archive: R2Bucket, now: () => number = Date.now, inlineBytes = INLINE_OBJECT_BYTES): Promise<void> {
  for (const msg of batch.messages) {
    const at = now();
    const origin = originOf(msg.body);
    const rec: QueueDeadLetter = {
      v: 1,
      origin,
      dlq: batch.queue,
      id: msg.id,
      attempts: msg.attempts,
      timestamp: msg.timestamp.toISOString(),
      dead_at: new Date(at).toISOString(),
      count: countOf(msg.body),
      body: msg.body ?? null,
    };
    const key = queueDeadLetterKey(origin, msg.id, at);
    try {
      const refs = referencedKeys(msg.body);
      if (refs.length > 0) {
        try {
          const kept = await keepReferenced(archive, refs, `${QUEUE_DLQ_OBJECTS_PREFIX}${key.slice(QUEUE_DLQ_PREFIX.length, -".json".length)}/`, inlineBytes);
          if (kept.objects.length) rec.objects = kept.objects;
          if (kept.missing.length) {
            rec.missing = kept.missing;
            log("error", "dead-lettered message points at R2 objects that are gone", { id: msg.id, missing: kept.missing.length });
          }
        } catch (e) {
          // try again later; but this queue has no dead-letter queue of its own: after KEEP_OBJECTS_ATTEMPTS
          // keep the message as it came (pointers only) rather than risk losing it
          if (msg.attempts < KEEP_OBJECTS_ATTEMPTS) throw e;
          rec.objects_error = `the objects it points at could not be copied (${(e as Error).message}): the record keeps the pointers only`;
          log("error", "dead-lettered message kept without its referenced objects", { id: msg.id, error: (e as Error).message });
        }
      }
      await archive.put(key, JSON.stringify(rec), {
        httpMetadata: { contentType: "application/json" },
        customMetadata: { sink: `${QUEUE_SINK_PREFIX}${origin}`, count: String(rec.count), attempts: String(msg.attempts), reason: `queue message not settled; moved to ${batch.queue}` },
      });
      log("error", "queue message dead-lettered to R2", { key, origin, id: msg.id });
      msg.ack();
    } catch (e) {
      log("error", "dead-letter write failed, message retried", { id: msg.id, error: (e as Error).message });
      redeliver(msg);
    }
  }
}

/** Lists queue dead letters (optionally of one origin), at most `limit`, in the shape of GET /v1/dlq. */
export function listQueueDeadLetters(bucket: R2Bucket, origin?: QueueOrigin, limit = 10_000): Promise<DeadLetterInfo[]> {
  return listDeadLetterObjects(bucket, origin ? `${QUEUE_DLQ_PREFIX}${origin}/` : QUEUE_DLQ_PREFIX, limit, (key) => `${QUEUE_SINK_PREFIX}${key.split("/")[1] ?? ""}`);
}

export function readQueueDeadLetter(bucket: R2Bucket, key: string): Promise<QueueDeadLetter | undefined> {
  return readRecord<QueueDeadLetter>(bucket, QUEUE_DLQ_PREFIX, key);
}

/**
 * Sends a queue dead letter's body back to the queue it came from, as it was (text stays text), after
 * putting the objects it points at back where it expects them.
 */
export async function resendQueueDeadLetter(rec: QueueDeadLetter, queues: { EVENTS: Queue; DELIVERIES?: Queue | undefined }, archive?: R2Bucket): Promise<void> {
  if (rec.objects?.length) {
    if (!archive) throw new Error("the record's referenced objects need the ARCHIVE bucket");
    for (const o of rec.objects) {
      if (o.text !== undefined) await archive.put(o.key, o.text, { httpMetadata: { contentType: jsonContentType(o.key) } });
      else if (o.copy) {
        const c = await archive.get(o.copy);
        if (!c) throw new Error(`the copy ${o.copy} of ${o.key} is missing`);
        await archive.put(o.key, await c.arrayBuffer(), { httpMetadata: c.httpMetadata, customMetadata: c.customMetadata });
      }
    }
  }
  if (rec.origin === "deliveries") {
    // (a parked batch already gone means it was delivered: the consumer acks such a message)
    if (!queues.DELIVERIES) throw new Error("no DELIVERIES queue binding");
    await queues.DELIVERIES.send(rec.body, { contentType: "json" });
  } else {
    const body = withoutMissing(rec);
    await queues.EVENTS.send(body, { contentType: typeof body === "string" ? "text" : "json" });
  }
}

/**
 * An EVENTS body without the spilled events that were gone when it was dead-lettered: sent as it was,
 * the consumer would fail on them again and again (messageLines throws), holding back the others.
 */
function withoutMissing(rec: QueueDeadLetter): unknown {
  const m = rec.missing?.length ? decodeMessage(rec.body) : undefined;
  if (!m?.spill) return rec.body;
  const gone = new Set(rec.missing);
  const spill = m.spill.filter((k) => !gone.has(k));
  const trimmed = { ...m, count: m.count - (m.spill.length - spill.length), spill: spill.length ? spill : undefined };
  return typeof rec.body === "string" ? encodeMessage(trimmed) : trimmed;
}

/** Removes a replayed record's copies (QUEUE_DLQ_OBJECTS_PREFIX), after the record itself. */
export async function deleteCopies(archive: R2Bucket, rec: QueueDeadLetter): Promise<void> {
  const copies = (rec.objects ?? []).flatMap((o) => (o.copy ? [o.copy] : []));
  for (let i = 0; i < copies.length; i += 1000) await archive.delete(copies.slice(i, i + 1000));
}
