// The writing half of a buffered storage sink (docs/delivery.md, "Buffered storage sinks"), run by the
// every-minute cron beside the spool drain. For each storage sink of the config (one whose buffer was
// turned off has its leftovers written at once) it lists the sink's staged objects (./stage), groups them by class and event day, and writes the groups that are due:
//   - a group is due when its oldest object was staged `buffer.seconds` ago (then all of it is written),
//     or when it holds at least buffer.maxEvents / maxBytes (then its full files are written);
//   - a group's objects are packed, oldest first, whole, into files of at most maxEvents / maxBytes (an
//     object larger than that alone is split further by the delivery, attemptDelivery), so the same staged
//     objects give the same files and the driver's own encode gives them the same keys: a compaction
//     retried after a failure overwrites what it wrote before instead of adding to it;
//   - a group is claimed first with a lease, stage-lease/<sink>/<class>/<day>, the spool drain's
//     conditional put (./spool claim), so two runs at once do not write it twice;
//   - per file: delivered events' objects are deleted, each after a marker was left in its place
//     (stage-done/<same rest>, ./stage: a queue batch redelivered later does not stage them again);
//     rejected events are dead-lettered (./dlq) and their objects deleted (marked too); retried ones
//     stay for the next run, until the group has waited past the sink's retry span (the backoff
//     schedule of its retry.maxAttempts, as the consumer's retries would: ~43 min by default), when
//     they are dead-lettered too. A file that finds the sink down ends the sink's sends
//     for the run; its files already past the retry span are still dead-lettered in that run (not sent,
//     within the run's budget), so a long outage gives up on all that is due, not one file a minute.
//     A send answered with a Retry-After over a minute keeps the group's lease until then (its `until`)
//     and holds the whole sink until then (stage-lease/<sink>/hold, its `until`): no run sends any of
//     the sink's groups earlier (files already overdue are still dead-lettered, unsent); never past the
//     moment the group's (the hold: the sink's) oldest staged object is overdue.
//   - an event staged twice in one group (a queue message redelivered in another batch before its first
//     object was written: ./stage) is written once: a file drops the uids (metadata.uid) an earlier file
//     of the group read in the same run, and its own repeats (`duplicates` in the log line and result).
//   - markers older than STAGE_DONE_RETENTION_MS are swept, a few list pages per sink a run, continuing
//     where the last run stopped (its last key in stage-sweep/<sink>).
// Bounds per run (COMPACT_SCHEDULED): list pages per sink, staged objects read, wall time (checked
// before each file is started).
import type { Config } from "../config/schema";
import type { OcsfEvent } from "../normalize/ocsf";
import { configFor } from "../config/load";
import { log } from "../ops/log";
import { countDelivery, setStagedBacklog } from "../ops/record";
import { attemptDelivery, notSent, oneLine, type AttemptReport, type Down, type Item, type OutcomeGroup } from "./attempt";
import { backoffCeiling, type RetryPolicy } from "./backoff";
import { listWithMetadata, writeDeadLetter } from "./dlq";
import { resolveSinks, type BufferPolicy, type ResolvedSink } from "./sinks";
import { claim, putUntil, untilOf } from "./spool";
import { doneKey, stagePrefix } from "./stage";

/** A compaction's claim on a group: stage-lease/<sink>/<class_uid>/<yyyyMMdd> (not under stage/). */
export const STAGE_LEASE_PREFIX = "stage-lease/";
/** Where a staged object that is not NDJSON is set aside: stage-unreadable/<staged key> (no run reads it again). */
export const STAGE_UNREADABLE_PREFIX = "stage-unreadable/";
/** Where the marker sweep of a sink continues: stage-sweep/<sink> (its body the last marker key it listed). */
export const STAGE_SWEEP_PREFIX = "stage-sweep/";
/**
 * How long a marker of a written staged object stays (./stage): 4 days, the queues' message retention. A
 * message comes back at most max_retries = 60 times, backing off to 1 h (~51 h, docs/delivery.md), and
 * one older than the retention is deleted by the queue, so no redelivery comes later than this.
 */
export const STAGE_DONE_RETENTION_MS = 4 * 86_400_000;
/** A sink's hold for its store's Retry-After: stage-lease/<sink>/hold, its `until` (ms) in the custom metadata. */
export function holdKey(sink: string): string {
  return `${STAGE_LEASE_PREFIX}${sink}/hold`;
}
/** A Retry-After up to this is the next run's wait anyway (runs are a minute apart). */
const RUN_INTERVAL_MS = 60_000;

export interface CompactBudget {
  /** List pages per sink (R2 gives up to 1,000 keys a page, fewer with metadata). */
  pages: number;
  /** Staged objects read at most, over all sinks. */
  objects: number;
  /** Wall time, ms; checked before each file is started. */
  ms: number;
}

export interface SweepBudget {
  /** List pages per sink and run. */
  pages: number;
  /** Keys a list page asks for (R2 gives at most 1,000). */
  perPage: number;
}

/**
 * Each run lists up to 2,000 markers per sink, as many as a run can write (COMPACT_SCHEDULED.objects):
 * the sweep comes round to every marker within one retention, so none lives past twice that.
 */
export const SWEEP_SCHEDULED: SweepBudget = { pages: 2, perPage: 1000 };

/**
 * The every-minute run: up to 10 list pages per sink, files started while fewer than 2,000 staged objects were
 * read and less than 15 s passed (each object costs a get and a share of one delete; each file its sends).
 */
export const COMPACT_SCHEDULED: CompactBudget = { pages: 10, objects: 2_000, ms: 15_000 };

export interface StagedObject {
  key: string;
  /** "<class_uid>/<yyyyMMdd>" */
  partition: string;
  events: number;
  /** NDJSON bytes (the object's size). */
  bytes: number;
  /** When it was staged, ms. */
  staged: number;
}

/** A listed object under a sink's stage prefix, or undefined when its key is not a staged object's. */
export function stagedObject(o: { key: string; size: number; uploaded: Date; customMetadata?: Record<string, string> }, prefix: string): StagedObject | undefined {
  const m = /^(\d+\/\d{8})\/[^/]+\.ndjson$/.exec(o.key.slice(prefix.length));
  if (!o.key.startsWith(prefix) || !m) return undefined;
  const staged = Number(o.customMetadata?.staged);
  return { key: o.key, partition: m[1]!, events: Number(o.customMetadata?.events ?? 0), bytes: o.size, staged: staged > 0 ? staged : o.uploaded.getTime() };
}

/** Objects packed, in order and whole, into files of at most maxEvents / maxBytes (an object over them is a file of its own). */
export function packFiles(objects: readonly StagedObject[], limits: Pick<BufferPolicy, "maxEvents" | "maxBytes">): StagedObject[][] {
  const files: StagedObject[][] = [];
  let cur: StagedObject[] = [];
  let events = 0;
  let bytes = 0;
  for (const o of objects) {
    if (cur.length > 0 && (events + o.events > limits.maxEvents || bytes + o.bytes > limits.maxBytes)) {
      files.push(cur);
      cur = [];
      events = bytes = 0;
    }
    cur.push(o);
    events += o.events;
    bytes += o.bytes;
  }
  if (cur.length > 0) files.push(cur);
  return files;
}

export interface DueGroup {
  partition: string;
  /** The files to write now (each a list of staged objects). */
  files: StagedObject[][];
  /** When the group's oldest object was staged. */
  oldest: number;
}

/**
 * The groups (class and event day) with files to write at `now`, oldest first: all of a group's files
 * once its oldest object is `seconds` old, else only its full ones (maxEvents / maxBytes reached).
 */
export function dueGroups(objects: readonly StagedObject[], policy: BufferPolicy, now: number): DueGroup[] {
  const byPart = new Map<string, StagedObject[]>();
  for (const o of objects) {
    let l = byPart.get(o.partition);
    if (!l) byPart.set(o.partition, (l = []));
    l.push(o);
  }
  const out: DueGroup[] = [];
  for (const [partition, list] of byPart) {
    list.sort((a, b) => a.staged - b.staged || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const files = packFiles(list, policy);
    const oldest = list[0]!.staged;
    if (now - oldest >= policy.seconds * 1000) {
      out.push({ partition, files, oldest });
      continue;
    }
    const full = (f: StagedObject[]) => f.reduce((n, o) => n + o.events, 0) >= policy.maxEvents || f.reduce((n, o) => n + o.bytes, 0) >= policy.maxBytes;
    // every file but the last is full (the next object did not fit); the last only when it reached a limit
    const ready = full(files[files.length - 1]!) ? files : files.slice(0, -1);
    if (ready.length > 0) out.push({ partition, files: ready, oldest });
  }
  return out.sort((a, b) => a.oldest - b.oldest);
}

/** How long a group may keep failing before its events are dead-lettered: the sink's retry schedule (no jitter), at least a minute per attempt. */
export function giveUpMs(retry: RetryPolicy): number {
  let s = 0;
  for (let a = 1; a < retry.maxAttempts; a++) s += backoffCeiling(a, retry);
  return Math.max(s, retry.maxAttempts * 60) * 1000;
}

export interface CompactDeps {
  archive: R2Bucket;
  env: Record<string, unknown>;
  now: () => number;
}

export interface CompactResult {
  sink: string;
  /** Staged objects written (or dead-lettered) and deleted. */
  objects: number;
  delivered: number;
  dead: number;
  /** Events left staged for the next run (the sink failed, or the budget ended). */
  retried: number;
  /** Events dropped as copies of an event (same metadata.uid) already read in their group this run. */
  duplicates: number;
  /** Staged objects listed (a lower bound when `more`). */
  listed: number;
  more: boolean;
  /** Keys of the staged objects this run deleted. */
  removed: Set<string>;
}

/** Staged objects read at once (Workers allow 6 open connections; the sink's send waits for the reads). */
const READ_LANES = 4;

/** Runs `each` for 0..count-1, READ_LANES at a time. */
async function inLanes(count: number, each: (k: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await each(next++);
  };
  await Promise.all(Array.from({ length: READ_LANES }, lane));
}

interface RunState {
  deadline: number;
  /** Staged objects that may still be read. */
  objects: number;
}

/** One due group's part of a run: its partition and the uids its files read so far (a later copy is not written). */
interface GroupRun {
  partition: string;
  seen: Set<string>;
}

/** When the earliest of `objects` was staged, ms (Infinity for none). */
function oldestStaged(objects: readonly StagedObject[]): number {
  return objects.reduce((m, o) => Math.min(m, o.staged), Infinity);
}

/** How long the events of objects staged first at `oldest` have waited past the window at `now`, ms. */
function waitedMs(oldest: number, policy: BufferPolicy, now: number): number {
  return now - oldest - policy.seconds * 1000;
}

/** The last moment before events staged first at `oldest` are overdue (past the window and the sink's retry span), ms. */
function dueUntil(oldest: number, policy: BufferPolicy, sink: ResolvedSink): number {
  return oldest + policy.seconds * 1000 + giveUpMs(sink.retry);
}

/** Whether a file's events have waited past the window and the sink's retry span at `now` (they are dead-lettered if not delivered). */
function overdueAt(file: readonly StagedObject[], policy: BufferPolicy, sink: ResolvedSink, now: number): boolean {
  return now > dueUntil(oldestStaged(file), policy, sink);
}

/**
 * Writes one file of staged objects, or, when the sink was already found `down` in this run, dead-letters
 * it without a send (the caller passes only overdue files then); returns the sink's Down when it looked down.
 */
async function compactFile(sink: ResolvedSink, policy: BufferPolicy, file: StagedObject[], deps: CompactDeps, run: RunState, r: CompactResult, group: GroupRun, down?: Down): Promise<Down | undefined> {
  const { partition, seen } = group;
  const items: Item[] = [];
  const owner: number[] = []; // item index -> index into `read`
  const read: StagedObject[] = [];
  // the objects' bodies, READ_LANES gets at a time (a file of small objects is many round trips), used in order
  const bodies: (ArrayBuffer | null)[] = new Array(file.length);
  let duplicates = 0;
  await inLanes(file.length, async (k) => {
    const got = await deps.archive.get(file[k]!.key);
    bodies[k] = got ? await got.arrayBuffer() : null;
  });
  run.objects -= file.length;
  for (const [k, o] of file.entries()) {
    const bytes = bodies[k];
    if (!bytes) continue; // written by another run meanwhile
    bodies[k] = null; // its lines hold the text from here on: ~maxBytes of buffers need not live to the send
    let lines: Item[];
    try {
      lines = new TextDecoder()
        .decode(bytes)
        .split("\n")
        .filter((l) => l !== "")
        .map((line) => ({ line, event: JSON.parse(line) as OcsfEvent }));
    } catch (e) {
      // the same bytes would fail every run: set aside for an operator, out of stage/ (kept in place if that fails)
      const aside = `${STAGE_UNREADABLE_PREFIX}${o.key}`;
      const reason = `not NDJSON: ${(e as Error).message}`.slice(0, 256);
      try {
        await deps.archive.put(aside, bytes, { customMetadata: { unreadable: reason } });
        await deps.archive.delete(o.key);
        log("error", "staged object unreadable, set aside", { sink: sink.name, key: o.key, aside, reason });
      } catch (err) {
        log("error", "staged object unreadable, left in place", { sink: sink.name, key: o.key, reason, error: (err as Error).message });
      }
      continue;
    }
    for (const it of lines) {
      // a copy of an event read before in this group (the same uid): settled with it, not written again
      const uid = it.event.metadata?.uid;
      if (uid !== undefined && seen.has(uid)) {
        duplicates++;
        continue;
      }
      if (uid !== undefined) seen.add(uid);
      items.push(it);
      owner.push(read.length);
    }
    read.push(o);
  }
  if (read.length === 0) return down;
  const now = deps.now();
  // the file's limits are the buffer's (an object over them is split into several files by the delivery)
  const fileSink: ResolvedSink = { ...sink, batch: { maxEvents: policy.maxEvents, maxBytes: policy.maxBytes } };
  // no deadline inside a file (the run's budget is checked before each): a retry here means the sink failed
  const report: AttemptReport = items.length === 0
    ? { delivered: [], retry: [], rejected: [], requests: 0 }
    : down
    ? { delivered: [], retry: [{ indices: items.map((_, i) => i), ...notSent(down) }], rejected: [], requests: 0, down }
    : await attemptDelivery(fileSink, items, { env: deps.env, now, clock: deps.now });
  const settled = new Uint8Array(items.length);
  for (const i of report.delivered) settled[i] = 1;
  const oldest = oldestStaged(read);
  const waited = waitedMs(oldest, policy, now);
  const overdue = waited > giveUpMs(sink.retry);
  let dead = 0;
  let rejected = 0;
  const deadLetters: string[] = [];
  let deadReason: string | undefined;
  const bury = async (g: OutcomeGroup, reason: string): Promise<void> => {
    try {
      const events = g.indices.map((i) => items[i]!.event);
      const attempts = Math.max(1, Math.floor(waited / 60_000) + 1); // one compaction a minute since the group was due
      const d = { sink: sink.name, type: sink.type, reason: oneLine(reason), attempts, first_attempt_at: new Date(oldest + policy.seconds * 1000).toISOString(), events };
      deadLetters.push(await writeDeadLetter(deps.archive, { ...d, ...(g.response ? { response: g.response } : {}) }, now));
      deadReason ??= d.reason;
      for (const i of g.indices) settled[i] = 1;
      dead += g.indices.length;
    } catch (e) {
      log("error", "dead letter write failed; staged events kept", { sink: sink.name, error: (e as Error).message });
    }
  };
  for (const g of report.rejected) {
    await bury(g, g.reason);
    rejected += g.indices.length;
  }
  let retried = 0;
  for (const g of report.retry) {
    if (overdue) await bury(g, `gave up after ${Math.round(waited / 60_000)} min of compaction attempts: ${g.reason}`);
    else retried += g.indices.length;
  }
  // an object goes once every event of it is delivered or dead-lettered
  const whole = read.map(() => true);
  owner.forEach((o, i) => {
    if (!settled[i]) whole[o] = false;
  });
  const done = read.filter((_, k) => whole[k]).map((o) => o.key);
  await markDone(deps.archive, sink.name, done);
  await deleteKeys(deps.archive, done);
  const delivered = report.delivered.length;
  countDelivery(sink.name, { delivered, retried, dead, requests: report.requests }, rejected);
  r.objects += done.length;
  for (const k of done) r.removed.add(k);
  r.delivered += delivered;
  r.dead += dead;
  r.retried += retried;
  r.duplicates += duplicates;
  const failed = retried > 0 || dead > 0;
  log(failed ? "warn" : "info", "compaction", {
    sink: sink.name,
    partition,
    objects: read.length,
    events: items.length,
    ...(duplicates > 0 ? { duplicates } : {}),
    delivered,
    retried,
    dead,
    requests: report.requests,
    ...(report.down ? { down: report.down.reason } : {}),
    ...(report.retry[0] && !overdue ? { reason: report.retry[0].reason } : {}),
    ...(deadLetters.length > 0 ? { deadReason, dlq: deadLetters[0] } : {}),
  });
  return report.down;
}

/** Deletes keys, 1,000 a call (R2's most). */
async function deleteKeys(bucket: R2Bucket, keys: readonly string[]): Promise<void> {
  for (let k = 0; k < keys.length; k += 1000) await bucket.delete(keys.slice(k, k + 1000));
}

/**
 * Leaves a marker (empty) for each staged object about to be deleted, READ_LANES puts at a time. A failed
 * put is logged and the object deleted all the same: only a redelivery of its batch would stage it again.
 */
async function markDone(bucket: R2Bucket, sink: string, keys: readonly string[]): Promise<void> {
  let failed = 0;
  let error: string | undefined;
  await inLanes(keys.length, async (k) => {
    try {
      await bucket.put(doneKey(keys[k]!), "");
    } catch (e) {
      failed++;
      error ??= (e as Error).message;
    }
  });
  if (failed > 0) log("warn", "staged objects deleted without a marker", { sink, objects: failed, error });
}

/**
 * Deletes a sink's markers older than STAGE_DONE_RETENTION_MS at `now`, over at most `budget.pages` list
 * pages, starting after the key the last sweep ended on (back at the start once a sweep reaches the end).
 */
export async function sweepDone(bucket: R2Bucket, sink: string, now: number, budget: SweepBudget = SWEEP_SCHEDULED): Promise<{ listed: number; removed: number }> {
  const prefix = doneKey(stagePrefix(sink));
  const at = `${STAGE_SWEEP_PREFIX}${sink}`;
  const kept = await bucket.get(at);
  const from = kept ? await kept.text() : "";
  const old: string[] = [];
  let listed = 0;
  let last = "";
  let cursor: string | undefined;
  let more = true;
  for (let page = 0; page < budget.pages && more; page++) {
    const list = await bucket.list({ prefix, limit: budget.perPage, ...(cursor ? { cursor } : from.startsWith(prefix) ? { startAfter: from } : {}) });
    for (const o of list.objects) {
      listed++;
      last = o.key;
      if (now - o.uploaded.getTime() > STAGE_DONE_RETENTION_MS) old.push(o.key);
    }
    more = list.truncated;
    cursor = list.truncated ? list.cursor : undefined;
  }
  await deleteKeys(bucket, old);
  if (more) await bucket.put(at, last);
  else if (kept) await bucket.delete(at);
  return { listed, removed: old.length };
}

/** A group's lease, given back, or kept until `notBefore` (the store's Retry-After) so no run claims the group earlier. */
async function release(bucket: R2Bucket, lease: string, notBefore: number | undefined): Promise<void> {
  if (notBefore !== undefined) {
    try {
      await putUntil(bucket, lease, notBefore);
      return;
    } catch (e) {
      log("warn", "compaction lease not kept for Retry-After; given back", { lease, error: (e as Error).message });
    }
  }
  await bucket.delete(lease);
}

/**
 * The sink's hold (holdKey) as a Down when it lasts past `now` (the run then sends nothing); an expired
 * one is deleted. A failed read is no hold (the groups' leases still keep the store's Retry-After).
 */
async function heldUntil(bucket: R2Bucket, sink: string, now: number): Promise<Down | undefined> {
  try {
    const hold = await bucket.head(holdKey(sink));
    if (!hold) return undefined;
    const until = untilOf(hold);
    if (until > now) return { reason: `the store asked to wait until ${new Date(until).toISOString()}`, afterMs: until - now };
    await bucket.delete(holdKey(sink));
  } catch (e) {
    log("warn", "compaction hold unreadable; groups tried", { sink, error: (e as Error).message });
  }
  return undefined;
}

/** Holds the whole sink's compaction until `until` (a failed put is logged: the group's lease still waits). */
async function holdSink(bucket: R2Bucket, sink: string, until: number): Promise<void> {
  try {
    await putUntil(bucket, holdKey(sink), until);
  } catch (e) {
    log("warn", "compaction hold not kept; the sink's other groups are tried next run", { sink, error: (e as Error).message });
  }
}

/** One buffered sink's run: list, plan, then each due group under its lease, oldest first, within the run's budget. */
export async function compactSink(sink: ResolvedSink, policy: BufferPolicy, deps: CompactDeps, budget: CompactBudget, run: RunState): Promise<CompactResult> {
  const prefix = stagePrefix(sink.name);
  const { items, more } = await listWithMetadata(deps.archive, prefix, Infinity, budget.pages, (o) => stagedObject(o, prefix));
  const objects = items.filter((o): o is StagedObject => o !== undefined);
  const r: CompactResult = { sink: sink.name, objects: 0, delivered: 0, dead: 0, retried: 0, duplicates: 0, listed: objects.length, more, removed: new Set() };
  // a file is started while objects are left to read (so a run may read up to one file's objects more)
  const canStart = () => deps.now() < run.deadline && run.objects > 0;
  const due = dueGroups(objects, policy, deps.now());
  // once a file finds the sink down (or the store's Retry-After holds the sink), only files past the
  // retry span go on (dead-lettered, not sent)
  let down: Down | undefined = due.length > 0 ? await heldUntil(deps.archive, sink.name, deps.now()) : undefined;
  if (down) log("info", "compaction held for the store's Retry-After", { sink: sink.name, reason: down.reason });
  const next = (f: StagedObject[]) => down === undefined || overdueAt(f, policy, sink, deps.now());
  for (const g of due) {
    if (!canStart()) break;
    if (!g.files.some(next)) continue;
    const lease = `${STAGE_LEASE_PREFIX}${sink.name}/${g.partition}`;
    if (!(await claim(deps.archive, lease, deps.now()))) continue; // another run is writing it (or the store asked to wait)
    let notBefore: number | undefined;
    const group: GroupRun = { partition: g.partition, seen: new Set() };
    try {
      for (const file of g.files) {
        if (!canStart()) break;
        if (!next(file)) continue;
        const sent = down === undefined;
        down = (await compactFile(sink, policy, file, deps, run, r, group, down)) ?? down;
        const after = sent ? down?.afterMs : undefined;
        if (after !== undefined && after > RUN_INTERVAL_MS) {
          const now = deps.now();
          // the store's Retry-After, but not past the moment `oldest` is overdue: it is dead-lettered on time
          const waitFor = (oldest: number) => Math.min(now + after, dueUntil(oldest, policy, sink) + 1);
          const until = waitFor(g.oldest); // the group's oldest file
          if (until - now > RUN_INTERVAL_MS) {
            notBefore = until;
            log("warn", "compaction waits for the store's Retry-After", { sink: sink.name, partition: g.partition, afterMs: after, until: new Date(until).toISOString() });
            // the whole sink waits as long, but not past the moment its oldest staged object is overdue
            const held = waitFor(oldestStaged(objects));
            if (held - now > RUN_INTERVAL_MS) await holdSink(deps.archive, sink.name, held);
          }
        }
      }
    } finally {
      await release(deps.archive, lease, notBefore);
    }
  }
  const left = objects.filter((o) => !r.removed.has(o.key));
  const now = deps.now();
  setStagedBacklog(sink.name, left.length, left.length > 0 ? Math.max(0, Math.round((now - oldestStaged(left)) / 1000)) : 0, now);
  return r;
}

/**
 * Every storage sink of the config, one after another, sharing one budget: the buffered ones by their
 * buffer; an unbuffered one (its buffer turned off since) has what it staged before written at once.
 */
export async function compactAll(cfg: Config, deps: CompactDeps, budget: CompactBudget = COMPACT_SCHEDULED, sweep: SweepBudget = SWEEP_SCHEDULED): Promise<CompactResult[]> {
  const run: RunState = { deadline: deps.now() + budget.ms, objects: budget.objects };
  const out: CompactResult[] = [];
  const storage = [...resolveSinks(cfg).values()].filter((s) => s.driver.partition);
  for (const sink of storage) {
    if (deps.now() >= run.deadline) continue;
    try {
      out.push(await compactSink(sink, sink.buffer ?? { seconds: 0, ...sink.batch }, deps, budget, run));
    } catch (e) {
      // R2 failed (list, get, delete): what was not written stays staged for the next run
      log("error", "compaction failed", { sink: sink.name, error: (e as Error).message });
    }
  }
  // the markers' sweep is bounded by itself and runs whatever the compaction's budget left
  for (const sink of storage) {
    try {
      const { removed } = await sweepDone(deps.archive, sink.name, deps.now(), sweep);
      if (removed > 0) log("info", "staged-object markers swept", { sink: sink.name, removed });
    } catch (e) {
      log("warn", "marker sweep failed", { sink: sink.name, error: (e as Error).message });
    }
  }
  return out;
}

/** The cron's compaction (never throws: staged events wait for the next run). */
export async function compactScheduled(env: { ARCHIVE: R2Bucket; TRIBUTARY_CONFIG?: unknown }, now: () => number = Date.now): Promise<CompactResult[]> {
  let cfg: Config;
  try {
    cfg = configFor(env);
  } catch (e) {
    log("error", "config unusable, compaction skipped", { error: (e as Error).message });
    return [];
  }
  return compactAll(cfg, { archive: env.ARCHIVE, env: env as unknown as Record<string, unknown>, now }, COMPACT_SCHEDULED);
}
