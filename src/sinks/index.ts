// The sink registry: config `type` -> driver. Every driver lives in its own file behind ./types.
// Drivers must not import ../config/schema or ../config/load (the config schema imports this file
// to validate each sink with its driver's schema); secrets come from ../config/secret.
import type { SinkDriver } from "./types";
import { s3Driver } from "./s3";
import { securityLakeDriver } from "./security-lake";
import { r2Driver } from "./r2";
import { splunkHec } from "./splunk-hec";
import { elasticsearch, opensearch } from "./elasticsearch";
import { datadog } from "./datadog";
import { loki } from "./loki";
import { otlpLogs } from "./otlp";
import { webhook } from "./webhook";
import { slack } from "./slack";
import { sentinel, MAX_CALL_BYTES } from "./sentinel";

/** Batch limits used when a sink's config gives none (`batch: { maxEvents, maxBytes }`). */
export interface BatchLimits {
  maxEvents: number;
  maxBytes: number;
}

const STORAGE_BATCH: BatchLimits = { maxEvents: 100_000, maxBytes: 50_000_000 };
const HTTP_BATCH: BatchLimits = { maxEvents: 500, maxBytes: 1_000_000 };
// Security Lake objects are Parquet built in memory: encoding takes several times the events' JSON
// (bench/memory.ts, "security_lake encode"), so its objects are bounded to keep the consumer's
// isolate (128 MB) well clear; raise `batch` on the sink for fewer, larger objects (docs/delivery.md).
const PARQUET_BATCH: BatchLimits = { maxEvents: 1000, maxBytes: 2_500_000 };

interface Registered {
  driver: SinkDriver<unknown>;
  batch: BatchLimits;
}

const REGISTRY = new Map<string, Registered>();
function register(driver: SinkDriver<unknown>, batch: BatchLimits, ...aliases: string[]): void {
  for (const name of [driver.type, ...aliases]) REGISTRY.set(name, { driver, batch });
}

register(s3Driver, STORAGE_BATCH);
register(securityLakeDriver, PARQUET_BATCH);
register(r2Driver, STORAGE_BATCH);
register(splunkHec, HTTP_BATCH);
register(elasticsearch, HTTP_BATCH);
register(opensearch, HTTP_BATCH);
register(datadog, { maxEvents: 1000, maxBytes: 5_000_000 }, "datadog");
register(loki, HTTP_BATCH);
register(otlpLogs, HTTP_BATCH);
register(webhook, HTTP_BATCH);
register(slack, { maxEvents: 50, maxBytes: 1_000_000 });
register(sentinel, { maxEvents: 1000, maxBytes: MAX_CALL_BYTES });

/**
 * Sink types whose events are buffered (staged in R2, written every DEFAULT_BUFFER_SECONDS) when their
 * config says nothing: Security Lake asks custom sources for files "in increments between 5 minutes and
 * 1 event day" (docs/delivery.md, "Buffered storage sinks"). The others buffer with `buffer: {...}`.
 */
const BUFFERED_BY_DEFAULT = new Set(["security_lake"]);
/** The buffer window when `buffer` gives no `seconds`. */
export const DEFAULT_BUFFER_SECONDS = 300;

export function bufferedByDefault(type: string): boolean {
  return BUFFERED_BY_DEFAULT.has(type);
}

export function driverFor(type: string): SinkDriver<unknown> | undefined {
  return REGISTRY.get(type)?.driver;
}

export function defaultBatch(type: string): BatchLimits {
  return REGISTRY.get(type)?.batch ?? HTTP_BATCH;
}

/** Every accepted `type` value (driver types and aliases), sorted. */
export function driverTypes(): string[] {
  return [...REGISTRY.keys()].sort();
}
