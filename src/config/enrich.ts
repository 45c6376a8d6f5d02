// The `enrich` section of the Tributary config (docs/enrichment.md). Every part is optional;
// `{}` means: ATT&CK mapping and Kubernetes/cloud context on, no inventory, no threat intel.
import { z } from "zod";
import { secretRef } from "./secret";

/**
 * One host inventory row. `match` is a hostname, node name, instance id or a glob (`web-*`, `ip-10-0-?-*`);
 * `tenants` scopes the row to those tenants' events (docs/enrichment.md).
 */
export const inventoryRowSchema = z
  .object({
    match: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    owner: z.string().min(1).optional(),
    team: z.string().min(1).optional(),
    environment: z.string().min(1).optional(),
    criticality: z.string().min(1).optional(),
    region: z.string().min(1).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    /**
     * Tenants (metadata.tenant_uid, i.e. auth.tokens[].tenant) whose events this row applies to; without it
     * the row applies to every event. A tenant's rows are tried before the untenanted ones.
     */
    tenants: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  })
  .strict();
export type InventoryRow = z.infer<typeof inventoryRowSchema>;

export const inventorySchema = z
  .object({
    /** Rows written in the config itself. */
    inline: z.array(inventoryRowSchema).default([]),
    /** An object in the ARCHIVE R2 bucket holding more rows: JSON (an array of rows) or CSV (header row). */
    r2Key: z.string().min(1).optional(),
    /** A key in the optional ENRICH_KV namespace binding holding more rows (JSON or CSV, as for r2Key). */
    kvKey: z.string().min(1).optional(),
    /** Format of the R2 object / KV value; by default from the key's extension (.csv -> csv, else json). */
    format: z.enum(["json", "csv"]).optional(),
  })
  .strict();

export const FEED_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const feedSchema = z
  .object({
    /** Feed name: names the feed in enrichments[] and the R2 object intel/<name>.txt. */
    name: z.string().regex(FEED_NAME, "letters, digits, '.', '_' or '-' (at most 64)"),
    /** Refreshed by the Cron Trigger from this URL into R2 (intel/<name>.txt). */
    url: z.string().url().optional(),
    /** Extra request headers for the URL (e.g. an API key: { "Authorization": { "env": "FEED_KEY" } }). */
    headers: z.record(z.string(), secretRef).optional(),
    /** A raw feed file already in the ARCHIVE bucket (parsed when the isolate loads it). */
    r2Key: z.string().min(1).optional(),
    /** Indicators written in the config (small lists, tests). */
    indicators: z.array(z.string().min(1)).optional(),
    format: z.enum(["plain", "csv", "misp", "stix"]).default("plain"),
    /** Which indicators to keep: "auto" keeps every kind recognised. */
    type: z.enum(["ip", "domain", "hash", "url", "auto"]).default("auto"),
    /** Confidence (0-100) of indicators that carry none of their own. */
    confidence: z.number().int().min(0).max(100).default(80),
    /** Severity levels an event is raised by on a hit with confidence >= intel.minConfidence (0 = never). */
    severityRaise: z.number().int().min(0).max(5).default(1),
    /** CSV: the indicator column (header name or 0-based index), its optional confidence column, delimiter. */
    csv: z
      .object({
        column: z.union([z.string().min(1), z.number().int().min(0)]).optional(),
        confidenceColumn: z.union([z.string().min(1), z.number().int().min(0)]).optional(),
        delimiter: z.string().length(1).default(","),
        header: z.boolean().optional(),
      })
      .strict()
      .optional(),
    /** MISP: keep only attributes flagged for IDS (to_ids), as MISP's own exports do. */
    mispToIdsOnly: z.boolean().default(true),
    /** A refresh is refused when more than this share of the data lines are not indicators. */
    maxInvalidRatio: z.number().min(0).max(1).default(0.1),
  })
  .strict()
  .refine((f) => f.url !== undefined || f.r2Key !== undefined || f.indicators !== undefined, {
    message: "a feed needs url, r2Key or indicators",
  });
export type FeedConfig = z.infer<typeof feedSchema>;

export const intelSchema = z
  .object({
    feeds: z.array(feedSchema).default([]),
    /** Hits with at least this confidence raise the event's severity (by the feed's severityRaise). */
    minConfidence: z.number().int().min(0).max(100).default(80),
    /** How often an isolate checks R2 for refreshed feeds (seconds). */
    reloadSeconds: z.number().int().min(1).default(300),
    /** Largest plain/CSV feed download accepted by the refresh (bytes). */
    maxFeedBytes: z.number().int().positive().default(64_000_000),
    /**
     * Largest MISP/STIX JSON feed read (bytes, after gunzip), downloaded or from r2Key. These are read
     * as a stream, one element at a time, so memory does not grow with this; time does.
     */
    maxJsonFeedBytes: z.number().int().positive().default(512_000_000),
    /** Longest single element of a MISP/STIX feed (a MISP attribute or object, a STIX object), in characters. */
    maxJsonElementChars: z.number().int().positive().default(1_000_000),
  })
  .strict()
  .superRefine((v, ctx) => {
    const seen = new Set<string>();
    v.feeds.forEach((f, i) => {
      if (seen.has(f.name)) ctx.addIssue({ code: "custom", path: ["feeds", i, "name"], message: `duplicate feed name "${f.name}"` });
      seen.add(f.name);
    });
  });
export type IntelConfig = z.infer<typeof intelSchema>;

export const enrichSchema = z
  .object({
    inventory: inventorySchema.optional(),
    intel: intelSchema.optional(),
    attack: z.object({ enabled: z.boolean().default(true) }).strict().default({ enabled: true }),
    context: z
      .object({
        /** Kubernetes cluster name per tenant (the token's tenant); a token's own `cluster` also counts. */
        clusters: z.record(z.string(), z.string().min(1)).default({}),
        /** AWS account id -> alias, written to cloud.account.name and every account object with that uid. */
        awsAccountAliases: z
          .record(z.string(), z.string().min(1))
          .superRefine((v, ctx) => {
            for (const k of Object.keys(v)) {
              if (!/^\d{12}$/.test(k)) ctx.addIssue({ code: "custom", path: [k], message: `"${k}" is not a 12-digit AWS account id` });
            }
          })
          .default({}),
      })
      .strict()
      .default({ clusters: {}, awsAccountAliases: {} }),
  })
  .strict();
export type EnrichConfig = z.infer<typeof enrichSchema>;
