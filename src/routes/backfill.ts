// Backfill from the archive, for `npm run backfill` (docs/delivery.md "Re-sending archived events"):
//   POST /v1/backfill {sink, from, to, class_uid?, tenant?, source?, cursor?}
// sends the archived events of the event days from..to (yyyy-mm-dd, inclusive, at most 31 days apart) that
// match the filters to the configured sink `sink`, through DELIVERIES (src/deliver/backfill.ts). One call
// does a bounded page of work and answers {objects, events: {read, matched, sent}, skipped, cursor}; call
// again with `cursor` until it is absent; `note` when no credential of the config has the `tenant` asked for. 503 with Retry-After when the queue refused (the cursor is kept).
// Served in production too: it needs `Authorization: Bearer <delivery.adminToken>` (./admin.ts); a dev
// server (TRIBUTARY_DEV=true) without an admin token serves it openly, as /v1/dlq.
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "./ingest";
import { issuesText, operatorGuard } from "./admin";
import { configFor } from "../config/load";
import { ARCHIVE_SINK, oneOrMany, SOURCES } from "../config/routing";
import { resolveSinks } from "../deliver/sinks";
import { backfillPage, bindCursor, dayRange, readCursor } from "../deliver/backfill";
import { log } from "../ops/log";
import { countBackfill } from "../ops/record";
import { unknownTenantNote } from "./dlq";

export const backfillRoutes = new Hono<AppEnv>();

/** Seconds to wait when the queue refused (the answer's Retry-After). */
const QUEUE_RETRY_AFTER_S = 10;

backfillRoutes.use("/v1/backfill", operatorGuard("the backfill endpoint", "needs"));

const bodySchema = z
  .object({
    sink: z.string().min(1),
    /** First and last event day, yyyy-mm-dd (UTC, as the archive's event_day). */
    from: z.string(),
    to: z.string(),
    class_uid: z.number().int().positive().optional(),
    tenant: z.string().min(1).optional(),
    source: oneOrMany(z.enum(SOURCES), `one of ${SOURCES.join(", ")} (lower case)`).optional(),
    /** The `cursor` of a previous answer: bound to its sink, range and filters (src/deliver/backfill.ts bindCursor). */
    cursor: z.string().max(4096).optional(),
  })
  .strict();

backfillRoutes.post("/v1/backfill", async (c) => {
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch {
    return c.json({ error: "the body is not JSON: send {sink, from, to} (event days yyyy-mm-dd)" }, 400);
  }
  const parsed = bodySchema.safeParse(body);
  if (!parsed.success) return c.json({ error: issuesText(parsed.error) }, 400);
  const q = parsed.data;
  const range = dayRange(q.from, q.to);
  if ("error" in range) return c.json({ error: range.error }, 400);
  const cfg = configFor(c.env);
  const sinks = resolveSinks(cfg);
  const defined = [...sinks.keys()].join(", ") || "none";
  if (q.sink === ARCHIVE_SINK) return c.json({ error: `sink: "${ARCHIVE_SINK}" is the archive itself, what a backfill reads; name another sink (configured: ${defined})` }, 400);
  const sink = sinks.get(q.sink);
  if (!sink) return c.json({ error: `sink: "${q.sink}" is not configured (configured: ${defined})` }, 400);
  const sources = q.source === undefined ? undefined : typeof q.source === "string" ? [q.source] : q.source;
  // readCursor and bindCursor make it canonical (sources sorted, unset filters left out)
  const binding = { sink: q.sink, from: q.from, to: q.to, class_uid: q.class_uid, tenant: q.tenant, source: sources };
  const resumed = q.cursor === undefined ? undefined : readCursor(q.cursor, binding);
  if (resumed !== undefined && "error" in resumed) return c.json({ error: resumed.error }, 400);
  const page = await backfillPage(
    { archive: c.env.ARCHIVE, deliveries: c.env.DELIVERIES, now: () => Date.now() },
    sink,
    {
      ...range,
      ...(q.class_uid !== undefined ? { classUid: q.class_uid } : {}),
      ...(q.tenant !== undefined ? { tenant: q.tenant } : {}),
      ...(sources !== undefined ? { sources } : {}),
      ...(resumed !== undefined ? { cursor: resumed.key } : {}),
    },
  );
  const r = page.cursor === undefined ? page : { ...page, cursor: bindCursor(page.cursor, binding) };
  // a page stopped by the queue (503) has handed over what it scheduled before: counted too
  countBackfill(sink.name, r.events.sent);
  // one line a page: what went where, the first unreadable object, where the next page starts
  log(r.error !== undefined || r.skipped.length ? "warn" : "info", "backfill", {
    requestId: c.get("requestId"),
    sink: sink.name,
    from: q.from,
    to: q.to,
    objects: r.objects,
    sent: r.events.sent,
    ...(r.skipped.length ? { skipped: r.skipped.length, firstSkipped: r.skipped[0]!.key } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
    ...(r.cursor !== undefined ? { cursor: r.cursor } : {}),
  });
  const note = q.tenant === undefined ? undefined : unknownTenantNote(cfg, c.env, q.tenant);
  const answer = note === undefined ? r : { ...r, note };
  if (r.error !== undefined) return c.json(answer, 503, { "Retry-After": String(QUEUE_RETRY_AFTER_S) });
  return c.json(answer);
});
