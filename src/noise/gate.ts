// The noise stage of the queue consumer (docs/noise.md): runs after the archive write and before the
// per-sink deliveries, and decides which events each sink gets now.
//   1. pure: suppression and sampling (./policy), per event and sink;
//   2. dedup: events are grouped by policy and fingerprint, and each group is sent to its NoiseWindow
//      object in ONE call per batch (with every sink's share), which answers how many go out now;
//   3. throttle: what is left is grouped by sink and throttle key, one call per group.
// Durable Object calls run a few at a time, and at most MAX_OBJECT_CALLS per batch; a group whose call
// fails (or is over that cap, or has no NOISE binding) is delivered unfiltered (fail open: a flood is
// better than a lost alert), and counted in failed_open.
import type { Config } from "../config/schema";
import { ARCHIVE_SINK } from "../config/routing";
import { exemptFromNoise } from "../config/noise";
import type { Item } from "../deliver/attempt";
import { stableHex } from "../normalize/uid";
import { fingerprint } from "./fingerprint";
import { dedupMode, EventView, noiseFor, throttleKey, verdict, type DedupRule, type ThrottleRule } from "./policy";
import { countNoise } from "./stats";
import { log } from "../ops/log";
import type { DedupRequest, NoiseWindow, Part, PassMap, ThrottleRequest } from "./durable";

/** Durable Object calls per consumer batch (subrequests are limited per invocation). */
export const MAX_OBJECT_CALLS = 500;
/** Calls in flight at once. */
export const CALL_CONCURRENCY = 8;

export interface NoiseInput {
  /** Queue message id (redeliveries of a message are recognised by it). */
  id: string;
  sinks: readonly string[];
  items: readonly Item[];
}

export interface NoiseDeps {
  cfg: Config;
  /** Worker env: the NOISE binding and TRIBUTARY_CONFIG are read from it. */
  env: Record<string, unknown>;
  now: () => number;
}

type Namespace = DurableObjectNamespace<NoiseWindow>;

function namespaceOf(env: Record<string, unknown>): Namespace | undefined {
  const ns = env.NOISE;
  return typeof ns === "object" && ns !== null && "getByName" in ns ? (ns as Namespace) : undefined;
}

/**
 * The config text the windows are delivered with (TRIBUTARY_CONFIG as the Worker has it; empty when
 * the config is the bundled tributary.config.json, which the window object reads from its own bundle).
 */
export function configText(env: Record<string, unknown>): string {
  const raw = env.TRIBUTARY_CONFIG;
  if (typeof raw === "string") return raw;
  return raw === undefined || raw === null ? "" : JSON.stringify(raw);
}

/** The object that holds a dedup fingerprint's windows. */
export function dedupObjectName(policy: string, fp: string): string {
  return `dedup:${policy}:${fp}`;
}

/** The object that holds a throttle key's window for one sink. */
export function throttleObjectName(policy: string, sink: string, key: string): string {
  return `throttle:${policy}:${sink}:${stableHex(key)}`;
}

/** One event bound for one sink. */
interface Entry {
  item: Item;
  msg: string;
  keep: boolean;
  dedup?: DedupRule;
  throttle?: ThrottleRule;
}

/** Entries of one group, per sink and message, in order. */
class Group {
  readonly bySink = new Map<string, Entry[]>();
  add(sink: string, e: Entry): void {
    let l = this.bySink.get(sink);
    if (!l) this.bySink.set(sink, (l = []));
    l.push(e);
  }
}

/** The host an event is from ("" for none): what a throttle summary reports. */
function hostOf(e: Entry): string {
  const h = (e.item.event.device as { hostname?: unknown } | undefined)?.hostname;
  return typeof h === "string" ? h : "";
}

/**
 * Per message: the event times, in order; with `throttle`, also each event's class_uid and each
 * distinct host and class with the index of its last event of that host and class.
 */
function partsOf(entries: readonly Entry[], throttle = false): Part[] {
  const parts = new Map<string, Part>();
  const last = new Map<Part, Map<string, [string, number, number]>>();
  for (const e of entries) {
    let p = parts.get(e.msg);
    if (!p) parts.set(e.msg, (p = throttle ? { msg: e.msg, times: [], classes: [] } : { msg: e.msg, times: [] }));
    if (throttle) {
      let m = last.get(p);
      if (!m) last.set(p, (m = new Map()));
      const host = hostOf(e);
      const cls = e.item.event.class_uid;
      m.set(`${cls}\u0000${host}`, [host, p.times.length, cls]);
      p.classes!.push(cls);
    }
    p.times.push(e.item.event.time);
  }
  for (const [p, m] of last) p.hosts = [...m.values()];
  return [...parts.values()];
}

/** Per class_uid of the entries, the last one's line: the template of that class's throttle summary. */
function templatesOf(entries: readonly Entry[]): [number, string][] {
  const m = new Map<number, string>();
  for (const e of entries) m.set(e.item.event.class_uid, e.item.line);
  return [...m];
}

/** Keeps the first pass[msg] entries of each message; returns how many were held back. */
function applyPass(entries: readonly Entry[], pass: PassMap): number {
  const seen = new Map<string, number>();
  let held = 0;
  for (const e of entries) {
    const i = seen.get(e.msg) ?? 0;
    seen.set(e.msg, i + 1);
    if (i >= (pass[e.msg] ?? Infinity)) {
      e.keep = false;
      held++;
    }
  }
  return held;
}

/** Runs the calls a few at a time; each call settles its own group (never throws). */
async function runLimited(calls: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < calls.length) await calls[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(limit, calls.length) }, worker));
}

/**
 * The events each sink gets now, for the events of a consumer batch; undefined when no noise policy
 * is configured (every sink gets everything). The archive and object-store sinks (s3, security_lake,
 * r2) are left out of the map: they always get every event.
 */
export async function tameNoise(inputs: readonly NoiseInput[], deps: NoiseDeps): Promise<Map<string, Item[]> | undefined> {
  const noise = noiseFor(deps.cfg);
  if (noise.empty) return undefined;
  const now = deps.now();
  const perSink = new Map<string, Entry[]>();
  const views = new Map<Item, EventView>();
  for (const m of inputs) {
    for (const sink of m.sinks) {
      if (sink === ARCHIVE_SINK || exemptFromNoise(deps.cfg.sinks[sink]?.type)) continue;
      let list = perSink.get(sink);
      if (!list) perSink.set(sink, (list = []));
      for (const item of m.items) {
        let v = views.get(item);
        if (!v) views.set(item, (v = new EventView(item.event)));
        const d = verdict(noise, v, sink, now);
        if (d.kind === "suppressed") countNoise.suppressed(d.rule.label);
        else if (d.kind === "sampled_out") countNoise.sampledOut(d.rule.label);
        else list.push({ item, msg: m.id, keep: true, ...(d.dedup ? { dedup: d.dedup } : {}), ...(d.throttle ? { throttle: d.throttle } : {}) });
      }
    }
  }
  if (noise.stateful) await stateful(perSink, deps);
  const out = new Map<string, Item[]>();
  for (const [sink, list] of perSink) out.set(sink, list.filter((e) => e.keep).map((e) => e.item));
  return out;
}

async function stateful(perSink: Map<string, Entry[]>, deps: NoiseDeps): Promise<void> {
  const ns = namespaceOf(deps.env);
  const text = configText(deps.env);
  const budget = { calls: MAX_OBJECT_CALLS };
  const failOpen = (entries: readonly Entry[], reason: string, fields: Record<string, unknown>) => {
    countNoise.add("failed_open", entries.length);
    log("error", `noise: ${reason}; delivering unfiltered`, { events: entries.length, ...fields });
  };

  // dedup: one group per policy and fingerprint, all sinks together
  const groups = new Map<string, { rule: DedupRule; fp: string; g: Group }>();
  for (const [sink, list] of perSink) {
    for (const e of list) {
      if (!e.dedup) continue;
      const fp = fingerprint(e.item.event, e.dedup.fields);
      const key = `${e.dedup.label}\u0000${fp}`;
      let grp = groups.get(key);
      if (!grp) groups.set(key, (grp = { rule: e.dedup, fp, g: new Group() }));
      grp.g.add(sink, e);
    }
  }
  const sinkType = (name: string) => deps.cfg.sinks[name]?.type;
  const dedupCalls = [...groups.values()].map(({ rule, fp, g }) => async () => {
    const all = [...g.bySink.values()].flat();
    if (!ns || budget.calls <= 0) return failOpen(all, ns ? "too many fingerprints in one batch" : "no NOISE Durable Object binding", { policy: rule.label });
    budget.calls--;
    const req: DedupRequest = {
      policy: rule.label,
      fingerprint: fp,
      windowSeconds: rule.windowSeconds,
      config: text,
      sinks: [...g.bySink].map(([sink, entries]) => ({ sink, mode: dedupMode(rule, sinkType(sink)), parts: partsOf(entries), line: entries[0]!.item.line })),
    };
    try {
      countNoise.add("object_calls", 1);
      const res = await ns.getByName(dedupObjectName(rule.label, fp)).dedup(req);
      for (const [sink, entries] of g.bySink) countNoise.add("folded", applyPass(entries, res[sink] ?? {}));
    } catch (e) {
      failOpen(all, "dedup window unreachable", { policy: rule.label, fingerprint: fp, error: (e as Error).message });
    }
  });
  await runLimited(dedupCalls, CALL_CONCURRENCY);

  // throttle: what dedup let through, one group per sink, policy and key
  const tgroups = new Map<string, { rule: ThrottleRule; sink: string; key: string; entries: Entry[] }>();
  for (const [sink, list] of perSink) {
    for (const e of list) {
      if (!e.keep || !e.throttle) continue;
      const key = throttleKey(e.throttle, e.item.event);
      const k = `${e.throttle.label}\u0000${sink}\u0000${key}`;
      let grp = tgroups.get(k);
      if (!grp) tgroups.set(k, (grp = { rule: e.throttle, sink, key, entries: [] }));
      grp.entries.push(e);
    }
  }
  const throttleCalls = [...tgroups.values()].map(({ rule, sink, key, entries }) => async () => {
    if (!ns || budget.calls <= 0) return failOpen(entries, ns ? "too many throttle keys in one batch" : "no NOISE Durable Object binding", { policy: rule.label });
    budget.calls--;
    const req: ThrottleRequest = { policy: rule.label, sink, key, max: rule.max, perSeconds: rule.perSeconds, config: text, parts: partsOf(entries, true), templates: templatesOf(entries) };
    try {
      countNoise.add("object_calls", 1);
      const pass = await ns.getByName(throttleObjectName(rule.label, sink, key)).throttle(req);
      countNoise.add("throttled", applyPass(entries, pass));
    } catch (e) {
      failOpen(entries, "throttle window unreachable", { policy: rule.label, sink, error: (e as Error).message });
    }
  });
  await runLimited(throttleCalls, CALL_CONCURRENCY);
}
