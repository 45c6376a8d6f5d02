// One delivery attempt of some events to one sink: split into batches (maxEvents / maxBytes; storage
// sinks per object, see splitBatch), encode, send each request with a timeout, classify, and sort
// every event into delivered / retry / reject. With the invocation's slots (./slots) each batch is
// encoded and sent holding one, so its requests' timeouts start once they may open a connection.
//   - a network error or timeout (send throws) is a retry;
//   - encode throwing is a reject (the same events would fail the same way again);
//   - once the sink has used up its time for the batch (budgetMs), the remaining requests are
//     retried later, so a slow sink cannot hold a batch the other sinks are done with;
//   - after a request finds the sink unavailable (network error, timeout, 408/429/5xx), the remaining
//     requests of this attempt are not sent but retried with it, so a dead sink costs one timeout per
//     attempt, not one per request. A request with a scope (SinkRequest.scope: a Loki org) that is
//     answered 408/429/5xx holds back only the later requests of its scope: the others are independent
//     destinations and are still sent. A network error or timeout holds back every scope (same host).
//     Scopes found down earlier in the same queue batch (AttemptOptions.downScopes) start held back:
//     their requests are not sent, and a sink that can tell (SinkContext.scopeDown: Loki) does not build
//     their bodies but hands their events back in one bodiless request of the scope.
//   - after a request finds the sink gone (Classification.gone: a Slack webhook revoked, its channel
//     archived), the remaining requests are not sent and their events join that request's dead letter
//     (one per attempt, with its reason saying what to fix); the isolate remembers the sink (./gone), so
//     later attempts send nothing and dead-letter their batch alike until its config or secrets change or
//     some minutes pass. Batches are still encoded: events the sink does not want settle as usual.
// Retry groups keep the events of one request together, so a retried object gets the same key, and carry
// the request's retryAs tag (SinkRequest.retryAs) to the retry's encode (SinkContext.retryOf: a Slack
// digest is retried as one digest); a batch retried unencoded keeps the attempt's own retryOf.
// A sink with a projection (ResolvedSink.project, ../sinks/project) is sent the projected events: they are
// worked out once per attempt, before splitting, and their lines size the batches; partitions, uids and every
// outcome stay the original items' (retries and dead letters keep the whole event). Other sinks get the items as they are.
import type { OcsfEvent } from "../normalize/ocsf";
import { classifyHttpStatus, goneNaming, unsentOutcomes, type Outcome, type SinkRequest, type SinkResponse } from "../sinks/types";
import type { TimedContext } from "../sinks/s3";
import { MissingSecretError, pack, utf8Length } from "../sinks/batch";
import { uidOf } from "../sinks/objects";
import { projectItems } from "../sinks/project";
import type { ResolvedSink } from "./sinks";
import type { Slots } from "./slots";
import { isSecretKey, log, scrubCredentials, REDACTED } from "../ops/log";
import { knownGone, rememberGone } from "./gone";

export interface Item {
  event: OcsfEvent;
  /** The event's NDJSON line (what the queues and the DLQ carry). */
  line: string;
}

/** What a sink answered, kept with dead letters (body truncated). */
export interface ResponseSummary {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface OutcomeGroup {
  /** Indices into the items of the attempt. */
  indices: number[];
  reason: string;
  /** For retries: the sink's Retry-After (or API hint), ms. */
  afterMs?: number;
  response?: ResponseSummary;
  /** The events' own status in a 200 answer (a bulk item's, Outcome.itemStatus): their dead letter's item_status. */
  itemStatus?: number;
  /** For retries: the tag of the one request they were (SinkRequest.retryAs), for the retry's encode (SinkContext.retryOf). */
  retryAs?: string;
}

export interface AttemptReport {
  delivered: number[];
  /** Buffered sinks (./stage): events staged in R2, written to the sink later by ./compact. */
  staged?: number[];
  retry: OutcomeGroup[];
  rejected: OutcomeGroup[];
  /** Requests actually sent (for logs and tests). */
  requests: number;
  /** Records the sink said it dropped without naming them (Classification.partialRejects), summed. */
  partialRejects?: number;
  /** Set when the sink was found unavailable: later work for it can wait. */
  down?: Down;
  /**
   * Scopes (SinkRequest.scope) found unavailable while the sink as a whole was not: their later requests
   * in this attempt were not sent. Not `down`, so the sink's other work is not held back (logs, tests).
   */
  downScopes?: Record<string, Down>;
}

/** A sink found unavailable: why, and the Retry-After (ms) it gave then, if any. */
export interface Down {
  reason: string;
  afterMs?: number;
  /** Gone, not unavailable (Classification.gone, ./gone): work held back is dead-lettered with `reason`, not retried. */
  gone?: true;
}

/** The retry of work not sent because the sink is down: it waits as long as the sink asked. */
export function notSent(down: Down): Pick<OutcomeGroup, "reason" | "afterMs"> {
  return { reason: `not sent: ${down.reason}`, ...(down.afterMs !== undefined ? { afterMs: down.afterMs } : {}) };
}

const KEEP_HEADERS = /^(retry-after|x-request-id|x-amz-request-id|content-type|x-splunk-request-channel|dd-request-id)$/i;

function summarize(res: SinkResponse): ResponseSummary {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) if (KEEP_HEADERS.test(k)) headers[k.toLowerCase()] = v;
  return { status: res.status, headers, body: res.body.length > 4096 ? res.body.slice(0, 4096) + "…" : res.body };
}

class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** Sends one request: the driver's send, or fetch; either way bounded by the sink's timeout. */
async function sendOne(sink: ResolvedSink, req: SinkRequest, ctx: TimedContext): Promise<SinkResponse> {
  const ms = sink.timeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms);
  });
  try {
    const work = sink.driver.send ? sink.driver.send(req, sink.config, ctx) : fetchWithTimeout(req, ms);
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The most of a sink's answer that is read (bytes); the rest is left unread and the stream cancelled,
 * so an endpoint that answers without end cannot fill the isolate's memory. Elasticsearch's bulk answer
 * for 10,000 events is a few MB.
 */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * Hands `take` a response's body piece by piece, at most `max` bytes in all; true when there was more (the rest
 * left unread and the stream cancelled).
 */
export async function readCapped(res: Response, max: number, take: (part: Uint8Array) => void): Promise<boolean> {
  if (!res.body) return false;
  const reader = res.body.getReader();
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return false;
    if (n + value.byteLength > max) {
      take(value.subarray(0, max - n));
      await reader.cancel();
      return true;
    }
    n += value.byteLength;
    take(value);
  }
}

/** A response's text, at most `max` bytes of it ("…" added when cut). */
export async function cappedText(res: Response, max = MAX_RESPONSE_BYTES): Promise<string> {
  const dec = new TextDecoder();
  let out = "";
  const cut = await readCapped(res, max, (part) => {
    out += dec.decode(part, { stream: true });
  });
  return `${out}${dec.decode()}${cut ? "…" : ""}`;
}

/** A fetch answer as a SinkResponse: its status, headers and text (cappedText, or a driver's own `read`). */
export async function sinkResponse(res: Response, read: (res: Response) => Promise<string> = cappedText): Promise<SinkResponse> {
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    headers[k] = v;
  });
  return { status: res.status, headers, body: await read(res) };
}

async function fetchWithTimeout(req: SinkRequest, ms: number): Promise<SinkResponse> {
  return sinkResponse(await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, redirect: "manual", signal: AbortSignal.timeout(ms) }));
}

export interface AttemptOptions {
  env: Record<string, unknown>;
  now: number;
  /** Wall-clock ms after which no further request is sent in this attempt (the rest is retried). */
  deadline?: number;
  /** Clock for the deadline (injected in tests). */
  clock?: () => number;
  /** The invocation's sink request slots (./slots): each batch is encoded and sent holding one. */
  slots?: Slots;
  /** Scopes found down by an earlier delivery to the sink in this queue batch: their requests are not sent (retried with that reason). */
  downScopes?: Readonly<Record<string, Down>>;
  /** These events are the retry of one request tagged SinkRequest.retryAs (OutcomeGroup.retryAs): given to encode as SinkContext.retryOf. */
  retryOf?: string;
}

/**
 * The delivery's requests-to-be, as lists of item indices within the sink's maxEvents / maxBytes. The
 * bytes of an event are its NDJSON line and newline, so a storage object's body stays within maxBytes
 * (an event larger than that alone gets a batch of its own). Storage sinks (SinkDriver.partition)
 * split each object's events on their own, in uid order: objects fill up to the limits, and the same
 * events give the same objects (and keys) whatever order they arrived in. `sent`: what the sink is sent of
 * each item (its projection, parallel to items), whose lines are the bytes counted.
 */
export function splitBatch(sink: ResolvedSink, items: readonly Item[], sent: readonly Item[] = items): number[][] {
  const size = (i: number) => utf8Length(sent[i]!.line) + 1;
  const limits = { maxEvents: sink.batch.maxEvents, maxBytes: sink.batch.maxBytes };
  const partition = sink.driver.partition;
  if (!partition) return pack(items.map((_, i) => i), size, limits);
  const parts = new Map<string, { i: number; uid: string }[]>();
  items.forEach((it, i) => {
    const k = partition(it.event, sink.config);
    let p = parts.get(k);
    if (!p) parts.set(k, (p = []));
    p.push({ i, uid: uidOf(it.event) });
  });
  const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...parts.keys()].sort(byText).flatMap((k) => {
    const members = parts.get(k)!.sort((a, b) => byText(a.uid, b.uid) || a.i - b.i);
    return pack(
      members.map((m) => m.i),
      size,
      limits,
    );
  });
}

/** sink + binding pairs whose missing secret this isolate has logged (each once: every send needs it). */
const missingLogged = new Set<string>();

/** Logs, once per isolate per sink and binding, that a send needs a secret that is not set: its name, never a value. */
function logMissingSecret(sink: Pick<ResolvedSink, "name" | "type">, e: MissingSecretError): void {
  const key = `${sink.name}\u0000${e.binding}`;
  if (missingLogged.has(key)) return;
  missingLogged.add(key);
  log("error", "sink secret not set; its sends are dead-lettered", { sink: sink.name, type: sink.type, setting: e.setting, binding: e.binding });
}

export async function attemptDelivery(sink: ResolvedSink, items: readonly Item[], opts: AttemptOptions): Promise<AttemptReport> {
  const report: AttemptReport = { delivered: [], retry: [], rejected: [], requests: 0 };
  const ctx: TimedContext = { env: opts.env, now: opts.now, timeoutMs: sink.timeoutMs, ...(opts.retryOf !== undefined ? { retryOf: opts.retryOf } : {}) };
  const sent = sink.project ? projectItems(sink.project, items) : items; // what the sink is sent of each item
  const chunks = splitBatch(sink, items, sent);
  let secrets: string[] | undefined; // sinkSecrets, worked out once and only when needed (gone memory, a report to clean)
  const secretsOf = (): string[] => (secrets ??= sinkSecrets(sink, opts.env));
  let down: Down | undefined = knownGone(sink, secretsOf, opts.now); // set once the sink looked unavailable (or gone): later requests are not sent
  let gone: OutcomeGroup | undefined; // the one dead letter of a gone sink's events
  const scopeDown = new Map<string, Down>(Object.entries(opts.downScopes ?? {})); // likewise for one scope's requests (a 408/429/5xx of that scope)
  const downFor = (req: SinkRequest): Down | undefined => down ?? (req.scope === undefined ? undefined : scopeDown.get(req.scope));
  ctx.scopeDown = (scope) => scopeDown.has(scope); // a scope down is not encoded (SinkContext.scopeDown)
  const BUDGET = "not sent: the sink used up its time for this batch (budgetMs)";
  const overBudget = () => opts.deadline !== undefined && (opts.clock ?? Date.now)() >= opts.deadline;

  // per-event outcomes of one request or chunk, grouped by kind and reason; retries keep the request's tag
  const settle = (global: number[], outcomeOf: (k: number) => Outcome, response?: ResponseSummary, retryAs?: string): void => {
    const groups = new Map<string, OutcomeGroup & { kind: "retry" | "reject" }>();
    global.forEach((g, k) => {
      const o = outcomeOf(k);
      if (o.kind === "delivered") {
        report.delivered.push(g);
        return;
      }
      const key = `${o.kind}\u0000${o.reason}\u0000${o.itemStatus ?? ""}`;
      let grp = groups.get(key);
      const tag = o.kind === "retry" && retryAs !== undefined ? { retryAs } : {};
      if (!grp) groups.set(key, (grp = { kind: o.kind, indices: [], reason: o.reason, ...(response ? { response } : {}), ...(o.itemStatus !== undefined ? { itemStatus: o.itemStatus } : {}), ...tag }));
      grp.indices.push(g);
      if (o.kind === "retry" && o.afterMs !== undefined) grp.afterMs = Math.max(grp.afterMs ?? 0, o.afterMs);
    });
    for (const { kind, ...grp } of groups.values()) (kind === "retry" ? report.retry : report.rejected).push(grp);
  };

  // events not sent (the sink or their scope is down, or its time is used up): retried; the sink gone: dead-lettered together
  const skip = (global: number[], held = down, retryAs?: string): void => {
    if (held?.gone) {
      if (gone === undefined) report.rejected.push((gone = { indices: [], reason: held.reason }));
      gone.indices.push(...global);
      return;
    }
    const outcome: Outcome = { kind: "retry", ...(held !== undefined ? notSent(held) : { reason: BUDGET }) };
    settle(global, () => outcome, undefined, retryAs);
  };

  // one batch: encode, then send its requests in order, each body dropped once it has been sent
  const encodeAndSend = async (chunk: number[]): Promise<void> => {
    const events = chunk.map((i) => sent[i]!.event);
    let requests: SinkRequest[];
    try {
      requests = await sink.driver.encode(events, sink.config, ctx, chunk.map((i) => sent[i]!.line));
    } catch (e) {
      if (e instanceof MissingSecretError) logMissingSecret(sink, e);
      settle(chunk, () => ({ kind: "reject", reason: `${sink.type} could not encode these events: ${(e as Error).message}` }));
      return;
    }
    const unsent = unsentOutcomes(sink.driver, events, requests, sink.config, ctx);
    if (unsent.size > 0) {
      const local = [...unsent.keys()];
      settle(
        local.map((k) => chunk[k]!),
        (j) => unsent.get(local[j]!)!,
      );
    }
    while (requests.length > 0) {
      const req = requests.shift()!;
      const global = req.events.map((k) => chunk[k]!);
      const held = downFor(req);
      if (held !== undefined || overBudget()) {
        skip(global, held, req.retryAs);
        continue;
      }
      let res: SinkResponse;
      try {
        report.requests++;
        res = await sendOne(sink, req, ctx);
      } catch (e) {
        const err = e as Error;
        const reason = `${err.name === "TimeoutError" ? "timeout" : "network error"}: ${err.message}`;
        down = { reason };
        settle(global, () => ({ kind: "retry", reason }), undefined, req.retryAs);
        continue;
      }
      const c = sink.driver.classify(res, req, sink.config);
      const summary = summarize(res);
      if (c.gone && c.outcome.kind === "reject") {
        // the rest of the attempt joins this request's dead letter, with its reason (its replay naming the sink) and answer
        const reason = goneNaming(c.outcome.reason, sink.name);
        report.rejected.push((gone = { indices: [...global], reason, response: summary }));
        down = { reason, gone: true };
        rememberGone(sink, secretsOf(), opts.now, reason);
        continue;
      }
      settle(global, (j) => c.perEvent?.get(req.events[j]!) ?? c.outcome, summary, req.retryAs);
      if (c.partialRejects) report.partialRejects = (report.partialRejects ?? 0) + c.partialRejects;
      // the sink (or this scope of it) is unavailable (throttling, 5xx), not merely unhappy with some events: stop for now
      if (c.outcome.kind === "retry" && classifyHttpStatus(res).kind === "retry") {
        const d: Down = { reason: c.outcome.reason, ...(c.outcome.afterMs !== undefined ? { afterMs: c.outcome.afterMs } : {}) };
        if (req.scope === undefined) down = d;
        else scopeDown.set(req.scope, d);
      }
    }
  };

  for (const chunk of chunks) {
    if ((down !== undefined && !down.gone) || overBudget()) {
      // nothing more goes out in this attempt: retry the whole batch without encoding it
      skip(chunk, down?.gone ? undefined : down, opts.retryOf);
      continue;
    }
    // a slot for this batch's encode and requests (see ./slots); waiting for it spends budget, not timeoutMs.
    // Once it has the slot only the budget is looked at again before encoding: `down` cannot have changed
    // meanwhile. It is this attempt's own, set only by its requests, and its batches run one after another,
    // so it was last set before the check above. A sink's other work in the invocation never runs beside
    // this attempt: a queue batch holds one queue's messages, with one delivery per sink for an EVENTS batch
    // and, for a DELIVERIES batch, a sink's messages in order, those after a failure rescheduled unsent and
    // unencoded (DeliverJob.skip). So a down sink's batches are never encoded (test/deliver/attempt.test.ts
    // counts the encodes); a gone sink's are, their requests not sent (see the header).
    // (out of time with the sink gone: retried, to be encoded and dead-lettered by a later attempt)
    const run = async () => (overBudget() ? skip(chunk, down?.gone ? undefined : down, opts.retryOf) : encodeAndSend(chunk));
    await (opts.slots ? opts.slots.use(run) : run());
  }
  if (down !== undefined) report.down = down;
  if (scopeDown.size > 0) report.downScopes = Object.fromEntries(scopeDown);
  // only failures carry text (reasons, answers) that can quote a credential or a sink's line breaks
  return report.retry.length || report.rejected.length || report.down ? cleanReport(report, secretsOf()) : report;
}

/**
 * The sink's credentials as they are sent: the value of every `{"env": NAME}` its config names (a Slack
 * webhook URL is itself one), literal values under secret-named keys (token, apiKey, password...) and a
 * literal Slack URL. A reason or answer that quotes one (a fetch error naming the URL, a server echoing
 * the request) has it replaced before it reaches a dead letter, a log line, a retry message or /v1/test.
 */
export function sinkSecrets(sink: Pick<ResolvedSink, "type" | "config">, env: Record<string, unknown>): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key: string, depth: number): void => {
    if (typeof v === "string") {
      if (isSecretKey(key) || (sink.type === "slack" && key === "url")) out.push(v);
    } else if (typeof v === "object" && v !== null && depth < 6) {
      const ref = (v as { env?: unknown }).env;
      if (typeof ref === "string" && Object.keys(v).length === 1) {
        const x = env[ref];
        if (typeof x === "string") out.push(x, encodeURIComponent(x));
      } else for (const [k, x] of Object.entries(v)) walk(x, k, depth + 1);
    }
  };
  walk(sink.config, "", 0);
  // longest first: a secret that contains another is replaced whole
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

/** Fewest leading characters of a secret, left at the end of a cut answer, that are redacted too. */
const MIN_SECRET_PREFIX = 4;

/**
 * scrubCredentials for an answer body that summarize may have cut ("…" at the end): a secret the cut went
 * through left only its beginning, which no whole-secret match finds; that beginning is redacted as well.
 */
function scrubCut(body: string, secrets: readonly string[]): string {
  const out = scrubCredentials(body, secrets);
  if (!out.endsWith("…")) return out;
  const head = out.slice(0, -1);
  for (const x of secrets) {
    for (let n = Math.min(x.length - 1, head.length); n >= MIN_SECRET_PREFIX; n--) {
      if (head.endsWith(x.slice(0, n))) return `${head.slice(0, -n)}${REDACTED}…`;
    }
  }
  return out;
}

/**
 * A reason as one line: white space runs (a sink's answer quoted in it may end in a newline, as Loki's
 * do, or hold several lines) become one space, and none is left at either end, so a reason never splits
 * a log line, a retry message or a row of `npm run dlq -- list`.
 */
export function oneLine(reason: string): string {
  return reason.replace(/\s+/g, " ").trim();
}

/** Every reason of the report scrubbed of the sink's credentials (sinkSecrets) and made one line; answers scrubbed. */
function cleanReport(report: AttemptReport, secrets: readonly string[]): AttemptReport {
  const clean = (s: string) => scrubCredentials(s, secrets);
  for (const g of [...report.retry, ...report.rejected]) {
    g.reason = oneLine(clean(g.reason));
    const r = g.response;
    if (r) g.response = { status: r.status, headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, clean(v)])), body: scrubCut(r.body, secrets) };
  }
  const cleanDown = (d: Down): Down => ({ ...d, reason: oneLine(clean(d.reason)) });
  if (report.down) report.down = cleanDown(report.down);
  if (report.downScopes) report.downScopes = Object.fromEntries(Object.entries(report.downScopes).map(([k, d]) => [k, cleanDown(d)]));
  return report;
}
