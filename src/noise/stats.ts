// Noise counters of this isolate (docs/noise.md), for /metrics and the logs. Workers isolates share
// no memory: each counts what its own consumer invocations decided, since the isolate started;
// src/ops/record.ts (collectNoise) adds what grew since its last flush to the isolate's metrics
// buffer, and the MetricsStore Durable Object sums the isolates for GET /metrics. Suppression entries
// are reported with their reason and expiry, whether they are still in force, and how many events
// each kept from a sink.
import type { Config } from "../config/schema";
import { MAX_NOISE_POLICIES, MAX_SUPPRESS_ENTRIES } from "../config/noise";
import { noiseFor, suppressActive } from "./policy";

export interface NoiseCounters {
  /** Events (per sink delivery) dropped by each allow-list entry, by policy label. */
  suppressed_by_rule: Record<string, number>;
  /** Events left out by sampling, by policy label. */
  sampled_out_by_rule: Record<string, number>;
  sampled_out: number;
  /** Events absorbed into a dedup window instead of being sent on their own. */
  folded: number;
  /** Events held back by a throttle window (summarized when it closes). */
  throttled: number;
  /** Calls to the noise Durable Objects (one per fingerprint or throttle key per batch and stage). */
  object_calls: number;
  /** Events delivered unfiltered because their Durable Object could not be reached (fail open). */
  failed_open: number;
}

const state: NoiseCounters = fresh();

function fresh(): NoiseCounters {
  return { suppressed_by_rule: {}, sampled_out_by_rule: {}, sampled_out: 0, folded: 0, throttled: 0, object_calls: 0, failed_open: 0 };
}

/**
 * Adds to a per-policy count. Labels come from the config, so one config never has more than `cap`
 * (its section's maximum); past that (only after config changes within one isolate) they count as "other".
 */
function bump(into: Record<string, number>, label: string, n: number, cap: number): void {
  if (!(label in into) && Object.keys(into).length >= cap) label = "other";
  into[label] = (into[label] ?? 0) + n;
}

/** Adds to the counters (called by the consumer stage). */
export const countNoise = {
  suppressed(label: string, n = 1): void {
    bump(state.suppressed_by_rule, label, n, MAX_SUPPRESS_ENTRIES);
  },
  sampledOut(label: string, n = 1): void {
    bump(state.sampled_out_by_rule, label, n, MAX_NOISE_POLICIES);
    state.sampled_out += n;
  },
  add(key: "folded" | "throttled" | "object_calls" | "failed_open", n: number): void {
    state[key] += n;
  },
};

/** A copy of this isolate's counters. */
export function noiseCounters(): NoiseCounters {
  return { ...state, suppressed_by_rule: { ...state.suppressed_by_rule }, sampled_out_by_rule: { ...state.sampled_out_by_rule } };
}

/** Zeroes the counters (tests). */
export function resetNoiseCounters(): void {
  Object.assign(state, fresh());
}

export interface SuppressionStatus {
  rule: string;
  reason: string;
  expires: string;
  /** false once `expires` has passed: the entry is ignored. */
  active: boolean;
  /** Events it kept from a sink in this isolate. */
  suppressed: number;
}

/** Every configured allow-list entry with its state, for /metrics. */
export function suppressionReport(cfg: Config, now: number = Date.now()): SuppressionStatus[] {
  return noiseFor(cfg).suppress.map((p) => ({
    rule: p.label,
    reason: p.reason,
    expires: p.expires,
    active: suppressActive(p, now),
    suppressed: state.suppressed_by_rule[p.label] ?? 0,
  }));
}
