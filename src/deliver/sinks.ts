// The configured sinks, resolved once per config: driver, parsed driver config, batch limits,
// retry policy and request timeout (the sink's own settings over the `delivery` defaults).
import type { Config } from "../config/schema";
import type { SinkDriver } from "../sinks/types";
import { bufferedByDefault, defaultBatch, driverFor, DEFAULT_BUFFER_SECONDS, type BatchLimits } from "../sinks/index";
import type { RetryPolicy } from "./backoff";
import { MAX_BUFFER_BYTES } from "../config/sinks";
import { compileProjection, type Projection } from "../sinks/project";

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
  /** Set when the sink's events are staged and written by the compaction (./stage, ./compact). */
  buffer?: BufferPolicy;
  /** Set when the sink is sent only part of each event (its `projection`, ../sinks/project): applied by ./attempt before encode. */
  project?: Projection;
}

/** A buffered storage sink's window and the limits of one object it writes. */
export interface BufferPolicy extends BatchLimits {
  seconds: number;
}

/** The buffer a sink entry asks for (its type's default when it says nothing); undefined when it writes per batch. */
export function bufferPolicy(type: string, buffer: SinkEntryBuffer, batch: BatchLimits, storage: boolean): BufferPolicy | undefined {
  if (buffer === false || !storage || (buffer === undefined && !bufferedByDefault(type))) return undefined;
  const seconds = buffer?.seconds ?? DEFAULT_BUFFER_SECONDS;
  if (seconds === 0) return undefined;
  return { seconds, maxEvents: buffer?.maxEvents ?? batch.maxEvents, maxBytes: buffer?.maxBytes ?? Math.min(batch.maxBytes, MAX_BUFFER_BYTES) };
}

type SinkEntryBuffer = Config["sinks"][string]["buffer"];

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
    const batch = { maxEvents: s.batch.maxEvents ?? def.maxEvents, maxBytes: s.batch.maxBytes ?? def.maxBytes };
    const buffer = bufferPolicy(s.type, s.buffer, batch, driver.partition !== undefined);
    out.set(name, {
      name,
      type: s.type,
      driver,
      config: s.config,
      batch,
      retry: {
        maxAttempts: s.retry.maxAttempts ?? d.maxAttempts,
        baseSeconds: s.retry.baseSeconds ?? d.baseSeconds,
        maxSeconds: s.retry.maxSeconds ?? d.maxSeconds,
      },
      timeoutMs: s.timeoutMs ?? d.timeoutMs,
      budgetMs: s.budgetMs ?? d.budgetMs,
      ...(buffer ? { buffer } : {}),
      ...(s.projection ? { project: compileProjection(s.projection) } : {}),
    });
  }
  cache.set(cfg, out);
  return out;
}
