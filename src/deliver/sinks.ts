// The configured sinks, resolved once per config: driver, parsed driver config, batch limits,
// retry policy and request timeout (the sink's own settings over the `delivery` defaults).
import type { Config } from "../config/schema";
import type { SinkDriver } from "../sinks/types";
import { defaultBatch, driverFor, type BatchLimits } from "../sinks/index";
import type { RetryPolicy } from "./backoff";

export interface ResolvedSink {
  name: string;
  type: string;
  driver: SinkDriver<unknown>;
  config: unknown;
  batch: BatchLimits;
  retry: RetryPolicy;
  timeoutMs: number;
  /** Time this sink may spend on one queue batch (its budgetMs, else delivery.budgetMs). */
  budgetMs: number;
}

const cache = new WeakMap<Config, Map<string, ResolvedSink>>();

export function resolveSinks(cfg: Config): Map<string, ResolvedSink> {
  let out = cache.get(cfg);
  if (out) return out;
  out = new Map();
  const d = cfg.delivery;
  for (const [name, s] of Object.entries(cfg.sinks)) {
    const driver = driverFor(s.type);
    if (!driver) continue; // cannot happen: the config schema checked the type
    const def = defaultBatch(s.type);
    out.set(name, {
      name,
      type: s.type,
      driver,
      config: s.config,
      batch: { maxEvents: s.batch.maxEvents ?? def.maxEvents, maxBytes: s.batch.maxBytes ?? def.maxBytes },
      retry: {
        maxAttempts: s.retry.maxAttempts ?? d.maxAttempts,
        baseSeconds: s.retry.baseSeconds ?? d.baseSeconds,
        maxSeconds: s.retry.maxSeconds ?? d.maxSeconds,
      },
      timeoutMs: s.timeoutMs ?? d.timeoutMs,
      budgetMs: s.budgetMs ?? d.budgetMs,
    });
  }
  cache.set(cfg, out);
  return out;
}
