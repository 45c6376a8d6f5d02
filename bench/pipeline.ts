// Pipeline cost per event, per source, on the real fixtures (numbers, not pass/fail).
// For each source: decode (frame) -> unwrap/detect -> normalize -> enrich -> route -> serialize,
// compared with the floor: JSON.parse + JSON.stringify of the same bytes, in the same run.
// Usage: npm run bench:pipeline [-- --events 20000 --json out.json]
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, extname, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { frame } from "../src/routes/decode";
import { runPipeline } from "../src/pipeline";
import { parseConfig } from "../src/config/load";
import { makeEnricher } from "../src/enrich/index";
import { makeRouter } from "../src/route/index";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const target = Number(args[args.indexOf("--events") + 1] || 0) || 20_000;
const jsonOut = args.includes("--json") ? args[args.indexOf("--json") + 1] : undefined;

/** All records of a fixture folder, one compact JSON line each (containers unwrapped by the pipeline later). */
function linesOf(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(join(root, "test/fixtures", dir)).sort()) {
    const text = readFileSync(join(root, "test/fixtures", dir, f), "utf8");
    if (extname(f) === ".ndjson") out.push(...text.split("\n").filter((l) => l.trim()));
    else out.push(JSON.stringify(JSON.parse(text)));
  }
  return out;
}

function body(lines: string[], n: number): { text: string; count: number } {
  const parts: string[] = [];
  for (let i = 0; parts.length < n; i++) parts.push(lines[i % lines.length]!);
  return { text: parts.join("\n"), count: parts.length };
}

function time(fn: () => void, minMs = 400): number {
  fn(); // warm-up
  let runs = 0;
  const start = performance.now();
  let el = 0;
  while (el < minMs && runs < 200) {
    fn();
    runs++;
    el = performance.now() - start;
  }
  return el / runs;
}

export interface PipelineRow {
  source: string;
  events: number;
  bytes: number;
  usPerEvent: number;
  eventsPerSec: number;
  floorUsPerEvent: number;
  ratio: number;
  heapMB: number;
}

export function benchPipeline(events = target): PipelineRow[] {
  const cfg = parseConfig({});
  const enrich = makeEnricher(cfg);
  const route = makeRouter(cfg);
  const rows: PipelineRow[] = [];
  const sources: [string, string[]][] = [
    ["falco", ["falco", "falco-k8saudit", "falco-cloudtrail"]],
    ["tetragon", ["tetragon"]],
    ["k8s_audit", ["k8s-audit"]],
    ["cloudtrail", ["cloudtrail"]],
  ];
  for (const [name, dirs] of sources) {
    let lines = dirs.flatMap(linesOf);
    if (name === "k8s_audit") lines = lines.filter((l) => !l.startsWith('{"kind":0'));
    const { text } = body(lines, Math.ceil(events / Math.max(1, avgRecords(lines))));
    let produced = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    const pipelineMs = time(() => {
      const f = frame(text, "application/x-ndjson");
      const r = runPipeline(f.values, f.paths, f.textLines, { ctx: { ocsfVersion: "1.3.0", receivedAt: 1_700_000_000_000 }, enrich, route });
      let bytes = 0;
      for (const e of r.events) bytes += JSON.stringify(e.event).length;
      produced = r.events.length;
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      if (bytes === 0 && produced > 0) throw new Error("nothing serialized");
    });
    const floorMs = time(() => {
      let start = 0;
      let bytes = 0;
      while (start < text.length) {
        let end = text.indexOf("\n", start);
        if (end < 0) end = text.length;
        bytes += JSON.stringify(JSON.parse(text.slice(start, end))).length;
        start = end + 1;
      }
      if (bytes === 0) throw new Error("floor did nothing");
    });
    const usPerEvent = (pipelineMs * 1000) / Math.max(1, produced);
    const floorUsPerEvent = (floorMs * 1000) / Math.max(1, produced);
    rows.push({
      source: name,
      events: produced,
      bytes: text.length,
      usPerEvent,
      eventsPerSec: produced / (pipelineMs / 1000),
      floorUsPerEvent,
      ratio: usPerEvent / floorUsPerEvent,
      heapMB: (heapPeak - heapBefore) / 1e6,
    });
  }
  return rows;
}

/** Records per line (CloudTrail files and arrays hold several records in one line). */
function avgRecords(lines: string[]): number {
  let n = 0;
  for (const l of lines) {
    const f = frame(l, "application/json");
    const r = runPipeline(f.values, f.paths, f.textLines, { ctx: { ocsfVersion: "1.3.0", receivedAt: 0 } });
    n += r.total;
  }
  return n / lines.length;
}

export function formatPipeline(rows: PipelineRow[]): string {
  const head = "| source | events | µs/event | events/s (1 core) | floor µs/event (JSON.parse+stringify) | ratio to floor | heap growth MB |\n|---|---|---|---|---|---|---|";
  const body = rows
    .map((r) => `| ${r.source} | ${r.events} | ${r.usPerEvent.toFixed(2)} | ${Math.round(r.eventsPerSec).toLocaleString("en-US")} | ${r.floorUsPerEvent.toFixed(2)} | ${r.ratio.toFixed(2)}× | ${r.heapMB.toFixed(1)} |`)
    .join("\n");
  return `${head}\n${body}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = benchPipeline();
  console.log(formatPipeline(rows));
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 2));
}
