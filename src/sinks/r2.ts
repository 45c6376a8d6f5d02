// R2 sink through a Worker binding (no credentials, no network hop): gzip NDJSON objects in the same
// Hive layout as the S3 sink (see ./objects). The built-in "archive" sink is this layout on the
// ARCHIVE binding, written by the consumer itself (../deliver/archive.ts); declare an `r2` sink to
// archive a routed subset into another bucket binding.
import { z } from "zod";
import type { SinkDriver, SinkResponse } from "./types";
import { classifyHttpStatus } from "./types";
import { classDayOf, encodeNdjsonObjects, normalizePrefix } from "./objects";

export const r2Schema = z
  .object({
    /** Name of the R2 bucket binding in wrangler.toml ([[r2_buckets]] binding). */
    binding: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a binding name"),
    prefix: z.string().default("ocsf").transform(normalizePrefix),
  })
  .strict();

export type R2Config = z.infer<typeof r2Schema>;

function isBucket(v: unknown): v is R2Bucket {
  return typeof v === "object" && v !== null && typeof (v as { put?: unknown }).put === "function";
}

export const r2Driver: SinkDriver<R2Config> = {
  type: "r2",
  schema: r2Schema,
  encode: (events, cfg, _ctx, lines) => encodeNdjsonObjects(events, cfg.prefix, lines),
  partition: classDayOf,
  async send(req, cfg, ctx): Promise<SinkResponse> {
    const bucket = ctx.env[cfg.binding];
    // a missing binding is a deployment error: answer 404 so the events are rejected, not retried forever
    if (!isBucket(bucket)) return { status: 404, headers: {}, body: `NoSuchBinding: no R2 bucket binding "${cfg.binding}" in this Worker` };
    // R2 errors (throws) are retried by the delivery layer
    await bucket.put(req.url, req.body, {
      httpMetadata: { contentType: "application/gzip" },
      customMetadata: { events: String(req.events.length) },
    });
    return { status: 200, headers: {}, body: "" };
  },
  classify: (res) => ({ outcome: classifyHttpStatus(res) }),
};
