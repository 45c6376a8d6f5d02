// Threat-intel set benchmark (numbers, not pass/fail): for 1,000,000 indicators of each kind, and a
// mixed million, measures
//   - load: compiled feed text (the R2 object) -> IntelSet, the work an isolate does once;
//   - memory: heap + ArrayBuffer bytes held by the set (after GC), and the peak while loading
//     (the text, the builder and the set at once) — the Worker limit is 128 MB per isolate;
//   - lookups: ns of CPU time per lookup (fastest of 5 rounds), hits and misses, through the
//     enricher's own path (parse or hash the event value, then search), and the bare search.
// The feed text is pushed in 64 KB pieces as the loader reads the R2 body stream, so "peak" is what an
// isolate needs while loading (the Worker limit is 128 MB).
// MISP and STIX feeds of as many indicators are streamed through their parsers (peak memory, time).
// --heap-check also finds, per MISP/STIX case, the smallest V8 old space in which a fresh process
// completes it.
// Usage: npm run bench:intel [-- --n 1000000 --json out.json] [--json-feeds-only] [--heap-check]
import { writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { IntelSetBuilder, hash64, hashOut, HASHED_KIND_CODE, type IntelSet } from "../src/enrich/intel-set";
import { CompiledReader, CompiledWriter, COMPILED_MAGIC, addClassified } from "../src/enrich/compiled";
import { feedTextParser, textPieces, JSON_ELEMENT_MAX_CHARS } from "../src/enrich/feeds";
import type { Classified } from "../src/enrich/indicator";
import { lookup, type LoadedFeed } from "../src/enrich/intel";
import { formatIPv4, formatIPv6 } from "../src/enrich/ip";

const args = process.argv.slice(2);
const N = Number(args[args.indexOf("--n") + 1] || 0) || 1_000_000;
const jsonOut = args.includes("--json") ? args[args.indexOf("--json") + 1] : undefined;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.warn("run with --expose-gc (npm run bench:intel does) for memory numbers");

// deterministic pseudo-random numbers (xorshift32)
let seed = 0x9e3779b9;
function rnd(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
const hex = (n: number) => Array.from({ length: n }, () => (rnd() & 15).toString(16)).join("");
const word = () => rnd().toString(36).slice(0, 4 + (rnd() % 6));

type Kind = "ipv4" | "cidr4" | "ipv6" | "domain" | "sha256" | "url";
type CandidateKind = "ip" | "host" | "hash" | "url";

interface Gen {
  line: () => string; // compiled line: "<kind> <value>"
  probeOfLine: (value: string) => string; // an event value that hits this indicator
  miss: () => string; // an event value that (almost surely) misses
  candidate: CandidateKind;
}

const GEN: Record<Kind, Gen> = {
  ipv4: { line: () => `ipv4 ${formatIPv4(rnd())}`, probeOfLine: (v) => v, miss: () => formatIPv4(rnd()), candidate: "ip" },
  cidr4: {
    line: () => `cidr4 ${formatIPv4((rnd() & 0xffffff00) >>> 0)}/24`,
    probeOfLine: (v) => v.replace(/\.0\/24$/, `.${1 + (rnd() % 254)}`),
    miss: () => formatIPv4(rnd()),
    candidate: "ip",
  },
  ipv6: {
    line: () => `ipv6 ${formatIPv6((0x2001n << 112n) | (BigInt(rnd()) << 64n) | (BigInt(rnd()) << 32n) | BigInt(rnd()))}`,
    probeOfLine: (v) => v,
    miss: () => formatIPv6((0x2001n << 112n) | (BigInt(rnd()) << 32n) | BigInt(rnd())),
    candidate: "ip",
  },
  domain: { line: () => `domain ${word()}${word()}.${word()}.example`, probeOfLine: (v) => `www.cdn.${v}`, miss: () => `www.${word()}${word()}.${word()}.example`, candidate: "host" },
  sha256: { line: () => `sha256 ${hex(64)}`, probeOfLine: (v) => v, miss: () => hex(64), candidate: "hash" },
  url: { line: () => `url ${word()}${word()}.example/${word()}/${word()}.sh`, probeOfLine: (v) => `https://${v}`, miss: () => `https://${word()}.example/${word()}`, candidate: "url" },
};

function mem(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
const MB = (b: number) => Math.round((b / 1048576) * 10) / 10;

/**
 * The compiled feed (the R2 object) as 64 KB pieces, generated on the fly: like the R2 body stream the
 * loader reads, the whole text never exists at once. Returns the pieces' total size and hit samples.
 */
function* compiledPieces(kinds: Kind[], n: number, samples: { kind: Kind; value: string }[]): Generator<string> {
  let cur = `${COMPILED_MAGIC}{"feed":"bench","fetched_at":"now","format":"plain","count":${n}}\n`;
  for (let i = 0; i < n; i++) {
    const kind = kinds[i % kinds.length]!;
    const line = GEN[kind].line();
    cur += `${line}\n`;
    if (i % Math.max(1, Math.floor(n / 2000)) === 0) samples.push({ kind, value: line.slice(line.indexOf(" ") + 1) });
    if (cur.length >= 65536) {
      yield cur;
      cur = "";
    }
  }
  if (cur) yield cur;
}

/** Process CPU time in ms (other processes on a shared machine barely move it; wall time they do). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** ns of CPU time per call: the fastest of 5 rounds of about minMs / 5 each, after a warm-up. */
function nsPer(fn: (i: number) => unknown, minMs = 500): number {
  for (let i = 0; i < 20_000; i++) fn(i); // warm-up: optimized before timing
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    let runs = 0;
    const start = cpuMs();
    let el = 0;
    while ((el = cpuMs() - start) < minMs / 5) {
      for (let i = 0; i < 1000; i++) fn(runs + i);
      runs += 1000;
    }
    best = Math.min(best, (el * 1e6) / runs);
  }
  return Math.round(best);
}

interface Row {
  set: string;
  indicators: number;
  loadMs: number;
  heldMB: number;
  peakMB: number;
  textMB: number;
  hitNs: number;
  missNs: number;
  bareHitNs?: number;
}

function bench(name: string, kinds: Kind[]): Row {
  gc?.();
  gc?.();
  const base = mem();
  const samples: { kind: Kind; value: string }[] = [];
  let textBytes = 0;
  let peak = 0;
  let loading = 0; // ms spent in the loader (generating the text is not counted)
  const set: IntelSet = (() => {
    const b = new IntelSetBuilder(80);
    const r = new CompiledReader(b);
    let k = 0;
    for (const piece of compiledPieces(kinds, N, samples)) {
      const t = performance.now();
      r.push(piece);
      loading += performance.now() - t;
      textBytes += piece.length;
      if (++k % 64 === 0) peak = Math.max(peak, mem());
    }
    const t = performance.now();
    r.end();
    peak = Math.max(peak, mem());
    const built = b.build();
    loading += performance.now() - t;
    peak = Math.max(peak, mem()); // builder + set + sort scratch, before any collection
    return built;
  })();
  const loadMs = Math.round(loading);
  gc?.();
  gc?.();
  const held = mem() - base;
  const text = { length: textBytes };
  const feed: LoadedFeed = { name: "bench", set, severityRaise: 1 };
  const hits = samples.map((s) => ({ path: "p", kind: GEN[s.kind].candidate, value: GEN[s.kind].probeOfLine(s.value) }));
  const misses = samples.map((s) => ({ path: "p", kind: GEN[s.kind].candidate, value: GEN[s.kind].miss() }));
  let found = 0;
  for (const h of hits) if (lookup([feed], h).length) found++;
  if (found !== hits.length) throw new Error(`${name}: ${hits.length - found} of ${hits.length} hits missed`);
  const hitNs = nsPer((i) => lookup([feed], hits[i % hits.length]!));
  const missNs = nsPer((i) => lookup([feed], misses[i % misses.length]!));
  let bareHitNs: number | undefined;
  if (kinds.length === 1 && kinds[0] === "sha256") {
    const keys = samples.map((s) => {
      hash64(HASHED_KIND_CODE.sha256, s.value);
      return [hashOut[0]!, hashOut[1]!] as const;
    });
    bareHitNs = nsPer((i) => set.lookupHash(keys[i % keys.length]![0], keys[i % keys.length]![1]));
  }
  if (kinds.length === 1 && kinds[0] === "ipv4") {
    const ips = samples.map((s) => s.value.split(".").reduce((a, x) => a * 256 + Number(x), 0));
    bareHitNs = nsPer((i) => set.lookupIPv4(ips[i % ips.length]!));
  }
  const row: Row = {
    set: name,
    indicators: set.size,
    loadMs,
    heldMB: MB(held),
    peakMB: MB(peak - base),
    textMB: MB(text.length),
    hitNs,
    missNs,
    ...(bareHitNs !== undefined ? { bareHitNs } : {}),
  };
  return row;
}

/** The naive structure for comparison: a Set of the indicator strings. */
function naiveSet(kind: Kind): { set: string; heldMB: number; hitNs: number } {
  gc?.();
  const base = mem();
  const values: string[] = [];
  for (let i = 0; i < N; i++) {
    const l = GEN[kind].line();
    values.push(l.slice(l.indexOf(" ") + 1));
  }
  const set = new Set(values);
  const probes = values.filter((_, i) => i % 500 === 0);
  values.length = 0;
  gc?.();
  gc?.();
  const heldMB = MB(mem() - base);
  const hitNs = nsPer((i) => set.has(probes[i % probes.length]!));
  return { set: `${N} ${kind} as Set<string>`, heldMB, hitNs };
}

const jsonOnly = args.includes("--json-feeds-only");
const rows: Row[] = [];
if (!jsonOnly) {
  for (const k of ["ipv4", "cidr4", "ipv6", "domain", "sha256", "url"] as Kind[]) rows.push(bench(`${N} ${k}`, [k]));
  rows.push(bench(`${N} mixed`, ["ipv4", "cidr4", "ipv6", "domain", "sha256", "url"]));
}

console.log(`node ${process.version}, ${N.toLocaleString("en")} indicators per set`);
console.log("set                    | indicators | load ms | held MB | peak MB (load) | text MB | ns/hit | ns/miss | bare search ns/hit");
for (const r of rows) {
  console.log(
    `${r.set.padEnd(22)} | ${String(r.indicators).padStart(10)} | ${String(r.loadMs).padStart(7)} | ${String(r.heldMB).padStart(7)} | ${String(r.peakMB).padStart(14)} | ${String(r.textMB).padStart(7)} | ${String(r.hitNs).padStart(6)} | ${String(r.missNs).padStart(7)} | ${r.bareHitNs ?? ""}`,
  );
}
const naive = jsonOnly ? [] : (["ipv4", "sha256"] as Kind[]).map(naiveSet);

/**
 * MISP JSON and STIX 2.1 bundles are read as a stream (src/enrich/feeds.ts feedTextParser on the
 * incremental scanner of src/enrich/json-stream.ts): one attribute / object is JSON.parsed at a time.
 * The feed is generated as a byte stream (64 KB pieces, UTF-8 encoded, decoded by the same textPieces
 * the loader and the refresh use), so neither the generator nor the parser holds it whole. Two
 * consumers: the isolate loading a raw r2Key file into the set, and the Cron refresh compiling the
 * download (compiled lines kept for the upload). Peak: heap + ArrayBuffers above the start, sampled
 * every 16 pieces (1 MB) and at the end, without forcing GC (garbage waiting for a collection counts).
 */
interface JsonFeedRow {
  format: "misp" | "stix";
  into: "set (isolate load)" | "compiled (refresh)";
  indicators: number;
  textMB: number;
  peakMB: number;
  heldMB: number;
  parseMs: number;
}

/** A MISP event or STIX bundle of n mixed IPv4/domain/SHA-256/URL indicators, in ~64 KB pieces. */
function* jsonFeedPieces(format: "misp" | "stix", n: number): Generator<string> {
  const kinds: Kind[] = ["ipv4", "domain", "sha256", "url"];
  yield format === "misp" ? `{"Event":{"uuid":"5c4f2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6","info":"bench","Attribute":[` : `{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[`;
  let cur = "";
  for (let i = 0; i < n; i++) {
    const kind = kinds[i % kinds.length]!;
    const l = GEN[kind].line();
    const v = l.slice(l.indexOf(" ") + 1);
    const id = `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`;
    if (i) cur += ",";
    if (format === "misp") {
      const t = kind === "ipv4" ? "ip-dst" : kind === "url" ? "url" : kind;
      cur += `{"id":"${i}","type":"${t}","category":"Network activity","to_ids":true,"uuid":"${id}","event_id":"1","distribution":"5","timestamp":"1717000000","comment":"","deleted":false,"value":"${kind === "url" ? `http://${v}` : v}"}`;
    } else {
      const p = kind === "ipv4" ? `[ipv4-addr:value = '${v}']` : kind === "domain" ? `[domain-name:value = '${v}']` : kind === "url" ? `[url:value = 'http://${v}']` : `[file:hashes.'SHA-256' = '${v}']`;
      cur += `{"type":"indicator","spec_version":"2.1","id":"indicator--${id}","created":"2025-05-01T00:00:00.000Z","modified":"2025-05-01T00:00:00.000Z","name":"bench ${i}","indicator_types":["malicious-activity"],"pattern":"${p}","pattern_type":"stix","valid_from":"2025-05-01T00:00:00Z","confidence":80}`;
    }
    if (cur.length >= 65536) {
      yield cur;
      cur = "";
    }
  }
  yield `${cur}]}${format === "misp" ? "}" : ""}`;
}

/** The pieces as a UTF-8 byte stream, generated as it is read (like a fetch or R2 body). */
function byteStream(pieces: Generator<string>): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    pull(ctl) {
      const r = pieces.next();
      if (r.done) ctl.close();
      else ctl.enqueue(enc.encode(r.value));
    },
  });
}

async function jsonFeedStreamed(format: "misp" | "stix", n: number, into: JsonFeedRow["into"]): Promise<JsonFeedRow> {
  gc?.();
  gc?.();
  const base = mem();
  let peak = base;
  const b = into === "set (isolate load)" ? new IntelSetBuilder(80) : undefined;
  const w = b ? undefined : new CompiledWriter();
  const emit = b ? (c: Classified, conf?: number) => addClassified(b, c, conf) : (c: Classified, conf?: number) => w!.add(c, conf);
  const p = feedTextParser({ format, type: "auto", mispToIdsOnly: true }, emit, Date.now(), JSON_ELEMENT_MAX_CHARS);
  let bytes = 0;
  let k = 0;
  let parsing = 0;
  for await (const piece of textPieces(byteStream(jsonFeedPieces(format, n)), 512_000_000, "maxJsonFeedBytes")) {
    bytes += piece.length; // ASCII: characters = bytes
    const t = performance.now();
    p.push(piece);
    parsing += performance.now() - t;
    if (++k % 16 === 0) peak = Math.max(peak, mem());
  }
  const t = performance.now();
  const st = p.end();
  peak = Math.max(peak, mem());
  let keep: unknown;
  if (b) keep = b.build();
  else keep = w!.finishParts({ feed: "bench", fetched_at: "now", format });
  parsing += performance.now() - t;
  peak = Math.max(peak, mem());
  if (st.indicators !== n) throw new Error(`${format}: ${st.indicators} of ${n} indicators`);
  gc?.();
  gc?.();
  const held = mem() - base;
  void keep;
  return { format, into, indicators: n, textMB: MB(bytes), peakMB: MB(peak - base), heldMB: MB(held), parseMs: Math.round(parsing) };
}

/**
 * The smallest V8 old space (MB, of HEAP_CAPS, with 8 MB semi-spaces) in which a fresh process (this
 * script, one scenario) still streams the feed to the end: the sampled peak above counts garbage not
 * yet collected, this is what the heap must really have room for (the process's own modules included).
 */
const HEAP_CAPS = [32, 48, 64, 96, 128];
function smallestHeap(format: string, into: string): number | undefined {
  for (const cap of HEAP_CAPS) {
    const r = spawnSync(process.execPath, [`--max-old-space-size=${cap}`, "--max-semi-space-size=8", "--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), "--json-feeds-only", "--n", String(N), "--scenario", `${format}:${into}`], { encoding: "utf8", timeout: 600_000 });
    if (r.status === 0) return cap;
  }
  return undefined;
}

const scenario = args.includes("--scenario") ? args[args.indexOf("--scenario") + 1] : undefined;
const jsonFeeds: (JsonFeedRow & { heapMB?: number })[] = [];
for (const format of ["misp", "stix"] as const) {
  for (const into of ["set (isolate load)", "compiled (refresh)"] as const) {
    if (scenario && scenario !== `${format}:${into}`) continue;
    const row: JsonFeedRow & { heapMB?: number } = await jsonFeedStreamed(format, N, into);
    if (args.includes("--heap-check")) row.heapMB = smallestHeap(format, into);
    jsonFeeds.push(row);
  }
}
console.log("\nMISP / STIX JSON feeds streamed (one element parsed at a time):");
console.log("format | into               | indicators | text MB | peak MB | held MB after | parse ms | smallest old space that completes (MB)");
for (const r of jsonFeeds) {
  console.log(`${r.format.padEnd(6)} | ${r.into.padEnd(18)} | ${String(r.indicators).padStart(10)} | ${String(r.textMB).padStart(7)} | ${String(r.peakMB).padStart(7)} | ${String(r.heldMB).padStart(13)} | ${String(r.parseMs).padStart(8)} | ${r.heapMB ?? (args.includes("--heap-check") ? `> ${HEAP_CAPS.at(-1)}` : "")}`);
}
console.log("\nfor comparison, a plain Set<string> of the same values:");
for (const r of naive) console.log(`${r.set.padEnd(30)} | held MB ${r.heldMB} | ns/hit ${r.hitNs}`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ node: process.version, n: N, rows, naive, jsonFeeds }, null, 1));
