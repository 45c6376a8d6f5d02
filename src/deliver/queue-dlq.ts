// The last layer of delivery (docs/delivery.md, "Nothing is dropped silently"): a message that
// EVENTS or DELIVERIES could not settle within the consumer's max_retries is moved by Cloudflare Queues
// to the dead-letter queue (wrangler.toml `dead_letter_queue = "tributary-events-dlq"` on both
// consumers). This consumer keeps each such message in R2 as it came, without reading the config (a
// bad config may be why it is here) and without touching any sink:
//   dlq-queue/<origin>/<yyyyMMdd>/<message id>.json   {v, origin, dlq, id, attempts, timestamp, dead_at, count, body}
// <origin> is the queue the message belongs back to, told by its shape as the main consumer does:
// "deliveries" (a DeliveryMessage) or "events" (anything else, as ingest sent it). A message is
// acked only once its object is stored; otherwise it comes back (backing off) until R2 takes it.
// `npm run dlq -- list|show|replay` (GET /v1/dlq, src/routes/dlq.ts) lists them as sink
// "queue:<origin>" and replay sends the body back to its queue unchanged.
import { eventDay } from "../sinks/objects";
import { redeliver } from "./backoff";
import { isDeliveryMessage } from "./retry";
import { log } from "../ops/log";
import { listDeadLetterObjects, readRecord, type DeadLetterInfo } from "./dlq";

export const QUEUE_DLQ_PREFIX = "dlq-queue/";
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
}

/** True for a batch from a dead-letter queue: by convention its name ends with "-dlq". */
export function isDeadLetterQueue(queue: string): boolean {
  return queue.endsWith("-dlq");
}

export function originOf(body: unknown): QueueOrigin {
  return isDeliveryMessage(body) ? "deliveries" : "events";
}

function safeId(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, "_");
}

export function queueDeadLetterKey(origin: QueueOrigin, id: string, now: number): string {
  return `${QUEUE_DLQ_PREFIX}${origin}/${eventDay(now)}/${safeId(id)}.json`;
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

export async function consumeDeadLetterQueue(batch: MessageBatch<unknown>, archive: R2Bucket, now: () => number = Date.now): Promise<void> {
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

/** Sends a queue dead letter's body back to the queue it came from, as it was (text stays text). */
export async function resendQueueDeadLetter(rec: QueueDeadLetter, queues: { EVENTS: Queue; DELIVERIES?: Queue | undefined }): Promise<void> {
  if (rec.origin === "deliveries") {
    if (!queues.DELIVERIES) throw new Error("no DELIVERIES queue binding");
    await queues.DELIVERIES.send(rec.body, { contentType: "json" });
  } else await queues.EVENTS.send(rec.body, { contentType: typeof rec.body === "string" ? "text" : "json" });
}
