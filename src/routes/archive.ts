// Read access to the local archive, for `npm run archive:ls` / `archive:cat` in development.
// Only served when TRIBUTARY_DEV is "true" (wrangler dev via `npm start`), and then, when
// delivery.adminToken is configured, only with `Authorization: Bearer <delivery.adminToken>` (./admin.ts).
import { Hono, type Context } from "hono";
import { adminGuard } from "./admin";
import { gunzipSync, strFromU8 } from "fflate";
import type { AppEnv } from "./ingest";
import { QUARANTINE_PREFIX } from "../deliver/quarantine";
import { SPILL_PREFIX } from "../deliver/enqueue";
import { QUEUE_DLQ_OBJECTS_PREFIX } from "../deliver/queue-dlq";
import { listWithMetadata } from "../deliver/dlq";

export const archiveRoutes = new Hono<AppEnv>();

const devOnly = (c: Context<AppEnv>) => c.json({ error: "the archive browser is only served in local development (TRIBUTARY_DEV=true)" }, 403);
const guard = adminGuard({ what: "the archive browser", closed: devOnly });
archiveRoutes.use("/v1/archive/*", async (c, next) => (c.env.TRIBUTARY_DEV !== "true" ? devOnly(c) : guard(c, next)));

const plural = (n: string | number, what: string) => `${n} ${what}${Number(n) === 1 ? "" : "s"}`;

/**
 * What an object holds, for `npm run archive:ls`: its events (archive batches and spooled messages say so
 * in their metadata), its rejected records (quarantine: one per .json object, the rest of a request in the
 * -rest.ndjson one), dead-lettered events, a spilled event.
 */
export function holdsOf(key: string, meta: Record<string, string>): string {
  if (key.startsWith(QUARANTINE_PREFIX)) {
    if (meta.records !== undefined) return plural(meta.records, "rejected record");
    // written before the records count was kept: -<index>.json holds one, -rest.ndjson says it in its reason
    if (key.endsWith(".json")) return plural(1, "rejected record");
    const more = /^(\d+) more records$/.exec(meta.reason ?? "");
    return more ? plural(more[1]!, "rejected record") : "rejected records";
  }
  if (meta.events !== undefined) return plural(meta.events, "event");
  if (meta.count !== undefined) return `${plural(meta.count, "event")}${meta.sink ? ` for ${meta.sink}` : ""}`;
  if (key.startsWith(SPILL_PREFIX)) return "1 event (spilled)";
  if (key.startsWith(QUEUE_DLQ_OBJECTS_PREFIX)) return "a queue dead letter's copy of an object it points at";
  return "?";
}

archiveRoutes.get("/v1/archive/list", async (c) => {
  const prefix = c.req.query("prefix") ?? "";
  // every object over at most 50 list pages (about 50,000 objects); `more` says the listing stopped there
  const { items, more } = await listWithMetadata(c.env.ARCHIVE, prefix, Infinity, 50, (o) => ({
    key: o.key,
    size: o.size,
    events: o.customMetadata?.events,
    holds: holdsOf(o.key, o.customMetadata ?? {}),
    uploaded: o.uploaded.toISOString(),
  }));
  return c.json(more ? { objects: items, more: true } : { objects: items });
});

archiveRoutes.get("/v1/archive/object/*", async (c) => {
  const key = decodeURIComponent(new URL(c.req.url).pathname.slice("/v1/archive/object/".length));
  const obj = await c.env.ARCHIVE.get(key);
  if (!obj) return c.json({ error: `no object ${key}` }, 404);
  const bytes = new Uint8Array(await obj.arrayBuffer());
  let text: string;
  try {
    text = key.endsWith(".gz") ? strFromU8(gunzipSync(bytes)) : strFromU8(bytes);
  } catch (e) {
    // a cut or corrupt gzip: name the object and why (it was a bare 500 "internal error")
    return c.json({ error: `object ${key} cannot be read: ${(e as Error).message || "not valid gzip"}` }, 422);
  }
  return c.text(text, 200, { "content-type": "application/x-ndjson; charset=utf-8" });
});
