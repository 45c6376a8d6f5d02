// The correlation Durable Object: one per correlation key (a pod, a container, an AWS credential).
// It keeps a bounded window of event summaries in its SQLite storage (so it survives an isolate restart),
// runs the chains over the window each time summaries arrive, and emits an incident (./incident.ts) to the
// EVENTS queue once per new story, or as an Update when the story grows. Alarms expire the window.
// See docs/correlation.md (keys, chains, memory budget).
//
// Storage (SQLite, per object):
//   events    one row per summary (uid, event time, expiry, bytes, JSON, arrival); capped by count and bytes
//             (eviction order: event time, at most arrival + skew)
//   incidents one row per emitted incident (finding uid -> members emitted so far), expiring like the window
//   outbox    incidents not yet accepted by the queue (retried by the alarm)
import { DurableObject } from "cloudflare:workers";
import type { Config } from "../config/schema";
import type { CorrelateConfig } from "../config/correlate";
import { configFor } from "../config/load";
import { makeRouter, type Router } from "../route/index";
import { Enqueuer, type Producer } from "../deliver/enqueue";
import type { OcsfEvent } from "../normalize/ocsf";
import { log } from "../ops/log";
import { countIncident, flushDue, flushMetrics } from "../ops/record";
import { byTime, matchChains, type ChainMatch, type Summary } from "./chains";
import { buildIncident, type IncidentActivity } from "./incident";

/** Retry delay for incidents the queue refused. */
const OUTBOX_RETRY_MS = 30_000;
/** Most incidents remembered per key (the oldest are forgotten first). */
const MAX_INCIDENTS = 100;
/** Expiry alarms are at least this far apart (a steady stream of events does not wake the object for each one). */
const EXPIRY_GRANULARITY_MS = 60_000;
/** Most incidents waiting for the queue per key (the oldest are dropped, and logged). */
const MAX_OUTBOX = 500;
const MAX_UID = 200;

export interface AddResult {
  /** Summaries stored (new uids). */
  stored: number;
  /** Summaries already in the window (a re-delivered batch): not stored again. */
  duplicates: number;
  /** Summaries refused as malformed. */
  invalid: number;
  /** Summaries removed to stay within maxEventsPerKey / maxBytesPerKey. */
  evicted: number;
  /** Incidents emitted by this call (Create or Update), as JSON text (what went to the queue). */
  incidents: string[];
  /** Incidents still waiting for the queue (after this call's send). */
  pending: number;
}

export interface CorrelatorStats {
  events: number;
  bytes: number;
  incidents: number;
  outbox: number;
  /** Scheduled alarm (ms), or null. */
  alarm: number | null;
}

/** Time a summary is kept after it arrives: the longest enabled chain window plus the skew. */
export function keepMs(s: CorrelateConfig): number {
  const c = s.chains;
  const windows = [
    c.k8s_exec.enabled ? (c.k8s_exec.windowSeconds ?? s.windowSeconds) : 0,
    c.aws_credential_new_ip.enabled ? (c.aws_credential_new_ip.windowSeconds ?? s.windowSeconds) : 0,
    c.enforcement_alert.enabled ? c.enforcement_alert.windowSeconds : 0,
  ];
  return (Math.max(s.windowSeconds, ...windows) + s.skewSeconds) * 1000;
}

function isSummary(x: unknown): x is Summary {
  if (typeof x !== "object" || x === null) return false;
  const s = x as Partial<Summary>;
  return (
    typeof s.uid === "string" &&
    s.uid.length > 0 &&
    s.uid.length <= MAX_UID &&
    typeof s.time === "number" &&
    Number.isFinite(s.time) &&
    typeof s.scope === "string" &&
    Array.isArray(s.roles) &&
    typeof s.class_uid === "number" &&
    typeof s.type_uid === "number"
  );
}

/** The previous members plus the new ones, in time order, at most `max` (earlier emitted members stay). */
function grow(prev: Summary[], next: Summary[], max: number): Summary[] {
  const have = new Set(prev.map((x) => x.uid));
  const fresh = next.filter((x) => !have.has(x.uid)).sort(byTime);
  return [...prev, ...fresh.slice(0, Math.max(0, max - prev.length))].sort(byTime);
}

/** The chain an incident reports (unmapped.tributary.correlation.chain). */
function chainOf(e: OcsfEvent): string {
  const c = (e.unmapped?.tributary as { correlation?: { chain?: unknown } } | undefined)?.correlation?.chain;
  return typeof c === "string" ? c : "other";
}

const routers = new WeakMap<Config, Router>();
function routerFor(cfg: Config): Router {
  let r = routers.get(cfg);
  if (!r) routers.set(cfg, (r = makeRouter(cfg)));
  return r;
}

type Row = Record<string, SqlStorageValue>;

export class Correlator extends DurableObject<Env> {
  /** Clock used for expiry (tests move it forward). */
  clock: () => number = () => Date.now();
  /** The config incidents are routed with; default: this Worker's TRIBUTARY_CONFIG (tests may override). */
  configOverride?: Config;
  /** Settings; default: the `correlate` section of this Worker's config (tests may override). */
  settings?: CorrelateConfig;
  /** Where incidents are sent; default: the EVENTS queue (tests may replace it). */
  producer?: Producer;

  private readonly sql: SqlStorage;
  private flushing: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS events (uid TEXT PRIMARY KEY, time INTEGER NOT NULL, expires_at INTEGER NOT NULL, bytes INTEGER NOT NULL, body TEXT NOT NULL, arrived_at INTEGER)");
    // a window stored before arrivals were kept: its rows rank as before (see evict)
    if (!this.sql.exec<{ name: string }>("PRAGMA table_info(events)").toArray().some((c) => c.name === "arrived_at")) this.sql.exec("ALTER TABLE events ADD COLUMN arrived_at INTEGER");
    this.sql.exec("CREATE INDEX IF NOT EXISTS events_time ON events (time, uid)");
    this.sql.exec("CREATE INDEX IF NOT EXISTS events_expiry ON events (expires_at)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS incidents (finding_uid TEXT PRIMARY KEY, chain TEXT NOT NULL, members TEXT NOT NULL, last_uid TEXT NOT NULL, emissions INTEGER NOT NULL, expires_at INTEGER NOT NULL)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS outbox (uid TEXT PRIMARY KEY, body TEXT NOT NULL, attempts INTEGER NOT NULL, created_at INTEGER NOT NULL)");
  }

  private config(): Config {
    return this.configOverride ?? configFor(this.env);
  }

  private opts(): CorrelateConfig {
    return this.settings ?? this.config().correlate;
  }

  /** Adds summaries of this key's events, runs the chains, emits new or grown incidents. */
  async add(summaries: Summary[]): Promise<AddResult> {
    const s = this.opts();
    const now = this.clock();
    const expires = now + keepMs(s);
    const res: AddResult = { stored: 0, duplicates: 0, invalid: 0, evicted: 0, incidents: [], pending: 0 };
    for (const x of Array.isArray(summaries) ? summaries : []) {
      if (!isSummary(x)) {
        res.invalid++;
        continue;
      }
      const body = JSON.stringify(x);
      const c = this.sql.exec("INSERT OR IGNORE INTO events (uid, time, expires_at, bytes, body, arrived_at) VALUES (?, ?, ?, ?, ?, ?)", x.uid, x.time, expires, body.length, body, now);
      if (c.rowsWritten > 0) res.stored++;
      else res.duplicates++;
    }
    if (res.stored > 0) {
      res.evicted = this.evict(s);
      res.incidents = this.evaluate(s, now);
    }
    res.pending = await this.flush();
    await this.schedule(now);
    // incidents counted in this object's isolate reach the metrics store when a flush is due (and from the alarm)
    if (flushDue(this.config())) this.ctx.waitUntil(flushMetrics(this.env));
    return res;
  }

  /**
   * Keeps the window within maxEventsPerKey and maxBytesPerKey: the oldest go first, by event time capped at
   * arrival + skew. A sensor whose clock is ahead (year 9999) cannot make its events look newer than what
   * arrived after them and push correctly-timed events of the key out first; one whose clock is behind (time 0,
   * negative, a late backlog) only ranks its own events first, as before. Arrival is stored with the row
   * (arrived_at): derived from expires_at with the current keepMs it would be wrong for rows written under
   * another window setting (a longer one made them look later, kept over what came after them; a shorter one
   * earlier, evicted first). Rows stored before arrived_at existed (NULL) still derive it (expires_at - keepMs).
   */
  private evict(s: CorrelateConfig): number {
    const t = this.sql.exec<{ n: number; b: number }>("SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM events").one();
    let n = t.n;
    let b = t.b;
    if (n <= s.maxEventsPerKey && b <= s.maxBytesPerKey) return 0;
    const drop: string[] = [];
    const skew = s.skewSeconds * 1000;
    const ahead = keepMs(s) - skew; // legacy rows: expires_at - ahead = arrival + skew
    for (const r of this.sql.exec<{ uid: string; bytes: number }>("SELECT uid, bytes FROM events ORDER BY MIN(time, COALESCE(arrived_at + ?, expires_at - ?)), time, uid", skew, ahead)) {
      if (n <= s.maxEventsPerKey && b <= s.maxBytesPerKey) break;
      drop.push(r.uid);
      n--;
      b -= r.bytes;
    }
    for (const uid of drop) this.sql.exec("DELETE FROM events WHERE uid = ?", uid);
    return drop.length;
  }

  /** Runs the chains over the window; records and queues (outbox) every new or grown incident (JSON texts). */
  private evaluate(s: CorrelateConfig, now: number): string[] {
    const window = this.sql
      .exec<{ body: string }>("SELECT body FROM events ORDER BY time, uid")
      .toArray()
      .map((r) => JSON.parse(r.body) as Summary);
    const out: string[] = [];
    for (const m of matchChains(window, s)) {
      const ev = this.emission(m, s, now);
      if (ev) out.push(ev);
    }
    return out;
  }

  private emission(m: ChainMatch, s: CorrelateConfig, now: number): string | undefined {
    const row = this.sql.exec<Row>("SELECT members, emissions FROM incidents WHERE finding_uid = ?", m.finding_uid).toArray()[0];
    let members = m.members;
    let activity: IncidentActivity = 1;
    let emissions = 0;
    if (row) {
      emissions = Number(row.emissions);
      if (emissions > s.maxUpdates) return undefined; // the Create and maxUpdates Updates were sent
      const prev = JSON.parse(String(row.members)) as Summary[];
      members = grow(prev, m.members, s.maxRelated);
      if (members.length === prev.length) return undefined; // nothing new (a duplicate, or the list is full)
      activity = 2;
    }
    const ev = buildIncident({ ...m, members }, { activity, ocsfVersion: this.config().ocsf.version, assigneeGroup: s.assigneeGroup });
    const uid = String(ev.metadata.uid);
    this.sql.exec(
      "INSERT OR REPLACE INTO incidents (finding_uid, chain, members, last_uid, emissions, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
      m.finding_uid,
      m.chain,
      JSON.stringify(members),
      uid,
      emissions + 1,
      now + keepMs(s),
    );
    const body = JSON.stringify(ev);
    this.sql.exec("INSERT OR REPLACE INTO outbox (uid, body, attempts, created_at) VALUES (?, ?, 0, ?)", uid, body, now);
    this.trim();
    log("info", "incident", { chain: m.chain, finding_uid: m.finding_uid, uid, activity, related: members.length, key: m.scope });
    return body;
  }

  private trim(): void {
    const inc = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM incidents").one().n;
    if (inc > MAX_INCIDENTS) this.sql.exec("DELETE FROM incidents WHERE finding_uid IN (SELECT finding_uid FROM incidents ORDER BY expires_at LIMIT ?)", inc - MAX_INCIDENTS);
    const box = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n;
    if (box > MAX_OUTBOX) {
      this.sql.exec("DELETE FROM outbox WHERE uid IN (SELECT uid FROM outbox ORDER BY created_at, uid LIMIT ?)", box - MAX_OUTBOX);
      log("error", "incident outbox full: oldest incidents dropped", { dropped: box - MAX_OUTBOX });
    }
  }

  /** Sends the outbox to the queue (one send at a time per object). Returns how many are still waiting. */
  private flush(): Promise<number> {
    const run = this.flushing.then(() => this.flushOnce());
    this.flushing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async flushOnce(): Promise<number> {
    const rows = this.sql.exec<{ uid: string; body: string }>("SELECT uid, body FROM outbox ORDER BY created_at, uid LIMIT 100").toArray();
    if (rows.length === 0) return 0;
    const route = routerFor(this.config());
    const events = rows.map((r) => {
      const event = JSON.parse(r.body) as OcsfEvent;
      return { event, sinks: route(event) };
    });
    try {
      const q = new Enqueuer(this.producer ?? this.env.EVENTS, this.env.ARCHIVE);
      await q.add(events);
      await q.finish();
      for (const r of rows) this.sql.exec("DELETE FROM outbox WHERE uid = ?", r.uid);
      for (const { event } of events) countIncident(chainOf(event), event.activity_id === 1 ? "create" : "update");
    } catch (e) {
      for (const r of rows) this.sql.exec("UPDATE outbox SET attempts = attempts + 1 WHERE uid = ?", r.uid);
      log("warn", "incident enqueue failed; retrying from the alarm", { error: (e as Error).message, incidents: rows.length });
    }
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n;
  }

  /** Sets the alarm to the next expiry, or soon when incidents wait for the queue. */
  private async schedule(now: number): Promise<void> {
    const next = this.sql
      .exec<{ t: number | null }>("SELECT MIN(t) AS t FROM (SELECT MIN(expires_at) AS t FROM events UNION ALL SELECT MIN(expires_at) FROM incidents)")
      .one().t;
    const waiting = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n > 0;
    let at = next === null ? Infinity : Math.max(next, now + EXPIRY_GRANULARITY_MS);
    if (waiting) at = Math.min(at, now + OUTBOX_RETRY_MS);
    const current = await this.ctx.storage.getAlarm();
    if (at === Infinity) {
      if (current !== null) await this.ctx.storage.deleteAlarm();
      return;
    }
    if (current !== at) await this.ctx.storage.setAlarm(at);
  }

  /** Expires the window and the remembered incidents; retries the outbox. */
  override async alarm(): Promise<void> {
    const now = this.clock();
    this.sql.exec("DELETE FROM events WHERE expires_at <= ?", now);
    this.sql.exec("DELETE FROM incidents WHERE expires_at <= ?", now);
    await this.flush();
    await this.schedule(now);
    // this object's counts (incidents) reach GET /metrics from here too (never throws)
    await flushMetrics(this.env);
  }

  /** Counts (tests, diagnostics). */
  async stats(): Promise<CorrelatorStats> {
    const e = this.sql.exec<{ n: number; b: number }>("SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM events").one();
    const inc = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM incidents").one().n;
    const box = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n;
    return { events: e.n, bytes: e.b, incidents: inc, outbox: box, alarm: await this.ctx.storage.getAlarm() };
  }

  /** The window, in time order (tests, diagnostics). */
  async window(): Promise<Summary[]> {
    return this.sql
      .exec<{ body: string }>("SELECT body FROM events ORDER BY time, uid")
      .toArray()
      .map((r) => JSON.parse(r.body) as Summary);
  }
}
