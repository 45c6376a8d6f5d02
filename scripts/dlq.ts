// The dead-letter store of a running Tributary (`npm start`, or a deployment with TRIBUTARY_URL and
// TRIBUTARY_ADMIN_TOKEN = the config's delivery.adminToken):
//   npm run dlq -- list [--sink name]              dead letters: key, sink, events, attempts, status, reason
//   npm run dlq -- list --tenant name [--sink ..]  only those holding events of that tenant ("3 of 5 events")
//   npm run dlq -- show <key>                      one dead letter: reason, the sink's response, its events
//   npm run dlq -- replay [--sink name] [key ...]  send the events back to their sink, then remove them (no --tenant:
//                                                  replay the keys `list --tenant` printed)
//   npm run dlq -- replay --sink old --to new       ... to another configured sink instead (a renamed sink; or keys)
//   npm run dlq -- spool [--drain]                 what ingest spooled while the queue refused it; --drain
//                                                  sends it back to the queue now (else the cron does, every minute)
//   npm run dlq -- staged [--sink name]            buffered sinks' staged objects per sink: objects, events, oldest
//   npm run dlq -- unreadable                      spool and staged objects set aside as unreadable (docs/operate.md)
import type { DeadLetterInfo } from "../src/deliver/dlq";
import type { StagedSummary, UnreadableInfo } from "../src/deliver/inventory";
import { adminAuth, adminHint, errorText, HttpError, parseOptions, serverUrl } from "./cli";

const url = serverUrl();
const headers: Record<string, string> = { "content-type": "application/json", ...adminAuth() };

/** The options each command reads. Another one given is refused, not ignored: `replay --tenant x` replayed every tenant's. */
const TAKES: Record<string, readonly string[]> = { list: ["--sink", "--tenant"], show: [], replay: ["--sink", "--to"], spool: [], staged: ["--sink"], unreadable: [] };

/** Dead letters one replay call takes (the server's default `limit`). */
const REPLAY_KEYS = 100;

function parseArgs(argv: string[]): { cmd: string | undefined; sink?: string; tenant?: string; to?: string; rest: string[] } {
  // `--to siem` or `--to=siem`
  const { opts, rest } = parseOptions(argv.slice(1), ["--sink", "--tenant", "--to"]);
  const cmd = argv[0];
  const takes = cmd !== undefined && Object.hasOwn(TAKES, cmd) ? TAKES[cmd]! : undefined; // else the usage is printed
  const extra = takes === undefined ? [] : Object.keys(opts).filter((o) => !takes.includes(o));
  if (cmd === "replay" && extra.includes("--tenant")) {
    // a delivery batch mixes tenants, so a dead letter may hold other tenants' events too
    refuse("replay takes no --tenant (it would replay every tenant's dead letters): list the tenant's with `npm run dlq -- list --tenant <name>`, then replay those keys (a dead letter may hold other tenants' events too)");
  }
  if (extra.length > 0) refuse(`${cmd} takes no ${extra.join(", ")}`);
  return { cmd, sink: opts["--sink"], tenant: opts["--tenant"], to: opts["--to"], rest };
}

function refuse(message: string): never {
  console.error(`dlq: ${message}`);
  process.exit(2);
}

/**
 * One tab-separated row: a field's tabs and line breaks (a reason quoting a sink's answer, in a dead
 * letter written before reasons were made one line) become a space, so a field never splits the row.
 */
function row(...fields: (string | number)[]): string {
  return fields.map((f) => String(f).replace(/[\t\r\n]+/g, " ")).join("\t");
}

/** The answer's status; for a bulk item refused in a 200 answer, "200 (item 400)". */
function statusText(d: DeadLetterInfo): string {
  if (d.status === undefined) return "-";
  return d.itemStatus !== undefined ? `${d.status} (item ${d.itemStatus})` : String(d.status);
}

/** The answer's JSON; a status other than 2xx throws, but 502 (and what `also` lets through) is read: it lists what failed. */
async function call<T>(path: string, init?: RequestInit, also: (status: number, body: unknown) => boolean = () => false): Promise<T> {
  const res = await fetch(`${url}${path}`, { ...init, headers });
  const text = await res.text();
  if (!res.ok && res.status !== 502 && !also(res.status, parsed(text))) throw new HttpError(res.status, text);
  return JSON.parse(text) as T;
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const { cmd, sink, tenant, to, rest } = parseArgs(process.argv.slice(2));
try {
  if (cmd === "list") {
    const params = new URLSearchParams({ ...(sink ? { sink } : {}), ...(tenant ? { tenant } : {}) }).toString();
    const r = await call<{ dead: DeadLetterInfo[]; records: number; events: number; more?: boolean; unchecked?: number; note?: string }>(`/v1/dlq${params ? `?${params}` : ""}`);
    if (r.note) console.error(`note: ${r.note}`); // a --tenant no credential has: a typo?
    // with --tenant: that tenant's events of each dead letter ("3 of 5 events": the others are other tenants')
    const events = (d: DeadLetterInfo) => (tenant ? `${d.tenants?.[tenant] ?? 0} of ${d.count} events` : `${d.count} events`);
    // set aside by a replay that did not finish (a crash, or the queue refused): replay it again
    const reason = (d: DeadLetterInfo) => (d.replaying ? `(replay of ${d.replaying} unfinished: its events may be on the queue already) ${d.reason}` : d.reason);
    for (const d of r.dead) console.log(row(d.key, d.sink, events(d), `${d.attempts} attempts`, statusText(d), reason(d)));
    const more = r.more ? "+" : "";
    console.log(tenant ? `${r.records}${more} dead letters, ${r.events}${more} events of tenant ${tenant}` : `${r.records} dead letters, ${r.events} events`);
    if (r.unchecked) console.log(`${r.unchecked} older dead letters were not read (no tenants stored with them): list again with --sink to look at fewer`);
  } else if (cmd === "show" && rest[0]) {
    const r = await call<Record<string, unknown>>(`/v1/dlq/object/${encodeURIComponent(rest[0])}`);
    console.log(JSON.stringify(r, null, 2));
  } else if (cmd === "replay") {
    type Replay = { replayed: { key: string; sink: string; from?: string; count: number }[]; failed: { key: string; error: string }[]; events: number; more?: boolean };
    // a 400 listing what failed: every dead letter refused by the --to sink (it cannot write their events)
    const listsFailures = (status: number, b: unknown) => status === 400 && typeof b === "object" && b !== null && Array.isArray((b as Partial<Replay>).failed);
    // keys go REPLAY_KEYS a call (the server's default limit); without keys, one call replays that many of the sink's
    const calls = rest.length ? Array.from({ length: Math.ceil(rest.length / REPLAY_KEYS) }, (_, k) => rest.slice(k * REPLAY_KEYS, (k + 1) * REPLAY_KEYS)) : [undefined];
    const r: Replay = { replayed: [], failed: [], events: 0 };
    for (const keys of calls) {
      const body = { ...(sink ? { sink } : {}), ...(keys ? { keys } : {}), ...(to ? { to } : {}) };
      const part = await call<Replay>("/v1/dlq/replay", { method: "POST", body: JSON.stringify(body) }, listsFailures);
      r.replayed.push(...part.replayed);
      r.failed.push(...part.failed);
      r.events += part.events;
      r.more ||= part.more === true;
    }
    for (const x of r.replayed) console.log(`replayed ${row(x.key, x.from ? `${x.from} -> ${x.sink}` : x.sink, `${x.count} events`)}`);
    for (const x of r.failed) console.error(`failed   ${row(x.key, x.error)}`);
    console.log(`${r.replayed.length} dead letters (${r.events} events) sent ${to ? `to sink ${to}` : "back to their sinks"}, ${r.failed.length} failed`);
    if (r.more) console.log(`more dead letters are left (at most ${REPLAY_KEYS} a call): run the same replay again`);
    if (r.failed.length) process.exitCode = 1;
  } else if (cmd === "spool") {
    if (rest.includes("--drain")) {
      const d = await call<{ objects: number; events: number; left: number; more: boolean; error?: string }>("/v1/dlq/spool/drain", { method: "POST" });
      console.log(`${d.objects} spool objects (${d.events} events) sent back to the queue, ${d.left}${d.more ? "+" : ""} left${d.error ? `; the queue refused: ${d.error}` : ""}`);
      if (d.error) process.exitCode = 1;
    }
    const r = await call<{ spool: { key: string; events: number; messages: number; reason: string; uploaded: string }[]; objects: number; more: boolean; events: number }>("/v1/dlq/spool");
    for (const o of r.spool) console.log(row(o.key, `${o.events} events`, `${o.messages} messages`, o.uploaded, o.reason));
    console.log(`${r.objects}${r.more ? "+" : ""} spool objects, ${r.events} events waiting for the queue`);
  } else if (cmd === "staged") {
    const q = sink ? `?sink=${encodeURIComponent(sink)}` : "";
    const r = await call<{ staged: (StagedSummary & { compacted?: boolean })[]; more: boolean; objects: number; events: number }>(`/v1/dlq/staged${q}`);
    for (const s of r.staged) {
      const note = s.compacted === false ? ["not compacted: the sink is not configured (as a storage sink)"] : [];
      console.log(row(s.sink, `${s.objects} objects`, `${s.events} events`, `${s.bytes} bytes`, `oldest ${s.oldest} (${s.oldestAgeSeconds} s ago)`, ...note));
    }
    const more = r.more ? "+" : "";
    console.log(`${r.objects}${more} staged objects, ${r.events}${more} events, ${r.staged.length} sinks`);
  } else if (cmd === "unreadable") {
    const r = await call<{ unreadable: UnreadableInfo[]; objects: number; more: boolean }>("/v1/dlq/unreadable");
    for (const u of r.unreadable) console.log(row(u.key, u.from, `${u.size} bytes`, u.uploaded, u.reason));
    console.log(`${r.objects}${r.more ? "+" : ""} unreadable objects set aside`);
  } else {
    console.error("usage: npm run dlq -- list [--sink name] [--tenant name] | show <key> | replay [--sink name] [--to sink] [key ...] | spool [--drain] | staged [--sink name] | unreadable");
    process.exit(2);
  }
} catch (e) {
  console.error(`dlq: ${errorText(e)}${adminHint(e, url)}`);
  process.exit(1);
}
