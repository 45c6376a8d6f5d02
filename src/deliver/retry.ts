// Retries go through a second queue (DELIVERIES, "tributary-deliveries"): one message per sink and
// failed request, sent with delaySeconds = the backoff. Events travel inline as NDJSON when the
// message stays under INLINE_BYTES; a larger set (a big storage batch) is parked in R2 under
// deliveries/ and the message carries its key, so a retried object keeps all its events (and its
// deterministic key).
import { stableHex } from "../normalize/uid";
import { uidOf } from "../sinks/objects";
import { utf8Length } from "../sinks/batch";
import type { Item } from "./attempt";

/**
 * Largest serialized DELIVERIES message (JSON, where every quote of the NDJSON is escaped): the
 * queue limit is 128 KB including ~100 bytes of metadata.
 */
export const INLINE_BYTES = 120_000;
export const SPILL_PREFIX = "deliveries/";

/** The body of a DELIVERIES message: events for one sink, to be tried again. */
export interface DeliveryMessage {
  v: 1;
  kind: "delivery";
  sink: string;
  /** The attempt this message is for (2 = the first retry; a DLQ replay starts again at 1). */
  attempt: number;
  /** When the first attempt was made (ms since the epoch). */
  first_attempt_at: number;
  /** Why the previous attempt failed (or "replay"). */
  reason: string;
  /** The events were one request tagged SinkRequest.retryAs (a Slack digest): this tag, so the retry keeps that shape. */
  retry_of?: string;
  count: number;
  /** The events as NDJSON, or: */
  ndjson?: string;
  /** the key of an R2 object (ARCHIVE bucket) holding them. */
  ref?: string;
}

export function isDeliveryMessage(b: unknown): b is DeliveryMessage {
  if (typeof b !== "object" || b === null) return false;
  const m = b as Partial<DeliveryMessage>;
  return m.v === 1 && m.kind === "delivery" && typeof m.sink === "string" && typeof m.attempt === "number" && (typeof m.ndjson === "string" || typeof m.ref === "string");
}

/** The DELIVERIES producer (a Queue binding, or a stub in tests). */
export interface DeliveriesQueue {
  send(body: DeliveryMessage, options?: { contentType?: "json"; delaySeconds?: number }): Promise<unknown>;
}

export interface ScheduleDeps {
  deliveries: DeliveriesQueue | undefined;
  archive: R2Bucket;
}

/**
 * Sends one set of events back through DELIVERIES after `delaySeconds`; returns the R2 key the events
 * were parked under, if any. Throws what the queue or R2 throws.
 */
export async function scheduleDelivery(
  deps: ScheduleDeps,
  m: Omit<DeliveryMessage, "v" | "kind" | "count" | "ndjson" | "ref">,
  items: readonly Item[],
  delaySeconds: number,
): Promise<string | undefined> {
  if (!deps.deliveries) throw new Error("no DELIVERIES queue binding");
  const ndjson = items.map((i) => i.line).join("\n");
  const reason = m.reason.length > 1000 ? m.reason.slice(0, 1000) + "…" : m.reason;
  const msg: DeliveryMessage = { v: 1, kind: "delivery", ...m, reason, count: items.length };
  // cheap bound first (escaping at most doubles the text), exact size when it could be close
  const bytes = utf8Length(ndjson);
  if (bytes * 2 + 2000 <= INLINE_BYTES || (bytes <= INLINE_BYTES && utf8Length(JSON.stringify({ ...msg, ndjson })) <= INLINE_BYTES)) msg.ndjson = ndjson;
  else {
    // the key names the sink and the events, so messages in flight with the same events (a retry and a DLQ
    // replay, a message handed over twice) share one object. Safe: a consumer deletes it only after settling
    // that whole set (delivered, dead-lettered, or parked under another key with its own message; never the
    // key it re-parked), so another message finding it gone is acked as settled (test/deliver/parked-shared)
    msg.ref = `${SPILL_PREFIX}${m.sink}/${stableHex(`${m.sink}|${items.map((i) => uidOf(i.event)).sort().join(",")}`)}.ndjson`;
    await deps.archive.put(msg.ref, ndjson, { httpMetadata: { contentType: "application/x-ndjson" }, customMetadata: { sink: m.sink, count: String(items.length) } });
  }
  await deps.deliveries.send(msg, { contentType: "json", delaySeconds });
  return msg.ref;
}

/** The NDJSON a delivery message carries (undefined when its R2 object is gone: already delivered). */
export async function loadDelivery(archive: R2Bucket, m: DeliveryMessage): Promise<string | undefined> {
  if (m.ndjson !== undefined) return m.ndjson;
  const obj = m.ref ? await archive.get(m.ref) : null;
  return obj ? await obj.text() : undefined;
}
