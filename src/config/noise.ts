// Noise config (docs/noise.md): per-sink suppression, sampling, deduplication and throttling.
//   noise: {
//     suppress: [{ name?, match, reason, expires, sinks? }]                         allow-lists, with an expiry
//     sample:   [{ name?, match?, rate, sinks? }]                                    keep a deterministic fraction
//     dedup:    [{ name?, match?, fields?, window_seconds, mode?, sinks? }]          fold bursts per fingerprint
//     throttle: [{ name?, sink, match?, per, fields?, max, per_seconds }]            at most `max` per key and window
//   }
// `match` is a route's match (src/config/routing.ts matchSchema: rule, fields, not...). `sinks` absent =
// every sink the event is routed to, except object stores. The archive and object-store sinks (s3,
// security_lake, r2) are never named here: they always keep every original event.
// Cross-field checks (sinks exist, names unique) run in checkNoise, called from the config schema.
import { z } from "zod";
import { ARCHIVE_SINK, matchSchema, ocsfPathSchema, sinkNameSchema } from "./routing";

/** Sink types that store events as objects (archives): exempt from every noise policy, never named by one. */
export const OBJECT_STORE_SINK_TYPES: ReadonlySet<string> = new Set(["s3", "security_lake", "r2"]);

/** True when a sink of this type keeps every original event whatever the noise policies say. */
export function exemptFromNoise(sinkType: string | undefined): boolean {
  return sinkType !== undefined && OBJECT_STORE_SINK_TYPES.has(sinkType);
}

/** Longest dedup/throttle window: one day (a Durable Object alarm closes it). */
export const MAX_WINDOW_SECONDS = 86_400;

const policyName = z.string().min(1).max(128);
const sinkList = z.array(sinkNameSchema).min(1);
const windowSeconds = z.number().int().min(1).max(MAX_WINDOW_SECONDS);

export const DEDUP_MODES = ["fold", "first_then_summary"] as const;

export const dedupSchema = z
  .object({
    name: policyName.optional(),
    match: matchSchema.default({}),
    /** OCSF paths whose values make the fingerprint (default: per source, see src/noise/fingerprint.ts). */
    fields: z.array(ocsfPathSchema).min(1).max(32).optional(),
    window_seconds: windowSeconds.default(60),
    /** fold: one event per burst when the window closes; first_then_summary: the first at once, a summary at close. Default per sink type. */
    mode: z.enum(DEDUP_MODES).optional(),
    sinks: sinkList.optional(),
  })
  .strict();

export const THROTTLE_KEYS = ["rule", "fingerprint", "sink"] as const;

export const throttleSchema = z
  .object({
    name: policyName.optional(),
    sink: sinkNameSchema,
    match: matchSchema.default({}),
    /** What is counted separately: per rule (default), per fingerprint, or the sink as a whole. */
    per: z.enum(THROTTLE_KEYS).default("rule"),
    /** Fingerprint fields when per is "fingerprint" (default: per source). */
    fields: z.array(ocsfPathSchema).min(1).max(32).optional(),
    /** Events let through per key and window; the rest are summarized in one event when the window closes. */
    max: z.number().int().min(0).max(1_000_000),
    per_seconds: windowSeconds,
  })
  .strict();

export const sampleSchema = z
  .object({
    name: policyName.optional(),
    match: matchSchema.default({}),
    /** Fraction kept, 0-1 (decided by the event's metadata.uid, so a re-delivery decides the same way). */
    rate: z.number().min(0).max(1),
    sinks: sinkList.optional(),
  })
  .strict();

const EXPIRY_FORMAT = "an ISO 8601 date (2027-01-01, midnight UTC) or date-time with an offset (2027-01-01T00:00:00Z, 2027-01-01T09:00:00+02:00)";

/** An ISO 8601 date-time with an offset ("2027-01-01T00:00:00Z") or a date ("2027-01-01", midnight UTC). */
const expirySchema = z.union([z.iso.datetime({ offset: true }), z.iso.date()], {
  error: (iss) =>
    iss.input === undefined
      ? `required: when the entry stops applying, ${EXPIRY_FORMAT}`
      : typeof iss.input === "string" && /^\d{4}-\d{2}-\d{2}T[^Zz+-]*$/.test(iss.input)
        ? `${JSON.stringify(iss.input)} has no offset: expected ${EXPIRY_FORMAT}`
        : `expected ${EXPIRY_FORMAT}, got ${JSON.stringify(iss.input)}`,
});

export const suppressSchema = z
  .object({
    name: policyName.optional(),
    /** Required: an allow-list entry that matched everything would silence a sink. Use {} deliberately. */
    match: matchSchema,
    /** Why these events are not sent (shown in /metrics and the logs). */
    reason: z.string().min(1).max(500),
    /** After this instant the entry is ignored (and reported as expired). */
    expires: expirySchema,
    sinks: sinkList.optional(),
  })
  .strict();

/** Most `noise.suppress` entries a config may have. */
export const MAX_SUPPRESS_ENTRIES = 1000;
/** Most policies in each of `noise.sample`, `noise.dedup` and `noise.throttle`. */
export const MAX_NOISE_POLICIES = 100;

export const noiseSchema = z
  .object({
    suppress: z.array(suppressSchema).max(MAX_SUPPRESS_ENTRIES).default([]),
    sample: z.array(sampleSchema).max(MAX_NOISE_POLICIES).default([]),
    dedup: z.array(dedupSchema).max(MAX_NOISE_POLICIES).default([]),
    throttle: z.array(throttleSchema).max(MAX_NOISE_POLICIES).default([]),
  })
  .strict();

export type NoiseConfig = z.infer<typeof noiseSchema>;
export type DedupPolicy = z.infer<typeof dedupSchema>;
export type ThrottlePolicy = z.infer<typeof throttleSchema>;
export type SamplePolicy = z.infer<typeof sampleSchema>;
export type SuppressPolicy = z.infer<typeof suppressSchema>;
export type DedupMode = (typeof DEDUP_MODES)[number];

/** The name a policy is reported under: its own, or "<section>[i]". */
export function policyLabel(section: keyof NoiseConfig, i: number, p: { name?: string | undefined }): string {
  return p.name ?? `${section}[${i}]`;
}

interface NoiseShape {
  noise: NoiseConfig;
  sinks: Record<string, unknown>;
}

type IssueSink = { addIssue(issue: { code: "custom"; path: (string | number)[]; message: string; input?: unknown }): void };

/** The `type` of a configured sink (undefined when the entry has none). */
function typeOf(entry: unknown): string | undefined {
  const t = typeof entry === "object" && entry !== null ? (entry as { type?: unknown }).type : undefined;
  return typeof t === "string" ? t : undefined;
}

const namedSinks = z.object({ name: policyName.optional(), sinks: sinkList.optional() });

/** The parts of a config checkNoise reads: sink names, and each policy's name and sinks. */
const noiseRefsSchema = z.object({
  sinks: z.record(z.string(), z.unknown()),
  noise: z.object({
    suppress: z.array(namedSinks),
    sample: z.array(namedSinks),
    dedup: z.array(namedSinks),
    throttle: z.array(z.object({ name: policyName.optional(), sink: sinkNameSchema })),
  }),
});

/**
 * Whether checkNoise can run on a config being parsed (its `when`): the parts it reads are well
 * formed, whatever errors other fields have, so a cross-field error (a policy naming "archive") is
 * reported together with them instead of only once they are fixed.
 */
export function noiseRefsParsed(payload: { value: unknown }): boolean {
  return noiseRefsSchema.safeParse(payload.value).success;
}

/**
 * Every sink a policy names exists and is neither the archive nor an object-store sink (s3,
 * security_lake, r2: archives keep every original event); policy labels are unique per section.
 */
export function checkNoise(cfg: NoiseShape, ctx: IssueSink): void {
  const known = new Set(Object.keys(cfg.sinks));
  const check = (path: (string | number)[], s: string) => {
    const type = typeOf(cfg.sinks[s]);
    if (s === ARCHIVE_SINK) ctx.addIssue({ code: "custom", path, message: `the archive always keeps every event: noise policies cannot name "${ARCHIVE_SINK}"`, input: s });
    else if (!known.has(s)) ctx.addIssue({ code: "custom", path, message: `unknown sink "${s}" (defined sinks: ${[...known].join(", ") || "none"})`, input: s });
    else if (exemptFromNoise(type))
      ctx.addIssue({ code: "custom", path, message: `"${s}" is an object-store sink (type ${type}): it keeps every original event, noise policies cannot name it`, input: s });
  };
  const sections = ["suppress", "sample", "dedup", "throttle"] as const;
  for (const section of sections) {
    const seen = new Set<string>();
    cfg.noise[section].forEach((p, i) => {
      const label = policyLabel(section, i, p);
      if (seen.has(label)) ctx.addIssue({ code: "custom", path: ["noise", section, i, "name"], message: `duplicate ${section} policy name "${label}"` });
      seen.add(label);
      if ("sink" in p) check(["noise", section, i, "sink"], p.sink);
      if ("sinks" in p && p.sinks) p.sinks.forEach((s, j) => check(["noise", section, i, "sinks", j], s));
    });
  }
}
