// Backfill: archived events sent again to one configured sink (a SIEM added later, or one that lost data),
// through the same path as a dead-letter replay: DELIVERIES messages (./retry.ts scheduleDelivery, attempt 1),
// so the sink's own batching, retries, backoff, dead letters and buffering apply.
// The archive is `ocsf/class_uid=<c>/event_day=<yyyyMMdd>/<batch id>.ndjson.gz` (./archive.ts). One call
// (POST /v1/backfill, src/routes/backfill.ts) does a bounded page of work: it walks the keys of the day range
// in key order (class, then day, then batch id), reads at most BACKFILL_BUDGET of them, and answers a cursor:
// the last key it finished (or a class prefix before which all is done). A call with that cursor goes on
// right after it, so paging through the cursors reads every object once, as one long run would.
// The route answers that key bound to the call's sink, range and filters (bindCursor), and refuses a cursor
// sent with others (readCursor): resuming with another --tenant or --to would silently mix two backfills.
import { gunzipSync, strFromU8, strToU8 } from "fflate";
import { base64, fromBase64 } from "../sinks/batch";
import { ARCHIVE_PREFIX } from "./archive";
import type { OcsfEvent } from "../normalize/ocsf";
import { sourceOf, type Source } from "../route/fields";
import type { ResolvedSink } from "./sinks";
import { scheduleDelivery, type DeliveriesQueue } from "./retry";
import type { Item } from "./attempt";

/** Most days between `from` and `to` (to - from). */
export const MAX_SPAN_DAYS = 31;

export interface BackfillBudget {
  /** Archive objects read per call. */
  objects: number;
  /** Compressed bytes read per call (the first object is read whatever its size). */
  bytes: number;
  /** Wall time per call, ms (checked before each object). */
  ms: number;
  /** R2 list calls per call. */
  lists: number;
}

/**
 * One call's work. Subrequests: a get and a queue send per object (a put more when its events are parked in
 * R2, over ~120 KB), plus the lists: at most 20 * 3 + 40 = 100 per call.
 */
export const BACKFILL_BUDGET: BackfillBudget = { objects: 20, bytes: 16_000_000, ms: 20_000, lists: 40 };

export interface BackfillQuery {
  /** First and last event day, yyyyMMdd (as in the keys). */
  from: string;
  to: string;
  classUid?: number;
  /** metadata.tenant_uid */
  tenant?: string;
  /** The sensors, as routing's `source` match reads them (src/route/fields.ts sourceOf). */
  sources?: readonly Source[];
  /** Continue after this key (or class prefix): the `cursor` of the previous call. */
  cursor?: string;
}

export interface BackfillResult {
  /** Archive objects read. */
  objects: number;
  events: { read: number; matched: number; sent: number; unwritable?: number };
  /** Objects (or lines of them) that could not be read; never fatal. */
  skipped: { key: string; reason: string }[];
  /** Where the next call goes on; absent when the range is done. */
  cursor?: string;
  /** Why the page stopped early: the queue or R2 failed; the cursor is before the object that failed (send it again). */
  error?: string;
}

/** "2026-12-03" -> "20261203", or undefined when it is not a calendar day. */
export function compactDay(day: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return undefined;
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== day) return undefined;
  return `${m[1]}${m[2]}${m[3]}`;
}

/** The range as key days, or why it cannot be one (`to` before `from`, more than MAX_SPAN_DAYS apart, not days). */
export function dayRange(from: string, to: string): { from: string; to: string } | { error: string } {
  const f = compactDay(from);
  const t = compactDay(to);
  if (!f || !t) return { error: `${!f ? "from" : "to"}: expected an event day yyyy-mm-dd` };
  const span = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000;
  if (span < 0) return { error: `to (${to}) is before from (${from})` };
  if (span > MAX_SPAN_DAYS) return { error: `from ${from} to ${to} is ${span} days: at most ${MAX_SPAN_DAYS} per backfill (run one per month)` };
  return { from: f, to: t };
}

/** Whether an archived event passes the tenant and source filters (the class is chosen by prefix). */
export function matches(e: OcsfEvent, q: Pick<BackfillQuery, "tenant" | "sources">): boolean {
  if (q.tenant !== undefined && e.metadata?.tenant_uid !== q.tenant) return false;
  if (q.sources !== undefined) {
    const s = sourceOf(e);
    if (s === undefined || !q.sources.includes(s)) return false;
  }
  return true;
}

/** What a cursor is bound to: the sink, range and filters of the call that answered it (as the body names them). */
export interface CursorBinding {
  sink: string;
  from: string;
  to: string;
  class_uid?: number;
  tenant?: string;
  /** Sorted, without repeats (the same sensors in another order are the same backfill). */
  source?: string[];
}

const BINDING_FIELDS = ["sink", "from", "to", "class_uid", "tenant", "source"] as const;

/** The binding of a call, with `source` made canonical. */
function cursorBinding(b: CursorBinding): CursorBinding {
  const source = b.source === undefined ? undefined : [...new Set(b.source)].sort();
  return {
    sink: b.sink,
    from: b.from,
    to: b.to,
    ...(b.class_uid !== undefined ? { class_uid: b.class_uid } : {}),
    ...(b.tenant !== undefined ? { tenant: b.tenant } : {}),
    ...(source !== undefined ? { source } : {}),
  };
}

/**
 * A cursor as answered: the key (or class prefix) the walk stands at, "@", and the call's binding as base64url
 * JSON: `ocsf/class_uid=2004/event_day=20261201/<id>.ndjson.gz@eyJzaW5rIjoi...`. Keys have no "@".
 */
export function bindCursor(key: string, b: CursorBinding): string {
  const b64 = base64(strToU8(JSON.stringify(cursorBinding(b))));
  return `${key}@${b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

const shown = (v: CursorBinding[keyof CursorBinding]) => (v === undefined ? "none" : JSON.stringify(v));

/** The key of a cursor sent with the call `want`, or why it cannot go on (another sink, range or filter: named). */
export function readCursor(cursor: string, want: CursorBinding): { key: string } | { error: string } {
  const at = cursor.lastIndexOf("@");
  const key = cursor.slice(0, at);
  let made: CursorBinding | undefined;
  if (at > 0 && key.startsWith(ARCHIVE_PREFIX)) {
    try {
      const b64 = cursor.slice(at + 1).replace(/-/g, "+").replace(/_/g, "/");
      made = JSON.parse(strFromU8(fromBase64(b64 + "=".repeat((4 - (b64.length % 4)) % 4)))) as CursorBinding;
    } catch {
      made = undefined;
    }
  }
  if (typeof made !== "object" || made === null || typeof made.sink !== "string") {
    return { error: "cursor: not a cursor of a backfill answer (`<key>@<binding>`, as the previous answer gave it); send none to start over" };
  }
  const w = cursorBinding(want);
  const m = cursorBinding(made);
  const differ = BINDING_FIELDS.filter((f) => JSON.stringify(m[f]) !== JSON.stringify(w[f])).map((f) => `${f} ${shown(m[f])} (this call: ${shown(w[f])})`);
  if (differ.length) {
    return { error: `cursor: it belongs to another backfill: ${differ.join(", ")}; resume with the sink, range and filters of the call that answered it, or send no cursor to start over` };
  }
  return { key };
}

/** An archive object's lines as events; `bad` counts the lines that are not JSON objects. */
export function archiveItems(text: string): { items: Item[]; bad: number } {
  const items: Item[] = [];
  let bad = 0;
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const event: unknown = JSON.parse(line);
      if (typeof event === "object" && event !== null && !Array.isArray(event)) items.push({ event: event as OcsfEvent, line });
      else bad++;
    } catch {
      bad++;
    }
  }
  return { items, bad };
}

/**
 * Where to list a class prefix from: after `cursor` when it lies inside the class, else from the first day;
 * undefined when the cursor is past the class (all of it done). Every key of an earlier day sorts before
 * `<class>event_day=<from>`, every key of that day after it.
 */
export function classStart(classPrefix: string, from: string, cursor: string | undefined): string | undefined {
  const dayStart = `${classPrefix}event_day=${from}`;
  if (cursor === undefined || cursor < classPrefix) return dayStart;
  if (!cursor.startsWith(classPrefix)) return undefined;
  return cursor > dayStart ? cursor : dayStart;
}

/** The event day (yyyyMMdd) of an archive key under `classPrefix`, or undefined for another kind of key. */
function dayOfKey(classPrefix: string, key: string): string | undefined {
  return /^event_day=(\d{8})\//.exec(key.slice(classPrefix.length))?.[1];
}

export interface BackfillDeps {
  archive: R2Bucket;
  deliveries: DeliveriesQueue | undefined;
  now: () => number;
}

/** The class prefixes to walk, sorted: the one asked for, or every `ocsf/class_uid=<n>/` in the archive. */
async function classPrefixes(archive: R2Bucket, classUid: number | undefined, listed: () => boolean): Promise<string[] | undefined> {
  if (classUid !== undefined) return [`${ARCHIVE_PREFIX}class_uid=${classUid}/`];
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    if (!listed()) return undefined;
    const page = await archive.list({ prefix: ARCHIVE_PREFIX, delimiter: "/", ...(cursor ? { cursor } : {}) });
    for (const p of page.delimitedPrefixes) if (/^class_uid=\d+\/$/.test(p.slice(ARCHIVE_PREFIX.length))) out.push(p);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return out.sort();
}

/** An archive object's text (gunzipped when .gz), undefined when it is gone, or why it cannot be read (corrupt gzip). */
async function readObject(archive: R2Bucket, key: string): Promise<{ text: string } | { corrupt: string } | undefined> {
  const obj = await archive.get(key); // an R2 error throws: the page stops before this object (retried)
  if (!obj) return undefined;
  const bytes = new Uint8Array(await obj.arrayBuffer());
  try {
    return { text: strFromU8(key.endsWith(".gz") ? gunzipSync(bytes) : bytes) };
  } catch (e) {
    return { corrupt: `not gzip NDJSON: ${(e as Error).message || String(e)}` };
  }
}

/** One page of a backfill to `sink` (see the head of this file). */
export async function backfillPage(deps: BackfillDeps, sink: ResolvedSink, q: BackfillQuery, budget: BackfillBudget = BACKFILL_BUDGET): Promise<BackfillResult> {
  const started = deps.now();
  const r: BackfillResult = { objects: 0, events: { read: 0, matched: 0, sent: 0 }, skipped: [] };
  let unwritable = 0;
  let lists = 0;
  let bytes = 0;
  const listed = () => lists++ < budget.lists;
  // everything up to and including `pos` (a key, or a class prefix) is done
  let pos = q.cursor;
  const finish = (cursor: string | undefined): BackfillResult => ({ ...r, events: { ...r.events, ...(unwritable ? { unwritable } : {}) }, ...(cursor !== undefined ? { cursor } : {}) });

  const classes = await classPrefixes(deps.archive, q.classUid, listed);
  if (!classes) return finish(pos ?? ARCHIVE_PREFIX);
  for (const cp of classes) {
    const startAfter = classStart(cp, q.from, q.cursor);
    if (startAfter === undefined) continue;
    if (pos === undefined || pos < cp) pos = cp;
    let listCursor: string | undefined;
    classLoop: do {
      if (!listed()) return finish(pos);
      const page = await deps.archive.list({ prefix: cp, ...(listCursor ? { cursor: listCursor } : { startAfter }) });
      for (const o of page.objects) {
        const day = dayOfKey(cp, o.key);
        if (day === undefined) continue; // not an archive batch: not ours to send
        if (day > q.to) break classLoop;
        if (r.objects >= budget.objects || (r.objects > 0 && (bytes + o.size > budget.bytes || deps.now() - started >= budget.ms))) return finish(pos);
        r.objects++;
        bytes += o.size;
        const error = await backfillObject(deps, sink, q, o.key, r, (n) => (unwritable += n));
        if (error !== undefined) return { ...finish(pos), error };
        pos = o.key;
      }
      listCursor = page.truncated ? page.cursor : undefined;
    } while (listCursor);
  }
  return finish(undefined);
}

/** Reads one object and schedules its matching events; returns the queue's (or R2's) error when scheduling failed. */
async function backfillObject(deps: BackfillDeps, sink: ResolvedSink, q: BackfillQuery, key: string, r: BackfillResult, countUnwritable: (n: number) => void): Promise<string | undefined> {
  let read: Awaited<ReturnType<typeof readObject>>;
  try {
    read = await readObject(deps.archive, key);
  } catch (e) {
    r.objects--;
    return `reading ${key}: ${(e as Error).message || String(e)}`;
  }
  if (read === undefined || "corrupt" in read) {
    r.skipped.push({ key, reason: read?.corrupt ?? "gone (deleted since it was listed)" });
    return undefined;
  }
  const { items, bad } = archiveItems(read.text);
  const matched = items.filter((i) => matches(i.event, q));
  const writable = sink.driver.unwritable ? matched.filter((i) => sink.driver.unwritable!(i.event, sink.config) === undefined) : matched;
  if (writable.length) {
    try {
      await scheduleDelivery({ deliveries: deps.deliveries, archive: deps.archive }, { sink: sink.name, attempt: 1, first_attempt_at: deps.now(), reason: `backfill of ${key}` }, writable, 0);
    } catch (e) {
      // not done: the cursor stays before it, and a retry counts it then
      r.objects--;
      return (e as Error).message || String(e);
    }
  }
  if (bad) r.skipped.push({ key, reason: `${bad} line${bad === 1 ? " is" : "s are"} not a JSON event (the object's other lines were read)` });
  r.events.read += items.length;
  r.events.matched += matched.length;
  countUnwritable(matched.length - writable.length);
  r.events.sent += writable.length;
  return undefined;
}
