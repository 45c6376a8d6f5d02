// The NoiseWindow Durable Object (binding NOISE): the state of dedup and throttle windows
// (docs/noise.md). One object per dedup fingerprint ("dedup:<policy>:<fingerprint>") or per throttle
// key ("throttle:<policy>:<sink>:<digest of key>"), holding one window per sink. The consumer calls it
// once per batch with every event of that fingerprint grouped by queue message (dedup() / throttle());
// the object answers how many leading events of each message go out now, and counts the rest.
// An alarm at the end of the window builds what the window sends (./summary) and delivers it through
// the normal delivery path (deliverToSink: retries via DELIVERIES, then dead letters), then forgets it.
//
// Everything lives in storage (SQLite-backed), so a restart loses nothing. Bounded: one fingerprint
// (or throttle key) per object by its name, at most MAX_WINDOWS windows per object (the oldest is
// closed early, its summary sent, to open another), MAX_DECIDED message ids and MAX_HOSTS hosts per
// window (per class in a throttle window), one stored event per window (a throttle window: one per
// OCSF class held back, at most MAX_CLASSES); a window lasts at most a day and an idle object keeps no state.
// Idempotent per queue message: a redelivered message is answered as the first time and not counted again.
import { DurableObject } from "cloudflare:workers";
import type { DedupMode } from "../config/noise";
import { selectConfig } from "../config/load";
import type { Config } from "../config/schema";
import type { OcsfEvent } from "../normalize/ocsf";
import { deliverToSink, resultFields } from "../deliver/deliver";
import { log } from "../ops/log";
import { countNoiseSummaries, countWindowsEvicted, flushMetrics } from "../ops/record";
import { windowOutput, type WindowSummary } from "./summary";

/** Windows one object holds (one per sink); opening one more closes the oldest early (summary sent). */
export const MAX_WINDOWS = 64;
/** Queue message ids a window remembers (for redeliveries). */
export const MAX_DECIDED = 512;
/** Largest event an object keeps (queue messages carry at most ~100 KB per event). */
export const MAX_LINE_CHARS = 1_000_000;
/** Distinct hosts a throttle window remembers for its summary (more are reported as truncated). */
export const MAX_HOSTS = 32;
/**
 * OCSF classes a throttle window summarizes apart (one summary, one stored event each). Tributary's
 * sources produce fewer classes than this; events of further classes are still held back, and counted
 * in the summaries' other_classes_count.
 */
export const MAX_CLASSES = 16;
/** After a failed send of a closed window, the alarm tries again this much later. */
export const RETRY_MS = 60_000;

/** The events of one queue message in a call: their times (ms), in order. */
export interface Part {
  msg: string;
  times: number[];
  /**
   * Throttle calls: each distinct device.hostname ("" for none) and class_uid of the message's events,
   * with the index of the last event of that host and class, so the object knows which hosts the events
   * it holds back of each class came from.
   */
  hosts?: [host: string, last: number, classUid?: number][];
  /** Throttle calls: the class_uid of each event (parallel to times). */
  classes?: number[];
}

export interface DedupSinkInput {
  sink: string;
  mode: DedupMode;
  parts: Part[];
  /** The first event of the call for this sink (kept when it opens the window). */
  line: string;
}

export interface DedupRequest {
  policy: string;
  fingerprint: string;
  windowSeconds: number;
  /** The consumer's config text: the closing window is delivered with the config it was opened under. */
  config: string;
  sinks: DedupSinkInput[];
}

export interface ThrottleRequest {
  policy: string;
  sink: string;
  key: string;
  max: number;
  perSeconds: number;
  config: string;
  parts: Part[];
  /**
   * The last event of the call, as consumers before templates sent it (it is also the template of its class:
   * the object now takes it from there). The template of a window stored before classes were kept apart.
   */
  line?: string;
  /**
   * Per class_uid of the call's events, the last one of that class (the template of that class's summary),
   * each event once: the call's last event is the one of the last part's last class.
   */
  templates?: [number, string][];
}

/** Per queue message id: how many of its leading events go out now (the rest are counted). */
export type PassMap = Record<string, number>;

interface StoredWindow {
  kind: "dedup" | "throttle";
  mode: DedupMode | "throttle";
  policy: string;
  sink: string;
  key: string;
  openedAt: number;
  closesAt: number;
  /** dedup: events in the window; throttle: events held back. */
  count: number;
  /** Events let through (throttle), or 1 once first_then_summary sent its first. */
  passed: number;
  max: number;
  start?: number;
  end?: number;
  /** first_then_summary: the message whose first event went out. */
  firstMsg?: string;
  /** [message id, events passed], oldest first. */
  decided: [string, number][];
  /** Whether the template event is stored (l:<sink>). */
  template: boolean;
  /** throttle: the distinct hosts of the events held back (at most MAX_HOSTS). */
  hosts?: string[];
  /** throttle: more than MAX_HOSTS hosts were held back. */
  hostsTruncated?: boolean;
  /**
   * throttle: the events held back, per OCSF class, in the order the classes were first held back (at
   * most MAX_CLASSES). Absent in windows stored before classes were kept apart: the fields above then
   * describe them (one class, template l:<sink>).
   */
  classes?: ClassTally[];
  /** throttle: events held back of classes beyond MAX_CLASSES. */
  otherClasses?: number;
}

/** What a throttle window held back of one class; its template is stored at templateKey(sink, index). */
interface ClassTally extends Held {
  /** undefined: a window from before classes were kept apart (its one template tells the class). */
  cls?: number;
  count: number;
  template: boolean;
}

/** The span and hosts of held-back (or counted) events. */
interface Held {
  start?: number;
  end?: number;
  hosts?: string[];
  hostsTruncated?: boolean;
}

/** Where a window's stored event (index 0) or a throttle window's event of its i-th class is kept. */
function templateKey(sink: string, i = 0): string {
  return i === 0 ? `l:${sink}` : `l:${sink}:${i}`;
}

/** A throttle window's per-class tallies (a window stored before they existed: one, of unknown class). */
function tallies(w: StoredWindow): ClassTally[] {
  if (w.classes) return w.classes;
  if (w.count === 0) return [];
  const { start, end, hosts, hostsTruncated } = w;
  return [{ count: w.count, template: w.template, ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}), ...(hosts ? { hosts } : {}), ...(hostsTruncated ? { hostsTruncated } : {}) }];
}

interface Pending {
  sink: string;
  line: string;
  /**
   * What the window summarized (counted in tributary_noise_summaries_total once delivered); absent
   * when the window sends its one event unchanged (a lone fold alert): that is no summary.
   */
  kind?: StoredWindow["kind"];
}

const configs = new Map<string, Config>();

/** The config a window is delivered with (parsed once per isolate per text). */
function configOf(text: string): Config {
  let c = configs.get(text);
  if (!c) {
    c = selectConfig(text);
    if (configs.size >= 4) configs.clear();
    configs.set(text, c);
  }
  return c;
}

function span(w: Held, times: readonly number[]): void {
  for (const t of times) {
    if (!Number.isFinite(t)) continue;
    if (w.start === undefined || t < w.start) w.start = t;
    if (w.end === undefined || t > w.end) w.end = t;
  }
}

/**
 * Counts a message's held-back events (those at index >= passed) in their class's tally, with their
 * times and hosts; returns the tallies that held some. Events of a class beyond MAX_CLASSES are counted
 * in otherClasses.
 */
function holdByClass(w: StoredWindow, classes: ClassTally[], p: Part, passed: number): Set<ClassTally> {
  const held = new Set<ClassTally>();
  const tallyOf = (cls: number | undefined): ClassTally | undefined => {
    let t = classes.find((c) => c.cls === cls);
    if (!t && classes.length < MAX_CLASSES) classes.push((t = { ...(cls !== undefined ? { cls } : {}), count: 0, template: false }));
    return t;
  };
  for (let i = passed; i < p.times.length; i++) {
    const t = tallyOf(p.classes?.[i]);
    if (!t) {
      w.otherClasses = (w.otherClasses ?? 0) + 1;
      continue;
    }
    t.count++;
    span(t, [p.times[i]!]);
    held.add(t);
  }
  for (const [host, last, cls] of p.hosts ?? []) {
    const t = classes.find((c) => c.cls === cls);
    if (t && last >= passed) holdHost(t, host);
  }
  return held;
}

/** Adds a host of held-back events (at most MAX_HOSTS, then hostsTruncated). */
function holdHost(w: Held, host: string): void {
  const hosts = (w.hosts ??= []);
  if (hosts.includes(host)) return;
  if (hosts.length >= MAX_HOSTS) w.hostsTruncated = true;
  else hosts.push(host);
}

function remember(w: StoredWindow, msg: string, passed: number): void {
  w.decided.push([msg, passed]);
  if (w.decided.length > MAX_DECIDED) w.decided.splice(0, w.decided.length - MAX_DECIDED);
}

export class NoiseWindow extends DurableObject<Env> {
  /** Counts a dedup fingerprint's events per sink; answers how many go out now (first_then_summary: the window's first). */
  async dedup(req: DedupRequest): Promise<Record<string, PassMap>> {
    const now = Date.now();
    await this.keepConfig(req.config);
    const out: Record<string, PassMap> = {};
    const flush = { evicted: 0 };
    for (const s of req.sinks) {
      const pass: PassMap = (out[s.sink] = {});
      const w = await this.windowFor(s.sink, s.line, () => ({
        kind: "dedup",
        mode: s.mode,
        policy: req.policy,
        sink: s.sink,
        key: req.fingerprint,
        openedAt: now,
        closesAt: now + req.windowSeconds * 1000,
        count: 0,
        passed: 0,
        max: 0,
        decided: [],
        template: true,
      }), flush);
      if (!w) {
        // too large to keep: these events go out as they are
        for (const p of s.parts) pass[p.msg] = p.times.length;
        continue;
      }
      for (const p of s.parts) {
        const prev = w.decided.find(([m]) => m === p.msg);
        if (prev) {
          pass[p.msg] = prev[1];
          continue;
        }
        let n = 0;
        if (w.mode === "first_then_summary" && w.firstMsg === undefined && p.times.length > 0) {
          n = 1;
          w.firstMsg = p.msg;
          w.passed = 1;
        }
        w.count += p.times.length;
        span(w, p.times);
        remember(w, p.msg, n);
        pass[p.msg] = n;
      }
      await this.ctx.storage.put(`w:${s.sink}`, w);
    }
    await this.scheduleAlarm(flush.evicted > 0 ? now : undefined);
    return out;
  }

  /** Lets at most `max` events per window through for one sink and key; counts the rest for the summary. */
  async throttle(req: ThrottleRequest): Promise<PassMap> {
    const now = Date.now();
    await this.keepConfig(req.config);
    const pass: PassMap = {};
    const flush = { evicted: 0 };
    const w = await this.windowFor(req.sink, undefined, () => ({
      kind: "throttle",
      mode: "throttle",
      policy: req.policy,
      sink: req.sink,
      key: req.key,
      openedAt: now,
      closesAt: now + req.perSeconds * 1000,
      count: 0,
      passed: 0,
      max: req.max,
      decided: [],
      template: false,
      classes: [],
    }), flush);
    if (!w) {
      for (const p of req.parts) pass[p.msg] = p.times.length;
      return pass;
    }
    const classes = (w.classes = tallies(w));
    const held = new Set<ClassTally>();
    for (const p of req.parts) {
      const prev = w.decided.find(([m]) => m === p.msg);
      if (prev) {
        pass[p.msg] = prev[1];
        continue;
      }
      const n = Math.min(p.times.length, Math.max(0, w.max - w.passed));
      w.passed += n;
      w.count += p.times.length - n;
      for (const t of holdByClass(w, classes, p, n)) held.add(t);
      remember(w, p.msg, n);
      pass[p.msg] = n;
    }
    // each class's summary is built from the call's last event of that class (held back: see Part)
    const templates = new Map(req.templates ?? []);
    const lastClass = req.parts.at(-1)?.classes?.at(-1);
    const lastLine = req.line ?? (lastClass === undefined ? undefined : templates.get(lastClass));
    const lines: Record<string, string> = {};
    for (const t of held) {
      const line = t.cls === undefined ? lastLine : templates.get(t.cls);
      if (t.template || line === undefined || line.length > MAX_LINE_CHARS) continue;
      t.template = true;
      lines[templateKey(req.sink, classes.indexOf(t))] = line;
    }
    if (Object.keys(lines).length) await this.ctx.storage.put(lines);
    await this.ctx.storage.put(`w:${req.sink}`, w);
    await this.scheduleAlarm(flush.evicted > 0 ? now : undefined);
    return pass;
  }

  /** Closes the windows that are due, sends what they produce, and sets the next alarm. */
  override async alarm(): Promise<void> {
    const storage = this.ctx.storage;
    const now = Date.now();
    // the alarm is the end of the windows it was set for, even when it runs early (tests run it at will)
    const horizon = Math.max(now, (await storage.get<number>("alarm_at")) ?? now);
    const windows = await storage.list<StoredWindow>({ prefix: "w:" });
    await this.close([...windows.values()].filter((w) => w.closesAt <= horizon), ["alarm_at"]);
    const sent = await this.sendPending();
    await this.scheduleAlarm(sent ? undefined : now + RETRY_MS);
    // this object's counts (summaries, their deliveries, evictions) reach GET /metrics from here: an
    // object's isolate serves no request that would flush them (never throws)
    await flushMetrics(this.env);
  }

  /** Closes windows: each one's output becomes pending (sendPending delivers it) and the window is deleted. */
  private async close(windows: readonly StoredWindow[], alsoDelete: string[] = []): Promise<void> {
    const storage = this.ctx.storage;
    // a dedup window sends one output; a throttle window one per class it held back
    const closing = windows.map((w) => ({ w, parts: w.kind === "throttle" ? tallies(w) : [w] }));
    // every stored event of the window (index 0 even when nothing was held back, so it goes too)
    const keys = closing.flatMap(({ w, parts }) => Array.from({ length: Math.max(1, parts.length) }, (_, i) => templateKey(w.sink, i)));
    const templates = keys.length ? await storage.get<string>(keys) : new Map<string, string>();
    const outputs: Record<string, Pending> = {};
    const gone = [...alsoDelete, ...keys];
    for (const { w, parts } of closing) {
      const lines = parts.map((_, i) => templates.get(templateKey(w.sink, i)));
      const events = lines.map((line) => (line === undefined ? undefined : (JSON.parse(line) as OcsfEvent)));
      const classes = parts.length > 1 || w.otherClasses ? parts.map((t, i) => ({ class_uid: ("cls" in t ? t.cls : undefined) ?? events[i]?.class_uid ?? 0, count: t.count })) : undefined;
      parts.forEach((t, i) => {
        const line = lines[i];
        const template = events[i];
        if (line === undefined || template === undefined) return;
        const summary: WindowSummary = {
          kind: w.kind,
          mode: w.mode,
          policy: w.policy,
          sink: w.sink,
          key: w.key,
          count: t.count,
          start: t.start ?? 0,
          end: t.end ?? t.start ?? 0,
          openedAt: w.openedAt,
          closesAt: w.closesAt,
          ...(t.hosts ? { hosts: t.hosts } : {}),
          ...(t.hostsTruncated ? { hostsTruncated: true } : {}),
          ...(i > 0 ? { part: i } : {}),
          ...(classes ? { classes } : {}),
          ...(w.otherClasses ? { otherClasses: w.otherClasses } : {}),
        };
        const ev = windowOutput(template, summary);
        if (ev === undefined) return;
        // a lone fold alert goes out unchanged: no summary. Keys list (and send) the classes in order.
        outputs[`out:${w.sink}:${w.openedAt}${i > 0 ? `:${String(i).padStart(2, "0")}` : ""}`] = ev === template ? { sink: w.sink, line } : { sink: w.sink, line: JSON.stringify(ev), kind: w.kind };
      });
      gone.push(`w:${w.sink}`);
    }
    // one write batch (no await between them): each closed window is gone and its output pending, or neither
    await Promise.all([Object.keys(outputs).length ? storage.put(outputs) : undefined, gone.length ? storage.delete(gone) : undefined]);
  }

  /** Delivers the outputs of closed windows; false when one could not be settled (tried again later). */
  private async sendPending(): Promise<boolean> {
    const storage = this.ctx.storage;
    const pending = await storage.list<Pending>({ prefix: "out:" });
    if (pending.size === 0) return true;
    const text = (await storage.get<string>("config")) ?? "";
    const bySink = new Map<string, { keys: string[]; lines: string[]; kinds: Pending["kind"][] }>();
    for (const [key, p] of pending) {
      let g = bySink.get(p.sink);
      if (!g) bySink.set(p.sink, (g = { keys: [], lines: [], kinds: [] }));
      g.keys.push(key);
      g.lines.push(p.line);
      g.kinds.push(p.kind);
    }
    let ok = true;
    for (const [sink, g] of bySink) {
      try {
        const cfg = configOf(text);
        const env = this.env as unknown as Record<string, unknown>;
        const items = g.lines.map((line) => ({ line, event: JSON.parse(line) as OcsfEvent }));
        const now = Date.now();
        const r = await deliverToSink({ sink, items, attempt: 1, firstAttemptAt: now }, { cfg, env, archive: this.env.ARCHIVE, deliveries: this.env.DELIVERIES, now: Date.now });
        log(r.retried > 0 || r.dead > 0 ? "warn" : "info", "noise window delivered", resultFields(r));
        await storage.delete(g.keys);
        for (const kind of ["dedup", "throttle"] as const) countNoiseSummaries(kind, g.kinds.filter((k) => k === kind).length);
      } catch (e) {
        ok = false;
        log("error", "noise window could not be delivered; trying again", { sink, error: (e as Error).message });
      }
    }
    return ok;
  }

  /**
   * The open window of a sink, or a new one (undefined when the event is too large to keep). When the
   * object already holds MAX_WINDOWS windows, the oldest is closed early to make room: its output is
   * pending at once and `flush.evicted` tells the caller to set the alarm for now, so its summary goes
   * out and nothing it counted is lost.
   */
  private async windowFor(sink: string, line: string | undefined, make: () => StoredWindow, flush: { evicted: number }): Promise<StoredWindow | undefined> {
    const storage = this.ctx.storage;
    const w = await storage.get<StoredWindow>(`w:${sink}`);
    if (w) return w;
    if (line !== undefined && line.length > MAX_LINE_CHARS) return undefined;
    const open = await storage.list<StoredWindow>({ prefix: "w:" });
    if (open.size >= MAX_WINDOWS) {
      const oldest = [...open.values()].sort((a, b) => a.openedAt - b.openedAt || (a.sink < b.sink ? -1 : 1)).slice(0, open.size - MAX_WINDOWS + 1);
      await this.close(oldest);
      flush.evicted += oldest.length;
      countWindowsEvicted(oldest.length);
      log("warn", "noise: window limit of one object reached; oldest window closed early", { evicted: oldest.map((x) => x.sink), limit: MAX_WINDOWS });
    }
    if (line !== undefined) await storage.put(`l:${sink}`, line);
    return make();
  }

  private async keepConfig(text: string): Promise<void> {
    if ((await this.ctx.storage.get<string>("config")) !== text) await this.ctx.storage.put("config", text);
  }

  /** Sets the alarm to the earliest window end or retry (unless one is already set earlier); forgets an idle object. */
  private async scheduleAlarm(retryAt?: number): Promise<void> {
    const storage = this.ctx.storage;
    const windows = await storage.list<StoredWindow>({ prefix: "w:" });
    let earliest = retryAt ?? Infinity;
    for (const w of windows.values()) earliest = Math.min(earliest, w.closesAt);
    const current = await storage.getAlarm();
    if (earliest === Infinity) {
      // nothing open and nothing to send: an idle object keeps no state
      if (current === null && (await storage.list({ prefix: "out:", limit: 1 })).size === 0) await storage.deleteAll();
      return;
    }
    if (current !== null && current <= earliest) return;
    await storage.put("alarm_at", earliest);
    await storage.setAlarm(earliest);
  }
}
