// Peak memory for a 10 MB batch (numbers, not pass/fail; the Workers limit is 128 MB per isolate).
//
// 1. The ingest path in Node (what the Worker runs per request, minus Hono): body stream ->
//    gunzip/UTF-8 decode (src/routes/body.ts) -> framing -> pipeline -> queue packer/Enqueuer with
//    a queue that serializes each message as the runtime would and drops it. Measured in a child
//    process started with --expose-gc:
//    - the peak of heap used and of heap + external memory (ArrayBuffers) above the starting
//      point, sampled at every queue call and after decoding (a lower bound of the true peak);
//    - the smallest V8 heap limit (--max-heap-size, bisected) with which the request completes:
//      the number that compares with a 128 MB isolate.
// 3. "consumer batch, 10 sinks" (./consumer-memory.ts): the sink deliveries of one full EVENTS batch
//    (10 MB of queue lines) to 10 sinks, before (no request slots, Security Lake at the storage
//    default) and after (src/deliver/slots.ts, Security Lake's own default batch), over the batch
//    alone; for every source's events and for a Falco-only stream. The same two numbers as in 1.
// 4. "compaction, one file" (./compact-memory.ts): the cron's compaction of a buffered storage sink
//    writing one file from staged ~100 KB objects: Security Lake Parquet at its default buffer (1,000
//    events / 2.5 MB) and at maxBytes 10,000,000, and s3 gzip NDJSON at 10,000,000 bytes; Falco events,
//    and Kubernetes audit + CloudTrail API Activity mixed. The same two numbers as in 1.
// 2. Through wrangler dev (workerd, local queue and R2), a fresh one per body:
//    - the Worker isolate's V8 heap (used and allocated), polled through workerd's inspector
//      (Runtime.getHeapUsage, every ~20 ms) while it takes the batch and then while the consumer
//      archives it: a sampled peak (workerd reports no per-isolate peak);
//    - the workerd process's peak resident set (VmHWM, reset before the request): it also holds the
//      runtime, the local queue and R2, so it is an upper bound for the isolate.
// Usage: npm run bench:memory [-- --mb 10 --json out.json --no-wrangler --compaction-only]
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "fflate";
import { parseConfig } from "../src/config/load";
import { bodyFormat, readText } from "../src/routes/body";
import { layout, itemsOf, checkRecord } from "../src/routes/decode";
import { runPipeline, type PipelineOptions, type RoutedEvent } from "../src/pipeline";
import { makeEnricher } from "../src/enrich/index";
import { makeRouter } from "../src/route/index";
import { Enqueuer, type EventsMessage } from "../src/deliver/enqueue";
import { SOURCES, fixtureLines, table, fmt, isMain, arg } from "./common";
import { startDev, residentOf, resetPeak } from "./wrangler";
import { findInspector, openInspector, type Inspector } from "./inspector";
import { consumerBatch, type ConsumerMemResult } from "./consumer-memory";
import { COMPACT_CASES, COMPACT_EVENTS, compactionFile, type CompactCase, type CompactEvents, type CompactMemResult } from "./compact-memory";

const MB = 1048576;

/** About `bytes` of NDJSON cycling through every source's fixture lines. */
export function batchOf(bytes: number): { text: string; lines: number } {
  const lines = SOURCES.flatMap(([, dirs]) => fixtureLines(...dirs));
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const l = lines[i % lines.length]!;
    if (n + l.length + 1 > bytes) break;
    parts.push(l);
    n += l.length + 1;
  }
  return { text: parts.join("\n") + "\n", lines: parts.length };
}

interface PureResult {
  accepted: number;
  rejected: number;
  peakHeap: number;
  peakTotal: number;
  decodedChars: number;
}

/** The ingest path on one body, sampling memory (run in a child process). */
async function ingestPure(body: Uint8Array, gzip: boolean): Promise<PureResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const cfg = parseConfig({});
  const limits = { ...cfg.limits };
  const enrich = makeEnricher(cfg);
  const route = makeRouter(cfg);
  const headers = new Headers({ "content-type": "application/x-ndjson" });
  if (gzip) headers.set("content-encoding", "gzip");
  gc?.();
  const m0 = process.memoryUsage();
  let peakHeap = 0;
  let peakTotal = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed - m0.heapUsed);
    peakTotal = Math.max(peakTotal, m.heapUsed + m.external - (m0.heapUsed + m0.external));
  };
  // the body arrives in 64 KB chunks that are not kept (as a request stream)
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= body.byteLength) return c.close();
      c.enqueue(body.slice(at, at + 65536));
      at += 65536;
    },
  });
  const format = bodyFormat(headers, limits);
  const text = await readText(stream, format, limits);
  sample();
  const queue = new Enqueuer(
    {
      async sendBatch(batch: Iterable<{ body: EventsMessage }>) {
        for (const m of batch) JSON.stringify(m.body); // the runtime serializes each message
        sample();
      },
    },
    { put: async () => undefined },
  );
  const opts: PipelineOptions = {
    ctx: { ocsfVersion: cfg.ocsf.version, receivedAt: Date.now() },
    enrich,
    route,
    admit: (record) => checkRecord(record, limits.maxDepth),
  };
  let pending: RoutedEvent[] = [];
  let accepted = 0;
  let rejected = 0;
  for (const item of itemsOf(text, layout(text, format.framing, { maxRecordBytes: limits.maxRecordBytes }), { maxRecordBytes: limits.maxRecordBytes })) {
    if (item.type !== "value") {
      rejected++;
      continue;
    }
    const r = runPipeline([item.value], [item.path], [], opts);
    rejected += r.errors.length;
    for (const e of r.events) pending.push(e);
    if (pending.length >= 200) {
      await queue.add(pending);
      accepted += pending.length;
      pending = [];
    }
  }
  await queue.add(pending);
  accepted += pending.length;
  await queue.finish();
  sample();
  return { accepted, rejected, peakHeap, peakTotal, decodedChars: text.length };
}

const self = fileURLToPath(import.meta.url);

/** Runs this file as a child (`--child`), with extra node flags; returns its JSON answer or undefined when it died. */
function child(mb: number, gzip: boolean, nodeFlags: string[]): PureResult | undefined {
  return childRun<PureResult>(["--child", "--mb", String(mb), ...(gzip ? ["--gzip"] : [])], nodeFlags);
}

type ConsumerMode = "batch only" | "before" | "after";

/** One consumer batch in a child (`--consumer batch|before|after [--source falco]`). */
function consumerChild(mode: ConsumerMode, source: string | undefined, nodeFlags: string[]): ConsumerMemResult | undefined {
  return childRun<ConsumerMemResult>(["--consumer", mode === "batch only" ? "batch" : mode, ...(source ? ["--source", source] : [])], nodeFlags);
}

/** One compaction in a child (`--compact lake|lake10|s3 --events falco|api [--stage-only]`). */
function compactChild(kind: CompactCase, which: CompactEvents, stageOnly: boolean, nodeFlags: string[]): CompactMemResult | undefined {
  return childRun<CompactMemResult>(["--compact", kind, "--events", which, ...(stageOnly ? ["--stage-only"] : [])], nodeFlags);
}

function childRun<T>(args: string[], nodeFlags: string[]): T | undefined {
  const r = spawnSync(process.execPath, [...nodeFlags, "--expose-gc", "--import", "tsx", self, ...args], {
    encoding: "utf8",
    timeout: 120_000,
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) return undefined;
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as T;
  } catch {
    return undefined;
  }
}

export interface MemoryRow {
  where: string;
  body: string;
  events: number;
  /** Bytes. */
  peakHeap?: number;
  peakTotal?: number;
  /** Smallest --max-heap-size (MB) that completes. */
  minHeapLimitMB?: number;
  /** workerd: VmHWM growth during the request, and until the consumer archived the batch. */
  rssIngest?: number;
  rssConsumer?: number;
  /** workerd: the isolate's V8 heap before, and its sampled peaks during ingest and the consumer (used / allocated). */
  isolateBefore?: number;
  isolateIngest?: { used: number; total: number };
  isolateConsumer?: { used: number; total: number };
  status?: number;
  note?: string;
}

/** Smallest heap limit in [lo, hi] MB with which the child completes (bisection, at most 7 runs). */
function minHeapLimit(mb: number, gzip: boolean): number | undefined {
  return bisectHeap((flags) => child(mb, gzip, flags) !== undefined);
}

function bisectHeap(completes: (nodeFlags: string[]) => boolean, lo = 8, hi = 256): number | undefined {
  if (!completes([`--max-heap-size=${hi}`])) return undefined;
  for (let i = 0; i < 7 && hi - lo > 2; i++) {
    const mid = Math.floor((lo + hi) / 2);
    if (completes([`--max-heap-size=${mid}`])) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The "consumer batch, 10 sinks" rows: before and after, every source and Falco only. */
export function benchConsumerBatch(): MemoryRow[] {
  const rows: MemoryRow[] = [];
  for (const source of [undefined, "falco"]) {
    for (const mode of ["batch only", "before", "after"] as const) {
      const r = consumerChild(mode, source, []);
      if (!r) throw new Error(`consumer batch child failed (${mode})`);
      rows.push({
        where: "consumer batch, 10 sinks",
        body: `${fmt.mb(r.lineBytes)} MB ${source ?? "every source"}, ${mode}`,
        events: r.events,
        peakHeap: r.peakHeap,
        minHeapLimitMB: bisectHeap((flags) => consumerChild(mode, source, flags) !== undefined, 40, 168),
        note:
          mode === "batch only"
            ? "the parsed batch and the loaded modules, nothing delivered: the floor of the two rows below"
            : `${r.requests} requests (Security Lake ${r.perSink.lake ?? 0} objects); ${mode === "before" ? "no request slots, Security Lake 100,000 events / 50 MB per object" : "request slots, Security Lake default batch"}`,
      });
    }
  }
  return rows;
}

export const COMPACTION_ROW = "compaction, one file";

const COMPACT_LABEL: Record<CompactCase, string> = { lake: "security_lake Parquet, default buffer", lake10: "security_lake Parquet, maxBytes 10,000,000", s3: "s3 gzip NDJSON, maxBytes 10,000,000" };
const EVENTS_LABEL: Record<CompactEvents, string> = { falco: "Falco", api: "k8s audit + CloudTrail API Activity" };

/** The "compaction, one file" rows: each sink case, Falco events and mixed API Activity, after a floor row (staged, not compacted). */
export function benchCompaction(): MemoryRow[] {
  const rows: MemoryRow[] = [];
  const cases: [CompactCase, CompactEvents, boolean][] = [["lake10", "falco", true], ...COMPACT_EVENTS.flatMap((w) => COMPACT_CASES.map((k): [CompactCase, CompactEvents, boolean] => [k, w, false]))];
  for (const [kind, which, stageOnly] of cases) {
    const r = compactChild(kind, which, stageOnly, []);
    if (!r) throw new Error(`compaction child failed (${kind}, ${which})`);
    rows.push({
      where: COMPACTION_ROW,
      body: stageOnly ? `staged only: ${fmt.mb(r.stagedBytes)} MB ${EVENTS_LABEL[which]}` : `${COMPACT_LABEL[kind]}: ${fmt.mb(r.stagedBytes)} MB ${EVENTS_LABEL[which]}`,
      events: r.events,
      ...(stageOnly ? {} : { peakHeap: r.peakHeap, peakTotal: r.peakTotal }),
      // a failed run is tried once more before it counts (a busy machine once failed several runs far above the limit)
      minHeapLimitMB: bisectHeap((flags) => compactChild(kind, which, stageOnly, flags) !== undefined || compactChild(kind, which, stageOnly, flags) !== undefined, 16, 144),
      note: stageOnly
        ? `${r.objects} objects staged in the in-memory bucket (outside the heap) and the modules loaded, no compaction: the floor of the rows below`
        : `${r.objects} staged objects read, ${r.requests} request of ${fmt.mb(r.writtenBytes)} MB; buffer ${fmt.int(r.policy.maxEvents)} events / ${fmt.int(r.policy.maxBytes)} bytes`,
    });
  }
  return rows;
}

/** Polls the isolate's heap until stopped; keeps the peaks. */
function pollHeap(insp: Inspector | undefined) {
  const peak = { used: 0, total: 0 };
  let on = insp !== undefined;
  const done = (async () => {
    while (on && insp) {
      try {
        const h = await insp.heapUsage();
        peak.used = Math.max(peak.used, h.usedSize);
        peak.total = Math.max(peak.total, h.totalSize);
      } catch {
        on = false;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    peak,
    stop: async () => {
      on = false;
      await done;
      return peak;
    },
  };
}

/** One POST of the batch to a fresh wrangler dev (its own workerd: the baselines are not shared). */
async function throughWrangler(text: string, gzip: boolean): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  const dev = await startDev();
  let insp: Inspector | undefined;
  try {
    const pid = dev.workerdPid();
    if (pid === undefined) throw new Error("workerd process not found");
    const wsUrl = await findInspector(pid, "tributary");
    insp = wsUrl ? await openInspector(wsUrl).catch(() => undefined) : undefined;
    const post = async (body: Uint8Array, gzip: boolean) => {
      const headers: Record<string, string> = { "content-type": "application/x-ndjson" };
      if (gzip) headers["content-encoding"] = "gzip";
      const r = await fetch(`${dev.url}/v1/events`, { method: "POST", body, headers, signal: AbortSignal.timeout(120_000) });
      const answer = (await r.json()) as { accepted?: number };
      return { status: r.status, accepted: answer.accepted ?? 0 };
    };
    // warm-up: one small request, so the isolate, the config and the queue are up before measuring
    await post(new TextEncoder().encode(text.slice(0, text.indexOf("\n") + 1)), false);
    await new Promise((r) => setTimeout(r, 3000));
    const raw = new TextEncoder().encode(text);
    {
      const body = gzip ? gzipSync(raw) : raw;
      const before = residentOf(pid);
      const reset = resetPeak(pid);
      const base = reset ? residentOf(pid).peak : before.peak;
      const isolateBefore = insp ? (await insp.heapUsage()).usedSize : undefined;
      let poll = pollHeap(insp);
      const r = await post(body, gzip);
      const isolateIngest = { ...(await poll.stop()) };
      const afterIngest = residentOf(pid).peak;
      // the consumer takes the messages in batches (max_batch_timeout 2 s): wait for it, bounded
      poll = pollHeap(insp);
      await new Promise((res) => setTimeout(res, 8000));
      const isolateConsumer = { ...(await poll.stop()) };
      const afterConsumer = residentOf(pid).peak;
      rows.push({
        where: "wrangler dev (workerd)",
        body: `${fmt.mb(body.byteLength)} MB ${gzip ? "gzip" : "identity"}`,
        events: r.accepted,
        rssIngest: afterIngest - base,
        rssConsumer: afterConsumer - base,
        ...(insp ? { isolateBefore, isolateIngest, isolateConsumer } : {}),
        status: r.status,
        note: `${reset ? "" : "VmHWM could not be reset (growth over the previous peak); "}${insp ? "" : "inspector not reachable (no isolate heap)"}`,
      });
    }
  } finally {
    insp?.close();
    await dev.stop();
  }
  return rows;
}

export async function benchMemory(mb = 10, opts: { wrangler?: boolean } = {}): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  for (const gzip of [false, true]) {
    const r = child(mb, gzip, []);
    if (!r) throw new Error("memory child failed");
    rows.push({
      where: "ingest path in Node (V8)",
      body: `${mb} MB ${gzip ? "gzip" : "identity"}`,
      events: r.accepted,
      peakHeap: r.peakHeap,
      peakTotal: r.peakTotal,
      minHeapLimitMB: minHeapLimit(mb, gzip),
      note: `${r.rejected} rejected; decoded text ${fmt.mb(r.decodedChars)} M chars`,
    });
  }
  rows.push(...benchConsumerBatch());
  rows.push(...benchCompaction());
  if (opts.wrangler !== false) {
    const { text } = batchOf(mb * 1_000_000);
    for (const gzip of [false, true]) rows.push(...(await throughWrangler(text, gzip)));
  }
  return rows;
}

export function formatMemory(rows: MemoryRow[]): string {
  const v = (n: number | undefined) => (n === undefined ? "—" : fmt.mb(n));
  const pure = rows.filter((r) => r.rssIngest === undefined);
  const dev = rows.filter((r) => r.rssIngest !== undefined);
  const a = table(
    ["in Node (V8): ingest path / consumer batch / compaction", "events", "peak heap used above start, MB (sampled)", "peak heap + external above start, MB (sampled)", "smallest V8 heap limit that completes, MB", "note"],
    pure.map((r) => [r.where === "consumer batch, 10 sinks" || r.where === COMPACTION_ROW ? `${r.where}: ${r.body}` : r.body, r.events, v(r.peakHeap), v(r.peakTotal), r.minHeapLimitMB === undefined ? "—" : String(r.minHeapLimitMB), r.note ?? ""]),
  );
  const b = table(
    ["wrangler dev (workerd)", "events", "HTTP", "isolate heap used before, MB", "isolate heap peak during ingest, MB used / allocated", "isolate heap peak while the consumer archives, MB used / allocated", "workerd process peak RSS growth, MB: ingest / + consumer", "note"],
    dev.map((r) => [
      r.body,
      r.events,
      r.status ?? "—",
      v(r.isolateBefore),
      r.isolateIngest ? `${v(r.isolateIngest.used)} / ${v(r.isolateIngest.total)}` : "—",
      r.isolateConsumer ? `${v(r.isolateConsumer.used)} / ${v(r.isolateConsumer.total)}` : "—",
      `${v(r.rssIngest)} / ${v(r.rssConsumer)}`,
      r.note ?? "",
    ]),
  );
  return dev.length ? `${a}\n\n${b}` : a;
}

if (isMain(import.meta.url)) {
  const mb = Number(arg("mb") ?? 0) || 10;
  const consumer = arg("consumer");
  const compact = arg("compact");
  if (compact !== undefined) {
    const kind = COMPACT_CASES.find((c) => c === compact);
    const which = COMPACT_EVENTS.find((e) => e === (arg("events") ?? "falco"));
    if (!kind || !which) throw new Error(`--compact ${COMPACT_CASES.join("|")} --events ${COMPACT_EVENTS.join("|")}`);
    console.log(JSON.stringify(await compactionFile(kind, which, process.argv.includes("--stage-only"))));
  } else if (consumer === "batch" || consumer === "before" || consumer === "after") {
    console.log(JSON.stringify(await consumerBatch(consumer === "batch" ? "batch only" : consumer, 10_000_000, arg("source"))));
  } else if (process.argv.includes("--child")) {
    const gzip = process.argv.includes("--gzip");
    // only the encoded body is kept (the text it was built from is garbage before the baseline)
    const body = ((raw: Uint8Array) => (gzip ? gzipSync(raw) : raw))(new TextEncoder().encode(batchOf(mb * 1_000_000).text));
    const r = await ingestPure(body, gzip);
    console.log(JSON.stringify(r));
  } else {
    const rows = process.argv.includes("--compaction-only") ? benchCompaction() : await benchMemory(mb, { wrangler: !process.argv.includes("--no-wrangler") });
    console.log(formatMemory(rows));
    const out = arg("json");
    if (out) writeFileSync(out, JSON.stringify(rows, null, 2));
  }
}
