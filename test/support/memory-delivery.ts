// The delivery layer in Node without workerd: deliverToSink with an in-memory R2 bucket (dead
// letters, parked retries) and a DELIVERIES producer that records what is scheduled, plus the
// retry loop the consumer runs (loadDelivery -> deliverToSink), round after round, bounded.
import { deliverToSink, type DeliverDeps } from "../../src/deliver/deliver";
import { loadDelivery, type DeliveryMessage } from "../../src/deliver/retry";
import type { Config } from "../../src/config/schema";
import type { OcsfEvent } from "../../src/normalize/ocsf";

/** The R2 calls the delivery layer makes (put, get, head, delete, list), in memory. */
export function memoryBucket() {
  const m = new Map<string, { body: string; customMetadata?: Record<string, string> }>();
  const bucket = {
    async put(key: string, value: string | Uint8Array, opts?: { customMetadata?: Record<string, string> }) {
      m.set(key, { body: typeof value === "string" ? value : new TextDecoder().decode(value), ...(opts?.customMetadata ? { customMetadata: opts.customMetadata } : {}) });
      return {};
    },
    async get(key: string) {
      const o = m.get(key);
      return o ? { text: async () => o.body, json: async () => JSON.parse(o.body) as unknown } : null;
    },
    async head(key: string) {
      const o = m.get(key);
      return o ? { key, customMetadata: o.customMetadata } : null;
    },
    async delete(key: string) {
      m.delete(key);
    },
    async list(opts: { prefix?: string } = {}) {
      const objects = [...m.entries()].filter(([k]) => k.startsWith(opts.prefix ?? "")).map(([key, o]) => ({ key, customMetadata: o.customMetadata }));
      return { objects, truncated: false };
    },
  };
  return { bucket: bucket as unknown as R2Bucket, map: m };
}

export interface Scheduled {
  body: DeliveryMessage;
  delaySeconds?: number;
}

/** Deps for deliverToSink: in-memory R2, a recording DELIVERIES producer, a fixed clock and jitter. */
export function memoryDeps(cfg: Config, env: Record<string, unknown>, now: number) {
  const { bucket, map } = memoryBucket();
  const sent: Scheduled[] = [];
  const deps: DeliverDeps = {
    cfg,
    env,
    archive: bucket,
    deliveries: {
      async send(body: DeliveryMessage, opts?: { delaySeconds?: number }) {
        sent.push({ body: structuredClone(body), ...(opts?.delaySeconds !== undefined ? { delaySeconds: opts.delaySeconds } : {}) });
      },
    },
    now: () => now,
    rand: () => 0.5,
  };
  return { deps, bucket, map, sent };
}

/**
 * Delivers what `sent` holds, one message at a time as the consumer does, until nothing more is
 * scheduled (at most maxRounds rounds). Returns the rounds it took; throws if a parked retry is gone.
 */
export async function drainScheduled(deps: DeliverDeps, sent: Scheduled[], maxRounds = 10): Promise<number> {
  let rounds = 0;
  for (; rounds < maxRounds && sent.length > 0; rounds++) {
    for (const { body } of sent.splice(0)) {
      const text = await loadDelivery(deps.archive, body);
      if (text === undefined) throw new Error(`parked retry ${body.ref} is gone`);
      const items = text
        .split("\n")
        .filter(Boolean)
        .map((line) => ({ line, event: JSON.parse(line) as OcsfEvent }));
      const r = await deliverToSink({ sink: body.sink, items, attempt: body.attempt, firstAttemptAt: body.first_attempt_at, ...(body.retry_of !== undefined ? { retryOf: body.retry_of } : {}) }, deps);
      if (body.ref && !r.parked.includes(body.ref)) await deps.archive.delete(body.ref);
    }
  }
  return rounds;
}
