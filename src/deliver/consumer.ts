// Queue consumer for both queues (docs/delivery.md). Messages are told apart by their shape:
//   EVENTS ("tributary-events", from ingest: text, a header line {"v":2,sinks,count} then NDJSON, or
//   the older object {v: 1, sinks, count, ndjson}; both read by decodeMessage, src/deliver/enqueue.ts):
//     1. the archive (R2) gets every event whose sinks include "archive"; if that write fails the
//        whole batch is retried before anything else is sent;
//     2. every other sink gets its events in one delivery per sink, all sinks concurrently, so a slow
//        or dead sink never holds the others; its failed events go to DELIVERIES or the DLQ. Their
//        requests share the invocation's slots (./slots): at most SINK_SLOTS batches are encoded
//        and in flight at once, each request timed from when it has a slot.
//   DELIVERIES ("tributary-deliveries", DeliveryMessage {v, kind: "delivery", sink, attempt, ...}):
//     retries, one sink per message; sinks concurrently, a sink's messages in order, and once a
//     sink fails in this batch its remaining messages are rescheduled without being sent (once one
//     of its scopes, a Loki org, fails: their requests of that scope).
// A message is acked once all its events are settled (delivered, rescheduled or dead-lettered).
import { decodeMessage, messageLines, type EventsMessage } from "./enqueue";
import { buildArchiveObjects, writeArchive, type ArchiveLine } from "./archive";
import { stableHex } from "../normalize/uid";
import type { OcsfEvent } from "../normalize/ocsf";
import { configFor } from "../config/load";
import { ARCHIVE_SINK } from "../config/routing";
import type { Down, Item } from "./attempt";
import { deliverToSink, resultFields, type DeliverDeps, type DeliverResult } from "./deliver";
import { isDeliveryMessage, loadDelivery, type DeliveriesQueue, type DeliveryMessage } from "./retry";
import { log } from "../ops/log";
import { tameNoise } from "../noise/gate";
import { feedCorrelation, FEED_TIMEOUT_MS } from "../correlate/feed";
import { separatesTenants } from "../correlate/keys";
import { redeliver } from "./backoff";
import { Slots } from "./slots";
import { resolveSinks } from "./sinks";
import { markSettled, skipSettled } from "./stage";

export interface ConsumerEnv {
  ARCHIVE: R2Bucket;
  /** Producer binding of the retry queue. */
  DELIVERIES?: DeliveriesQueue;
  TRIBUTARY_CONFIG?: unknown;
}

/** An EVENTS message with its events read: `sinks` from its header (the body may be text). */
export interface ReadMessage {
  msg: Message<unknown>;
  sinks: string[];
  items: Item[];
}

export function parseItems(ndjson: string): Item[] {
  return linesToItems(ndjson.split("\n"));
}

function linesToItems(lines: string[]): Item[] {
  const out: Item[] = [];
  for (const line of lines) if (line) out.push({ line, event: JSON.parse(line) as OcsfEvent });
  return out;
}

/** One "delivery" line per delivery to a sink, with resultFields (./deliver). Exported for test/deliver/secrets.test.ts. */
export function logResult(r: DeliverResult, queue: "events" | "deliveries"): void {
  log(r.retried > 0 || r.dead > 0 ? "warn" : "info", "delivery", { queue, ...resultFields(r) });
}

/** Keeps a message that cannot be processed for inspection (quarantine/queue/) instead of retrying it forever. */
async function quarantine(archive: R2Bucket, msg: Message<unknown>, queue: string, reason: string): Promise<void> {
  try {
    await archive.put(`quarantine/queue/${msg.id}.json`, JSON.stringify({ reason, queue, body: msg.body ?? null }));
    msg.ack();
  } catch {
    redeliver(msg);
  }
}

export async function consumeQueue(batch: MessageBatch<unknown>, env: ConsumerEnv, now: () => number = Date.now): Promise<void> {
  const events: ReadMessage[] = [];
  const deliveries: Message<DeliveryMessage>[] = [];
  for (const msg of batch.messages) {
    if (isDeliveryMessage(msg.body)) {
      deliveries.push(msg as Message<DeliveryMessage>);
      continue;
    }
    const body: EventsMessage | undefined = decodeMessage(msg.body);
    if (!body) await quarantine(env.ARCHIVE, msg, batch.queue, "unknown message format");
    else {
      let lines: string[];
      try {
        // events too large for a message were spilled to R2 at ingest (src/deliver/enqueue.ts)
        lines = body.spill?.length ? await messageLines(body, env.ARCHIVE) : body.ndjson.split("\n");
      } catch (e) {
        log("error", "spilled events unreadable, message retried", { error: (e as Error).message, id: msg.id });
        redeliver(msg);
        continue;
      }
      try {
        events.push({ msg, sinks: body.sinks, items: linesToItems(lines) });
      } catch (e) {
        await quarantine(env.ARCHIVE, msg, batch.queue, `unreadable NDJSON: ${(e as Error).message}`);
      }
    }
  }
  if (events.length === 0 && deliveries.length === 0) return;
  // secrets and bindings are looked up by name (sink configs say `{ "env": "NAME" }`)
  const bindings = env as unknown as Record<string, unknown>;
  let cfg: ReturnType<typeof configFor>;
  try {
    cfg = configFor(env);
  } catch (e) {
    // a bad config deploy: nothing can be routed or sent; the messages wait (backing off) for a fix
    log("error", "config unusable, messages redelivered", { error: (e as Error).message });
    for (const m of [...events.map((p) => p.msg), ...deliveries]) redeliver(m);
    return;
  }
  // one set of sink request slots for the invocation (./slots): both queues' deliveries share it
  const deps: DeliverDeps = { cfg, env: bindings, archive: env.ARCHIVE, deliveries: env.DELIVERIES, now, slots: new Slots() };
  await Promise.all([consumeEvents(events, deps), consumeDeliveries(deliveries, deps)]);
}

export async function consumeEvents(parsed: ReadMessage[], deps: DeliverDeps): Promise<void> {
  if (parsed.length === 0) return;
  // a redelivered message skips the buffered sinks that staged its events before it was retried (./stage)
  const buffered = (sink: string) => resolveSinks(deps.cfg).get(sink)?.buffer !== undefined;
  parsed = await skipSettled(parsed, buffered, deps.archive);
  const msgs = parsed.map((p) => p.msg);
  const archived: ArchiveLine[] = [];
  const perSink = new Map<string, { items: Item[]; msgs: Message<unknown>[] }>();
  for (const { msg, sinks, items } of parsed) {
    for (const sink of sinks) {
      if (sink === ARCHIVE_SINK) {
        for (const it of items) archived.push({ classUid: it.event.class_uid ?? 0, time: it.event.time ?? 0, loggedTime: it.event.metadata?.logged_time, line: it.line });
        continue;
      }
      let s = perSink.get(sink);
      if (!s) perSink.set(sink, (s = { items: [], msgs: [] }));
      s.items.push(...items);
      s.msgs.push(msg);
    }
  }
  if (archived.length > 0) {
    try {
      const batchKey = stableHex(msgs.map((m) => m.id).sort().join(","));
      await writeArchive(deps.archive, buildArchiveObjects(archived, batchKey));
    } catch (e) {
      // nothing else was sent yet: the whole batch comes back, the archive objects get the same keys
      log("error", "archive write failed", { error: (e as Error).message });
      for (const m of msgs) redeliver(m);
      return;
    }
  }
  // correlation (docs/correlation.md): the batch feeds the correlation Durable Objects beside the sink
  // deliveries; feedCorrelation never throws, so it can neither block nor fail them
  const correlating = feedCorrelation(parsed.flatMap((p) => p.items.map((i) => i.event)), deps.env.CORRELATOR, deps.cfg.correlate, FEED_TIMEOUT_MS, separatesTenants(deps.cfg));
  // noise policies (docs/noise.md) decide what each sink gets now; the archive above kept every event
  const tamed = await tameNoise(parsed.map(({ msg, sinks, items }) => ({ id: msg.id, sinks, items })), deps);
  const started = deps.now();
  const sinks = [...perSink].filter(([sink]) => (tamed?.get(sink)?.length ?? 1) > 0);
  const results = await Promise.allSettled(sinks.map(([sink, s]) => deliverToSink({ sink, items: tamed?.get(sink) ?? s.items, attempt: 1, firstAttemptAt: started, startedAt: started, redelivered: s.msgs.some((m) => m.attempts > 1) }, deps)));
  const unsettled = new Set<Message<unknown>>();
  const settled: [string, Message<unknown>[]][] = [];
  results.forEach((r, i) => {
    const [sink, s] = sinks[i]!;
    if (r.status === "fulfilled") {
      logResult(r.value, "events");
      if (buffered(sink)) settled.push([sink, s.msgs]);
    } else {
      log("error", "delivery could not be settled; redelivering its messages", { sink, error: (r.reason as Error)?.message });
      for (const m of s.msgs) unsettled.add(m);
    }
  });
  // a message retried for another sink: the buffered sinks that staged its events mark it first (./stage)
  if (unsettled.size > 0) await markSettled(deps.archive, settled.flatMap(([sink, l]) => l.filter((m) => unsettled.has(m)).map((m) => ({ sink, id: m.id }))));
  for (const m of msgs) {
    if (unsettled.has(m)) redeliver(m);
    else m.ack();
  }
  await correlating;
}

export async function consumeDeliveries(msgs: Message<DeliveryMessage>[], deps: DeliverDeps): Promise<void> {
  if (msgs.length === 0) return;
  const bySink = new Map<string, Message<DeliveryMessage>[]>();
  for (const m of msgs) {
    let l = bySink.get(m.body.sink);
    if (!l) bySink.set(m.body.sink, (l = []));
    l.push(m);
  }
  await Promise.all(
    [...bySink.values()].map(async (list) => {
      // once the sink fails, its later messages are not sent; they wait as long as it asked (Retry-After)
      let down: Down | undefined;
      let downScopes: Record<string, Down> | undefined; // likewise for one scope's requests (DeliverJob.skipScopes)
      const startedAt = deps.now();
      for (const msg of list) {
        const body = msg.body;
        try {
          const text = await loadDelivery(deps.archive, body);
          if (text === undefined) {
            log("warn", "delivery already settled (parked events gone)", { sink: body.sink, ref: body.ref });
            msg.ack();
            continue;
          }
          const r = await deliverToSink({ sink: body.sink, items: parseItems(text), attempt: body.attempt, firstAttemptAt: body.first_attempt_at, startedAt, ...(down ? { skip: down } : downScopes ? { skipScopes: downScopes } : {}), ...(typeof body.retry_of === "string" ? { retryOf: body.retry_of } : {}) }, deps);
          logResult(r, "deliveries");
          down ??= r.down;
          if (r.downScopes) downScopes = { ...downScopes, ...r.downScopes };
          if (body.ref && !r.parked.includes(body.ref)) await deps.archive.delete(body.ref);
          msg.ack();
        } catch (e) {
          log("error", "delivery could not be settled; redelivering", { sink: body.sink, attempt: body.attempt, error: (e as Error).message });
          redeliver(msg);
        }
      }
    }),
  );
}
