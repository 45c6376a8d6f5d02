// Read access to the local archive, for `npm run archive:ls` / `archive:cat` in development.
// Only served when TRIBUTARY_DEV is "true" (wrangler dev via `npm start`), and then, when
// delivery.adminToken is configured, only with `Authorization: Bearer <delivery.adminToken>` (./admin.ts).
import { Hono, type Context } from "hono";
import { adminGuard } from "./admin";
import { gunzipSync, strFromU8 } from "fflate";
import type { AppEnv } from "./ingest";

export const archiveRoutes = new Hono<AppEnv>();

const devOnly = (c: Context<AppEnv>) => c.json({ error: "the archive browser is only served in local development (TRIBUTARY_DEV=true)" }, 403);
const guard = adminGuard({ what: "the archive browser", closed: devOnly });
archiveRoutes.use("/v1/archive/*", async (c, next) => (c.env.TRIBUTARY_DEV !== "true" ? devOnly(c) : guard(c, next)));

archiveRoutes.get("/v1/archive/list", async (c) => {
  const prefix = c.req.query("prefix") ?? "";
  const keys: { key: string; size: number; events?: string; uploaded: string }[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const list = await c.env.ARCHIVE.list({ prefix, cursor, include: ["customMetadata"] });
    for (const o of list.objects) keys.push({ key: o.key, size: o.size, events: o.customMetadata?.events, uploaded: o.uploaded.toISOString() });
    if (!list.truncated) break;
    cursor = list.cursor;
  }
  return c.json({ objects: keys });
});

archiveRoutes.get("/v1/archive/object/*", async (c) => {
  const key = decodeURIComponent(new URL(c.req.url).pathname.slice("/v1/archive/object/".length));
  const obj = await c.env.ARCHIVE.get(key);
  if (!obj) return c.json({ error: `no object ${key}` }, 404);
  const bytes = new Uint8Array(await obj.arrayBuffer());
  const text = key.endsWith(".gz") ? strFromU8(gunzipSync(bytes)) : strFromU8(bytes);
  return c.text(text, 200, { "content-type": "application/x-ndjson; charset=utf-8" });
});
