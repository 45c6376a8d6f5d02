// Routing config: declarative rules that send events to sinks (see docs/routing.md).
//   routes:        [{ name?, match: {...}, sinks: [...], continue?: false }]   evaluated in order
//   default_sinks: sinks for an event no route matched (default ["archive"])
//   archive_all:   the built-in "archive" sink gets every event, whatever the routes say (default true)
// Cross-field checks (every named sink exists) run in checkRouting, called from the config schema.
import { z } from "zod";
import { SEVERITY_NAMES } from "../normalize/ocsf";
import { isObject, lookup } from "../normalize/json";
import { FALCO_SEVERITY } from "../normalize/falco";

/** The built-in R2 archive sink (always defined). */
export const ARCHIVE_SINK = "archive";

export const SOURCES = ["falco", "tetragon", "k8s_audit", "cloudtrail"] as const;

export const sinkNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "a sink name is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit");

/**
 * One value or a non-empty list of values. `what` describes one value for the error, which otherwise
 * says only "Invalid input" (a union's error): `expected <what>, or a list of them (got "Falco")` (no "; " inside: config errors are joined with "; ").
 */
export function oneOrMany<T extends z.ZodType>(t: T, what: string) {
  return z.union([t, z.array(t).min(1)], { error: (iss) => `expected ${what}, or a list of them (got ${JSON.stringify(iss.input)?.slice(0, 100)})` });
}

const SEVERITY_IDS: Record<string, number> = Object.fromEntries(
  Object.entries(SEVERITY_NAMES)
    .filter(([id]) => id !== "99")
    .map(([id, name]) => [name.toLowerCase(), Number(id)]),
);

/** Falco priority names that are not OCSF captions ("warning", "error"...), as Falcosidekick's minimumpriority writes them. */
const FALCO_ONLY = Object.keys(FALCO_SEVERITY).filter((name) => !(name in SEVERITY_IDS));

/**
 * A severity as an OCSF severity_id (0-6), its caption ("High", case-insensitive), or a Falco
 * priority ("Warning", as in Falcosidekick's minimumpriority): the severity_id the Falco mapping
 * gives that priority, so `"warning"` passes exactly the Falco alerts of priority Warning and above.
 * The two name sets agree where they overlap (critical 5, informational 1).
 */
export const severitySchema = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const name = typeof v === "string" ? v.trim().toLowerCase() : "";
  const id = typeof v === "number" ? v : (lookup(SEVERITY_IDS, name) ?? lookup(FALCO_SEVERITY, name));
  if (id === undefined || !Number.isInteger(id) || id < 0 || id > 6) {
    const names = `${Object.keys(SEVERITY_IDS).join(", ")} (OCSF) or ${FALCO_ONLY.join(", ")} (Falco priorities)`;
    ctx.issues.push({ code: "custom", input: v, message: `unknown severity ${JSON.stringify(v)}: use 0-6 or one of ${names}` });
    return z.NEVER;
  }
  return id;
});

/** An OCSF attribute path: dots between names, [n] or .n for array items ("evidences[0].process.cmd_line"). */
const OCSF_PATH_FORMAT = "an OCSF path is names separated by dots, with [n] for list items, e.g. evidences[0].process.cmd_line";
export const ocsfPathSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\[\d+\]|\.\d+|\.[A-Za-z_][A-Za-z0-9_]*)*$/, OCSF_PATH_FORMAT);

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** The keys of a match (routes and noise policies), each optional; `not` is added around them below. */
const matchKeys = {
  /** The event's source: falco, tetragon, k8s_audit, cloudtrail. */
  source: oneOrMany(z.enum(SOURCES), `one of ${SOURCES.join(", ")} (lower case)`).optional(),
  /** OCSF class_uid, e.g. 2004 (Detection Finding). */
  class_uid: oneOrMany(z.number().int().positive(), "an OCSF class_uid (a number, e.g. 2004)").optional(),
  /** OCSF category_uid, e.g. 2 (Findings). */
  category_uid: oneOrMany(z.number().int().positive(), "an OCSF category_uid (a number, e.g. 2)").optional(),
  /** severity_id at least this (99 "Other" never matches). */
  severity_at_least: severitySchema.optional(),
  /** At least one of these tags (metadata.labels, metadata.tags, finding_info.types). */
  tags_any: oneOrMany(z.string().min(1), "a tag (a non-empty string)").optional(),
  /** metadata.tenant_uid (the ingest token's tenant). */
  tenant: oneOrMany(z.string().min(1), "a tenant (a non-empty string)").optional(),
  /** Every label key must be present on the host with one of the given values ("*" = any value). */
  host_labels: z.record(z.string().min(1), oneOrMany(z.string(), 'a label value (a string, "*" for any)')).optional(),
  /** true: the event carries a threat-intel hit; false: it carries none. */
  intel_hit: z.boolean().optional(),
  /** The rule: Falco rule (finding_info.title), Tetragon policy name, API operation, hook... (src/noise/fingerprint.ts ruleOf). */
  rule: oneOrMany(z.string().min(1), "a rule name (a non-empty string)").optional(),
  /** Every path must hold one of the given values (compared as text), e.g. {"device.hostname": "web-1"}. */
  fields: z
    .record(ocsfPathSchema, oneOrMany(scalar, "a value (a string, number or boolean)"), {
      error: (iss) => (iss.code === "invalid_key" ? `${OCSF_PATH_FORMAT} (got ${JSON.stringify(iss.input)})` : undefined),
    })
    .optional(),
};

/** The sub-match of `not`: the same keys, at least one, and no `not` of its own (one level). */
const notMatchSchema = z
  .object({
    ...matchKeys,
    not: z.never({ error: "no not inside not: one level of negation (list the values to leave out in one not, or use two routes)" }).optional(),
  })
  .strict()
  .refine((m) => Object.keys(m).length > 0, { error: "an empty not leaves out every event: give the keys of the events to leave out" });

/**
 * A match, shared by routes and noise policies: every given key must match (AND), and the event
 * must not match `not` (when given).
 */
export const matchSchema = z
  .object({
    ...matchKeys,
    /** The event must not match this sub-match (same keys, one level). */
    not: notMatchSchema.optional(),
  })
  .strict();

const MATCH_KEYS = Object.keys(matchSchema.shape);
/** What a user from Falco/Falcosidekick or Alertmanager may write for a key that does not exist. */
const MATCH_KEY_HINTS: Record<string, string> = {
  priority: 'severity_at_least takes Falco priorities, e.g. "warning"',
  minimumpriority: 'severity_at_least takes Falco priorities, e.g. "warning"',
  severity: "use severity_at_least",
  tags: "use tags_any",
  rulename: "use rule",
  rule_name: "use rule",
  output_fields: "use fields, with OCSF paths",
  namespace: 'use tags_any "k8s.namespace:<ns>" or fields {"resources[0].namespace": "<ns>"}',
  exclude: "use not",
  except: "use not",
};

/** Drops the unknown keys of a match object, each reported with the keys there are (and a hint). */
function knownKeys(raw: Record<string, unknown>, at: string[], ctx: z.RefinementCtx): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (MATCH_KEYS.includes(k)) kept[k] = v;
    else {
      const hint = lookup(MATCH_KEY_HINTS, k.toLowerCase());
      ctx.issues.push({ code: "custom", path: [...at, k], input: v, message: `unknown match key${hint ? ` (${hint})` : ""}: use ${MATCH_KEYS.join(", ")}` });
    }
  }
  return kept;
}

/**
 * A route's match, with each unknown key (also inside `not`) named with the keys there are (and a
 * hint for the usual mistakes) instead of zod's bare "unknown field". The known keys are checked in
 * the same pass, so one run reports every mistake of the match.
 */
const routeMatchSchema = z.unknown().optional().transform((raw, ctx): Match => {
  let known = raw;
  if (isObject(raw)) {
    const kept = knownKeys(raw, [], ctx);
    if (isObject(kept.not)) kept.not = knownKeys(kept.not, ["not"], ctx);
    known = kept;
  }
  const r = matchSchema.default({}).safeParse(known);
  if (r.success) return r.data;
  for (const i of r.error.issues) ctx.issues.push({ code: "custom", path: i.path, input: undefined, message: i.message });
  return z.NEVER;
});

export const routeSchema = z
  .object({
    /** Shown in errors and docs; defaults to routes[i]. */
    name: z.string().min(1).optional(),
    /** All given keys must match (AND); an empty match matches every event. */
    match: routeMatchSchema,
    sinks: z.array(sinkNameSchema).min(1),
    /** Keep evaluating the routes after this one matched (default false: the first match wins). */
    continue: z.boolean().default(false),
  })
  .strict();

export const routesSchema = z.array(routeSchema).default([]);
export const defaultSinksSchema = z.array(sinkNameSchema).default([ARCHIVE_SINK]);
export const archiveAllSchema = z.boolean().default(true);

export type Match = z.infer<typeof matchSchema>;
export type Route = z.infer<typeof routeSchema>;

interface RoutingShape {
  routes: Route[];
  default_sinks: string[];
  sinks: Record<string, unknown>;
}

/** The parts of a config checkRouting reads: sink names, the sinks of each route, default_sinks. */
const routingRefsSchema = z.object({
  sinks: z.record(z.string(), z.unknown()),
  routes: z.array(z.object({ sinks: z.array(z.string()) })),
  default_sinks: z.array(z.string()),
});

/** Whether checkRouting can run on a config being parsed (its `when`), whatever errors other fields have. */
export function routingRefsParsed(payload: { value: unknown }): boolean {
  return routingRefsSchema.safeParse(payload.value).success;
}

/** Every sink a route or default_sinks names must exist; the error names the exact field. */
export function checkRouting(cfg: RoutingShape, ctx: { addIssue(issue: { code: "custom"; path: (string | number)[]; message: string; input?: unknown }): void }): void {
  const known = new Set([ARCHIVE_SINK, ...Object.keys(cfg.sinks)]);
  const hint = `defined sinks: ${[...known].join(", ")}`;
  cfg.routes.forEach((r, i) =>
    r.sinks.forEach((s, j) => {
      if (!known.has(s)) ctx.addIssue({ code: "custom", path: ["routes", i, "sinks", j], message: `unknown sink "${s}" (${hint})`, input: s });
    }),
  );
  cfg.default_sinks.forEach((s, j) => {
    if (!known.has(s)) ctx.addIssue({ code: "custom", path: ["default_sinks", j], message: `unknown sink "${s}" (${hint})`, input: s });
  });
  if (ARCHIVE_SINK in cfg.sinks) ctx.addIssue({ code: "custom", path: ["sinks", ARCHIVE_SINK], message: `"${ARCHIVE_SINK}" is the built-in R2 archive; name this sink differently` });
}
