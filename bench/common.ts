// Shared by the benchmarks: fixture records, timing that resists a busy machine, markdown tables,
// the machine description. Numbers, not pass/fail.
import { readFileSync, readdirSync } from "node:fs";
import { cpus } from "node:os";
import { join, extname, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** All records of fixture folders, one compact JSON line each (JSON files as one line, NDJSON line by line). */
export function fixtureLines(...dirs: string[]): string[] {
  const out: string[] = [];
  for (const dir of dirs) {
    for (const f of readdirSync(join(root, "test/fixtures", dir)).sort()) {
      if (f.includes("negative__")) continue; // records made to be rejected
      const text = readFileSync(join(root, "test/fixtures", dir, f), "utf8");
      if (extname(f) === ".ndjson") out.push(...text.split("\n").filter((l) => l.trim()));
      else out.push(JSON.stringify(JSON.parse(text)));
    }
  }
  return out;
}

/** The fixture folders of each source (Falco alerts from the syscall, k8s_audit and cloudtrail plugins). */
export const SOURCES: [name: string, dirs: string[]][] = [
  ["falco", ["falco", "falco-k8saudit", "falco-cloudtrail"]],
  ["tetragon", ["tetragon"]],
  ["k8s_audit", ["k8s-audit"]],
  ["cloudtrail", ["cloudtrail"]],
];

/** n lines cycled from `lines`, joined as NDJSON. */
export function ndjson(lines: string[], n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(lines[i % lines.length]!);
  return parts.join("\n") + "\n";
}

export interface Timing {
  /** Fastest sample in process CPU time (user + system, all threads: GC and JIT threads included), ms per call. */
  cpuMs: number;
  /** Median sample in process CPU time, ms per call. */
  cpuMedianMs: number;
  /** Fastest sample in wall-clock time, ms per call (inflated when other processes share the cores). */
  wallMs: number;
  samples: number;
}

/**
 * Times several functions in interleaved rounds (each function once per round, in order) after a
 * warm-up call of each, until `budgetMs` of wall time has passed and at least `minRounds` rounds ran
 * (at most `maxRounds`). Interleaving spreads a busy spell of the machine over every function
 * instead of one; the fastest sample of each is kept. CPU time is the figure to quote on a machine
 * shared with other work: wall time also counts the time the scheduler gives to other processes.
 */
export function timeRounds<K extends string>(fns: Record<K, () => void>, opts: RoundOptions = {}): Record<K, Timing> {
  const r = new Rounds(Object.keys(fns) as K[], opts);
  for (const k of r.keys) fns[k]();
  while (r.more()) for (const k of r.keys) r.sample(k, fns[k]);
  return r.timings();
}

/** timeRounds for functions that return a Promise (each call is awaited before the next starts). */
export async function timeRoundsAsync<K extends string>(fns: Record<K, () => Promise<unknown>>, opts: RoundOptions = {}): Promise<Record<K, Timing>> {
  const r = new Rounds(Object.keys(fns) as K[], opts);
  for (const k of r.keys) await fns[k]();
  while (r.more()) {
    for (const k of r.keys) {
      const done = r.start();
      await fns[k]();
      done(k);
    }
  }
  return r.timings();
}

export interface RoundOptions {
  budgetMs?: number;
  minRounds?: number;
  maxRounds?: number;
}

/** The bookkeeping of timeRounds: when to stop, the samples of each function, the summary. */
class Rounds<K extends string> {
  private readonly cpu: Map<K, number[]>;
  private readonly wall: Map<K, number[]>;
  private readonly began = performance.now();
  private round = 0;
  constructor(
    readonly keys: K[],
    private readonly opts: RoundOptions,
  ) {
    this.cpu = new Map(keys.map((k) => [k, []]));
    this.wall = new Map(keys.map((k) => [k, []]));
  }
  /** Whether to run another round (counts it). */
  more(): boolean {
    const budget = this.opts.budgetMs ?? 6000;
    const ok = this.round < (this.opts.maxRounds ?? 100) && (this.round < (this.opts.minRounds ?? 8) || performance.now() - this.began < budget);
    this.round++;
    return ok;
  }
  /** Starts a sample; the returned function records it for `k`. */
  start(): (k: K) => void {
    const c0 = process.cpuUsage();
    const t = performance.now();
    return (k) => {
      this.wall.get(k)!.push(performance.now() - t);
      const c = process.cpuUsage(c0);
      this.cpu.get(k)!.push((c.user + c.system) / 1000);
    };
  }
  sample(k: K, fn: () => void): void {
    const done = this.start();
    fn();
    done(k);
  }
  timings(): Record<K, Timing> {
    const out = {} as Record<K, Timing>;
    for (const k of this.keys) {
      const c = this.cpu.get(k)!.sort((x, y) => x - y);
      const w = this.wall.get(k)!.sort((x, y) => x - y);
      out[k] = { cpuMs: c[0]!, cpuMedianMs: c[c.length >> 1]!, wallMs: w[0]!, samples: c.length };
    }
    return out;
  }
}

/** A markdown table. */
export function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

export const fmt = {
  int: (n: number) => Math.round(n).toLocaleString("en-US"),
  f1: (n: number) => n.toFixed(1),
  f2: (n: number) => n.toFixed(2),
  mb: (bytes: number) => (bytes / 1048576).toFixed(1),
  kb: (bytes: number) => (bytes / 1024).toFixed(1),
};

export interface Machine {
  cpus: number;
  model: string;
  node: string;
  loadavg: string;
  date: string;
}

export function machine(): Machine {
  let model = cpus()[0]?.model ?? "unknown";
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) model = m[1]!.trim();
  } catch {
    // not Linux
  }
  let loadavg = "";
  try {
    loadavg = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    // not Linux
  }
  return { cpus: cpus().length, model, node: process.version, loadavg, date: new Date().toISOString() };
}

/** Fields of /proc/<pid>/stat after the command name (Linux): [0] is the state, [1] the parent pid. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** The parent of a process, undefined when it is gone (Linux /proc). */
export function ppidOf(pid: number): number | undefined {
  try {
    return Number(statFields(pid)[1]);
  } catch {
    return undefined;
  }
}

/** The first process whose pid and command line (arguments joined by NUL) fit `fits` (Linux /proc); undefined if none. */
export function findProcess(fits: (pid: number, cmdline: string) => boolean): number | undefined {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${name}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (fits(Number(name), cmd)) return Number(name);
  }
  return undefined;
}

/** CPU time (user + system, all its threads) a process has used, in clock ticks (Linux /proc; USER_HZ, 100 a second). */
export function cpuTicks(pid: number): number {
  const f = statFields(pid);
  return Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
}

/** True when this module is the script node was started with. */
export function isMain(url: string): boolean {
  return url === `file://${process.argv[1]}` || fileURLToPath(url) === process.argv[1];
}

/** `--name value` from argv. */
export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
