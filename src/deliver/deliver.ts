// Delivers events to one sink and settles every event: delivered; retried later through the
// DELIVERIES queue (exponential backoff with jitter, Retry-After honoured); or dead-lettered
// (rejected by the sink, out of attempts, or the sink is not configured). Throws only when neither a
// retry nor a dead letter could be recorded (queue and R2 both failing): the caller then lets the
// queue redeliver its message.
import type { Config } from "../config/schema";
import { attemptDelivery, notSent, oneLine, type AttemptReport, type Down, type Item, type OutcomeGroup } from "./attempt";
import { backoffSeconds } from "./backoff";
import { writeDeadLetter } from "./dlq";
import { scheduleDelivery, type DeliveriesQueue } from "./retry";
import { resolveSinks } from "./sinks";
import { stageItems } from "./stage";
import type { Slots } from "./slots";
import { countDelivery, countQueued } from "../ops/record";

export interface DeliverDeps {
  cfg: Config;
  env: Record<string, unknown>;
  archive: R2Bucket;
  deliveries: DeliveriesQueue | undefined;
  now: () => number;
  rand?: () => number;
  /** Sink request slots shared by the invocation's deliveries (./slots); without, requests are not bounded. */
  slots?: Slots;
}

export interface DeliverResult {
  sink: string;
  delivered: number;
  /** Buffered sinks: events staged in R2 (./stage), written to the sink by the compaction (./compact). */
  staged?: number;
  retried: number;
  dead: number;
  requests: number;
  /** Records the sink said it dropped without naming them (their events count as delivered). */
  partialRejects?: number;
  /** Set when the sink looked unavailable (a retry outcome), with how long it asked to be left alone: later work for it can wait. */
  down?: Down;
  /** Scopes of the sink (Loki orgs) found unavailable while the sink was not (AttemptReport.downScopes): their events were retried. */
  downScopes?: Record<string, Down>;
  /** R2 keys the retried events were parked under (large sets, see ./retry). */
  parked: string[];
  /** The dead letters written (their DLQ object keys, ./dlq), in order. */
  deadLetters: string[];
  /** The reason of the first dead letter (its credentials already scrubbed, ./attempt). */
  deadReason?: string;
}

export interface DeliverJob {
  sink: string;
  items: Item[];
  /** The attempt being made (1 = first delivery). */
  attempt: number;
  firstAttemptAt: number;
  /**
   * Do not send: reschedule straight away (the sink just failed for an earlier message), waiting at
   * least `afterMs` when the sink gave a Retry-After then.
   */
  skip?: Down;
  /** Scopes (Loki orgs) found down earlier in the queue batch: their requests are rescheduled unsent (AttemptOptions.downScopes). */
  skipScopes?: Record<string, Down>;
  /** When this sink's work on the current queue batch began (its time budget counts from here). */
  startedAt?: number;
  /** A queue message of it was delivered before (msg.attempts > 1): a buffered sink checks for its staging's marker (./stage). */
  redelivered?: boolean;
  /** The retry of one request tagged SinkRequest.retryAs (DeliveryMessage.retry_of): encoded in that shape (AttemptOptions.retryOf). */
  retryOf?: string;
}

export async function deliverToSink(job: DeliverJob, deps: DeliverDeps): Promise<DeliverResult> {
  const { sink: name, items, attempt } = job;
  const result: DeliverResult = { sink: name, delivered: 0, retried: 0, dead: 0, requests: 0, parked: [], deadLetters: [] };
  const now = deps.now();
  const base = { sink: name, attempts: attempt, first_attempt_at: new Date(job.firstAttemptAt).toISOString() };
  // writes a dead letter and counts its events dead
  // (`g`: the outcome group's answer and bulk item status, carried to the record rather than read back from the reason)
  const bury = async (type: string, text: string, group: readonly Item[], g: Pick<OutcomeGroup, "response" | "itemStatus"> = {}): Promise<void> => {
    const reason = oneLine(text);
    const { response, itemStatus } = g;
    const answer = { ...(response ? { response } : {}), ...(itemStatus !== undefined ? { item_status: itemStatus } : {}) };
    result.deadLetters.push(await writeDeadLetter(deps.archive, { ...base, type, reason, ...answer, events: group.map((i) => i.event) }, now));
    result.deadReason ??= reason;
    result.dead += group.length;
  };
  const sink = resolveSinks(deps.cfg).get(name);
  if (!sink) {
    await bury("unknown", `sink "${name}" is not configured`, items);
    countDelivery(name, result);
    return result;
  }
  // (a sink gone for an earlier message is not skipped: the attempt encodes, then dead-letters unsent, ./gone)
  const report: AttemptReport = job.skip && !job.skip.gone
    ? { delivered: [], rejected: [], requests: 0, retry: [{ indices: items.map((_, i) => i), ...notSent(job.skip), ...(job.retryOf !== undefined ? { retryAs: job.retryOf } : {}) }], down: job.skip }
    : sink.buffer
      ? await stageItems(sink, items, deps.archive, now, attempt > 1 || job.redelivered === true)
      : await attemptDelivery(sink, items, { env: deps.env, now, deadline: (job.startedAt ?? now) + sink.budgetMs, clock: deps.now, ...(deps.slots ? { slots: deps.slots } : {}), ...(job.skipScopes ? { downScopes: job.skipScopes } : {}), ...(job.retryOf !== undefined ? { retryOf: job.retryOf } : {}) });
  result.delivered = report.delivered.length;
  if (report.staged) result.staged = report.staged.length;
  result.requests = report.requests;
  if (report.partialRejects) result.partialRejects = report.partialRejects;
  if (report.down !== undefined) result.down = report.down;
  if (report.downScopes !== undefined) result.downScopes = report.downScopes;

  for (const g of report.rejected) await bury(sink.type, g.reason, g.indices.map((i) => items[i]!), g);
  for (const g of report.retry) {
    const groupItems = g.indices.map((i) => items[i]!);
    const dead = (reason: string) => bury(sink.type, reason, groupItems, g);
    if (attempt >= sink.retry.maxAttempts) {
      await dead(`gave up after ${attempt} attempt${attempt === 1 ? "" : "s"}: ${g.reason}`);
      continue;
    }
    const delay = backoffSeconds(attempt, sink.retry, g.afterMs, deps.rand);
    try {
      const ref = await scheduleDelivery(deps, { sink: name, attempt: attempt + 1, first_attempt_at: job.firstAttemptAt, reason: g.reason, ...(g.retryAs !== undefined ? { retry_of: g.retryAs } : {}) }, groupItems, delay);
      if (ref) result.parked.push(ref);
      result.retried += groupItems.length;
      countQueued("deliveries", 1);
    } catch (e) {
      // the retry queue refused: keep the events where they can be replayed from
      await dead(`could not schedule a retry (${(e as Error).message}); last failure: ${g.reason}`);
    }
  }
  countDelivery(name, result, report.rejected.reduce((n, g) => n + g.indices.length, 0));
  return result;
}

/** The most of a dead letter's (or a down scope's) reason a "delivery" log line carries (`npm run dlq -- show <key>` has it all). */
const LOGGED_REASON = 300;

const cutReason = (s: string): string => (s.length > LOGGED_REASON ? `${s.slice(0, LOGGED_REASON)}…` : s);

/**
 * A delivery's log fields (the consumer's "delivery" line and the noise window's): the counts; `down` when the sink
 * looked unavailable (`gone: true` instead when the sink was gone, Down.gone, and its reason is the first dead
 * letter's: that text is logged once, as `reason`); `downScopes` when some of its scopes (Loki orgs) did while the sink did not, each `{scope, reason, afterMs}` (reasons
 * cut short; scrubbed and one line already, ./attempt); when events were dead-lettered, the first dead letter's reason
 * (cut short) and its DLQ key, with `dlqObjects` when there were more.
 */
export function resultFields(r: DeliverResult): Record<string, unknown> {
  const { parked: _parked, down, downScopes, deadLetters, deadReason, ...fields } = r;
  const reason = deadReason !== undefined ? cutReason(deadReason) : deadReason;
  const dead = r.dead > 0 ? { reason, dlq: deadLetters[0], ...(deadLetters.length > 1 ? { dlqObjects: deadLetters.length } : {}) } : {};
  // a list, not an object keyed by scope: a scope is a tenant's name, which the log's secret-key redaction must not read as a field name
  const scopes = downScopes ? { downScopes: Object.entries(downScopes).map(([scope, d]) => ({ scope: oneLine(scope), reason: cutReason(d.reason), afterMs: d.afterMs })) } : {};
  // a gone sink's down reason is its dead letter's (./attempt): not logged twice
  const sinkDown = down?.gone && down.reason === deadReason ? { gone: true } : { down: down?.reason, downAfterMs: down?.afterMs };
  return { ...fields, ...sinkDown, ...scopes, ...dead };
}
