// Sends archived events again to one configured sink, through a running Tributary (`npm start`, or a
// deployment with TRIBUTARY_URL and TRIBUTARY_ADMIN_TOKEN = the config's delivery.adminToken):
//   npm run backfill -- --sink siem --from 2026-12-01 --to 2026-12-03 [--class 2004] [--tenant team-a]
//                       [--source falco[,tetragon]] [--resume <cursor>] [--pause-ms 500]
//                       [--max-pages 10000] [--max-minutes 360]
// It calls POST /v1/backfill page by page (each a bounded piece of work on the server) until the answer has
// no cursor, pausing between pages so the queue and the sink are not flooded, waiting out 429/503 (their
// Retry-After). Ctrl-C stops after the page in flight and prints the --resume cursor (twice: at once).
// The cursor is bound to --sink, --from, --to, --class, --tenant and --source: resuming with others exits 2,
// naming what differs (the server's 400).
// docs/delivery.md "Re-sending archived events".
import { adminAuth, adminHint, errorText, HttpError, parseOptions, serverUrl } from "./cli";

interface Page {
  objects: number;
  events: { read: number; matched: number; sent: number; unwritable?: number };
  skipped: { key: string; reason: string }[];
  /** When no ingest credential of the config has the tenant asked for. */
  note?: string;
  cursor?: string;
  error?: string;
}

const url = serverUrl();
const headers: Record<string, string> = { "content-type": "application/json", ...adminAuth() };
const USAGE =
  "usage: npm run backfill -- --sink <name> --from <yyyy-mm-dd> --to <yyyy-mm-dd> [--class N] [--tenant T] [--source S[,S]] [--resume <cursor>] [--pause-ms 500] [--max-pages 10000] [--max-minutes 360]";
/** Longest wait for a Retry-After, and most waits in a row before giving up. */
const MAX_WAIT_S = 300;
const MAX_WAITS = 30;
const PAGE_TIMEOUT_MS = 120_000;

const { opts, rest } = parseOptions(process.argv.slice(2), ["--sink", "--from", "--to", "--class", "--tenant", "--source", "--resume", "--pause-ms", "--max-pages", "--max-minutes"]);
const num = (flag: string, def: number): number => {
  const v = opts[flag];
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag}: expected a number (got ${v})`);
  return n;
};

class UsageError extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

let stopping = false;
process.on("SIGINT", () => {
  if (stopping) process.exit(130);
  stopping = true;
  console.error("stopping after the page in flight (Ctrl-C again to quit now)");
});

const totals = { pages: 0, objects: 0, read: 0, matched: 0, sent: 0, unwritable: 0, skipped: 0 };
let cursor: string | undefined;

function totalsLine(): string {
  const unwritable = totals.unwritable ? `, ${totals.unwritable} unwritable by the sink` : "";
  return `${plural(totals.objects, "object")}, ${totals.read} events read, ${totals.matched} matched, ${totals.sent} sent${unwritable}, ${totals.skipped} skipped`;
}

/** One page; a 429 or 503 is waited out (Retry-After) and asked again, keeping what a 503 page did. */
async function page(body: Record<string, unknown>): Promise<Page> {
  for (let wait = 0; ; wait++) {
    const res = await fetch(`${url}/v1/backfill`, { method: "POST", headers, body: JSON.stringify({ ...body, ...(cursor ? { cursor } : {}) }), signal: AbortSignal.timeout(PAGE_TIMEOUT_MS) });
    const text = await res.text();
    if (res.ok) return JSON.parse(text) as Page;
    const refusal = res.status === 400 ? errorOf(text) : undefined;
    if (refusal?.startsWith("cursor: ")) throw new UsageError(`--resume: ${refusal.slice("cursor: ".length)}`); // another sink, range or filter
    if ((res.status !== 429 && res.status !== 503) || wait >= MAX_WAITS || stopping) throw new HttpError(res.status, text);
    const after = Math.min(MAX_WAIT_S, Math.max(1, Number(res.headers.get("retry-after")) || 5));
    const partial = parsedPage(text);
    if (partial) count(partial); // the queue refused part-way: what went before is sent, the cursor moved
    console.error(`${res.status}: ${partial?.error ?? text.slice(0, 200)}; waiting ${after} s`);
    await sleep(after * 1000);
  }
}

function errorOf(text: string): string | undefined {
  try {
    const e = (JSON.parse(text) as { error?: unknown }).error;
    return typeof e === "string" ? e : undefined;
  } catch {
    return undefined;
  }
}

function parsedPage(text: string): Page | undefined {
  try {
    const p = JSON.parse(text) as Partial<Page>;
    return typeof p.objects === "number" && p.events && Array.isArray(p.skipped) ? (p as Page) : undefined;
  } catch {
    return undefined;
  }
}

function count(p: Page): void {
  totals.objects += p.objects;
  totals.read += p.events.read;
  totals.matched += p.events.matched;
  totals.sent += p.events.sent;
  totals.unwritable += p.events.unwritable ?? 0;
  totals.skipped += p.skipped.length;
  for (const s of p.skipped) console.error(`skipped\t${s.key}\t${s.reason.replace(/[\t\r\n]+/g, " ")}`);
  if (p.cursor !== undefined) cursor = p.cursor;
}

const resumeHint = () => (cursor ? `resume with: npm run backfill -- ${resumeArgs()}` : "");
function resumeArgs(): string {
  const args = process.argv.slice(2).filter((a, i, all) => a !== "--resume" && !a.startsWith("--resume=") && all[i - 1] !== "--resume");
  return [...args, "--resume", cursor!].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");
}

try {
  if (rest.length || !opts["--sink"] || !opts["--from"] || !opts["--to"]) throw new UsageError(USAGE);
  const sources = opts["--source"]?.split(",").filter(Boolean);
  const body: Record<string, unknown> = {
    sink: opts["--sink"],
    from: opts["--from"],
    to: opts["--to"],
    ...(opts["--class"] !== undefined ? { class_uid: num("--class", 0) } : {}),
    ...(opts["--tenant"] !== undefined ? { tenant: opts["--tenant"] } : {}),
    ...(sources?.length ? { source: sources } : {}),
  };
  cursor = opts["--resume"];
  const pauseMs = num("--pause-ms", 500);
  const maxPages = num("--max-pages", 10_000);
  const deadline = Date.now() + num("--max-minutes", 360) * 60_000;
  let done = false;
  while (!stopping && totals.pages < maxPages && Date.now() < deadline) {
    const p = await page(body);
    totals.pages++;
    if (totals.pages === 1 && p.note) console.error(`note: ${p.note}`); // a --tenant no credential has: a typo?
    count(p);
    done = p.cursor === undefined;
    console.log(`page ${totals.pages}: ${plural(p.objects, "object")}, ${p.events.read} read, ${p.events.matched} matched, ${p.events.sent} sent${done ? "" : `; next ${p.cursor}`}`);
    if (done) break;
    if (pauseMs) await sleep(pauseMs);
  }
  console.log(`backfill to ${opts["--sink"]}${done ? "" : " (not finished)"}: ${totalsLine()}`);
  if (!done) {
    const why = stopping ? "interrupted" : totals.pages >= maxPages ? `stopped after --max-pages ${maxPages}` : "stopped at --max-minutes";
    console.error(`${why}; ${resumeHint()}`);
    process.exitCode = stopping ? 130 : 1;
  } else if (totals.skipped) {
    console.error(`${plural(totals.skipped, "object")} (or lines of them) could not be read (named above): those events were not sent`);
    process.exitCode = 1;
  }
} catch (e) {
  if (e instanceof UsageError) {
    console.error(e.message);
    process.exitCode = 2;
  } else {
    console.error(`backfill: ${errorText(e)}${adminHint(e, url)}`);
    if (totals.pages) console.error(`so far: ${totalsLine()}`);
    if (cursor) console.error(resumeHint());
    process.exitCode = 1;
  }
}
