// The quarantine of a running Tributary (`npm start`, or a deployment with TRIBUTARY_URL and
// TRIBUTARY_ADMIN_TOKEN = the config's delivery.adminToken), docs/ingest.md#quarantine:
//   npm run quarantine -- ls --day D [--reason s] [--tenant t]     the day's rejected records: key, index, tenant,
//                                                                   route, reason (D: yyyymmdd or yyyy-mm-dd, UTC)
//   npm run quarantine -- reasons --day D [--reason s] [--tenant t] records per reason (numbers as N, first 50 chars)
//   npm run quarantine -- reingest --day D [--reason s] [--tenant t] [--dry-run] [key ...]
//       once the cause is fixed: each record through ingest again, under its tenant; what is accepted now leaves
//       the quarantine, what is still rejected stays (with its new reason) and makes the exit status 1
import { adminAuth, adminHint, errorText, HttpError, parseOptions, serverUrl } from "./cli";

/** Most calls one command makes (each bounded by the server: 500 records, 100 objects). */
const MAX_CALLS = 2000;
/** Keys one reingest call takes (the server's bound). */
const KEYS_A_CALL = 100;

type Entry = { key: string; index: number; route?: string; tenant?: string; reason: string };
type Listing = { entries: Entry[]; reasons: { reason: string; count: number }[]; more: boolean; cursor?: string };
type Reingest = { reingested: number; events: number; still_rejected: { key: string; index: number; reason: string }[]; more: boolean; cursor?: string; spooled?: number; changed_meanwhile?: string[] };

export interface Args {
  cmd: string | undefined;
  day?: string;
  reason?: string;
  tenant?: string;
  dryRun: boolean;
  keys: string[];
}

const COMMANDS = new Set(["ls", "reasons", "reingest"]);

/** Whether yyyymmdd is a day of the calendar (not 20261345, 20260230). */
function isDay(yyyymmdd: string): boolean {
  const t = Date.UTC(Number(yyyymmdd.slice(0, 4)), Number(yyyymmdd.slice(4, 6)) - 1, Number(yyyymmdd.slice(6)));
  return new Date(t).toISOString().slice(0, 10).replace(/-/g, "") === yyyymmdd;
}

/** The command line, or the reason it is refused. Pure (exported for its test). */
export function parseArgs(argv: readonly string[]): Args | string {
  const cmd = argv[0];
  const { opts, rest } = parseOptions(argv.slice(1), ["--day", "--reason", "--tenant"]);
  if (cmd === undefined || !COMMANDS.has(cmd)) return "usage: npm run quarantine -- ls|reasons --day yyyymmdd [--reason text] [--tenant name] | reingest --day yyyymmdd [--reason text] [--tenant name] [--dry-run] [key ...]";
  const dryRun = rest.includes("--dry-run");
  const keys = rest.filter((a) => a !== "--dry-run");
  if (dryRun && cmd !== "reingest") return `${cmd} takes no --dry-run`;
  const unknown = keys.filter((k) => k.startsWith("--"));
  if (unknown.length) return `${cmd} takes no ${unknown.join(", ")}`;
  if (keys.length && cmd !== "reingest") return `${cmd} takes no keys (only reingest does)`;
  const day = opts["--day"]?.replace(/-/g, "");
  if (day !== undefined && !/^\d{8}$/.test(day)) return `--day: expected yyyymmdd or yyyy-mm-dd, got "${opts["--day"]}"`;
  // a day no calendar has (20261345) would list nothing and re-ingest nothing, with exit status 0
  if (day !== undefined && !isDay(day)) return `--day: no such day "${opts["--day"]}"`;
  if (day === undefined && !keys.length) return `${cmd} needs --day yyyymmdd (the UTC day the records were received)${cmd === "reingest" ? " or quarantine keys" : ""}`;
  return { cmd, day, reason: opts["--reason"] || undefined, tenant: opts["--tenant"] || undefined, dryRun, keys };
}

/** One tab-separated row, a field's tabs and line breaks folded to a space. */
function row(...fields: (string | number | undefined)[]): string {
  return fields.map((f) => String(f ?? "-").replace(/[\t\r\n]+/g, " ")).join("\t");
}

async function main(a: Args): Promise<void> {
  const url = serverUrl();
  const headers: Record<string, string> = { "content-type": "application/json", ...adminAuth() };
  const call = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const res = await fetch(`${url}${path}`, { ...init, headers });
    const text = await res.text();
    if (!res.ok) throw new HttpError(res.status, text);
    return JSON.parse(text) as T;
  };
  try {
    if (a.cmd === "ls" || a.cmd === "reasons") {
      const counts = new Map<string, number>();
      let entries = 0;
      let cursor: string | undefined;
      let calls = 0;
      for (; calls < MAX_CALLS; calls++) {
        const q = new URLSearchParams({ day: a.day!, ...(a.reason ? { reason: a.reason } : {}), ...(a.tenant ? { tenant: a.tenant } : {}), ...(cursor ? { cursor } : {}) });
        const page = await call<Listing>(`/v1/quarantine?${q}`);
        entries += page.entries.length;
        if (a.cmd === "ls") for (const e of page.entries) console.log(row(e.key, e.index, e.tenant, e.route, e.reason));
        for (const r of page.reasons) counts.set(r.reason, (counts.get(r.reason) ?? 0) + r.count);
        if (!page.more || !page.cursor) break;
        cursor = page.cursor;
      }
      if (a.cmd === "reasons") for (const [reason, n] of [...counts].sort((x, y) => y[1] - x[1])) console.log(row(n, reason));
      console.log(`${entries}${calls >= MAX_CALLS ? "+" : ""} quarantined records on ${a.day}${a.tenant ? ` of tenant ${a.tenant}` : ""}${a.reason ? ` with "${a.reason}" in their reason` : ""}`);
      return;
    }
    // reingest: the keys a hundred a call, or the day's entries page after page
    const filters = { ...(a.reason ? { reason: a.reason } : {}), ...(a.tenant ? { tenant: a.tenant } : {}), ...(a.dryRun ? { dryRun: true } : {}) };
    const bodies: Record<string, unknown>[] = a.keys.length ? Array.from({ length: Math.ceil(a.keys.length / KEYS_A_CALL) }, (_, k) => ({ ...filters, keys: a.keys.slice(k * KEYS_A_CALL, (k + 1) * KEYS_A_CALL) })) : [];
    const total: Reingest = { reingested: 0, events: 0, still_rejected: [], more: false, spooled: 0, changed_meanwhile: [] };
    let cursor: string | undefined;
    for (let calls = 0; calls < MAX_CALLS; calls++) {
      const body = a.keys.length ? bodies[calls] : { day: a.day, ...filters, ...(cursor ? { cursor } : {}) };
      if (!body) break;
      const r = await call<Reingest>("/v1/quarantine/reingest", { method: "POST", body: JSON.stringify(body) });
      total.reingested += r.reingested;
      total.events += r.events;
      total.still_rejected.push(...r.still_rejected);
      total.spooled! += r.spooled ?? 0;
      total.changed_meanwhile!.push(...(r.changed_meanwhile ?? []));
      total.more = r.more;
      if (!a.keys.length && (!r.more || !r.cursor)) break;
      cursor = r.cursor;
    }
    for (const s of total.still_rejected) console.error(`still rejected\t${row(s.key, s.index, s.reason)}`);
    for (const k of total.changed_meanwhile!) console.error(`changed meanwhile (left as it was; run again)\t${k}`);
    const verb = a.dryRun ? "would be re-ingested" : "re-ingested";
    console.log(`${total.reingested} records ${verb} (${total.events} events${total.spooled ? `, ${total.spooled} spooled` : ""}), ${total.still_rejected.length} still rejected${a.dryRun ? " (dry run: nothing was queued or changed)" : ""}`);
    if (total.more) console.log("more records are left: run the same reingest again");
    if (total.still_rejected.length || total.changed_meanwhile!.length) process.exitCode = 1;
  } catch (e) {
    console.error(`quarantine: ${errorText(e)}${adminHint(e, url)}`);
    process.exitCode = 1;
  }
}

// run as a script (tsx scripts/quarantine.ts ...), not when a test imports parseArgs
if (process.argv[1]?.endsWith("quarantine.ts")) {
  const a = parseArgs(process.argv.slice(2));
  if (typeof a === "string") {
    console.error(`quarantine: ${a}`);
    process.exit(2);
  }
  await main(a);
}
