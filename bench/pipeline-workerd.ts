// Pipeline cost per event, per source, in workerd (the runtime Workers run on), for sizing
// `limits.cpu_ms` and cost. The same steps as bench/pipeline.ts (bench/pipeline-steps.ts) are bundled
// with esbuild as wrangler bundles a Worker (bench/pipeline-worker.ts) and run in workerd through
// Miniflare (loopback only). Each dispatch runs the whole ingest pipeline, or the floor (JSON.parse +
// JSON.stringify of the same lines), `reps` times on the body it receives; the cost of one pass is
// (dispatch of N passes − dispatch of 1 pass) / (N − 1), which removes the HTTP round trip, the body
// transfer and reading the body. Measured two ways, fastest of interleaved samples:
//   - CPU time of the workerd process (utime + stime from /proc/<pid>/stat, all its threads, so V8's GC
//     and compiler threads count, as Workers bill them): the main figure;
//   - wall time of the dispatch as Node sees it (secondary; inflated on a busy machine).
// N is chosen so that the N − 1 extra passes take about --target-ms of CPU. The /proc counter ticks
// every 10 ms and each sample is the difference of two readings, so a sample is off by up to 20 ms
// over the N − 1 passes: up to ~4% at the default 500 ms (the CPU figures come in steps of
// 10 ms / ((N − 1) × events)); repeated runs on a shared VM differ by about 10% anyway.
// Usage: npm run bench:pipeline-workerd [-- --events 5000 --target-ms 500 --budget 8000 --json out.json]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { parse as parseToml } from "smol-toml";
import { run, defaultSteps } from "./pipeline-steps";
import { sourceBody } from "./pipeline";
import { SOURCES, root, table, fmt, isMain, arg, ppidOf, cpuTicks, findProcess } from "./common";

const TICK_MS = 10; // USER_HZ: /proc counts CPU time in 1/100 s on Linux
type Mode = "all" | "floor";

export interface WorkerdRow {
  source: string;
  events: number;
  /** CPU µs per event in workerd (fastest sample); also the CPU ms a 1,000-event request spends in these steps. */
  usPerEvent: number;
  /** Median sample, CPU µs per event. */
  usPerEventMedian: number;
  eventsPerSec: number;
  floorUsPerEvent: number;
  ratio: number;
  /** CPU ms per 1,000 events (pipeline steps only: not HTTP, routing, the body stream or the queue call). */
  cpuMsPer1000: number;
  /** Wall-clock µs per event (fastest sample). */
  wallUsPerEvent: number;
  wallFloorUsPerEvent: number;
  /** Passes per dispatch (pipeline, floor) and samples of each. */
  reps: { all: number; floor: number };
  samples: number;
}

export interface WorkerdResult {
  workerd: string;
  compatibilityDate: string;
  rows: WorkerdRow[];
}

/** Bundles bench/pipeline-worker.ts into `dir` the way wrangler bundles a Worker; returns the file name. */
function bundle(dir: string): string {
  const out = "pipeline-worker.mjs";
  execFileSync(
    join(root, "node_modules/.bin/esbuild"),
    [
      join(root, "bench/pipeline-worker.ts"),
      "--bundle",
      "--format=esm",
      "--platform=browser",
      "--conditions=workerd,worker,browser",
      "--target=es2022",
      "--external:node:*",
      "--external:fs",
      "--external:cloudflare:*",
      `--outfile=${join(dir, out)}`,
      "--log-level=warning",
    ],
    { cwd: root, stdio: ["ignore", "inherit", "inherit"], timeout: 120_000 },
  );
  return out;
}

/** The workerd process Miniflare started: a child of this process whose command is workerd. */
function workerdChild(): number {
  const pid = findProcess((p, cmd) => ppidOf(p) === process.pid && cmd.split("\0")[0]!.endsWith("workerd"));
  if (pid === undefined) throw new Error("no workerd child process found (Linux /proc needed)");
  return pid;
}

interface Sample {
  cpuMs: number;
  wallMs: number;
}

export async function benchPipelineWorkerd(opts: { events?: number; targetMs?: number; budgetMs?: number; minRounds?: number; maxRounds?: number } = {}): Promise<WorkerdResult> {
  const { events: eventsPerBody = 5000, targetMs = 500, budgetMs = 8000, minRounds = 5, maxRounds = 30 } = opts;
  const dir = mkdtempSync(join(tmpdir(), "tributary-bench-workerd-"));
  const wrangler = parseToml(readFileSync(join(root, "wrangler.toml"), "utf8")) as { compatibility_date: string; compatibility_flags?: string[] };
  let mf: Miniflare | undefined;
  // On SIGINT/SIGTERM Miniflare's own exit hook kills workerd and exits at once: the folder goes on exit.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once("exit", removeDir);
  const stop = async () => {
    const m = mf;
    mf = undefined;
    try {
      await m?.dispose();
    } finally {
      process.off("exit", removeDir);
      removeDir();
    }
  };
  try {
    const script = bundle(dir);
    mf = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      cf: false,
      modules: true,
      scriptPath: join(dir, script),
      modulesRoot: dir,
      compatibilityDate: wrangler.compatibility_date,
      compatibilityFlags: wrangler.compatibility_flags ?? [],
    });
    await mf.ready;
    const pid = workerdChild();
    const worker = mf;
    /** One dispatch: CPU of the workerd process and wall time, and the events it reports. */
    const dispatch = async (text: string, mode: Mode, reps: number): Promise<Sample & { events: number }> => {
      const c0 = cpuTicks(pid);
      const t0 = performance.now();
      const res = await worker.dispatchFetch(`http://bench.local/?mode=${mode}&reps=${reps}`, { method: "POST", body: text, signal: AbortSignal.timeout(120_000) });
      const answer = (await res.json()) as { events?: number };
      const wallMs = performance.now() - t0;
      const cpuMs = (cpuTicks(pid) - c0) * TICK_MS;
      if (res.status !== 200 || typeof answer.events !== "number") throw new Error(`workerd answered ${res.status}: ${JSON.stringify(answer)}`);
      return { cpuMs, wallMs, events: answer.events };
    };
    /** One pass's cost: N passes minus 1 pass, over N − 1. */
    const pass = async (text: string, mode: Mode, reps: number): Promise<Sample> => {
      const many = await dispatch(text, mode, reps);
      const one = await dispatch(text, mode, 1);
      return { cpuMs: (many.cpuMs - one.cpuMs) / (reps - 1), wallMs: (many.wallMs - one.wallMs) / (reps - 1) };
    };

    const { enrich, route } = defaultSteps();
    const rows: WorkerdRow[] = [];
    for (const [name, dirs] of SOURCES) {
      const text = sourceBody(dirs, eventsPerBody);
      const expected = run(text, { enrich, route, normalize: true, serialize: true });
      // warm-up (the JIT), then N from a 5-pass dispatch of each
      const reps = { all: 2, floor: 2 };
      for (const mode of ["all", "floor"] as const) {
        const w = await dispatch(text, mode, 3);
        if (mode === "all" && w.events !== expected) throw new Error(`${name}: workerd produced ${w.events} events, Node ${expected}`);
        const probe = await dispatch(text, mode, 5);
        const perPass = Math.max(probe.cpuMs, probe.wallMs, 1) / 5;
        reps[mode] = Math.min(2000, Math.max(2, Math.ceil(targetMs / perPass) + 1));
      }
      const samples: Record<Mode, Sample[]> = { all: [], floor: [] };
      const began = performance.now();
      for (let round = 0; round < maxRounds && (round < minRounds || performance.now() - began < budgetMs); round++) {
        for (const mode of ["all", "floor"] as const) samples[mode].push(await pass(text, mode, reps[mode]));
      }
      const best = (mode: Mode, k: keyof Sample) => Math.min(...samples[mode].map((s) => s[k]));
      const median = (mode: Mode, k: keyof Sample) => samples[mode].map((s) => s[k]).sort((x, y) => x - y)[samples[mode].length >> 1]!;
      const us = (ms: number) => (ms * 1000) / expected;
      const cpu = best("all", "cpuMs");
      const cpuFloor = best("floor", "cpuMs");
      rows.push({
        source: name,
        events: expected,
        usPerEvent: us(cpu),
        usPerEventMedian: us(median("all", "cpuMs")),
        eventsPerSec: expected / (cpu / 1000),
        floorUsPerEvent: us(cpuFloor),
        ratio: cpu / cpuFloor,
        cpuMsPer1000: us(cpu), // µs per event × 1,000 events / 1,000 µs per ms
        wallUsPerEvent: us(best("all", "wallMs")),
        wallFloorUsPerEvent: us(best("floor", "wallMs")),
        reps,
        samples: samples.all.length,
      });
    }
    const workerdVersion = (JSON.parse(readFileSync(join(root, "node_modules/workerd/package.json"), "utf8")) as { version: string }).version;
    return { workerd: workerdVersion, compatibilityDate: wrangler.compatibility_date, rows };
  } finally {
    await stop();
  }
}

export function formatPipelineWorkerd(r: WorkerdResult): string {
  return table(
    ["source", "events", "µs/event (CPU)", "events/s (1 core)", "floor µs/event (JSON.parse+stringify)", "ratio to floor", "CPU ms per 1,000 events", "wall µs/event", "wall floor µs/event", "median µs/event (CPU)"],
    r.rows.map((x) => [x.source, x.events, fmt.f2(x.usPerEvent), fmt.int(x.eventsPerSec), fmt.f2(x.floorUsPerEvent), `${fmt.f2(x.ratio)}×`, fmt.f1(x.cpuMsPer1000), fmt.f2(x.wallUsPerEvent), fmt.f2(x.wallFloorUsPerEvent), fmt.f2(x.usPerEventMedian)]),
  );
}

if (isMain(import.meta.url)) {
  const r = await benchPipelineWorkerd({
    events: Number(arg("events") ?? 0) || undefined,
    targetMs: Number(arg("target-ms") ?? 0) || undefined,
    budgetMs: Number(arg("budget") ?? 0) || undefined,
  });
  console.log(`workerd ${r.workerd}, compatibility date ${r.compatibilityDate}\n`);
  console.log(formatPipelineWorkerd(r));
  const out = arg("json");
  if (out) writeFileSync(out, JSON.stringify(r, null, 2));
}
