// Noise policies compiled once per config, and the pure per-event, per-sink decisions
// (docs/noise.md). Order for one event and one sink:
//   1. suppress  the first unexpired allow-list entry that matches drops it (counted by entry);
//   2. sample    the first matching sample policy keeps it only if its uid falls under the rate;
//   3. dedup     the first matching dedup policy names its fingerprint window (a Durable Object);
//   4. throttle  the first matching throttle policy of the sink names its rate window.
// Steps 3 and 4 need state and are carried out by ./gate against ./durable. The archive never gets
// here: the consumer archives every event before any of this runs.
import type { Config } from "../config/schema";
import { policyLabel, type DedupMode, type NoiseConfig } from "../config/noise";
import type { Match } from "../config/routing";
import type { OcsfEvent } from "../normalize/ocsf";
import { stableHex } from "../normalize/uid";
import { compileMatch, EventView, type Predicate } from "../route/rules";
import { uidOf } from "../sinks/objects";
import { fingerprint, ruleOf } from "./fingerprint";

/** A noise policy's match: the routing matcher itself (src/route/rules.ts; rule, fields and not included). */
export const compileNoiseMatch: (m: Match) => Predicate = compileMatch;

interface Scoped {
  label: string;
  test: Predicate;
  /** Sinks the policy applies to (undefined = every sink). */
  sinks?: ReadonlySet<string>;
}

export interface SuppressRule extends Scoped {
  reason: string;
  expires: string;
  expiresAt: number;
}
export interface SampleRule extends Scoped {
  rate: number;
}
export interface DedupRule extends Scoped {
  fields?: readonly string[];
  windowSeconds: number;
  mode?: DedupMode;
}
export interface ThrottleRule extends Scoped {
  sink: string;
  per: "rule" | "fingerprint" | "sink";
  fields?: readonly string[];
  max: number;
  perSeconds: number;
}

export interface CompiledNoise {
  /** No policy at all: the consumer skips this stage. */
  empty: boolean;
  /** dedup or throttle policies exist (they need the NOISE Durable Object binding). */
  stateful: boolean;
  suppress: SuppressRule[];
  sample: SampleRule[];
  dedup: DedupRule[];
  throttle: ThrottleRule[];
}

const scope = (sinks: string[] | undefined): ReadonlySet<string> | undefined => (sinks ? new Set(sinks) : undefined);

export function compileNoiseConfig(n: NoiseConfig): CompiledNoise {
  const suppress = n.suppress.map((p, i): SuppressRule => ({
    label: policyLabel("suppress", i, p),
    test: compileNoiseMatch(p.match),
    sinks: scope(p.sinks),
    reason: p.reason,
    expires: p.expires,
    expiresAt: Date.parse(p.expires),
  }));
  const sample = n.sample.map((p, i): SampleRule => ({ label: policyLabel("sample", i, p), test: compileNoiseMatch(p.match), sinks: scope(p.sinks), rate: p.rate }));
  const dedup = n.dedup.map((p, i): DedupRule => ({
    label: policyLabel("dedup", i, p),
    test: compileNoiseMatch(p.match),
    sinks: scope(p.sinks),
    ...(p.fields ? { fields: p.fields } : {}),
    windowSeconds: p.window_seconds,
    ...(p.mode ? { mode: p.mode } : {}),
  }));
  const throttle = n.throttle.map((p, i): ThrottleRule => ({
    label: policyLabel("throttle", i, p),
    test: compileNoiseMatch(p.match),
    sink: p.sink,
    per: p.per,
    ...(p.fields ? { fields: p.fields } : {}),
    max: p.max,
    perSeconds: p.per_seconds,
  }));
  const stateful = dedup.length + throttle.length > 0;
  return { empty: !stateful && suppress.length + sample.length === 0, stateful, suppress, sample, dedup, throttle };
}

const cache = new WeakMap<Config, CompiledNoise>();
const EMPTY = compileNoiseConfig({ suppress: [], sample: [], dedup: [], throttle: [] });

/** The compiled policies of a config (once per config object). */
export function noiseFor(cfg: Config): CompiledNoise {
  let c = cache.get(cfg);
  if (!c) cache.set(cfg, (c = cfg.noise ? compileNoiseConfig(cfg.noise) : EMPTY));
  return c;
}

const applies = (p: Scoped, sink: string): boolean => p.sinks === undefined || p.sinks.has(sink);

/** True while an allow-list entry is in force. */
export function suppressActive(p: SuppressRule, now: number): boolean {
  return now < p.expiresAt;
}

/** The unexpired suppress entry that drops this event for this sink, if any. */
export function suppressedBy(n: CompiledNoise, v: EventView, sink: string, now: number): SuppressRule | undefined {
  for (const p of n.suppress) if (applies(p, sink) && suppressActive(p, now) && p.test(v)) return p;
  return undefined;
}

/** [0, 1): where a uid falls, from its digest (the same uid always lands on the same point). */
export function samplePoint(uid: string): number {
  // stableHex is two 53-bit hashes in 14 hex digits each: digits 2-13 are the low 48 bits of the first
  return parseInt(stableHex(`sample|${uid}`).slice(2, 14), 16) / 2 ** 48;
}

/**
 * Keeps an event when its point is under the rate. The point depends on the uid only, so a
 * re-delivery decides the same way, every sink agrees, and a lower rate keeps a subset of a higher one.
 */
export function sampleKeeps(e: OcsfEvent, rate: number): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  return samplePoint(uidOf(e)) < rate;
}

export function sampleRuleFor(n: CompiledNoise, v: EventView, sink: string): SampleRule | undefined {
  for (const p of n.sample) if (applies(p, sink) && p.test(v)) return p;
  return undefined;
}

export function dedupRuleFor(n: CompiledNoise, v: EventView, sink: string): DedupRule | undefined {
  for (const p of n.dedup) if (applies(p, sink) && p.test(v)) return p;
  return undefined;
}

export function throttleRuleFor(n: CompiledNoise, v: EventView, sink: string): ThrottleRule | undefined {
  for (const p of n.throttle) if (p.sink === sink && p.test(v)) return p;
  return undefined;
}

/** Sink types that get one message per burst by default (chat and generic webhooks). */
const FOLD_BY_DEFAULT = new Set(["slack", "webhook"]);

/** The dedup mode for a sink: the policy's, else fold for chat sinks and first_then_summary for the rest. */
export function dedupMode(p: DedupRule, sinkType: string | undefined): DedupMode {
  return p.mode ?? (sinkType !== undefined && FOLD_BY_DEFAULT.has(sinkType) ? "fold" : "first_then_summary");
}

/** The value events are counted by under a throttle policy. */
export function throttleKey(p: ThrottleRule, e: OcsfEvent): string {
  if (p.per === "sink") return "";
  if (p.per === "fingerprint") return fingerprint(e, p.fields);
  return ruleOf(e);
}

export type Verdict =
  | { kind: "suppressed"; rule: SuppressRule }
  | { kind: "sampled_out"; rule: SampleRule }
  | { kind: "pass"; dedup?: DedupRule; throttle?: ThrottleRule };

/** Everything the pure policies say about one event for one sink. */
export function verdict(n: CompiledNoise, v: EventView, sink: string, now: number): Verdict {
  const s = suppressedBy(n, v, sink, now);
  if (s) return { kind: "suppressed", rule: s };
  const sm = sampleRuleFor(n, v, sink);
  if (sm && !sampleKeeps(v.event, sm.rate)) return { kind: "sampled_out", rule: sm };
  const dedup = dedupRuleFor(n, v, sink);
  const throttle = throttleRuleFor(n, v, sink);
  return { kind: "pass", ...(dedup ? { dedup } : {}), ...(throttle ? { throttle } : {}) };
}

export { EventView };
