// The dead-letter store over HTTP, for `npm run dlq -- list|show|replay` (docs/delivery.md):
//   GET  /v1/dlq[?sink=name&limit=n]        list dead letters (key, sink, events, attempts, status, reason)
//   GET  /v1/dlq?tenant=name[&sink=&limit=]  only dead letters holding events of that tenant (metadata.tenant_uid;
//                                           `note` when no credential of the config has that tenant)
//   GET  /v1/dlq/object/<key>               one dead letter (events, reason, the sink's last response)
//   POST /v1/dlq/replay {sink?, keys?, limit?, to?}  move each dead letter aside (<id>.replaying.json), send the
//                                           events back to their sink through DELIVERIES (a fresh retry
//                                           budget), then remove the copy; `to`
//                                           sends them to that configured sink instead (a renamed sink);
//                                           at most `limit` (100) a call, `more` when others are left
// Queue messages the consumer could not settle at all (src/deliver/queue-dlq.ts, dlq-queue/...) are
// listed beside them as sink "queue:events" / "queue:deliveries"; replay sends each body back to its
// queue unchanged.
//   GET  /v1/dlq/spool                      what ingest spooled while the queue refused it (src/deliver/spool.ts)
//   POST /v1/dlq/spool/drain                send spool objects back to the queue now, within the cron's budget (SPOOL_DRAIN_SCHEDULED; the cron does it every minute)
//   GET  /v1/dlq/staged[?sink=name]         buffered sinks' staged objects per sink: objects, events, oldest (src/deliver/inventory.ts)
//   GET  /v1/dlq/unreadable                 spool and staged objects set aside as unreadable (spool-unreadable/, stage-unreadable/)
// With delivery.adminToken configured they need `Authorization: Bearer <delivery.adminToken>`, in local
// development too (./admin.ts); a dev server (TRIBUTARY_DEV=true) without one serves them openly.
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "./ingest";
import { configFor } from "../config/load";
import { adminBody, operatorGuard } from "./admin";
import { ingestTenants } from "./auth";
import { listDeadLetters, listTenantDeadLetters, readDeadLetter, setAsideForReplay, DLQ_PREFIX } from "../deliver/dlq";
import { deleteCopies, listQueueDeadLetters, readQueueDeadLetter, resendQueueDeadLetter, QUEUE_DLQ_PREFIX, QUEUE_SINK_PREFIX, type QueueOrigin } from "../deliver/queue-dlq";
import { scheduleDelivery } from "../deliver/retry";
import { resolveSinks, type ResolvedSink } from "../deliver/sinks";
import type { OcsfEvent } from "../normalize/ocsf";
import { drainQuietly, listSpool, SPOOL_DRAIN_SCHEDULED } from "../deliver/spool";
import { listUnreadable, stagedBySink } from "../deliver/inventory";
import type { Config } from "../config/schema";

export const dlqRoutes = new Hono<AppEnv>();

const guard = operatorGuard("the DLQ endpoints");
dlqRoutes.use("/v1/dlq", guard);
dlqRoutes.use("/v1/dlq/*", guard);

/** "queue:events" -> "events" (a queue dead-letter filter), anything else undefined. */
function queueOrigin(sink: string): QueueOrigin | undefined {
  const o = sink.startsWith(QUEUE_SINK_PREFIX) ? sink.slice(QUEUE_SINK_PREFIX.length) : undefined;
  return o === "events" || o === "deliveries" ? o : undefined;
}

/** Sink dead letters, then queue dead letters; `sink` "queue:<origin>" selects only the latter. */
async function listAll(bucket: R2Bucket, sink: string | undefined, limit: number) {
  const origin = sink ? queueOrigin(sink) : undefined;
  if (origin) return listQueueDeadLetters(bucket, origin, limit);
  const dead = await listDeadLetters(bucket, sink, limit);
  if (sink || dead.length >= limit) return dead;
  return dead.concat(await listQueueDeadLetters(bucket, undefined, limit - dead.length));
}

/**
 * A note when `tenant` is none the config's ingest can give (`team_a` for `team-a`), else undefined: a typo
 * lists no dead letters (and backfills no event) without a word. A removed tenant's are still found, so it is
 * a note, not a refusal.
 */
export function unknownTenantNote(cfg: Config, env: { TRIBUTARY_DEV?: string }, tenant: string): string | undefined {
  const tenants = ingestTenants(cfg, env);
  if (tenants.includes(tenant)) return undefined;
  return `no ingest credential of the config has tenant "${tenant}" (tenants: ${tenants.join(", ") || "none"}); a removed tenant's events are still found`;
}

dlqRoutes.get("/v1/dlq", async (c) => {
  const sink = c.req.query("sink") || undefined;
  const limit = Math.min(10_000, Math.max(1, Number(c.req.query("limit") ?? 1000) || 1000));
  const tenant = c.req.query("tenant") || undefined;
  if (tenant !== undefined) {
    // sink dead letters only (queue dead letters are whole queue messages, listed without a tenant); `events`
    // counts the tenant's events, each row's `tenants` every tenant's
    if (sink && queueOrigin(sink)) return c.json({ error: `queue dead letters (${sink}) are not listed by tenant: list them without ?tenant=` }, 400);
    const r = await listTenantDeadLetters(c.env.ARCHIVE, tenant, sink, limit);
    const events = r.dead.reduce((a, d) => a + (d.tenants?.[tenant] ?? 0), 0);
    const note = unknownTenantNote(configFor(c.env), c.env, tenant);
    return c.json({ tenant, dead: r.dead, records: r.dead.length, events, more: r.more, ...(r.unchecked ? { unchecked: r.unchecked } : {}), ...(note ? { note } : {}) });
  }
  const dead = await listAll(c.env.ARCHIVE, sink, limit);
  return c.json({ dead, records: dead.length, events: dead.reduce((a, d) => a + d.count, 0) });
});

dlqRoutes.get("/v1/dlq/object/*", async (c) => {
  const key = decodeURIComponent(new URL(c.req.url).pathname.slice("/v1/dlq/object/".length));
  const rec = (await readDeadLetter(c.env.ARCHIVE, key)) ?? (await readQueueDeadLetter(c.env.ARCHIVE, key));
  if (!rec) return c.json({ error: `no dead letter ${key}` }, 404);
  return c.json(rec);
});

const replaySchema = z
  .object({
    sink: z.string().min(1).optional(),
    keys: z.array(z.string().refine((k) => k.startsWith(DLQ_PREFIX) || k.startsWith(QUEUE_DLQ_PREFIX), `a key under ${DLQ_PREFIX} or ${QUEUE_DLQ_PREFIX}`)).min(1).optional(),
    /** Send the events to this configured sink instead of the one they were dead-lettered for (needs `sink` or `keys`). */
    to: z.string().min(1).optional(),
    /** Most dead letters replayed by one call (call again for more). */
    limit: z.number().int().min(1).max(1000).default(100),
  })
  .strict();

dlqRoutes.post("/v1/dlq/replay", async (c) => {
  const body = await adminBody(c, replaySchema);
  if (body instanceof Response) return body;
  const { sink, keys, limit, to } = body;
  const cfg = configFor(c.env);
  const sinks = resolveSinks(cfg);
  const target = to === undefined ? undefined : sinks.get(to);
  if (to !== undefined) {
    if (!target) return c.json({ error: `to: sink "${to}" is not configured (configured: ${[...sinks.keys()].join(", ") || "none"})` }, 400);
    if (!sink && !keys) return c.json({ error: `to: name the dead letters to send to "${to}" with sink or keys` }, 400);
  }
  // listed one beyond the limit: `more` tells the caller that dead letters (or keys) are left for another call
  const named = keys ?? (await listAll(c.env.ARCHIVE, sink, limit + 1)).map((d) => d.key);
  const targets = named.slice(0, limit);
  const replayed: { key: string; sink: string; count: number; from?: string }[] = [];
  const failed: { key: string; error: string }[] = [];
  let refusedByTarget = 0;
  const now = Date.now();
  // a dead letter of either store as one replay target: its sink, its events, why it cannot go, how it goes back
  const targetOf = async (key: string) => {
    if (key.startsWith(QUEUE_DLQ_PREFIX)) {
      const q = await readQueueDeadLetter(c.env.ARCHIVE, key);
      if (!q) return undefined;
      const qsink = `${QUEUE_SINK_PREFIX}${q.origin}`;
      const refusedTo = to === undefined ? undefined : `a queue dead letter goes back to its queue unchanged: replay it without "to"`;
      return { sink: qsink, dest: qsink, count: q.count, belongs: `belongs to ${qsink}`, unavailable: undefined, refusedTo, resend: () => resendQueueDeadLetter(q, c.env, c.env.ARCHIVE), cleanup: () => deleteCopies(c.env.ARCHIVE, q) };
    }
    const rec = await readDeadLetter(c.env.ARCHIVE, key);
    if (!rec) return undefined;
    const dest = target?.name ?? rec.sink;
    return {
      sink: rec.sink,
      dest,
      count: rec.events.length,
      belongs: `belongs to sink ${rec.sink}`,
      unavailable: target || sinks.has(rec.sink) ? undefined : `sink "${rec.sink}" is not configured: add it back before replaying, or replay it to another sink with "to"`,
      refusedTo: target ? unwritableBy(target, rec.events) : undefined,
      setAside: () => setAsideForReplay(c.env.ARCHIVE, key, now),
      resend: () => {
        const items = rec.events.map((event) => ({ event, line: JSON.stringify(event) }));
        const reason = dest === rec.sink ? `replay of ${key}` : `replay of ${key} to ${dest}`;
        return scheduleDelivery({ deliveries: c.env.DELIVERIES, archive: c.env.ARCHIVE }, { sink: dest, attempt: 1, first_attempt_at: now, reason }, items, 0);
      },
    };
  };
  for (const key of targets) {
    const t = await targetOf(key);
    if (!t) {
      failed.push({ key, error: "no such dead letter" });
      continue;
    }
    const refused = sink && t.sink !== sink ? t.belongs : t.unavailable;
    if (refused) {
      failed.push({ key, error: refused });
      continue;
    }
    if (t.refusedTo) {
      refusedByTarget++;
      failed.push({ key, error: t.refusedTo });
      continue;
    }
    try {
      // a sink dead letter is moved aside first: what the consumer dead-letters again under its key meanwhile stays
      const sent = t.setAside ? await t.setAside() : key;
      if (sent === undefined) {
        failed.push({ key, error: "no such dead letter (another replay took it)" });
        continue;
      }
      await t.resend().catch((e: Error) => {
        throw sent === key ? e : new Error(`${e.message}; the dead letter is kept as ${sent}`);
      });
      await c.env.ARCHIVE.delete(sent);
      await t.cleanup?.();
      replayed.push({ key, sink: t.dest, count: t.count, ...(t.dest !== t.sink ? { from: t.sink } : {}) });
    } catch (e) {
      failed.push({ key, error: (e as Error).message });
    }
  }
  // nothing went and all of it because `to` cannot take it: the request is at fault (400), not a store (502)
  const status = !failed.length || replayed.length ? 200 : refusedByTarget === failed.length ? 400 : 502;
  return c.json({ replayed, failed, events: replayed.reduce((a, r) => a + r.count, 0), ...(named.length > limit ? { more: true } : {}) }, status);
});

/** Why `sink` cannot take these events (the first event it could never write, e.g. a class Security Lake has no source for), or undefined. */
function unwritableBy(sink: ResolvedSink, events: readonly OcsfEvent[]): string | undefined {
  if (!sink.driver.unwritable) return undefined;
  for (const e of events) {
    const why = sink.driver.unwritable(e, sink.config);
    if (why !== undefined) return `sink "${sink.name}" (${sink.type}) cannot write event ${e.metadata?.uid ?? "?"} (class_uid ${e.class_uid}): ${why}`;
  }
  return undefined;
}

dlqRoutes.get("/v1/dlq/spool", async (c) => {
  const { objects, more } = await listSpool(c.env.ARCHIVE);
  return c.json({ spool: objects, objects: objects.length, more, events: objects.reduce((a, o) => a + o.events, 0) });
});

dlqRoutes.post("/v1/dlq/spool/drain", async (c) => {
  const r = await drainQuietly(c.env, SPOOL_DRAIN_SCHEDULED);
  if (!r) return c.json({ error: "the spool could not be read (see the logs)" }, 502);
  return c.json(r, r.error && r.objects === 0 ? 502 : 200);
});

dlqRoutes.get("/v1/dlq/staged", async (c) => {
  const { sinks, more } = await stagedBySink(c.env.ARCHIVE, Date.now(), c.req.query("sink") || undefined);
  // which of them the cron compacts: a configured storage sink's (buffered or not); another's stay staged
  let compacted: (name: string) => boolean | undefined = () => undefined;
  try {
    const resolved = resolveSinks(configFor(c.env));
    compacted = (name) => resolved.get(name)?.driver.partition !== undefined;
  } catch {
    // the config is unusable: the listing goes without the flag (the cron skips compaction then)
  }
  const rows = sinks.map((s) => ({ ...s, compacted: compacted(s.sink) }));
  return c.json({ staged: rows, more, objects: sinks.reduce((a, s) => a + s.objects, 0), events: sinks.reduce((a, s) => a + s.events, 0) });
});

dlqRoutes.get("/v1/dlq/unreadable", async (c) => {
  const { objects, more } = await listUnreadable(c.env.ARCHIVE);
  return c.json({ unreadable: objects, objects: objects.length, more });
});
