// HTTP ingest throughput against the Worker as `npm start` runs it (wrangler dev: workerd, local
// queue and R2; the queue consumer archives in the same process meanwhile), loaded by autocannon
// on 127.0.0.1. Batches of 1, 100 and 1000 events (real Falco alerts; NDJSON except the single
// alert, which is posted as Falco's http_output does), gzip on and off, a fixed duration each.
// events/s = accepted (2xx) requests/s × events per request (checked with one request first).
// Usage: npm run bench:http [-- --duration 10 --json out.json]
import { writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import autocannon from "autocannon";
import { SOURCES, fixtureLines, ndjson, table, fmt, isMain, arg } from "./common";
import { startDev, waitQuiet } from "./wrangler";
import { findInspector, openInspector, type Inspector } from "./inspector";

export interface HttpRow {
  label: string;
  batch: number;
  gzip: boolean;
  connections: number;
  bodyBytes: number;
  eventsPerRequest: number;
  requestsPerSec: number;
  eventsPerSec: number;
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Share of the Worker isolate's CPU samples per part (percent), for the profiled case. */
  profile?: Record<string, number>;
}

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Parts of the isolate's work, by the functions on a sample's stack. An async function's code after an
 * `await` runs from a microtask, without its callers on the stack, so the ingest part is named by
 * every step of the request (the handler, body reading, the pipeline, the queue hand-off), not by the
 * handler alone; the same for the consumer.
 */
const PARTS: [part: string, names: string[]][] = [
  ["ingest (request handler, body, pipeline, queue hand-off)", ["ingest", "authenticatedText", "readBody", "runPipeline", "drain", "countAccepted", "writeQuarantine"]],
  ["  of which the pipeline (detect, normalize, enrich, route; JSON.parse excluded)", ["runPipeline"]],
  ["  of which handing the packed messages to the queue (sendBatch)", ["drain"]],
  ["queue consumer (archive, sinks, noise, correlation feed)", ["consumeQueue", "consumeEvents", "consumeDeliveries", "feedCorrelation", "tameNoise", "gzipText", "writeArchive", "countConsumed", "flushMetrics"]],
  ["  of which gzip of the archive objects (the JavaScript side: the native CompressionStream runs outside any JavaScript stack)", ["gzipText"]],
  ["garbage collection", ["(garbage collector)"]],
  ["idle", ["(idle)"]],
];
const OTHER = "everything else (Durable Objects, routing, runtime)";

export function shares(p: CpuProfile): Record<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  p.samples.forEach((s, i) => self.set(s, (self.get(s) ?? 0) + (p.timeDeltas[i] ?? 0)));
  let total = 0;
  for (const v of self.values()) total += v;
  const out: Record<string, number> = {};
  for (const [part] of PARTS) out[part] = 0;
  let counted = 0;
  for (const [id, t] of self) {
    const names = new Set<string>();
    for (let cur: number | undefined = id, i = 0; cur !== undefined && i < 500; cur = parent.get(cur), i++) names.add(byId.get(cur)!.callFrame.functionName);
    let top = false;
    for (const [part, fns] of PARTS) {
      if (!fns.some((f) => names.has(f))) continue;
      out[part] = out[part]! + (100 * t) / Math.max(1, total);
      if (!part.startsWith(" ") && !top) {
        top = true;
        counted += t;
      }
    }
  }
  out[OTHER] = (100 * (total - counted)) / Math.max(1, total);
  return out;
}

/** Starts the CPU profiler of the Worker isolate (workerd inspector); undefined when not reachable. */
async function startProfile(workerdPid: number | undefined): Promise<Inspector | undefined> {
  if (workerdPid === undefined) return undefined;
  try {
    const url = await findInspector(workerdPid, "tributary");
    if (!url) return undefined;
    const insp = await openInspector(url, 60_000);
    await insp.send("Profiler.enable");
    await insp.send("Profiler.setSamplingInterval", { interval: 500 });
    await insp.send("Profiler.start");
    return insp;
  } catch {
    return undefined;
  }
}

interface Case {
  label: string;
  batch: number;
  gzip: boolean;
  connections: number;
  text: string;
  contentType: string;
}

function cases(): Case[] {
  const falco = fixtureLines(...SOURCES[0]![1]);
  const mixed = SOURCES.flatMap(([, dirs]) => fixtureLines(...dirs));
  const out: Case[] = [];
  for (const gzip of [false, true]) {
    out.push({ label: "falco", batch: 1, gzip, connections: 16, text: falco.find((l) => l.includes('"Terminal shell in container"')) ?? falco[0]!, contentType: "application/json" });
    out.push({ label: "falco", batch: 100, gzip, connections: 8, text: ndjson(falco, 100), contentType: "application/x-ndjson" });
    out.push({ label: "falco", batch: 1000, gzip, connections: 4, text: ndjson(falco, 1000), contentType: "application/x-ndjson" });
  }
  // every source at once (CloudTrail lines hold several records: events per request are counted)
  out.push({ label: "all sources", batch: 1000, gzip: false, connections: 4, text: ndjson(mixed, 1000), contentType: "application/x-ndjson" });
  return out;
}

export async function benchHttp(durationSec = 10): Promise<HttpRow[]> {
  const dev = await startDev();
  const rows: HttpRow[] = [];
  try {
    for (const c of cases()) {
      const raw = Buffer.from(c.text, "utf8");
      const body = c.gzip ? gzipSync(raw) : raw;
      const headers: Record<string, string> = { "content-type": c.contentType };
      if (c.gzip) headers["content-encoding"] = "gzip";
      const url = `${dev.url}/v1/events`;
      // one request first: the events it holds, and a check that it is accepted
      const probe = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(60_000) });
      const answer = (await probe.json()) as { accepted?: number; rejected?: number };
      if (probe.status !== 202 || !answer.accepted) throw new Error(`probe for ${c.label} ×${c.batch}: HTTP ${probe.status} ${JSON.stringify(answer)}`);
      const profiled = c.label === "falco" && c.batch === 1000 && !c.gzip;
      const insp = profiled ? await startProfile(dev.workerdPid()) : undefined;
      const r = await autocannon({ url, method: "POST", headers, body, connections: c.connections, duration: durationSec, timeout: 60 });
      let profile: Record<string, number> | undefined;
      if (insp) {
        await new Promise((res) => setTimeout(res, 3000)); // the consumer's last batches
        try {
          profile = shares(((await insp.send("Profiler.stop")) as { profile: CpuProfile }).profile);
        } catch {
          profile = undefined;
        }
        insp.close();
      }
      const ok = r["2xx"];
      rows.push({
        label: c.label,
        batch: c.batch,
        gzip: c.gzip,
        connections: c.connections,
        bodyBytes: body.byteLength,
        eventsPerRequest: answer.accepted,
        requestsPerSec: ok / r.duration,
        eventsPerSec: (ok * answer.accepted) / r.duration,
        p50: r.latency.p50,
        p99: r.latency.p99,
        ok,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        ...(profile ? { profile } : {}),
      });
      // let the consumer catch up before the next case (bounded), so the rows do not share a backlog
      const pid = dev.workerdPid();
      if (pid !== undefined) await waitQuiet(pid, 90_000);
      else await new Promise((res) => setTimeout(res, 5000));
    }
  } finally {
    await dev.stop();
  }
  return rows;
}

export function formatHttp(rows: HttpRow[]): string {
  const p = rows.find((r) => r.profile);
  const prof = p?.profile
    ? `\n\nWhere the Worker isolate's CPU went during the ${p.label} ×${p.batch} (gzip ${p.gzip ? "on" : "off"}) row (CPU profile through workerd's inspector, sampled every 0.5 ms over the run and 3 s after it; a sample counts for a part when one of the part's functions is on its stack):\n\n${table(["part", "share of samples"], Object.entries(p.profile).map(([k, v]) => [k.replace(/^ +/, "… "), `${v.toFixed(1)}%`]))}`
    : "";
  return table(
    ["events", "batch", "gzip", "connections", "body KiB", "requests/s", "events/s", "p50 ms", "p99 ms", "2xx", "non-2xx", "errors (timeouts)"],
    rows.map((r) => [
      r.label,
      r.batch === r.eventsPerRequest ? r.batch : `${r.batch} lines (${r.eventsPerRequest} events)`,
      r.gzip ? "on" : "off",
      r.connections,
      fmt.kb(r.bodyBytes),
      fmt.f1(r.requestsPerSec),
      fmt.int(r.eventsPerSec),
      r.p50,
      r.p99,
      r.ok,
      r.non2xx,
      `${r.errors} (${r.timeouts})`,
    ]),
  ) + prof;
}

if (isMain(import.meta.url)) {
  const rows = await benchHttp(Number(arg("duration") ?? 0) || 10);
  console.log(formatHttp(rows));
  const o = arg("json");
  if (o) writeFileSync(o, JSON.stringify(rows, null, 2));
}
