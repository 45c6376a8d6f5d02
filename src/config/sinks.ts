// Sink and delivery config (see docs/delivery.md).
//   sinks: { <name>: { type, ...driver config, batch?: {maxEvents, maxBytes}, buffer?: {seconds, maxEvents, maxBytes} | false,
//                      retry?: {...}, timeoutMs?, budgetMs?, projection?: {include | exclude: [paths], keep?} } }
//   delivery: defaults for every sink (retry schedule, request timeout) and the DLQ admin token.
// Each sink's own keys are validated with its driver's zod schema, so an error names the exact
// field, e.g. `sinks.siem.url: Invalid URL`.
import { z } from "zod";
import { secretRef } from "./secret";
import { sinkNameSchema } from "./routing";
import { driverFor, driverTypes } from "../sinks/index";
import { excludeRefusal, includeMissing, keepRefusal, pathProblem, MAX_PATHS, type ProjectionSpec } from "../sinks/project";

/** Cloudflare Queues accept delaySeconds up to 12 hours. */
export const MAX_DELAY_SECONDS = 43_200;

export const batchSchema = z
  .object({
    /** Most events in one request (one object for storage sinks). */
    maxEvents: z.number().int().positive().max(1_000_000).optional(),
    /** Most bytes of NDJSON (each event's line and newline) in one request, before compression. */
    maxBytes: z.number().int().positive().optional(),
  })
  .strict();

/** Longest buffer window: Security Lake takes files "in increments between 5 minutes and 1 event day". */
export const MAX_BUFFER_SECONDS = 86_400;

/**
 * Most NDJSON bytes in one object a compaction writes: it holds the object's lines and their parsed events
 * in the cron's isolate (128 MB), as the consumer holds a queue batch (~10 MB: 66 MB of heap for a 10 MB
 * batch to 10 sinks, BENCHMARKS.md). A larger sink `batch.maxBytes` (s3, r2: 50 MB) is cut to this.
 */
export const MAX_BUFFER_BYTES = 10_000_000;

/**
 * Storage sinks: stage the events in R2 and write one object per class and event day every `seconds`
 * (src/deliver/stage.ts, compact.ts); `false` or seconds 0 writes per queue batch. Default on (300 s)
 * for security_lake, off for s3 and r2.
 */
export const bufferSchema = z.union([
  z.literal(false),
  z
    .object({
      /** How long staged events may wait before their object is written (the window). */
      seconds: z.number().int().min(0).max(MAX_BUFFER_SECONDS).optional(),
      /** Most events in one written object; a group reaching it is written before its window ends. */
      maxEvents: z.number().int().positive().max(1_000_000).optional(),
      /** Most bytes of NDJSON in one written object (as batch.maxBytes; at most MAX_BUFFER_BYTES). */
      maxBytes: z.number().int().positive().max(MAX_BUFFER_BYTES, `at most ${MAX_BUFFER_BYTES} bytes: a compaction holds one object's events in memory`).optional(),
    })
    .strict(),
]);

const pathList = z.array(z.string().min(1)).min(1).max(MAX_PATHS);

/**
 * What a sink is sent of each event (src/sinks/project.ts): `{exclude: [paths], keep?: [paths inside them]}` or
 * `{include: [paths]}`, dotted OCSF paths, arrays traversed implicitly. The fields delivery needs can be neither
 * excluded nor left out.
 */
export const projectionSchema = z
  .object({ include: pathList.optional(), exclude: pathList.optional(), keep: pathList.optional() })
  .strict()
  .superRefine((v, ctx) => {
    if (v.include && v.exclude) ctx.addIssue({ code: "custom", path: ["include"], message: "use include or exclude, not both" });
    else if (!v.include && !v.exclude) ctx.addIssue({ code: "custom", path: [], message: "set include (the fields to send) or exclude (the fields not to send)" });
    const list = v.exclude ? "exclude" : "include";
    (v.exclude ?? v.include ?? []).forEach((p, i) => {
      const why = pathProblem(p) ?? (list === "exclude" ? excludeRefusal(p) : undefined);
      if (why) ctx.addIssue({ code: "custom", path: [list, i], message: why });
    });
    if (v.include && !v.exclude) for (const why of includeMissing(v.include)) ctx.addIssue({ code: "custom", path: ["include"], message: why });
    if (v.keep && !v.exclude) ctx.addIssue({ code: "custom", path: ["keep"], message: "keep goes with exclude (what to send of an excluded field)" });
    else
      v.keep?.forEach((p, i) => {
        const why = pathProblem(p) ?? keepRefusal(p, v.exclude ?? []);
        if (why) ctx.addIssue({ code: "custom", path: ["keep", i], message: why });
      });
  })
  .transform((v): ProjectionSpec => (v.exclude ? { exclude: v.exclude, ...(v.keep ? { keep: v.keep } : {}) } : { include: v.include ?? [] }));

export const retrySchema = z
  .object({
    /** Attempts before events go to the dead-letter store (the first delivery counts as 1). */
    maxAttempts: z.number().int().min(1).max(100).optional(),
    /** Delay before attempt 2; doubles per attempt (before jitter). */
    baseSeconds: z.number().int().min(1).max(MAX_DELAY_SECONDS).optional(),
    /** Longest delay between two attempts (Retry-After is honoured up to the queue's 12 h). */
    maxSeconds: z.number().int().min(1).max(MAX_DELAY_SECONDS).optional(),
  })
  .strict();

export const deliverySchema = z
  .object({
    maxAttempts: z.number().int().min(1).max(100).default(10),
    baseSeconds: z.number().int().min(1).max(MAX_DELAY_SECONDS).default(5),
    maxSeconds: z.number().int().min(1).max(MAX_DELAY_SECONDS).default(3600),
    /** Per-request timeout; a request that takes longer counts as a network error (retried). */
    timeoutMs: z.number().int().min(100).max(300_000).default(10_000),
    /**
     * Time one sink may spend on one queue batch; requests not sent by then are rescheduled on
     * DELIVERIES, so a slow (not dead) sink cannot hold a batch the other sinks are done with.
     */
    budgetMs: z.number().int().min(1_000).max(600_000).default(30_000),
    /**
     * Bearer token of the operator endpoints (src/routes/admin.ts): /v1/dlq... (dead letters, replay, spool, staged,
     * unreadable), POST /v1/backfill, POST /v1/test and the dev-only archive browser. Once set it is enforced in local
     * development too; a value equal to an ingest credential keeps them closed (503).
     */
    adminToken: secretRef.optional(),
  })
  .strict();

export type DeliveryConfig = z.infer<typeof deliverySchema>;

const COMMON_KEYS = ["type", "batch", "buffer", "retry", "timeoutMs", "budgetMs", "projection"] as const;

/** A sink entry after validation: the common keys plus the driver's parsed config. */
export interface SinkEntry {
  type: string;
  batch: z.infer<typeof batchSchema>;
  /** As written (undefined: the type's default, see resolveSinks). */
  buffer?: z.infer<typeof bufferSchema>;
  retry: z.infer<typeof retrySchema>;
  timeoutMs?: number;
  budgetMs?: number;
  /** What the sink is sent of each event (projectionSchema); unset: the whole event. */
  projection?: ProjectionSpec;
  /** The driver's config, parsed with its schema (defaults applied). */
  config: unknown;
}

const sinkEntrySchema = z
  .object({
    type: z.string().min(1),
    batch: batchSchema.default({}),
    buffer: bufferSchema.optional(),
    retry: retrySchema.default({}),
    timeoutMs: z.number().int().min(100).max(300_000).optional(),
    budgetMs: z.number().int().min(1_000).max(600_000).optional(),
    projection: projectionSchema.optional(),
  })
  .passthrough()
  .transform((v, ctx): SinkEntry => {
    const driver = driverFor(v.type);
    if (!driver) {
      ctx.issues.push({ code: "custom", path: ["type"], input: v.type, message: `unknown sink type "${v.type}": use one of ${driverTypes().join(", ")}` });
      return z.NEVER;
    }
    if (v.buffer && (v.buffer.seconds ?? 1) > 0 && !driver.partition) {
      ctx.issues.push({ code: "custom", path: ["buffer"], input: undefined, message: `a ${v.type} sink cannot buffer: buffer is for storage sinks (s3, r2, security_lake)` });
      return z.NEVER;
    }
    if (v.projection && v.type === "security_lake") {
      // decided (docs/sinks.md): Security Lake's objects are the class's Parquet columns, read as the OCSF record of the events
      ctx.issues.push({ code: "custom", path: ["projection"], input: undefined, message: "a security_lake sink takes no projection: Security Lake keeps the OCSF record (its Parquet columns are the class's attributes, required ones included); project the SIEM sinks instead, or send a lean copy to an s3 or r2 sink" });
      return z.NEVER;
    }
    const own: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v)) if (!(COMMON_KEYS as readonly string[]).includes(k)) own[k] = val;
    const r = driver.schema.safeParse(own);
    if (!r.success) {
      for (const issue of r.error.issues) {
        if (issue.code === "unrecognized_keys") {
          // name each unknown field instead of its parent
          for (const key of issue.keys) ctx.issues.push({ code: "custom", path: [...issue.path, key], input: undefined, message: `unknown field for a ${v.type} sink` });
        } else ctx.issues.push({ ...issue, input: undefined });
      }
      return z.NEVER;
    }
    return { type: v.type, batch: v.batch, ...(v.buffer !== undefined ? { buffer: v.buffer } : {}), retry: v.retry, timeoutMs: v.timeoutMs, budgetMs: v.budgetMs, ...(v.projection ? { projection: v.projection } : {}), config: r.data };
  });

export const sinksSchema = z.record(sinkNameSchema, sinkEntrySchema).default({});
