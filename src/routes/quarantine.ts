// The quarantine over HTTP, for `npm run quarantine -- ls|reasons|reingest` (docs/ingest.md#quarantine):
//   GET  /v1/quarantine?day=yyyymmdd[&reason=s&tenant=t&cursor=&limit=]   the entries of that day (key, index,
//                                           route, tenant, reason, request_id, received_at, size) and their
//                                           reasons counted (numbers as N, first 50 chars), `more`/`cursor` to page on
//   POST /v1/quarantine/reingest {day | keys, reason?, tenant?, dryRun?, cursor?, limit?}
//                                           runs each entry's record through ingest again (ingestRecords: the
//                                           same framing, admission, pipeline, queue and spool), under the
//                                           entry's tenant and route, once its cause is fixed (a new release, a
//                                           raised limit, a credential's sources): what is accepted now is removed
//                                           from the quarantine, what is still rejected stays with its new reason
// Records keep their uids (derived from the record, the tenant and the time it was first received), so a record
// re-ingested twice gives the same events: sinks deduplicate them by metadata.uid.
// Guarded as /v1/dlq is (./admin.ts): delivery.adminToken, or open on a dev server without one.
import { Hono } from "hono";
import { z } from "zod";
import { ingestRecords, KINDS, type AppEnv } from "./ingest";
import { adminBody, operatorGuard } from "./admin";
import { allows, ingestTenants, type Principal } from "./auth";
import { readBody, streamOf, BodyError, type BodyFormat, type BodyText } from "./body";
import { configFor } from "../config/load";
import { hmacEntries, type Config } from "../config/schema";
import { lookup } from "../normalize/json";
import type { SourceKind } from "../normalize/ocsf";
import type { RoutedEvent } from "../pipeline";
import { Enqueuer } from "../deliver/enqueue";
import { spooler } from "../deliver/spool";
import { countingProducer, countReingested } from "../ops/record";
import { log } from "../ops/log";
import { utf8Length } from "../sinks/batch";
import {
  QUARANTINE_PAGE_OBJECTS,
  QUARANTINE_PREFIX,
  quarantineDayPrefix,
  quarantineUniq,
  readQuarantineKeys,
  readQuarantinePage,
  reasonHead,
  rewriteQuarantineObject,
  textRedactor,
  withNewReason,
  type EntryAt,
  type QuarantinePage,
  type StoredEntry,
} from "../deliver/quarantine";

export const quarantineRoutes = new Hono<AppEnv>();

const guard = operatorGuard("the quarantine endpoints");
quarantineRoutes.use("/v1/quarantine", guard);
quarantineRoutes.use("/v1/quarantine/*", guard);

/** Entries a call goes through by default, and at most. */
const DEFAULT_LIMIT = 500;
const MAX_LIMIT = 5000;

/** Whether an entry is selected by the `reason` (substring) and `tenant` filters; an unreadable one only without them. */
function selected(at: EntryAt, reason: string | undefined, tenant: string | undefined): boolean {
  if (!at.entry) return reason === undefined && tenant === undefined;
  if (tenant !== undefined && at.entry.tenant !== tenant) return false;
  return reason === undefined || (at.entry.reason ?? "").includes(reason);
}

/**
 * A reason's kind, to count by: its numbers standing alone (a size, a limit, a position in the text) as N, then its
 * first 50 characters; else every record size would be a reason of its own ("record is 12946 bytes, ...", "record is
 * 12947 bytes, ..."). Numbers inside names (tenant "prod-1", "line2") stay.
 */
function reasonKind(reason: string): string {
  return reasonHead(reason.replace(/(?<![\w.-])\d+(?![\w.-])/g, "N"));
}

/** Counts by reason kind (reasonKind), most frequent first. */
function reasonCounts(reasons: string[]): { reason: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const r of reasons) {
    const head = reasonKind(r);
    counts.set(head, (counts.get(head) ?? 0) + 1);
  }
  return [...counts].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}

quarantineRoutes.get("/v1/quarantine", async (c) => {
  const prefix = quarantineDayPrefix(c.req.query("day") ?? "");
  if (!prefix) return c.json({ error: "day: give the day the records were received, yyyymmdd (UTC), e.g. ?day=20261122" }, 400);
  const limit = Math.min(MAX_LIMIT, Math.max(1, Number(c.req.query("limit") ?? DEFAULT_LIMIT) || DEFAULT_LIMIT));
  const reason = c.req.query("reason") || undefined;
  const tenant = c.req.query("tenant") || undefined;
  const page = await readQuarantinePage(c.env.ARCHIVE, prefix, c.req.query("cursor") || undefined, limit);
  const entries = [];
  for (const obj of page.objects) {
    for (const at of obj.entries) {
      if (!selected(at, reason, tenant)) continue;
      const e: StoredEntry = at.entry ?? { reason: at.unreadable };
      const size = obj.key.endsWith(".ndjson") ? utf8Length(at.line) : obj.size;
      entries.push({ key: obj.key, index: e.index ?? -1, route: e.route, tenant: e.tenant, reason: e.reason ?? "", request_id: e.request_id, received_at: e.received_at, size, ...(e.source ? { source: e.source } : {}), ...(e.path ? { path: e.path } : {}) });
    }
  }
  return c.json({ entries, records: entries.length, reasons: reasonCounts(entries.map((e) => e.reason)), more: page.more, ...(page.more && page.cursor ? { cursor: page.cursor } : {}) });
});

const reingestSchema = z
  .object({
    /** The day the records were received (yyyymmdd, UTC): its entries in key order, `limit` a call. */
    day: z.string().regex(/^\d{8}$/, "expected yyyymmdd").optional(),
    /** Only entries whose reason holds this text. */
    reason: z.string().min(1).optional(),
    /** Only entries of this tenant. */
    tenant: z.string().min(1).optional(),
    /** These objects instead of a day's (as listed). */
    keys: z.array(z.string().refine((k) => k.startsWith(QUARANTINE_PREFIX), `a key under ${QUARANTINE_PREFIX}`)).min(1).max(QUARANTINE_PAGE_OBJECTS).optional(),
    /** Tell what would happen: nothing is queued, no object changes. */
    dryRun: z.boolean().default(false),
    /** Go on after this key (the `cursor` of the previous answer). */
    cursor: z.string().min(1).optional(),
    limit: z.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT),
  })
  .strict()
  .refine((b) => b.day !== undefined || b.keys !== undefined, { message: "name a day (yyyymmdd) or keys" });

/** Ingest route path -> its source (undefined: detected per record, as /v1/events and / do), or null for another path. */
function routeKind(route: string): SourceKind | undefined | null {
  if (route === "/" || route === "/v1/events") return undefined;
  const m = /^\/v1\/events\/([^/]+)$/.exec(route);
  return (m && lookup(KINDS, m[1]!)) ?? null;
}

/**
 * The principal an entry is re-ingested under: its tenant, with the sources the config's credentials of that tenant
 * may send now (all when one of them has no `sources`); a reason when no credential has the tenant any more.
 */
function principalFor(cfg: Config, env: Env, tenant: string | undefined): Principal | string {
  // a record received while auth.required was false has no tenant, as the request had none
  if (tenant === undefined) return { method: "none" };
  const rows = [...cfg.auth.tokens, ...hmacEntries(cfg.auth)].filter((t) => t.tenant === tenant);
  // (a credential of the tenant makes it an ingest tenant; without one, "none" or "dev" may still be)
  if (rows.length === 0 && !ingestTenants(cfg, env).includes(tenant)) return `no ingest credential of the config has tenant "${tenant}" now: add it back to re-ingest its records`;
  const all = rows.length === 0 || rows.some((r) => r.sources === undefined);
  return { tenant, sources: all ? undefined : [...new Set(rows.flatMap((r) => r.sources ?? []))], method: "none" };
}

/** The entry's record as a body to ingest: its text as received, its bytes (not UTF-8), or its parsed JSON; else why not. */
async function entryBody(e: StoredEntry, cfg: Config): Promise<{ body: BodyText; framing: BodyFormat["framing"] } | string> {
  if (typeof e.raw_base64 === "string") {
    let bytes: Uint8Array;
    try {
      bytes = Uint8Array.from(atob(e.raw_base64), (ch) => ch.charCodeAt(0));
    } catch {
      return "the entry's raw_base64 is not base64";
    }
    // decoded as an NDJSON body is: a line that is not UTF-8 is set aside with its reason, as it was
    try {
      return { body: await readBody(streamOf(bytes), { framing: "ndjson", encodings: [] }, cfg.limits), framing: "ndjson" };
    } catch (err) {
      if (err instanceof BodyError) return err.message;
      throw err;
    }
  }
  // a line of JSON is framed as the NDJSON line it was (measured as one: the same size reason); other text is sniffed:
  // a JSON document (a whole body) as one value, anything else as Falco's text output
  if (typeof e.raw === "string") return { body: { text: e.raw }, framing: /^\s*[[{][^\n]*$/.test(e.raw) ? "ndjson" : "sniff" };
  if (e.record !== undefined) return { body: { text: JSON.stringify(e.record) }, framing: "sniff" };
  return e.record_error ?? "the entry keeps no record to re-ingest";
}

/** One entry through ingest again: its routed events, or the reason it is still rejected. */
async function reingestEntry(env: Env, cfg: Config, e: StoredEntry, now: number): Promise<{ events: RoutedEvent[] } | { reason: string }> {
  const kind = routeKind(e.route ?? "");
  if (kind === null) return { reason: `route ${e.route ?? "(none)"} is not an ingest route` };
  const principal = principalFor(cfg, env, e.tenant);
  if (typeof principal === "string") return { reason: principal };
  if (kind !== undefined && !allows(principal, kind)) return { reason: `credentials of tenant "${principal.tenant}" may not send ${kind} records (allowed: ${principal.sources?.join(", ")})` };
  const body = await entryBody(e, cfg);
  if (typeof body === "string") return { reason: body };
  // the time it was first received: the same logged_time (and time, when the record has none), so the same uids
  const at = Date.parse(e.received_at ?? "");
  const events: RoutedEvent[] = [];
  const run = await ingestRecords(env, cfg, principal, kind, body.body, body.framing, Number.isNaN(at) ? now : at, async (evs) => {
    events.push(...evs);
  });
  if ("refused" in run) return { reason: run.refused.reason };
  if (run.rejected.length > 0) {
    const more = run.rejected.length > 1 ? ` (and ${run.rejected.length - 1} more of its ${run.records} records)` : "";
    return { reason: run.rejected[0]!.reason + more };
  }
  if (run.records === 0) return { reason: "the entry holds no record" };
  return { events };
}

interface Plan {
  obj: QuarantinePage["objects"][number];
  kept: EntryAt[];
  changed: boolean;
}

quarantineRoutes.post("/v1/quarantine/reingest", async (c) => {
  const body = await adminBody(c, reingestSchema);
  if (body instanceof Response) return body;
  const { day, reason, tenant, keys, dryRun, cursor, limit } = body;
  const cfg = configFor(c.env);
  const now = Date.now();
  const bucket = c.env.ARCHIVE;
  let page: QuarantinePage;
  const stillRejected: { key: string; index: number; reason: string }[] = [];
  if (keys) {
    const r = await readQuarantineKeys(bucket, keys);
    for (const key of r.missing) stillRejected.push({ key, index: -1, reason: "no such quarantine object (re-ingested already?)" });
    page = { objects: r.objects, more: false };
  } else page = await readQuarantinePage(bucket, quarantineDayPrefix(day!)!, cursor, limit);
  /** Keys named that were not found: answered in still_rejected, but no record. */
  const notFound = stillRejected.length;

  // what is accepted goes to the queue as ingest's events do: the spool when the queue refuses
  const requestId = c.get("requestId");
  const queue = dryRun ? undefined : new Enqueuer(countingProducer(c.env.EVENTS), bucket, spooler(bucket, { requestId, uniq: quarantineUniq(), receivedAt: now }));
  const plans: Plan[] = [];
  let reingested = 0;
  let events = 0;
  const redactReason = textRedactor(cfg.redact);
  try {
    for (const obj of page.objects) {
      const plan: Plan = { obj, kept: [], changed: false };
      plans.push(plan);
      for (const at of obj.entries) {
        if (!selected(at, reason, tenant)) plan.kept.push(at);
        else if (!at.entry) {
          stillRejected.push({ key: obj.key, index: -1, reason: at.unreadable ?? "unreadable" });
          plan.kept.push(at);
        } else {
          const r = await reingestEntry(c.env, cfg, at.entry, now);
          if ("events" in r) {
            await queue?.add(r.events);
            reingested++;
            events += r.events.length;
            plan.changed = true;
          } else {
            // the new reason is kept (and answered) masked by the config's redact, as ingest keeps a first one
            const why = redactReason ? redactReason.reason(r.reason) : r.reason;
            stillRejected.push({ key: obj.key, index: at.entry.index ?? -1, reason: why });
            const next = withNewReason(at, why, now);
            plan.changed ||= next !== at;
            plan.kept.push(next);
          }
        }
      }
    }
    await queue?.finish();
  } catch (e) {
    // the queue refused and the spool could not keep the events either: the quarantine is left as it was
    const error = e instanceof Error ? e.message : String(e);
    log("error", "quarantine reingest failed", { requestId, error, queued: queue?.sent ?? 0 });
    c.header("Retry-After", "10");
    return c.json({ error: `the events could not be queued nor spooled (${error}): the quarantine is unchanged, try again (events queued before the failure are queued again then, with the same metadata.uid)` }, 503);
  }
  // counted once the queue (or spool) took the events; records, not the keys named that were not found
  if (!dryRun) countReingested(reingested, stillRejected.length - notFound);
  // only now that the events are on the queue (or spooled) do their entries leave the quarantine
  const changedMeanwhile: string[] = [];
  if (!dryRun) {
    for (const p of plans) if (p.changed && !(await rewriteQuarantineObject(bucket, p.obj, p.kept))) changedMeanwhile.push(p.obj.key);
  }
  log("info", "quarantine reingest", { requestId, day, dryRun, objects: page.objects.length, reingested, events, stillRejected: stillRejected.length, spooled: queue?.spooled ?? 0, more: page.more, ...(changedMeanwhile.length ? { changedMeanwhile: changedMeanwhile.length } : {}) });
  return c.json({
    reingested,
    events,
    still_rejected: stillRejected,
    more: page.more,
    ...(page.more && page.cursor ? { cursor: page.cursor } : {}),
    ...(dryRun ? { dryRun: true } : {}),
    ...(queue && queue.spooled > 0 ? { spooled: queue.spooled } : {}),
    // rewritten by another re-ingest since this one read them: left as they were (their accepted records are queued and
    // will be again by the next re-ingest, with the same uids)
    ...(changedMeanwhile.length ? { changed_meanwhile: changedMeanwhile } : {}),
  });
});
