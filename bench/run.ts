// `npm run bench`: runs every benchmark, each in its own child process (a fresh V8, and a failure
// or a hang stays contained), prints one markdown table per benchmark and rewrites BENCHMARKS.md
// with the tables, the machine, the date and a reading of each number against its target.
// Every child has a time limit; children and the servers they start are stopped even on failure.
// Usage: npm run bench [-- --only pipeline,pipeline-workerd,sinks,intel,memory,bundle,http --duration 10 --no-write]
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root, machine, table, fmt, arg, type Machine } from "./common";
import { formatPipeline, REDACT_BENCH, type PipelineRow } from "./pipeline";
import { formatPipelineWorkerd, type WorkerdResult } from "./pipeline-workerd";
import { formatSinks, type SinksResult } from "./sinks";
import { COMPACTION_ROW, formatMemory, type MemoryRow } from "./memory";
import { formatBundle, type BundleResult } from "./bundle";
import { formatHttp, type HttpRow } from "./http";

const ALL = ["pipeline", "pipeline-redact", "pipeline-workerd", "sinks", "intel", "memory", "bundle", "http"] as const;
type Name = (typeof ALL)[number];

const only = new Set((arg("only") ?? ALL.join(",")).split(",") as Name[]);
const duration = Number(arg("duration") ?? 0) || 10;
const write = !process.argv.includes("--no-write");

const LIMITS_MS: Record<Name, number> = { pipeline: 15 * 60_000, "pipeline-redact": 10 * 60_000, "pipeline-workerd": 10 * 60_000, sinks: 10 * 60_000, intel: 15 * 60_000, memory: 15 * 60_000, bundle: 5 * 60_000, http: 20 * 60_000 };

const running = new Set<ChildProcess>();
const stopAll = (sig: NodeJS.Signals) => {
  for (const c of running) {
    try {
      process.kill(-c.pid!, sig);
    } catch {
      // gone
    }
  }
};
process.once("exit", () => stopAll("SIGKILL"));
for (const s of ["SIGINT", "SIGTERM"] as const) {
  process.once(s, () => {
    stopAll("SIGTERM"); // each child stops its own wrangler dev on SIGTERM
    setTimeout(() => {
      stopAll("SIGKILL");
      process.exit(130);
    }, 3000);
  });
}

/** Runs a bench script in a child (node --expose-gc via tsx), streaming its output; resolves with its exit code. */
function runChild(script: string, args: string[], limitMs: number): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", join(root, "bench", script), ...args], {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
      detached: true, // its own process group, so a timeout can stop it and what it started
    });
    running.add(child);
    const timer = setTimeout(() => {
      console.error(`bench/${script}: over ${limitMs / 1000} s, stopping it`);
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        // gone
      }
      setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // gone
        }
      }, 10_000).unref();
    }, limitMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/** bench/intel.ts's JSON: its rows are read by column name. */
interface IntelResult {
  n: number;
  rows: Record<string, number | string | undefined>[];
  naive?: { set: string; heldMB: number; hitNs: number }[];
  jsonFeeds?: { format: string; into: string; indicators: number; textMB: number; peakMB: number; heldMB: number; parseMs: number; heapMB?: number }[];
}

/** MISP/STIX rows: peak memory of a feed parsed as one JSON document. */
function formatJsonFeeds(r: IntelResult): string {
  const rows = r.jsonFeeds ?? [];
  if (!rows.length) return "";
  const t = table(
    ["format", "into", "indicators", "feed text MB", "peak MB while reading", "held MB after", "parse ms", "smallest V8 old space that completes (MB)"],
    rows.map((x) => [x.format, x.into, fmt.int(x.indicators), x.textMB, x.peakMB, x.heldMB, x.parseMs, x.heapMB ?? "not checked"]),
  );
  return [
    "MISP JSON and STIX 2.1 bundles are read as a stream (`src/enrich/json-stream.ts`): one attribute / object is `JSON.parse`d at a time, the text is dropped as it is scanned. The feed is generated as a byte stream in 64 KB pieces (mixed IPv4/domain/SHA-256/URL indicators as MISP exports and STIX producers write them). Peak: heap + ArrayBuffers above the start, sampled every 1 MB without forcing GC (uncollected garbage counts). Smallest old space: a fresh process runs that case alone with `--max-old-space-size` (and 8 MB semi-spaces) of 32, 48, 64, 96, 128 MB; the first that completes (`--heap-check`).",
    t,
    `Streamed, ${fmt.int(Math.max(...rows.map((x) => x.indicators)))} MISP/STIX indicators (${Math.min(...rows.map((x) => x.textMB))}–${Math.max(...rows.map((x) => x.textMB))} MB of feed text) complete in ${Math.min(...rows.map((x) => x.heapMB ?? Infinity))}–${Math.max(...rows.map((x) => x.heapMB ?? Infinity))} MB of old space against the 128 MB isolate; sampled peaks above that are garbage V8 had not collected because it had room. Caps: \`intel.maxJsonFeedBytes\` (512,000,000 bytes, streamed) and \`intel.maxJsonElementChars\` (1,000,000 per attribute/object).`,
  ].join("\n\n");
}

const INTEL_COLUMNS: [key: string, head: string][] = [
  ["set", "set"],
  ["indicators", "indicators"],
  ["loadMs", "load ms"],
  ["heldMB", "held MB"],
  ["peakMB", "peak MB while loading"],
  ["textMB", "feed text MB"],
  ["hitNs", "ns/lookup (hit)"],
  ["missNs", "ns/lookup (miss)"],
  ["bareHitNs", "bare search ns (hit)"],
];
const col = (r: IntelResult, key: string) => r.rows.map((x) => Number(x[key])).filter((v) => Number.isFinite(v));

const INTEL_NOTES =
  "Done for speed (2026-12): hash, domain and URL lookups hash the event's value where it stands when it is already in normal form, instead of making trimmed, lower-cased or parsed copies first: a hex digest is validated and hashed in one pass with A-F folded on the fly; a domain is scanned once from the right (the hash mixes characters last to first), which yields the hash of every suffix (`a.b.evil.com`, `b.evil.com`, `evil.com`) in that one pass instead of hashing each suffix again; a plain http(s) URL (lowercase host name, no port, credentials, dot segments or escapes in the path) is keyed as a span of the input without `new URL()`, anything else still goes through `urlKey`. Character classes are read from small tables rather than range tests (random hex digits and letters made the CPU mispredict those branches: 2.7× the hashing cost), and the hash result is a typed array rather than two exported variables (writing module bindings in the loop cost several times the hashing). Equivalence with the general paths: property tests in `test/enrich/intel-set.test.ts`. Same machine and method before the change (CPU time, 2026-12-06): domain 536 / 489 ns (hit / miss), sha256 612 / 439, url 625 / 561; memory unchanged.";

function formatIntel(r: IntelResult): string {
  const t = table(
    INTEL_COLUMNS.map(([, head]) => head),
    r.rows.map((x) => INTEL_COLUMNS.map(([key]) => (key === "indicators" ? fmt.int(Number(x[key])) : (x[key] ?? "—")))),
  );
  const naive = r.naive?.length ? `\n\nFor comparison, a plain \`Set<string>\` of the same values: ${r.naive.map((x) => `${x.set}: ${x.heldMB} MB held, ${x.hitNs} ns/hit`).join("; ")}.` : "";
  return t + naive;
}

// ---- readings (what each number means against its target) ----

const PIPELINE_NOTES = [
  "Done for speed, 2026-12-06, fourth round (same output check as the third: identical). The queue packer kept each message's text and size in two module-level WeakMaps keyed by the message, and those sets cost the serialize step far more than they look; the messages are now instances of a class that keeps both in private fields (same members, JSON and queue text: property test against plain copies). A/B of alternating runs, CPU µs/event: serialize step −4 to −10% on every source; whole pipeline in Node (medians of samples, four runs each, load average 0.7–1.5) tetragon 25.36 → 23.98, cloudtrail 18.45 → 17.76, k8s_audit 14.73 → 14.26, falco 17.74 → 17.34 (by the fastest samples of `bench:pipeline`, six runs each, load average 1.1–5.9: 0 to −2.5%, serialize step falco +6.21 → +5.96, tetragon +10.98 → +10.56, k8s_audit +7.24 → +6.65, cloudtrail +8.48 → +7.92), and in workerd (three runs each, load average 1.2–1.3) tetragon 18.00 → 17.20, cloudtrail 13.14 → 12.67, k8s_audit 11.25 → 11.00, falco unchanged. What the serialize step still costs beyond `JSON.stringify` alone (0.9–1.4 µs/event in Node): Node 20's `JSON.stringify` returns a rope (cons string), which `lineBytes`' `encodeInto` first flattens (0.5–0.65 µs/event, nearly all of it the copy; the size must be exact per line, so it stays), then joining the lines into the message text and the bookkeeping (0.4–0.7 µs). Measured and dropped: writing events member by member with cached strings for shared, frozen sub-objects (`metadata.product`, `finding_info.analytic`; 35–60% slower than one `JSON.stringify` of the event, before any sharing could pay); computing CloudTrail's group change once instead of twice (about 25 ns, for 1 record in 40 of this body); an array instead of a `Set` for the CloudTrail rest marks (normalize step −3%, pipeline −1.5%). Node profiles also show tsx's CommonJS export getters (`get`, about 3% of the pipeline), which the workerd bundle does not have.",
  "Done for speed, 2026-12-06, third round (same output check: every fixture's events and packed messages, negative ones included, over two enrichment configs and `ocsf.rawData` on and off, hashed before and after: identical). (1) Tetragon's mark tree (which input leaves the mapping carried over, so that `unmapped` is the rest) was built of `Object.create(null)` nodes, which V8 keeps as hash-table dictionaries, slow to fill and to read; the nodes are now fast objects whose prototype is an empty, frozen, null-prototype object (`bareObject` in `src/normalize/json.ts`), so input keys such as `__proto__` or `constructor` still find nothing (property test against `Object.create(null)`). (2) Enrich: the context enricher's pod label maps are `bareObject`s too; the ATT&CK tag parser skips its three regexes for tags that cannot match them (not starting with t, a or m), and `shortContainerId` runs without regexes (property tests against the regexes). A/B medians of alternating runs, CPU µs/event: Node (three `bench:pipeline` runs each, load average 1.1–1.2) tetragon 24.90 → 23.26 (3.71× → 3.59×; normalize step +7.54 → +6.32, enrich +2.17 → +1.72); workerd (two runs each at `--target-ms 1500`, load average 0.7–1.2) tetragon 19.10 → 17.73; falco, k8s_audit and cloudtrail unchanged within the noise in both (falco's normalize and enrich steps moved by under 0.1 µs). Measured and dropped (under 3% on every source): finding the 16-digit runs for `quoteLongIntegers` with the every-16th-character scan instead of a regex (decode step −7% on falco and cloudtrail in Node, pipeline −1 to −3%, nothing measurable in workerd); a `Map` as Falco's output-field working copy; a hand-written hostname check; one walk for Falco's `ka.`/`ct.` checks; hashing a key's quotes, comma and colon inside the uid loop; skipping `compact` copies of objects without undefined members (most have some). What remains in Falco's normalize step is mostly the whole-record uid hash (about 40% of normalize + enrich in a profile of those steps alone; see \"Not done, on purpose\").",
  "Done for speed, 2026-12-06, second round (same output check: a hash of every fixture's events and packed messages over two enrichment configs, `ocsf.rawData` on and off, identical before and after). (1) No named closures are made per event in the Falco, k8s audit and CloudTrail normalizers and the ATT&CK/context enrichers: esbuild's `keepNames` (wrangler's default `keep_names`, and tsx) wraps each one in `__name()`, an `Object.defineProperty` per closure made, about 5% of Falco's profile; they are module functions now. (2) A Falco alert without `uuid` gets its whole-record uid from `stableUidOfJson`, which hashes the characters `JSON.stringify` would write while walking the record, so the record is no longer written out just to be hashed (same uids: property test against `stableUid(JSON.stringify(v))` with escapes and lone surrogates, and every fixture). A/B medians of six alternating runs (load average 5–7, CPU µs/event): falco 19.9 → 18.1 (7.4× → 6.7×), k8s_audit 16.9 → 15.8, cloudtrail 20.0 → 18.7, tetragon 26.8 → 26.4. Measured and dropped (no gain or under 3%): reshaping objects for `JSON.stringify` (it already runs as fast on our events as on a `JSON.parse` copy of them), caching ATT&CK lookups per tag set (0.15 µs), a plain loop instead of the decode generators (0.15–0.27 µs per line), a custom date parser (`Date.parse` under 2%), a cheaper packer size count (0.2–0.3 µs, no equivalent with the same output).",
  "Done for speed, 2026-12-06 (each a separate commit; outputs unchanged: every fixture, negative ones included, through the pipeline with two enrichment configs and `ocsf.rawData` on and off, events and packed messages hashed before and after; golden-file and normalize/enrich/route tests pass). A/B of that round (three alternating `bench:pipeline` runs of the code before and after, load average 5.7–7.1, medians, µs/event CPU and ratio to floor): falco 23.50 → 19.78 (8.85× → 7.59×), tetragon 32.60 → 24.32 (4.95× → 3.92×), k8s_audit 20.44 → 16.01 (3.81× → 3.16×), cloudtrail 24.69 → 18.76 (5.87× → 4.38×). (1) The queue packer sized each line by writing it again escaped; it now measures the line's UTF-8 length natively (`TextEncoder.encodeInto` into a scratch buffer) — and since messages go to the queue as text (see the HTTP section), the size counted is exactly that, no escapes. (2) `stableUid` builds its UUID with one `String.fromCharCode` (~270 → ~145 ns per uid; property test against the reference). (3) The context enricher walks objects with `for…in` instead of `Object.entries` (Falco's enrich step 2.5 → 1.5 µs). (4) Falco: the record is written out at most once for uid and raw data; the `ka.`/`ct.` checks walk `output_fields` once. (5) Ingest (not in this table): the body's UTF-8 size is computed only when a record without its own text needs it (NDJSON never does).",
  "Earlier round (2026-11): `stableUid` hashes its four seeds in one pass; `parseJson` finds 16-digit runs by reading every 16th character; Falco's `output_fields` working copy blanks taken keys instead of deleting them; the rule uid is cached per rule. Equivalence tests in `test/normalize/fast-paths.test.ts` and `test/deliver/packed-size.test.ts`.",
  "Not done, on purpose: a Falco alert without `uuid` keeps its uid from a hash of the whole record (about 2.3 µs of Falco's normalize step, at eight multiplies per character the limit of this hash in plain JavaScript); hashing fewer fields would be cheaper but two distinct alerts could then share a uid, and sinks deduplicate on it. A SIMD (WebAssembly) hash would keep the uids but needs a `.wasm` module in the bundle and in Node.",
  "On this VM, repeated runs differ by up to about a fifth per row; the ratios move less than the absolute figures.",
].join("\n\n");

function readPipeline(rows: PipelineRow[]): string {
  const worst = rows.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  const best = rows.reduce((a, b) => (b.ratio < a.ratio ? b : a));
  const met = rows.filter((r) => r.ratio <= 2).map((r) => r.source);
  const verdict = met.length === rows.length ? "**Target met** for every source" : met.length ? `**Target met** for ${met.join(", ")} only; **missed** for the others` : "**Target missed** for every source";
  const serialize = rows.map((r) => `${r.source} ${fmt.f1(r.stages.serialize - r.stages.route)}`).join(", ");
  const outRatio = rows.map((r) => `${r.source} ${fmt.f1(r.outBytes / r.inBytes)}×`).join(", ");
  return [
    `Target: at most 2× the floor. ${verdict}: from ${fmt.f2(best.ratio)}× (${best.source}) to ${fmt.f2(worst.ratio)}× (${worst.source}).`,
    `Why: the floor parses and writes the *input* once; the pipeline parses it, builds a new OCSF object and writes that, and the OCSF output is larger than the input (${outRatio}: the Detection Finding repeats Falco's output in \`message\` and \`finding_info.desc\`, adds observables, captions, metadata). \`JSON.stringify\` of the OCSF output alone costs ${rows.map((r) => `${r.source} ${fmt.f2(r.outputStringifyUsPerEvent)}`).join(", ")} µs/event, already ${rows.map((r) => `${fmt.f1(r.outputStringifyUsPerEvent / r.floorUsPerEvent)}×`).join(" / ")} the floor. The serialize step (the queue packer: the JSON line plus its UTF-8 size, as the queue counts bytes) costs ${serialize} µs/event. The least any pipeline writing this output could cost, with no mapping work at all between reading and writing (\`JSON.parse\` of the input lines, ${rows.map((r) => `${r.source} ${fmt.f2(r.inputParseUsPerEvent)}`).join(", ")} µs/event, + \`JSON.stringify\` of the OCSF output), is already ${rows.map((r) => `${r.source} ${fmt.f2(r.lowerBoundRatio)}×`).join(", ")} the floor${rows.every((r) => r.lowerBoundRatio > 2) ? ": above 2× for every source" : ""}. The mapping is kept as specified (issue 4: \`finding_info.desc\` = Falco's output, \`message\`, observables, captions, \`unmapped\` keeping every input field), so a 2× bound cannot be reached without changing the output; what remains above it is listed in "Where the time goes".`,
    PIPELINE_NOTES,
  ].join("\n\n");
}

/** What the redaction costs: the pipeline with it against the same run's pipeline without. */
function readRedact(rows: PipelineRow[], off: PipelineRow[] | undefined): string {
  const pairs = rows.flatMap((r) => {
    const o = off?.find((x) => x.source === r.source);
    return o ? [{ r, o }] : [];
  });
  if (pairs.length === 0) return "The pipeline without redaction did not run in this run, so there is no comparison.";
  return `Against the section above (redaction off): ${pairs.map(({ r, o }) => `${r.source} ${fmt.f2(o.usPerEvent)} → ${fmt.f2(r.usPerEvent)} µs/event (+${fmt.f2(r.usPerEvent - o.usPerEvent)}, enrich step +${fmt.f2(o.stages.enrich - o.stages.normalize)} → +${fmt.f2(r.stages.enrich - r.stages.normalize)})`).join(", ")}. Off (no \`redact\` key), the step does not run at all.`;
}

/** The workerd figures against Node's (when the Node pipeline ran in the same run) and as CPU per request. */
function readPipelineWorkerd(r: WorkerdResult, node: PipelineRow[] | undefined): string {
  const hi = r.rows.reduce((a, b) => (b.cpuMsPer1000 > a.cpuMsPer1000 ? b : a));
  const lo = r.rows.reduce((a, b) => (b.cpuMsPer1000 < a.cpuMsPer1000 ? b : a));
  const parts = [
    `Sizing: the pipeline steps of a 1,000-event request cost ${fmt.f1(lo.cpuMsPer1000)} (${lo.source}) to ${fmt.f1(hi.cpuMsPer1000)} (${hi.source}) ms of CPU in workerd, so ${fmt.int((5000 * hi.cpuMsPer1000) / 1000)} ms at most for a 5,000-event request, against the 30 s default \`cpu_ms\`. Not counted: HTTP and routing, reading and decompressing the body (see docs/ingest.md), sending to the queue; the HTTP section measures whole requests, in wrangler dev.`,
  ];
  const pairs = r.rows.flatMap((w) => node?.filter((n) => n.source === w.source).map((n) => ({ w, n })) ?? []);
  if (pairs.length) {
    const span = (xs: number[]) => `${fmt.f1(Math.min(...xs))}–${fmt.f1(Math.max(...xs))}×`;
    const pipe = pairs.map(({ w, n }) => n.usPerEvent / w.usPerEvent);
    const flo = pairs.map(({ w, n }) => n.floorUsPerEvent / w.floorUsPerEvent);
    const higher = pairs.filter(({ w, n }) => w.ratio > n.ratio).length;
    parts.push(
      `Against Node ${process.version} (the section above: same steps, same bodies, CPU time), the pipeline is ${span(pipe)} faster in workerd (Node's µs/event over workerd's) and the floor ${span(flo)} faster (${pairs.map(({ w, n }) => `${w.source} ${fmt.f2(w.usPerEvent)} vs ${fmt.f2(n.usPerEvent)} µs/event`).join(", ")}), so the ratio to the floor is ${higher === pairs.length ? "higher in workerd for every source" : higher === 0 ? "lower in workerd for every source" : `higher in workerd for ${higher} of ${pairs.length} sources`}. The target reading above uses the Node ratios; the workerd CPU figures are the ones Workers bill.`,
    );
  }
  return parts.join("\n\n");
}

function pct(p: Record<string, number>, prefix: string): string {
  const k = Object.keys(p).find((x) => x.trim().startsWith(prefix));
  return k ? `${p[k]!.toFixed(0)}%` : "?";
}

function readHttp(rows: HttpRow[]): string {
  const profiled = rows.find((r) => r.profile);
  const prof = profiled?.profile;
  const big = rows.filter((r) => r.batch === 1000 && r.label === "falco");
  const best = big.reduce((a, b) => (b.eventsPerSec > a.eventsPerSec ? b : a), big[0]!);
  const failures = rows.reduce((a, r) => a + r.non2xx + r.errors, 0);
  const verdict = best && best.eventsPerSec >= 20_000 ? `**Target met**: ${fmt.int(best.eventsPerSec)} events/s` : `**Target missed**: at best ${fmt.int(best?.eventsPerSec ?? 0)} events/s (gzip ${best?.gzip ? "on" : "off"})`;
  return [
    `Target: at least 20,000 events/s for 1000-event batches on this 2-core machine. ${verdict}. ${failures === 0 ? "No request failed (no non-2xx, no errors, no timeouts)." : `${failures} requests failed (non-2xx or socket errors): see the table.`}`,
    "What is measured: everything `npm start` runs, on the same two cores as the load generator — wrangler's proxy Worker in front, the Worker isolate (one thread) answering 202 only after the events are on the local queue, the local queue itself, and the queue consumer archiving every event to local R2 (gzip NDJSON) in the same isolate while the load runs, plus the correlation and metrics Durable Objects." +
      (prof
        ? ` The CPU profile of the isolate (table above) shows the single thread ${Number(pct(prof, "idle").replace("%", "")) < 15 ? "saturated" : "not saturated"} (idle ${pct(prof, "idle")}) and how it is shared: ingest ${pct(prof, "ingest")} (of which the pipeline ${pct(prof, "of which the pipeline")} and handing the packed ~100 KB messages to the queue ${pct(prof, "of which handing")}), the consumer ${pct(prof, "queue consumer")} (the JavaScript side of the archive gzip ${pct(prof, "of which gzip")}: zlib itself runs natively in CompressionStream, outside the JavaScript stacks the parts are named by), garbage collection ${pct(prof, "garbage")}, the rest ${pct(prof, "everything else")}.`
        : "") +
      " In production the consumer and the Durable Objects run in other invocations and wrangler's proxy is not there, so an ingest isolate keeps the whole thread for requests." +
      (prof && profiled
        ? ` An extrapolation, not a measurement: at the same cost per event, a thread doing only ingest would take about ${fmt.int(profiled.eventsPerSec / (prof[Object.keys(prof).find((k) => k.startsWith("ingest"))!]! / 100))} events/s (${fmt.int(profiled.eventsPerSec)} events/s ÷ the ingest share).`
        : ""),
    "Rows depend on the machine's load more than on anything else: workerd runs the Worker, the local queue broker, R2 and the Durable Objects on one thread, which a run keeps saturated (96% of a core for workerd's main thread in /proc during a falco ×1000 row), so every core that other work takes costs throughput directly. The falco ×1000 identity row gave 7,200–9,800 events/s over three runs on 2026-11-23 (load average about 5–7, older code), 28,971–30,969 over three runs on 2026-12-06 (load average 1.1–1.4).",
    "Sustained load is another matter in wrangler dev: each row lasts 10 s. Posting the falco ×1000 or the all-sources body from 4 connections for 30 s (2026-12-06, a probe script, the code before and after the last changes alike) accepted about 16,000 events/s for the first part of the run, then workerd's per-isolate limit of 10,000 active timers was reached in miniflare\"s in-memory queue broker (it sets one timer per enqueued message; `QuotaExceededError ... max active timeouts: 10000` in wrangler's log): `sendBatch` failed, Tributary answered `503` with `Retry-After` and `queued_before_failure` (nothing acknowledged was lost), and wrangler then restarted the Worker (its own `503 Your worker restarted mid-request`, and dropped connections). That is a limit of the local queue simulator, where ingest, broker and consumer share one thread; Cloudflare Queues buffer up to 25 GB per queue and run consumers in their own invocations (`max_concurrency`). The 10 s rows measure ingest, not what one local thread can also consume. Rows late in a run can also be slowed by the backlog earlier rows left: the all-sources row (the last) run alone gave 19,700–21,700 events/s over four runs on 2026-12-06, before and after the last changes.",
    "Done for speed (2026-12-06; A/B: three alternating full runs of the code before and after, same machine, load average 1.1–1.4, medians): falco ×1000 identity 21,978 → 30,040 events/s (1.37×; p50 175 → 121 ms), gzip 23,576 → 31,568 (1.34×), ×100 identity 20,370 → 26,154, ×100 gzip 12,910 → 17,930, all sources ×1000 16,102 → 18,368; single events unchanged within the noise (per-request bound). (1) EVENTS messages go to the queue as `contentType: \"text\"` (a `{\"v\":2,…}` header line, then the packed NDJSON) instead of the object `{v, sinks, count, ndjson}` as `\"json\"`, which made workerd JSON-escape every ~100 KB message again and wrangler's local broker parse and re-stringify it; the size counted against the 128 KB limit is the text's UTF-8 bytes, exact per line; the consumer still reads the older object messages. The queue hand-off went from about 21% to 11% of the isolate's samples. (2) The consumer gzips archive objects with workerd's native `CompressionStream` instead of fflate in JavaScript (about 12% of the samples before, the largest single item; about 4–5% now). (3) The packer writes each message's text once (no second 100 KB copy per message; within the noise).",
    "What remains on the thread (function-level profile of the falco ×1000 row): the pipeline (normalize, enrich, route) about a quarter of the samples; `JSON.stringify` of each OCSF event in the packer about 13%; the queue hand-off about 11%, mostly workerd's own UTF-8 conversion and base64 of each sendBatch into the JSON it posts to the local broker (the same for every content type); the consumer 13–15% (parsing each line back, the correlation feed, the gzip's JavaScript side); garbage collection 6–9%; esbuild's `keepNames` wrappers (`__name`, wrangler's default `keep_names`) about 3%. In production the consumer, the broker and the Durable Objects are not on the ingest isolate's thread.",
    "Small batches are bound by the per-request cost (routing, auth, config, one queue send per request, and one consumer batch per few requests), not by the events: batch.",
  ].join("\n\n");
}

const SINKS_NOTES = [
  "In workerd (the production runtime) CompressionStream costs less than fflate at every object size: the distinct events' NDJSON cut into objects of 4, 16, 64 and 256 KB and gzipped in a Worker (Miniflare, workerd's process CPU time from /proc, 2026-12-06) took 18.6 / 8.5 / 6.8 / 6.8 ms per MB with CompressionStream against 22.0 / 13.5 / 11.8 / 16.9 with fflate level 6 (level 1: 22.0 / 13.5 / 10.1 / 10.1, and larger output); the Node per-object cost above is Node's.",
  "Done for speed (2026-12-06): the S3 and R2 sinks wrote each event again with `JSON.stringify` and gzipped with fflate `gzipSync` (level 6) in JavaScript: 40.6 / 41.2 µs per event (s3 / r2, CPU, this bench, same machine). They now write the lines the delivery already holds (the queue's NDJSON, passed to `encode` as its optional `lines`) and gzip with the runtime's `CompressionStream`, as the archive does: 17.7 / 17.0 µs per event (2.3×); same keys, same decompressed bodies. fflate level 1 was no answer: a little faster than level 6 on these objects and up to twice the output.",
  "Then the HTTP sinks (2026-12-06): Elasticsearch/OpenSearch, webhook, Loki, Datadog and Splunk HEC write the delivered lines too (where the event is a member of an envelope, its line is spliced in as the last member: the same bytes as `JSON.stringify` of the envelope; `test/sinks/lines.test.ts` compares every request with and without lines) and gzip with CompressionStream: splunk_hec, elasticsearch, opensearch and webhook went from 21–28 to 9–12 µs/event, Datadog and Loki from about 86 to 45–49 (this bench, load average 5–8). In workerd, CompressionStream cost about 4.5 ms/MB against fflate's 12–13.6 for 64 KB–3.4 MB bodies.",
  "Security Lake: each OCSF class's Parquet schema has 1,300–2,300 leaf columns and an event fills a few dozen. hyparquet-writer's `parquetWriteBuffer` did full work for every column, filled or not (a pass over all rows, dictionary and statistics checks, pages, a footer entry through its generic serializer): ~450–520 µs/event, ~30–35 ms per object. `src/sinks/parquet-write.ts` now fills every leaf column in one pass over each event, hands only the columns with values to hyparquet-writer's own `writeColumn` (same pages, dictionaries, statistics), copies a ready-made chunk for the empty ones and writes the footer directly: the files are byte-identical to the library's (`test/sinks/parquet-write.test.ts` compares against the former encoder, kept in `test/support/parquet-reference.ts`, on every fixture class and misfit values, and reads back with hyparquet). Most of each object's bytes remain per-column overhead (the footer for ~2,000 columns).",
].join("\n\n");

function readSinks(r: SinksResult): string {
  const by = [...r.rows].sort((a, b) => b.usPerEvent - a.usPerEvent);
  const body = (set: string, step: string) => r.body.find((x) => x.set === set && x.step.startsWith(step));
  const big = r.body.find((x) => x.objects === 1)?.set;
  const [fflate, cs] = big ? [body(big, "gzip: fflate gzipSync level 6"), body(big, "gzip: CompressionStream")] : [];
  const parts = [
    `Costliest per event: ${by
      .slice(0, 3)
      .map((x) => `${x.sink} ${fmt.f2(x.usPerEvent)} µs`)
      .join(", ")}; cheapest: ${by[by.length - 1]!.sink} ${fmt.f2(by[by.length - 1]!.usPerEvent)} µs. Security Lake writes Parquet (columns by hyparquet-writer, the rest by \`src/sinks/parquet-write.ts\`), which no other sink does; Datadog and Loki gzip every request by default (the runtime's CompressionStream, \`encodeBody\` in \`src/sinks/batch.ts\`) and escape each event's line as a JSON string.`,
  ];
  if (fflate && cs) parts.push(`Gzip of a ${fmt.kb(fflate.objectBytes)} KB object of distinct events: fflate level 6 ${fmt.f2(fflate.usPerEvent)} µs/event, the runtime's CompressionStream ${fmt.f2(cs.usPerEvent)} µs/event. In Node, CompressionStream has a cost per object (web streams over zlib on the thread pool) that fflate does not, which shows in the rows of many small objects.`);
  parts.push(SINKS_NOTES);
  return parts.join("\n\n");
}

function readMemory(rows: MemoryRow[]): string {
  const pure = rows.filter((r) => r.minHeapLimitMB !== undefined);
  const ingest = pure.filter((r) => r.where !== "consumer batch, 10 sinks" && r.where !== COMPACTION_ROW);
  const compaction = pure.filter((r) => r.where === COMPACTION_ROW && r.peakHeap !== undefined);
  const compactionFloor = pure.find((r) => r.where === COMPACTION_ROW && r.peakHeap === undefined);
  // the consumer rows of the current code (not "before", not the batch-only floor)
  const consumer = pure.filter((r) => r.where === "consumer batch, 10 sinks" && r.body.endsWith(", after"));
  const dev = rows.filter((r) => r.isolateIngest !== undefined);
  const maxLimit = Math.max(...ingest.map((r) => r.minHeapLimitMB!));
  const maxConsumer = consumer.length ? Math.max(...consumer.map((r) => r.minHeapLimitMB!)) : undefined;
  const maxIsolate = Math.max(0, ...dev.map((r) => Math.max(r.isolateIngest!.used, r.isolateConsumer?.used ?? 0)));
  const maxAlloc = Math.max(0, ...dev.map((r) => Math.max(r.isolateIngest!.total, r.isolateConsumer?.total ?? 0)));
  const verdict = (mb: number) => (mb <= 64 ? "**met**: half the limit or less" : mb < 128 ? "under the limit, but not by much" : "**missed**");
  const parts = [
    `Target: well under 128 MB per isolate for a 10 MB batch. In Node, the ingest request completes with a V8 heap limit of ${maxLimit} MB (${verdict(maxLimit)})${maxConsumer === undefined ? "" : `, and the consumer delivering a full 10 MB queue batch to 10 sinks with ${maxConsumer} MB (${verdict(maxConsumer)}; the batch alone needs the floor rows' figure)`}; these limits include Node's own baseline heap (a few MB). The sampled peaks above the starting point (heap used, garbage not yet collected included) are higher than that limit because V8 collects lazily when it has room.`,
  ];
  if (compaction.length) {
    const at10 = compaction.filter((r) => r.body.includes("10,000,000"));
    const maxAt10 = Math.max(...at10.map((r) => r.minHeapLimitMB!));
    const maxDefault = Math.max(...compaction.filter((r) => !at10.includes(r)).map((r) => r.minHeapLimitMB!));
    const maxTotal = Math.max(...compaction.map((r) => r.peakTotal ?? 0));
    parts.push(
      `The cron's compaction writing one file (\`bench/compact-memory.ts\`: staged ~100 KB objects read from an in-memory bucket, parsed, encoded by the sink driver and sent to a local server) completes with a V8 heap limit of ${maxDefault} MB for a Security Lake file at its default buffer (1,000 events / 2.5 MB) and ${maxAt10} MB for a file at buffer.maxBytes 10,000,000, the cap (${verdict(maxAt10)})${compactionFloor ? `; the loaded modules alone (staged only) need ${compactionFloor.minHeapLimitMB} MB` : ""}. The staged bodies read and the encoded file are ArrayBuffers, outside the V8 heap and its limit: heap + external grew by at most ${fmt.mb(maxTotal)} MB above the start (sampled; it also counts the local server's received chunks, in the same process).`,
    );
  }
  if (dev.length) {
    parts.push(
      `Through wrangler dev, the Worker isolate's V8 heap (inspector \`Runtime.getHeapUsage\`, sampled every ~20 ms, so a lower bound of the true peak) reached ${fmt.mb(maxIsolate)} MB used and ${fmt.mb(maxAlloc)} MB allocated while taking the batch and archiving it (used ${maxIsolate < 96 * 1048576 ? "under 128 MB" : "close to or over 128 MB"}; allocated ${maxAlloc < 128 * 1048576 ? "under 128 MB" : "over 128 MB: V8 reserves room it has not filled, and in wrangler dev ingest and consumer share one isolate"}). ArrayBuffers (the raw body chunks) are outside that heap figure. The workerd process's resident set grows much more (last column): it holds the runtime, the local queue's messages, R2 and allocator slack, so it is an upper bound, not the isolate's usage; workerd reports no per-isolate peak.`,
    );
  } else parts.push("The wrangler dev measurement did not run (see the log).");
  return parts.join("\n\n");
}

function readBundle(b: BundleResult): string {
  const gz = b.total.gzip;
  return `Limit: 3 MB compressed (Workers Free), 10 MB (Paid). The Worker is ${fmt.kb(gz)} KiB gzipped (${((gz / (3 * 1048576)) * 100).toFixed(0)}% of the Free limit): ${gz < 3 * 1048576 ? "**within both limits**" : gz < 10 * 1048576 ? "over the Free limit, within Paid" : "**over both limits**"}. The AWS S3 client is the largest dependency (~85 KB gzipped, see docs).`;
}

const RELIABILITY = `## Reliability suite (tests, bounded in count and time)

Run with \`npm test\` (or the files below; \`test/reliability/\` holds the long ones, each in its own file so they run in
parallel with the rest). Every loop is bounded; no test asserts on wall-clock time.

| issue 9 item | where |
|---|---|
| sink down for N batches, then back: all delivered, counted by uid | \`test/reliability/outage.worker.test.ts\`: an S3 sink (s3rver behind the fault-injecting gate) down for 6 consecutive EVENTS batches and the first 2 DELIVERIES rounds (503 SlowDown, 429 + Retry-After, dropped connections, 500), then back: every uid stored exactly once, nothing dead-lettered, the archive complete. \`test/reliability/security-lake-outage.worker.test.ts\`: the same for the Security Lake (Parquet) sink written per queue batch (\`buffer: false\`) over 5 queue batches and a retry round (503 with and without Retry-After, 500, 429, dropped connections): every uid in exactly one Parquet object under \`ext/{source}/region=…/accountId=…/eventDay=…/\`, read back with hyparquet. \`test/reliability/security-lake-buffered-outage.worker.test.ts\`: the buffered Security Lake sink (its default): mixed-source events staged in R2 over several queue batches, the compaction (the every-minute cron, run a minute apart) meeting connection refused, 503 SlowDown, a dropped connection, 500 and a 429 throttle while a batch is redelivered (no new staged object) and another arrives, then back: every uid in exactly one Parquet row, nothing left staged, nothing dead-lettered; and the store down past the give-up span (window + retry schedule): every uid in exactly one dead letter, none in Parquet, nothing left staged. \`test/reliability/s3-permanent.worker.test.ts\`: a 403 AccessDenied after a 503 dead-letters every event once with the status and error. Also \`test/deliver/consumer.worker.test.ts\` "outage and recovery" (one batch) and \`test/sinks/elasticsearch.test.ts\` "outage and recovery" |
| sink answering 429 with Retry-After | \`test/reliability/retry-after.worker.test.ts\`: a sink answering \`429 Retry-After: 90\` in a DELIVERIES round: every rescheduled message, sent or not, gets \`delaySeconds\` ≥ 90; the 12 h cap (Retry-After in seconds and as an HTTP date). \`test/reliability/outage.worker.test.ts\` (every retry scheduled after a 429/503 with Retry-After waits at least that long, including the requests of the same attempt that were not sent once the sink said it was unavailable: that case was retried after the plain backoff before, fixed in \`src/deliver/attempt.ts\`); \`test/deliver/consumer.worker.test.ts\` "honours Retry-After (HTTP sink, 429)"; \`test/sinks/elasticsearch.test.ts\` "retries HTTP 429 (Retry-After)" |
| bulk partial failures | \`test/reliability/bulk-partial.test.ts\`: Elasticsearch bulk through the delivery layer (\`deliverToSink\`, DELIVERIES rounds, DLQ) against a fake Elasticsearch on 127.0.0.1: per-item 429 (twice) and 503 (once) are resent alone, a permanent 400 is dead-lettered with the reason, a whole-request 429 + Retry-After delays everything; each event indexed exactly once, a taken item never resent. Also \`test/sinks/elasticsearch.test.ts\` "settles partial failures per item" |
| queue refusing → 503/429 with Retry-After at ingest | Since 2026-12-06 a refusal is first met by the R2 spool, so nothing is lost even for senders that never resend (Falco): \`test/deliver/spool.worker.test.ts\` "queue refused: 202 spooled, the scheduled drain queues it back, the consumer archives its uid exactly once" (and drain budgets, refusals mid-drain, concurrent drains). When the spool write fails too: 503/429 with Retry-After, \`test/routes/queue.worker.test.ts\` "queue refusal with the spool failing too" (429 and 503 with Retry-After, nothing accepted, events already queued by a partial send reported) and spool.worker.test.ts "queue refused and the spool write failing too" |
| 10,000 generated bodies → no 5xx, no crash | \`test/reliability/fuzz-10k.worker.test.ts\`: 10,000 fast-check bodies of mutated real records of every source (fields removed, nulled, retyped, wrapped, integers beyond 2^53, long and odd Unicode strings; one value, array or NDJSON; gzip; every route) through \`worker.fetch\` in workerd (about 15 s here). Raw bytes, broken encodings and headers: \`test/routes/fuzz.worker.test.ts\` (400 runs) |
| soak: 200,000 events through ingest → queue → archive, every uid once | \`test/reliability/soak.worker.test.ts\`: 200 requests × 1000 Falco alerts with distinct uuids through \`worker.fetch\` with the real local queue; the queue's own consumer (the Worker's queue handler) writes the local R2 archive, which is read back and every uid counted (about 50 s here) |
`;

function markdown(m: Machine, end: Machine, sections: { title: string; body: string }[]): string {
  const load = `load average ${m.loadavg} at the start, ${end.loadavg} at the end`;
  return `# Benchmarks

Numbers, not pass/fail. Produced by \`npm run bench\` (\`bench/run.ts\`), which runs every script in \`bench/\` and rewrites this file;
each script also runs alone (\`npm run bench:pipeline\` (\`-- --redact\`: with redaction on), \`bench:pipeline-workerd\`, \`bench:sinks\`, \`bench:intel\`, \`bench:memory\`, \`bench:bundle\`, \`bench:http\`).

Machine: ${m.cpus} × ${m.model}, Node ${m.node}, ${m.date.slice(0, 16).replace("T", " ")} UTC; ${load}.
${Number(m.loadavg.split(" ")[0]) > m.cpus * 0.5 || Number(end.loadavg.split(" ")[0]) > m.cpus * 0.5 ? `**The load average was above ${m.cpus * 0.5} at the start or the end of the run** (a one-minute average: at the start it includes work that had just finished, at the end the benchmark's own processes; above ${m.cpus} means more runnable threads than cores). CPU-time figures (the pipeline) are affected little; wall-clock figures (HTTP throughput and latency) may be pessimistic.\n` : ""}
${sections.map((s) => `## ${s.title}\n\n${s.body}`).join("\n\n")}

${RELIABILITY}`;
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), "tributary-bench-run-"));
  const start = machine();
  const sections: { title: string; body: string }[] = [];
  const failed: string[] = [];
  const step = async <T>(name: Name, script: string, args: string[], title: string, render: (r: T) => string): Promise<void> => {
    if (!only.has(name)) return;
    if (!existsSync(join(root, "bench", script))) {
      sections.push({ title, body: `Not run: bench/${script} does not exist.` });
      return;
    }
    const out = join(tmp, `${name}.json`);
    console.log(`\n### ${title} (bench/${script})\n`);
    const code = await runChild(script, [...args, "--json", out], LIMITS_MS[name]);
    const r = readJson<T>(out);
    if (code !== 0 || r === undefined) {
      failed.push(name);
      sections.push({ title, body: `**Failed** (exit code ${code}); no numbers. Run \`npm run bench:${name}\` to see why.` });
      return;
    }
    sections.push({ title, body: render(r) });
  };
  try {
    let nodePipeline: PipelineRow[] | undefined;
    await step<PipelineRow[]>("pipeline", "pipeline.ts", [], "Pipeline cost per event (one core)", (rows) =>
      [
        "Each source's fixtures, cycled into an NDJSON body of about 5,000 events, go the way ingest takes them: frame and parse each line (`parseJson`: exact integers beyond 2^53), admit (depth check), detect, normalize to OCSF 1.3.0, enrich, route (default config), serialize (the queue packer). The floor is `JSON.parse` + `JSON.stringify` of the same lines in the same run. Times are process CPU time (fastest of several interleaved samples; V8's GC and compiler threads included), so other processes on the machine inflate them little; the wall-clock column is the fastest sample's elapsed time.",
        formatPipeline((nodePipeline = rows)),
        readPipeline(rows),
      ].join("\n\n"),
    );
    await step<PipelineRow[]>("pipeline-redact", "pipeline.ts", ["--redact", "--budget", "3000"], "Pipeline cost per event with redaction on", (rows) =>
      [
        `The same steps and bodies as the section above, with the config \`redact: ${JSON.stringify(REDACT_BENCH)}\` (docs/config.md#redact, off by default): the enrich step then includes the redaction. Shorter sampling (3 s a source), so a little noisier than the section above.`,
        formatPipeline(rows),
        readRedact(rows, nodePipeline),
      ].join("\n\n"),
    );
    await step<WorkerdResult>("pipeline-workerd", "pipeline-workerd.ts", [], "Pipeline cost per event in workerd", (r) =>
      [
        `The same steps and bodies as the section above (shared code: \`bench/pipeline-steps.ts\`), bundled with esbuild as wrangler bundles the Worker and run in workerd ${r.workerd} (compatibility date ${r.compatibilityDate}, the runtime Workers bill CPU in) through Miniflare. Each request runs the pipeline, or the floor, N times on the body it carries; one pass costs (request of N passes − request of 1 pass) / (N − 1), which removes the HTTP round trip and reading the body. CPU: utime + stime of the workerd process (/proc, all its threads, 10 ms ticks; N sized for ~0.5 s of CPU, so a few % of tick error), the fastest of interleaved samples; wall: the same from Node's side. "CPU ms per 1,000 events" is the figure to size \`limits.cpu_ms\` and cost with (docs/deploy.md).`,
        formatPipelineWorkerd(r),
        readPipelineWorkerd(r, nodePipeline),
      ].join("\n\n"),
    );
    await step<SinksResult>("sinks", "sinks.ts", [], "Sink encode cost", (r) =>
      [
        `Every sink driver the registry holds encodes the same ${fmt.int(r.events)} OCSF events (every source's fixtures, cycled, through the pipeline as ingest makes them; each copy with a uid of its own), handed over as the consumer holds them (each event's queue line and the event parsed back from it) and split into requests by the delivery layer's \`splitBatch\` (storage sinks one object per class and event day, HTTP sinks by their default batch limits). Only \`encode\` is timed (process CPU time, the fastest of interleaved samples, all threads counted), not the split and not the send. Configs: each sink's defaults (Datadog and Loki gzip their bodies, the others not; Slack with \`minSeverityId: 0\`, so every event makes a message).`,
        formatSinks(r),
        readSinks(r),
      ].join("\n\n"),
    );
    await step<IntelResult>("intel", "intel.ts", ["--heap-check"], "Threat-intel lookup with 1,000,000 indicators", (r) =>
      [
        `From \`bench/intel.ts\` (enrichment): for ${fmt.int(r.n)} indicators of each kind, the time to load the compiled feed text into the set (once per isolate), the memory the set holds after GC and the peak while loading, and ns per lookup through the enricher's own path (hits and misses): process CPU time, the fastest of 5 rounds, so that other processes on a shared machine inflate it little.`,
        formatIntel(r),
        INTEL_NOTES,
        formatJsonFeeds(r),
        `No numeric target in the issue; against the 128 MB isolate limit, a million indicators hold ${Math.min(...col(r, "heldMB"))}–${Math.max(...col(r, "heldMB"))} MB and peak at ${Math.max(...col(r, "peakMB"))} MB while loading; a lookup costs ${Math.min(...col(r, "missNs"))}–${Math.max(...col(r, "hitNs"))} ns.`,
      ].join("\n\n"),
    );
    await step<MemoryRow[]>("memory", "memory.ts", [], "Peak memory for a 10 MB batch", (rows) =>
      [
        "A 10 MB NDJSON body cycling through every source's fixtures, identity and gzip. In Node: the ingest path (body stream → decode → framing → pipeline → queue packer, the queue serializing and dropping each message), with the heap sampled and the smallest V8 heap limit that completes found by bisection (`--max-heap-size`); the same for the consumer delivering one full queue batch to 10 sinks, and for the cron's compaction writing one file of a buffered storage sink. Through wrangler dev (a fresh one per body): one POST, the isolate's heap polled through workerd's inspector, and the workerd process's peak RSS (VmHWM reset before the request).",
        formatMemory(rows),
        readMemory(rows),
      ].join("\n\n"),
    );
    await step<BundleResult>("bundle", "bundle.ts", [], "Bundle size", (b) => ["`wrangler deploy --dry-run --outdir <tmp>` (offline), every output file gzipped with zlib.", formatBundle(b), readBundle(b)].join("\n\n"));
    await step<HttpRow[]>("http", "http.ts", ["--duration", String(duration)], "HTTP ingest throughput (wrangler dev, autocannon)", (rows) =>
      [
        `\`wrangler dev\` as \`npm start\` runs it (local queue and R2 in a temporary directory, \`--log-level warn\` so that wrangler does not print a line per request), autocannon on 127.0.0.1 posting the same body for ${duration} s per row, after one request that checks the answer and counts the events it holds. events/s = 2xx responses/s × events per request. Latencies are per request.`,
        formatHttp(rows),
        readHttp(rows),
      ].join("\n\n"),
    );
  } finally {
    stopAll("SIGTERM");
    rmSync(tmp, { recursive: true, force: true });
  }
  const text = markdown(start, machine(), sections);
  console.log(`\n${"=".repeat(72)}\n`);
  console.log(text);
  if (write && only.size === ALL.length) writeFileSync(join(root, "BENCHMARKS.md"), text);
  else if (write) console.log("\n(only some benchmarks ran: BENCHMARKS.md left as it is)");
  if (failed.length) {
    console.error(`failed: ${failed.join(", ")}`);
    process.exitCode = 1;
  }
}

await main();
