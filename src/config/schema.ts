// The one Tributary config, validated with zod. Every section has defaults, so `{}` is valid.
// Secrets are never written in the file: a secret value is `{ "env": "NAME" }`, read from the
// Worker's secrets/vars at start-up.
import { z } from "zod";
import { secretRef, type SecretRef } from "./secret";
import { enrichSchema } from "./enrich";
import { sinksSchema, deliverySchema } from "./sinks";
import { routesSchema, defaultSinksSchema, archiveAllSchema, checkRouting, routingRefsParsed } from "./routing";
import { metricsSchema } from "./metrics";
import { correlateSchema } from "./correlate";
import { noiseSchema, checkNoise, noiseRefsParsed } from "./noise";
import { checkTenantNames } from "./tenant-names";
import { redactSchema } from "./redact";

export { secretRef, type SecretRef };

export const limitsSchema = z
  .object({
    /** Largest request body accepted as sent, before decompression (bytes). Vector's default batch is 10 MB. */
    maxBodyBytes: z.number().int().positive().default(16_000_000),
    /** Largest body after gzip/deflate decompression (bytes); decompression stops as soon as it is exceeded. */
    maxDecompressedBytes: z.number().int().positive().default(24_000_000),
    /** Most records accepted in one request (after unwrapping containers). */
    maxRecords: z.number().int().positive().default(100_000),
    /** Largest single record (bytes of its JSON text); k8s RequestResponse audit events can be several hundred KB. */
    maxRecordBytes: z.number().int().positive().default(1_000_000),
    /** Deepest JSON nesting accepted in a record (a flat object is depth 1). */
    maxDepth: z.number().int().positive().default(64),
    /** Most per-record errors listed in a response body (all of them are counted, and all go to the quarantine). */
    maxReportedErrors: z.number().int().nonnegative().default(1_000),
  })
  .strict();

export const tokenSchema = z
  .object({
    /** Tenant/source name recorded in metadata.tenant_uid. */
    tenant: z.string().min(1),
    /** Bearer token (Authorization: Bearer ...). */
    token: secretRef.optional(),
    /** HTTP Basic credentials (Falco http_output: https://user:pass@host/...). */
    basic: z.object({ username: z.string().min(1), password: secretRef }).strict().optional(),
    /** Restrict the token to some sources (default: all). */
    sources: z
      .array(z.enum(["falco", "tetragon", "k8s_audit", "cloudtrail"]))
      .min(1, "an empty list lets the token send nothing: name the sources it may send, or leave `sources` out for all")
      .optional(),
    /** Kubernetes cluster name for events sent with this token. */
    cluster: z.string().optional(),
  })
  .strict()
  .refine((t) => t.token !== undefined || t.basic !== undefined, { message: "a token entry needs `token` (bearer) or `basic` credentials" });

/** Most entries in an auth.hmac list: each request's signature is verified against every entry with its header. */
export const MAX_HMAC_ENTRIES = 16;

const sourcesSchema = tokenSchema.shape.sources;

/** One HMAC-SHA256 signer: its secret, the header it signs in, and (as a token entry) tenant, sources, cluster. */
export const hmacEntrySchema = z
  .object({
    // an HTTP field name (RFC 9110 token): Headers.get throws on anything else, failing every request; not
    // Authorization, which carries the bearer and basic credentials
    header: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)")
      .refine((h) => h.toLowerCase() !== "authorization", "not Authorization: it carries the bearer and basic credentials")
      .default("x-tributary-signature"),
    secret: secretRef,
    tenant: z.string().min(1),
    sources: sourcesSchema,
    cluster: z.string().optional(),
  })
  .strict();
const hmacSingleSchema = hmacEntrySchema.extend({ tenant: z.string().min(1).default("hmac") });
const hmacListSchema = z
  .array(hmacEntrySchema)
  .min(1, "an empty list accepts no signature: leave `hmac` out instead")
  .max(MAX_HMAC_ENTRIES, `at most ${MAX_HMAC_ENTRIES} entries (every signature is checked against each)`);

/**
 * auth.hmac: one signer object (the original form) or a list of them (several senders, or rotation: two
 * entries of one tenant). Dispatched on the shape so that an error names the exact field (auth.hmac.1.secret)
 * rather than zod's "no union member matched".
 */
type HmacConfig = z.infer<typeof hmacListSchema> | z.infer<typeof hmacSingleSchema>;
const hmacSchema = z.unknown().transform((v, ctx): HmacConfig => {
  const r = Array.isArray(v) ? hmacListSchema.safeParse(v) : hmacSingleSchema.safeParse(v);
  if (r.success) return r.data;
  for (const issue of r.error.issues) ctx.addIssue({ ...issue, code: "custom", message: issue.message, path: issue.path });
  return z.NEVER;
});

export type HmacEntry = z.infer<typeof hmacEntrySchema> & {
  /** Where it is in the config, for errors and logs: "auth.hmac" or "auth.hmac.1". */
  at: string;
  /** The same place as a zod path under auth: ["hmac"] or ["hmac", 1]. */
  path: (string | number)[];
};

/** The configured HMAC signers as a list, whichever form auth.hmac takes. */
export function hmacEntries(auth: { hmac?: HmacConfig }): HmacEntry[] {
  const h = auth.hmac;
  if (h === undefined) return [];
  return Array.isArray(h) ? h.map((e, i) => ({ ...e, at: `auth.hmac.${i}`, path: ["hmac", i] })) : [{ ...h, at: "auth.hmac", path: ["hmac"] }];
}

/** Every ingest credential (auth.tokens, then the HMAC signers) as its tenant, cluster and zod path under auth. */
export function credentialRows(auth: { tokens: z.infer<typeof tokenSchema>[]; hmac?: HmacConfig }): { tenant: string; cluster?: string; path: (string | number)[] }[] {
  return [...auth.tokens.map((t, i) => ({ tenant: t.tenant, cluster: t.cluster, path: ["tokens", i] })), ...hmacEntries(auth)];
}

/**
 * The enricher looks a cluster up by tenant (src/enrich/context.ts): two credentials (tokens or HMAC signers)
 * of one tenant naming different clusters would label every event of that tenant with the last one, whichever
 * credential sent it. Refused instead.
 */
function oneClusterPerTenant(auth: { tokens: z.infer<typeof tokenSchema>[]; hmac?: HmacConfig }, ctx: z.RefinementCtx): void {
  const first = new Map<string, { cluster: string; at: string }>();
  for (const t of credentialRows(auth)) {
    if (t.cluster === undefined) continue;
    const seen = first.get(t.tenant);
    if (seen === undefined) first.set(t.tenant, { cluster: t.cluster, at: ["auth", ...t.path].join(".") });
    else if (seen.cluster !== t.cluster) {
      ctx.addIssue({
        code: "custom",
        path: [...t.path, "cluster"],
        message: `tenant "${t.tenant}" already has cluster "${seen.cluster}" (${seen.at}): the cluster label is looked up by tenant, so give each cluster its own tenant (e.g. "${t.tenant}-${t.cluster}")`,
      });
    }
  }
}

/**
 * More than one tenant can send: the tenants of auth.tokens and auth.hmac, plus senders without a credential
 * when auth.required is false. Tenants are then kept apart (correlation keys, a tenant's POST /v1/test).
 */
export function multiTenant(auth: Pick<Config["auth"], "tokens" | "hmac" | "required">): boolean {
  const tenants = new Set<string | undefined>(credentialRows(auth).map((t) => t.tenant));
  if (!auth.required) tenants.add(undefined);
  return tenants.size > 1;
}

/** An OCSF version the events' 1.3.0 shape may be stamped with: 1.3.0 or a later 1.x. */
export function ocsfVersionFits(v: string): boolean {
  const [major, minor] = v.split(".").map(Number);
  return major === 1 && minor! >= 3;
}

export const configSchema = z
  .object({
    ocsf: z
      .object({
        /**
         * Written to metadata.version. The events are OCSF 1.3.0's shape: a later 1.x (minor versions keep
         * earlier attributes) may be stamped, an earlier one lacks attributes they carry, another major differs.
         */
        version: z
          .string()
          .regex(/^\d+\.\d+\.\d+$/)
          .refine(ocsfVersionFits, "the events are OCSF 1.3.0's shape: 1.3.0 or a later 1.x (e.g. 1.4.0); an earlier version lacks attributes they carry")
          .default("1.3.0"),
        /** Keep the original record text in raw_data. */
        rawData: z.boolean().default(false),
      })
      .strict()
      .default({ version: "1.3.0", rawData: false }),
    auth: z
      .object({
        /** Require authentication (default true; `npm start` runs with TRIBUTARY_DEV=true). */
        required: z.boolean().default(true),
        tokens: z.array(tokenSchema).default([]),
        /** Optional HMAC-SHA256 signature of the body: one signer, or a list (several senders, rotation). */
        hmac: hmacSchema.optional(),
      })
      .strict()
      .superRefine(oneClusterPerTenant)
      .default({ required: true, tokens: [] }),
    limits: limitsSchema.default(limitsSchema.parse({})),
    /** Enrichment: host inventory, threat intel, ATT&CK, Kubernetes/cloud context (src/config/enrich.ts). */
    enrich: enrichSchema.default(enrichSchema.parse({})),
    /** Sinks by name, routing rules and delivery settings (src/config/{sinks,routing}.ts, docs/routing.md). */
    sinks: sinksSchema,
    routes: routesSchema,
    default_sinks: defaultSinksSchema,
    archive_all: archiveAllSchema,
    delivery: deliverySchema.default(deliverySchema.parse({})),
    /** GET /metrics access and counter flushing (src/config/metrics.ts, docs/operate.md). */
    metrics: metricsSchema.default(metricsSchema.parse({})),
    /** Suppression, sampling, deduplication and throttling per sink (src/config/noise.ts, docs/noise.md). */
    noise: noiseSchema.default(noiseSchema.parse({})),
    /** Correlation keys, chains and incidents (src/config/correlate.ts, docs/correlation.md). */
    correlate: correlateSchema.default(correlateSchema.parse({})),
    /** Secrets in event text replaced by "*****" before anything is stored or sent (src/config/redact.ts, docs/config.md#redact); absent: off. */
    redact: redactSchema.optional(),
  })
  // unknown top-level keys are errors: a typo such as `routng:` must not be silently ignored
  .strict()
  // cross-field checks run whenever the parts they read are well formed, so they are reported
  // together with errors elsewhere in the file (zod skips them after any error by default)
  .superRefine(checkRouting, { when: routingRefsParsed })
  .superRefine(checkNoise, { when: noiseRefsParsed })
  // a sink template with {tenant} must give each configured tenant its own name (runs on a config valid elsewhere)
  .superRefine((cfg, ctx) => checkTenantNames(credentialRows(cfg.auth).map((t) => t.tenant), cfg.sinks, ctx));

export type Config = z.infer<typeof configSchema>;
export type Limits = z.infer<typeof limitsSchema>;
