// Runs the Worker the way `npm start` does (wrangler dev: workerd, local queue and R2) as a child
// process on a free 127.0.0.1 port with its state in a temporary directory, for the HTTP and memory
// benchmarks. The child gets its own process group, which is killed on stop(), on exit and on
// Ctrl-C, so a failed benchmark never leaves a server behind.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root, ppidOf, cpuTicks, findProcess } from "./common";

export interface Dev {
  url: string;
  /** wrangler's pid (leader of the child's process group). */
  pid: number;
  /** The workerd process running the Worker (not wrangler's proxy), when found. */
  workerdPid(): number | undefined;
  /** Last lines wrangler printed (for error reports). */
  log(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}
process.once("exit", () => {
  for (const c of live) killGroup(c, "SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    for (const c of live) killGroup(c, "SIGKILL");
    process.exit(130);
  });
}

function descends(pid: number, ancestor: number): boolean {
  let p: number | undefined = pid;
  for (let i = 0; i < 20 && p !== undefined && p > 1; i++) {
    if (p === ancestor) return true;
    p = ppidOf(p);
  }
  return false;
}

/** The workerd serving the Worker: a descendant of `ancestor` started with an inspector (wrangler's proxy has none). */
function findWorkerd(ancestor: number): number | undefined {
  return findProcess((pid, cmd) => cmd.includes("workerd") && cmd.includes("serve") && cmd.includes("--inspector-addr") && descends(pid, ancestor));
}

/** What `npm start` sets besides its flags: no usage metrics, no cf-object download, no update check. */
export const OFFLINE_ENV = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };

/** Starts wrangler dev and waits (bounded) until GET /healthz answers. */
export async function startDev(opts: { startupMs?: number } = {}): Promise<Dev> {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "tributary-bench-"));
  const args = ["dev", "--port", String(port), "--ip", "127.0.0.1", "--var", "TRIBUTARY_DEV:true", "--persist-to", state, "--log-level", "warn", "--show-interactive-dev-session=false"];
  const child = spawn(join(root, "node_modules/.bin/wrangler"), args, {
    cwd: root,
    detached: true, // own process group: stop() kills wrangler, its proxy and workerd together
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...OFFLINE_ENV, NO_COLOR: "1" },
  });
  live.add(child);
  let out = "";
  const keep = (b: Buffer) => {
    out = (out + b.toString("utf8")).slice(-8000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    killGroup(child, "SIGTERM");
    for (let i = 0; i < 50 && child.exitCode === null && child.signalCode === null; i++) await new Promise((r) => setTimeout(r, 100));
    killGroup(child, "SIGKILL");
    live.delete(child);
    rmSync(state, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.startupMs ?? 120_000);
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`wrangler dev exited (${child.exitCode}):\n${out}`);
    }
    if (/Build failed/.test(out)) {
      // wrangler keeps watching after a failed build: it would never answer
      await stop();
      throw new Error(`wrangler dev could not build the Worker:\n${out}`);
    }
    try {
      const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) {
        await r.text();
        break;
      }
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer /healthz within ${opts.startupMs ?? 120_000} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return { url, pid: child.pid!, workerdPid: () => findWorkerd(child.pid!), log: () => out, stop };
}

/** VmHWM (peak resident set) and VmRSS of a process, in bytes. */
export function residentOf(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { peak: kb("VmHWM"), now: kb("VmRSS") };
}

/** Resets the process's peak RSS counter (Linux: write 5 to clear_refs), so VmHWM measures from now. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until a process is quiet (under 10% of one core over a second), at most `maxMs`: the queue
 * consumer has caught up with what the previous load left. Returns whether it got quiet.
 */
export async function waitQuiet(pid: number, maxMs = 60_000): Promise<boolean> {
  const end = Date.now() + maxMs;
  let before = cpuTicks(pid);
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = cpuTicks(pid);
    if (now - before < 10) return true; // 100 ticks per second
    before = now;
  }
  return false;
}
