// The staging half of a buffered storage sink (docs/delivery.md, "Buffered storage sinks"): instead of
// encoding and sending a delivery's events, the consumer writes their queue lines to the ARCHIVE bucket,
// one object per class and event day (the sink's partition):
//   stage/<sink>/<class_uid>/<yyyyMMdd>/<id>.ndjson     customMetadata {events, staged (ms)}
// The id is a digest of the partition and the events' uids (as objects.batchId), so a redelivered queue
// batch finds its object already there and leaves it (a conditional put: its first staged time stays).
// Once the compaction wrote and deleted an object it leaves a marker in its place, stage-done/<same rest>
// (empty; swept after STAGE_DONE_RETENTION_MS, ./compact): a delivery that may be a redelivery (a queue
// message seen before, or a retry) whose put found no object looks for that marker and takes its new
// object back, so a batch redelivered after its events were written is not written twice. A first
// delivery (the hot path) makes no request but the put.
// That marker matches only the same staged object, i.e. the same group of uids. A queue message comes
// back on its own (the consumer retries it when another of its sinks could not be settled) and may be
// batched with other messages then: its events would be staged under another key. So when the consumer
// retries a message whose events a buffered sink had settled, it first leaves a per-message marker,
// stage-done/<sink>/msg/<message id> (markSettled), and a redelivered message (attempts > 1) whose
// marker is there skips that sink (skipSettled): one put per retried message and sink, one head per
// redelivered message and sink, nothing on a first delivery. A message redelivered because the consumer
// died before acking it has no such marker; staged again in another group it is dropped by the
// compaction's uid dedupe while its first object is still staged (./compact), and written again once
// that object was already written (covering that too would take a put per message on the hot path).
// A stored object settles its events for the sink (they count as `staged`); a failed put is a retry like
// a failed sink request. The every-minute compaction (./compact) writes the sink's objects from them.
// An event the sink could never write (a Security Lake class without a custom source) is not staged but
// rejected at once, with the reason the unbuffered sink gives.
import { batchId, classDayOf } from "../sinks/objects";
import { log } from "../ops/log";
import type { AttemptReport, Item, OutcomeGroup } from "./attempt";
import type { ResolvedSink } from "./sinks";

export const STAGE_PREFIX = "stage/";

/** Where the compaction marks a staged object it wrote and deleted: stage-done/<sink>/<class_uid>/<yyyyMMdd>/<id>.ndjson. */
export const STAGE_DONE_PREFIX = "stage-done/";

/** The marker key of a staged object's key (or of a sink's stage prefix: its markers' prefix). */
export function doneKey(stagedKey: string): string {
  return `${STAGE_DONE_PREFIX}${stagedKey.slice(STAGE_PREFIX.length)}`;
}

/** The marker of a queue message whose events a buffered sink settled before the message was retried: stage-done/<sink>/msg/<id>. */
export function settledKey(sink: string, messageId: string): string {
  return `${doneKey(stagePrefix(sink))}msg/${encodeURIComponent(messageId)}`;
}

/** A queue message and the sinks its events are for (../deliver/consumer ReadMessage). */
interface RoutedMessage {
  msg: { id: string; attempts: number };
  sinks: string[];
}

/**
 * Before a delivery: each redelivered message (attempts > 1) loses the buffered sinks (`buffered`)
 * whose per-message marker (settledKey) is there, its events being staged for them already. Heads in
 * parallel, only for redelivered messages; a failed head keeps the sink (the compaction's uid dedupe
 * may still catch the copy).
 */
export async function skipSettled<T extends RoutedMessage>(messages: T[], buffered: (sink: string) => boolean, bucket: R2Bucket): Promise<T[]> {
  const looks: { m: number; sink: string }[] = [];
  messages.forEach((p, m) => {
    if (p.msg.attempts > 1) for (const sink of p.sinks) if (buffered(sink)) looks.push({ m, sink });
  });
  if (looks.length === 0) return messages;
  const found = await Promise.all(looks.map(({ m, sink }) => bucket.head(settledKey(sink, messages[m]!.msg.id)).then((h) => h !== null, () => false)));
  const skip = new Map<number, Set<string>>();
  looks.forEach((l, k) => {
    if (!found[k]) return;
    let s = skip.get(l.m);
    if (!s) skip.set(l.m, (s = new Set()));
    s.add(l.sink);
    log("info", "redelivered message already staged for the sink, skipped", { sink: l.sink, id: messages[l.m]!.msg.id });
  });
  return messages.map((p, m) => {
    const s = skip.get(m);
    return s ? { ...p, sinks: p.sinks.filter((x) => !s.has(x)) } : p;
  });
}

/**
 * Before the consumer retries messages: a per-message marker for each (message, buffered sink) whose
 * events the sink settled in this delivery. A failed put is logged; that message may be staged again.
 */
export async function markSettled(bucket: R2Bucket, marks: readonly { sink: string; id: string }[]): Promise<void> {
  const failed = (await Promise.allSettled(marks.map((x) => bucket.put(settledKey(x.sink, x.id), "")))).filter((r) => r.status === "rejected");
  if (failed.length > 0) log("warn", "retried messages left without a staged marker", { messages: failed.length, error: ((failed[0] as PromiseRejectedResult).reason as Error)?.message });
}

/** The prefix of one sink's staged objects. */
export function stagePrefix(sink: string): string {
  return `${STAGE_PREFIX}${sink}/`;
}

/** The key of the staged object holding `items` of one partition ("<class_uid>/<yyyyMMdd>") of a sink. */
export function stageKey(sink: string, partition: string, items: readonly Item[]): string {
  const dir = `${stagePrefix(sink)}${partition}`;
  return `${dir}/${batchId(dir, items.map((i) => i.event))}.ndjson`;
}

/**
 * Stages `items` for a buffered sink: one object per partition (puts in parallel; a delivery holds a
 * queue batch, so a few partitions). Staged events are reported in `staged`, those whose put failed as
 * one retry group each (and the sink as `down`: the bucket failed, later work can wait). With `recheck`
 * (the delivery may have been staged and compacted before), a new object whose marker exists is deleted
 * again: its events were written already (they count as staged, as a redelivery finding its object does).
 */
export async function stageItems(sink: ResolvedSink, items: readonly Item[], bucket: R2Bucket, now: number, recheck = false): Promise<AttemptReport> {
  const report: AttemptReport = { delivered: [], staged: [], retry: [], rejected: [], requests: 0 };
  const partition = sink.driver.partition ?? classDayOf; // (the config lets only storage sinks buffer)
  const parts = new Map<string, number[]>();
  const refused = new Map<string, OutcomeGroup>();
  items.forEach((it, i) => {
    const why = sink.driver.unwritable?.(it.event, sink.config);
    if (why !== undefined) {
      let g = refused.get(why);
      if (!g) refused.set(why, (g = { indices: [], reason: why }));
      g.indices.push(i);
      return;
    }
    const k = partition(it.event, sink.config);
    let p = parts.get(k);
    if (!p) parts.set(k, (p = []));
    p.push(i);
  });
  await Promise.all(
    [...parts].map(async ([part, indices]) => {
      const group = indices.map((i) => items[i]!);
      const key = stageKey(sink.name, part, group);
      try {
        // (no sink request: `requests` stays 0, so tributary_sink_requests_total counts only the compaction's)
        // only if absent: a redelivered batch keeps the object (and its staged time) it already has
        const put = await bucket.put(key, group.map((i) => `${i.line}\n`).join(""), {
          onlyIf: { etagDoesNotMatch: "*" },
          httpMetadata: { contentType: "application/x-ndjson" },
          customMetadata: { events: String(group.length), staged: String(now) },
        });
        // (the put before the look: the compaction writes the marker before it deletes the object)
        if (put && recheck && (await bucket.head(doneKey(key)))) {
          await bucket.delete(key);
          log("info", "staged events already written, not staged again", { sink: sink.name, key, events: group.length });
        }
        report.staged!.push(...indices);
      } catch (e) {
        const reason = `staging in R2 failed: ${(e as Error).message}`;
        report.retry.push({ indices, reason });
        report.down ??= { reason };
      }
    }),
  );
  report.rejected.push(...refused.values());
  return report;
}
