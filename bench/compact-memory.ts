// "compaction, one file" (bench/memory.ts): the every-minute cron's compaction of a buffered storage
// sink (src/deliver/compact.ts, compactSink with COMPACT_SCHEDULED) writing one file: staged objects of
// about 100 KB (queue lines, as src/deliver/stage.ts writes them) of one class and event day, exactly as
// many as fill one file at the sink's buffer limits, read from an in-memory R2-like bucket, parsed, and
// written through the sink driver to one local server on 127.0.0.1 (bench/consumer-memory.ts sinkServer:
// S3's PUT answered 200, body read and dropped). Cases:
//   - lake: security_lake at its default buffer (1,000 events / 2,500,000 bytes per Parquet file);
//   - lake10: security_lake at buffer.maxBytes 10,000,000 (MAX_BUFFER_BYTES), maxEvents 100,000 (bytes bind);
//   - s3: an s3 sink at its buffer default (10,000,000 bytes / 100,000 events), one gzip NDJSON object.
// Events: Falco's fixtures (syscall, k8saudit and cloudtrail plugins: Detection Finding), or "api": the
// API Activity events of Kubernetes audit and CloudTrail mixed in one file. Each event has a uid of its own.
// The staged bodies are held as ArrayBuffers (outside the V8 heap, as R2 is outside the isolate) and made
// before the baseline; heap (and heap + external) is sampled at every get, at the sink's request and
// after the run: a lower bound of the true peak; bench/memory.ts also bisects the heap limit.
import { parseConfig } from "../src/config/load";
import type { OcsfEvent } from "../src/normalize/ocsf";
import type { Item } from "../src/deliver/attempt";
import { COMPACT_SCHEDULED, compactSink } from "../src/deliver/compact";
import { resolveSinks, type BufferPolicy } from "../src/deliver/sinks";
import { stageKey } from "../src/deliver/stage";
import { classDayOf } from "../src/sinks/objects";
import { deliveredItems, sinkServer } from "./consumer-memory";

export const COMPACT_CASES = ["lake", "lake10", "s3"] as const;
export type CompactCase = (typeof COMPACT_CASES)[number];
export const COMPACT_EVENTS = ["falco", "api"] as const;
export type CompactEvents = (typeof COMPACT_EVENTS)[number];

export interface CompactMemResult {
  events: number;
  /** Staged objects read, and their NDJSON bytes. */
  objects: number;
  stagedBytes: number;
  /** Bytes the sink's requests carried (the written file). */
  writtenBytes: number;
  requests: number;
  policy: BufferPolicy;
  peakHeap: number;
  peakTotal: number;
}

const OBJECT_BYTES = 100_000;
const API_ACTIVITY = 6003;

interface Stored {
  body: ArrayBuffer;
  etag: string;
  uploaded: Date;
  customMetadata: Record<string, string>;
}

/** The R2 calls the compaction makes (list with metadata, get, conditional put, head, delete), in memory. */
function memoryR2(onGet: () => void) {
  const m = new Map<string, Stored>();
  let etags = 0;
  const meta = (key: string, o: Stored) => ({ key, size: o.body.byteLength, etag: o.etag, uploaded: o.uploaded, customMetadata: o.customMetadata });
  const bucket = {
    async put(key: string, value: string | ArrayBuffer | Uint8Array, opts?: { onlyIf?: { etagDoesNotMatch?: string; etagMatches?: string }; customMetadata?: Record<string, string> }) {
      const held = m.get(key);
      if (opts?.onlyIf?.etagDoesNotMatch === "*" && held) return null;
      if (opts?.onlyIf?.etagMatches !== undefined && held?.etag !== opts.onlyIf.etagMatches) return null;
      const bytes = typeof value === "string" ? new TextEncoder().encode(value) : new Uint8Array(value);
      const o: Stored = { body: bytes.slice().buffer, etag: String(++etags), uploaded: new Date(), customMetadata: opts?.customMetadata ?? {} };
      m.set(key, o);
      return meta(key, o);
    },
    async head(key: string) {
      const o = m.get(key);
      return o ? meta(key, o) : null;
    },
    async get(key: string) {
      const o = m.get(key);
      if (!o) return null;
      // a copy, as a body read from R2 is a buffer of its own
      return { ...meta(key, o), arrayBuffer: async () => (onGet(), o.body.slice(0)) };
    },
    async delete(keys: string | string[]) {
      for (const k of typeof keys === "string" ? [keys] : keys) m.delete(k);
    },
    async list(opts: { prefix?: string } = {}) {
      const objects = [...m].filter(([k]) => k.startsWith(opts.prefix ?? "")).map(([k, o]) => meta(k, o));
      return { objects, truncated: false, delimitedPrefixes: [] };
    },
  };
  return bucket as unknown as R2Bucket;
}

/** `which` events, of one class and event day (the fixtures' times are replaced by one day's). */
function eventsOf(which: CompactEvents): Generator<Item> {
  return which === "falco" ? deliveredItems(["falco"]) : deliveredItems(["k8s_audit", "cloudtrail"], (e: OcsfEvent) => e.class_uid === API_ACTIVITY);
}

/**
 * One compaction writing one file of `which` events for the sink of `kind` (run in a child process);
 * `stageOnly`: the objects staged and the modules loaded, no compaction (the floor of the others).
 */
export async function compactionFile(kind: CompactCase, which: CompactEvents, stageOnly = false): Promise<CompactMemResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  let peakHeap = 0;
  let peakTotal = 0;
  let m0 = process.memoryUsage();
  const sample = () => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed - m0.heapUsed);
    peakTotal = Math.max(peakTotal, m.heapUsed + m.external - (m0.heapUsed + m0.external));
  };
  let requests = 0;
  const server = await sinkServer(() => (requests++, sample()));
  try {
    const sources = { "2004": "tributary_2004", [String(API_ACTIVITY)]: "tributary_6003" };
    const lake = { type: "security_lake", ...server.s3, accountId: "external", sources };
    const sinks: Record<string, Record<string, unknown>> = {
      lake,
      lake10: { ...lake, buffer: { maxEvents: 100_000, maxBytes: 10_000_000 } },
      s3: { type: "s3", ...server.s3, buffer: {} },
    };
    const sink = resolveSinks(parseConfig({ sinks: { [kind]: sinks[kind]! } })).get(kind)!;
    const policy = sink.buffer!;
    const now = Date.now();
    const bucket = memoryR2(sample);
    // staged as the consumer stages: objects of about 100 KB of one partition, due (staged a window ago),
    // as many as one file holds; made one object at a time (the bucket holds them outside the heap)
    let events = 0;
    let objects = 0;
    let stagedBytes = 0;
    let group: Item[] = [];
    let groupBytes = 0;
    const stage = async () => {
      const body = group.map((it) => `${it.line}\n`).join("");
      const key = stageKey(sink.name, classDayOf(group[0]!.event), group);
      await bucket.put(key, new TextEncoder().encode(body), { customMetadata: { events: String(group.length), staged: String(now - policy.seconds * 1000 - 1000) } });
      objects++;
      stagedBytes += groupBytes;
      events += group.length;
      group = [];
      groupBytes = 0;
    };
    for (const it of eventsOf(which)) {
      const b = Buffer.byteLength(it.line) + 1;
      if (events + group.length >= policy.maxEvents || stagedBytes + groupBytes + b > policy.maxBytes) break;
      group.push(it);
      groupBytes += b;
      if (groupBytes >= OBJECT_BYTES) await stage();
    }
    if (group.length > 0) await stage();
    gc?.();
    m0 = process.memoryUsage();
    // the run's 15 s start after the staging (a busy machine's slow staging must not use them up)
    const run = { deadline: Date.now() + COMPACT_SCHEDULED.ms, objects: COMPACT_SCHEDULED.objects };
    if (stageOnly) return { events, objects, stagedBytes, writtenBytes: 0, requests: 0, policy, peakHeap: 0, peakTotal: 0 };
    const r = await compactSink(sink, policy, { archive: bucket, env: {}, now: Date.now }, COMPACT_SCHEDULED, run);
    sample();
    if (r.delivered !== events || r.objects !== objects || requests !== 1) throw new Error(`compaction wrote ${r.delivered} of ${events} events, ${r.objects} of ${objects} objects in ${requests} requests (1 file expected)`);
    return { events, objects, stagedBytes, writtenBytes: server.bodyBytes(), requests, policy, peakHeap, peakTotal };
  } finally {
    await server.close();
  }
}
