// Offline config check behind `npm run check-config -- <file>` (scripts/check-config.ts): the same
// zod schema the Worker uses (src/config/schema.ts), every error naming its field, plus what the
// schema cannot say: the Worker secrets the config refers to ({"env": "NAME"}), secrets written
// in clear, sinks nothing routes to, and settings that lock every client out. Pure: the script
// does the file and process I/O.
import { credentialRows, multiTenant, type Config } from "../config/schema";
import { ARCHIVE_SINK } from "../config/routing";
import { CONFIG_FILE, VAR_LIMIT_BYTES, validateConfig } from "../config/load";
import { isSecretKey } from "./log";
import { driverFor } from "../sinks/index";
import { describeProjection, droppedFacts } from "../sinks/project";
import { separatesTenants } from "../correlate/keys";
import { sourceLocation, type SecurityLakeConfig } from "../sinks/security-lake";
import { isGlob, rowPatterns } from "../enrich/inventory";

export interface SecretUse {
  /** The Worker secret / variable name. */
  name: string;
  /** Where the config refers to it, e.g. "auth.tokens.0.token". */
  path: string;
  /** Set in the environment given to the check (undefined when no environment was given). */
  set?: boolean;
}

/** A Worker binding the config needs besides those wrangler.toml ships with (an r2 sink's bucket, ENRICH_KV). */
export interface BindingUse {
  /** The binding name, e.g. "COLD_BUCKET". */
  name: string;
  /** The wrangler.toml table that declares it. */
  kind: "r2_buckets" | "kv_namespaces";
  /** Where the config needs it, e.g. "sinks.cold.binding". */
  path: string;
}

/** The binding names wrangler.toml declares, per table (`[[r2_buckets]] binding = ...`). */
export type DeclaredBindings = Record<BindingUse["kind"], ReadonlySet<string>>;

export interface CheckResult {
  ok: boolean;
  /** "path: message" lines (the runtime's own wording). */
  errors: string[];
  warnings: string[];
  secrets: SecretUse[];
  /** Bindings a valid config needs (empty when the config is invalid). */
  bindings: BindingUse[];
  config?: Config;
}

/** "line L, column C" of a character offset. */
function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const col = offset - before.lastIndexOf("\n");
  return `line ${line}, column ${col}`;
}

function jsonError(text: string, e: Error): string {
  const m = /position (\d+)/.exec(e.message);
  const where = m ? ` (${position(text, Number(m[1]))})` : "";
  return `(file): not valid JSON${where}: ${e.message}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Walks the raw JSON: secret references, and secrets written as literal strings. */
function scan(v: unknown, path: string[], secrets: SecretUse[], literals: string[]): void {
  if (Array.isArray(v)) {
    v.forEach((x, i) => scan(x, [...path, String(i)], secrets, literals));
    return;
  }
  if (!isRecord(v)) return;
  const keys = Object.keys(v);
  if (keys.length === 1 && keys[0] === "env" && typeof v.env === "string") {
    secrets.push({ name: v.env, path: path.join(".") });
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    const p = [...path, k];
    if (typeof x === "string" && x !== "" && isSecretKey(k)) literals.push(p.join("."));
    else scan(x, p, secrets, literals);
  }
}

/** Semantic checks on a valid config (warnings: the Worker would run, but probably not as meant). */
function advise(cfg: Config, warnings: string[]): void {
  if (cfg.auth.required && cfg.auth.tokens.length === 0 && !cfg.auth.hmac) {
    warnings.push("auth: no tokens and no hmac: outside local development every ingest request gets 401 (add auth.tokens, or set auth.required to false)");
  }
  const routed = new Set([...cfg.default_sinks, ...cfg.routes.flatMap((r) => r.sinks)]);
  for (const name of Object.keys(cfg.sinks)) if (!routed.has(name)) warnings.push(`sinks.${name}: no route and not in default_sinks: it receives no events (POST /v1/test still reaches it)`);
  if (!cfg.archive_all && !routed.has(ARCHIVE_SINK)) warnings.push("archive_all: false and no route sends to \"archive\": the R2 archive gets nothing");
  if (cfg.metrics.token === undefined && !cfg.metrics.public) warnings.push("metrics: no token and not public: GET /metrics answers 403 outside local development");
  adviseRoutes(cfg, warnings);
  adviseClusterTenants(cfg, warnings);
  adviseLakeSources(cfg, warnings);
  adviseProjections(cfg, warnings);
  adviseInventoryTenants(cfg, warnings);
  adviseAdminToken(cfg, warnings);
}

/** A sink's projection that leaves out a fact correlation or search relies on (droppedFacts). */
function adviseProjections(cfg: Config, warnings: string[]): void {
  for (const [name, s] of Object.entries(cfg.sinks))
    for (const d of s.projection ? droppedFacts(s.projection) : [])
      warnings.push(`sinks.${name}.projection: leaves out ${d.path} (${d.why}, docs/correlation.md): ${d.fix} unless this sink is not searched by it`);
}

/**
 * Several tenants and no delivery.adminToken: POST /v1/test then takes the ingest credentials (src/routes/test-event.ts)
 * and the operator endpoints are closed outside local development, open to anyone in it (src/routes/admin.ts).
 */
function adviseAdminToken(cfg: Config, warnings: string[]): void {
  const tenants = [...new Set(credentialRows(cfg.auth).map((t) => t.tenant))];
  if (cfg.delivery.adminToken !== undefined || tenants.length < 2) return;
  warnings.push(
    `delivery.adminToken: not set while ${tenants.length} tenants can send (${tenants.map((t) => `"${t}"`).join(", ")}): POST /v1/test takes any of their ingest credentials allowed to send Falco records and sends the test alert to the sinks that tenant's routes give it, pagers included; /v1/dlq (npm run dlq), /v1/backfill and /v1/quarantine (npm run quarantine) answer 403 outside local development, and in local development (TRIBUTARY_DEV=true) they and /v1/archive are open without any token, with every tenant's dead letters, rejected records and events: set delivery.adminToken to a secret of its own`,
  );
}

/**
 * Several tenants can send and an inline inventory row without `tenants` matches by glob: it enriches every
 * tenant's hosts of that shape (node-*, ip-10-*), so one team's owner and criticality reach another team's
 * events (docs/enrichment.md "Rows of one tenant"). Rows in the R2/KV file are not read here.
 */
function adviseInventoryTenants(cfg: Config, warnings: string[]): void {
  if (!multiTenant(cfg.auth)) return;
  (cfg.enrich.inventory?.inline ?? []).forEach((row, i) => {
    const globs = rowPatterns(row).filter(isGlob);
    if (row.tenants === undefined && globs.length > 0)
      warnings.push(`enrich.inventory.inline.${i}: glob ${globs.map((g) => `"${g}"`).join(", ")} without tenants matches the hosts of every tenant that can send: add "tenants" unless its owner and criticality really hold for all of them`);
  });
}

/** AWS asks for custom source names of at most 20 characters (the provider role's name holds it; CreateCustomLogSource). */
const LAKE_NAME_ADVICE = 20;

function adviseLakeSources(cfg: Config, warnings: string[]): void {
  for (const [name, s] of Object.entries(cfg.sinks)) {
    if (s.type !== "security_lake") continue;
    for (const [cls, entry] of Object.entries((s.config as SecurityLakeConfig).sources)) {
      const source = sourceLocation(entry)?.name ?? "";
      if (source.length > LAKE_NAME_ADVICE)
        warnings.push(`sinks.${name}.sources.${cls}: custom source name "${source}" is ${source.length} characters; AWS asks for at most ${LAKE_NAME_ADVICE} (its provider role AmazonSecurityLake-Provider-<name>-<region> must stay under 64): check it is the name Security Lake created`);
    }
  }
}

/**
 * Different tenants naming the same `cluster` while correlation keeps tenants apart (separatesTenants): each
 * sensor's events get their own keys, so a kubectl exec, its Falco alert and its Tetragon exec are never joined
 * (docs/correlation.md "Tenants"). The usual cause: a tenant per sensor, as docs before 7f0ba14 showed.
 */
function adviseClusterTenants(cfg: Config, warnings: string[]): void {
  if (!separatesTenants(cfg)) return;
  const byCluster = new Map<string, Set<string>>();
  for (const t of credentialRows(cfg.auth)) {
    if (t.cluster === undefined) continue;
    const tenants = byCluster.get(t.cluster) ?? new Set<string>();
    byCluster.set(t.cluster, tenants.add(t.tenant));
  }
  for (const [cluster, tenants] of byCluster) {
    if (tenants.size < 2) continue;
    warnings.push(
      `auth: tenants ${[...tenants].map((t) => `"${t}"`).join(", ")} share cluster "${cluster}": correlation keeps tenants apart, so their events (a kubectl exec, its Falco alert and Tetragon exec) are never joined (give the cluster's sensors one tenant, each with its own token or HMAC secret, or set correlate.acrossTenants)`,
    );
  }
}

/** A route's match with no key matches every event (docs/routing.md). */
const matchesAll = (r: Config["routes"][number]): boolean => Object.keys(r.match).length === 0;

/** Routes after a catch-all that stops routing, and events that no route or default sink takes. */
function adviseRoutes(cfg: Config, warnings: string[]): void {
  const label = (i: number) => `routes.${i}${cfg.routes[i]!.name ? ` ("${cfg.routes[i]!.name}")` : ""}`;
  const stop = cfg.routes.findIndex((r) => matchesAll(r) && !r.continue);
  if (stop >= 0 && stop < cfg.routes.length - 1) {
    const after = cfg.routes.slice(stop + 1).map((_, j) => label(stop + 1 + j));
    warnings.push(`${label(stop)}: matches every event and has no "continue": true, so routing stops there and ${after.join(", ")} never match (move it last, give it a match, or set continue)`);
  }
  if (!cfg.archive_all && cfg.default_sinks.length === 0 && !cfg.routes.some(matchesAll)) {
    warnings.push('default_sinks: empty with archive_all: false: an event no route matches is accepted (202) and sent nowhere, not even to the archive (add "archive" to default_sinks, or end the routes with one that has no match)');
  }
}

/**
 * Secrets `env` gives whose value a sink would refuse when sending (SinkDriver.secretFormats), e.g. a
 * webhook secret that is not whsec_ + base64: an error naming the setting and the binding, never the value.
 */
function checkSecretFormats(cfg: Config, env: Record<string, string | undefined>, errors: string[]): void {
  for (const [name, s] of Object.entries(cfg.sinks)) {
    for (const [setting, format] of Object.entries(driverFor(s.type)?.secretFormats ?? {})) {
      const ref = isRecord(s.config) ? s.config[setting] : undefined;
      if (!isRecord(ref) || typeof ref.env !== "string") continue;
      const v = env[ref.env];
      if (typeof v === "string" && v !== "" && !format.ok(v)) errors.push(`sinks.${name}.${setting}: the secret ${ref.env} in the given environment is not ${format.expected} (every send would fail)`);
    }
  }
}

/** The bindings a config needs that the shipped wrangler.toml does not declare. */
function bindingsOf(cfg: Config): BindingUse[] {
  const out: BindingUse[] = [];
  for (const [name, s] of Object.entries(cfg.sinks)) {
    const b = s.type === "r2" && isRecord(s.config) ? s.config.binding : undefined;
    if (typeof b === "string") out.push({ name: b, kind: "r2_buckets", path: `sinks.${name}.binding` });
  }
  if (cfg.enrich.inventory?.kvKey !== undefined) out.push({ name: "ENRICH_KV", kind: "kv_namespaces", path: "enrich.inventory.kvKey" });
  return out;
}

const BINDING_EFFECT: Record<BindingUse["kind"], string> = {
  r2_buckets: "every event routed to the sink would be rejected and dead-lettered",
  kv_namespaces: "the inventory rows in KV would never be loaded",
};

/**
 * What a deployment does while the secret at `path` is unset (config.md, "Secrets"), for the warning: a
 * credential rotated in the config before `wrangler secret put` dead-letters a sink's events at once.
 */
function unsetEffect(path: string): string {
  const sink = /^sinks\.([^.]+)\./.exec(path);
  if (sink) return `: every event routed to sink "${sink[1]}" is rejected and dead-lettered (not retried) until it is set`;
  if (path.startsWith("auth.")) return ": that credential matches no request (403) until it is set";
  if (path === "metrics.token") return ": GET /metrics answers 503 until it is set";
  if (path === "delivery.adminToken") return ": /v1/dlq (npm run dlq), /v1/backfill, /v1/quarantine and /v1/test answer 503 until it is set";
  return "";
}

/**
 * Checks a config file's text. `env` (optional) is the environment the Worker would have (e.g. the
 * lines of .dev.vars): then each secret reference is also checked to be set, and a value a sink
 * checks the form of when sending (checkSecretFormats) to have it. `declared` (optional) is what
 * wrangler.toml declares: a binding the config needs and it lacks is an error.
 */
export function checkConfigText(text: string, env?: Record<string, string | undefined>, declared?: DeclaredBindings): CheckResult {
  const res: CheckResult = { ok: false, errors: [], warnings: [], secrets: [], bindings: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    res.errors.push(jsonError(text, e as Error));
    return res;
  }
  if (typeof raw === "string") {
    // the value of a wrangler [vars] TRIBUTARY_CONFIG string, JSON inside JSON
    return checkConfigText(raw, env, declared);
  }
  if (!isRecord(raw)) {
    res.errors.push(`(root): expected a JSON object, got ${Array.isArray(raw) ? "an array" : raw === null ? "null" : typeof raw}`);
    return res;
  }
  const literals: string[] = [];
  scan(raw, [], res.secrets, literals);
  for (const p of literals) res.warnings.push(`${p}: a secret written in the config: use {"env": "NAME"} and \`wrangler secret put NAME\``);
  if (env) {
    for (const s of res.secrets) {
      s.set = typeof env[s.name] === "string" && env[s.name] !== "";
      if (!s.set) res.warnings.push(`${s.path}: the secret ${s.name} is not set in the given environment${unsetEffect(s.path)}`);
    }
  }
  const r = validateConfig(raw);
  if (!r.ok) {
    res.errors.push(...r.issues);
    return res;
  }
  if (env) checkSecretFormats(r.config, env, res.errors);
  res.bindings = bindingsOf(r.config);
  for (const b of res.bindings) {
    if (declared && !declared[b.kind].has(b.name)) res.errors.push(`${b.path}: the binding ${b.name} is not declared in wrangler.toml (add [[${b.kind}]] binding = "${b.name}"): ${BINDING_EFFECT[b.kind]}`);
  }
  if (res.errors.length) return res;
  res.config = r.config;
  advise(r.config, res.warnings);
  res.ok = true;
  return res;
}

/**
 * An error when `value` (a TRIBUTARY_CONFIG value, or a file meant for one) is more than a Worker
 * variable or secret may hold; `where` names it. Undefined when it fits.
 */
export function varSizeError(value: string, where: string): string | undefined {
  const bytes = new TextEncoder().encode(value).length;
  if (bytes <= VAR_LIMIT_BYTES) return undefined;
  return `${where}: ${bytes} bytes, more than the ${VAR_LIMIT_BYTES} bytes (5 KB) a Worker variable or secret may hold, so it cannot be TRIBUTARY_CONFIG: put the config in ${CONFIG_FILE} at the repo root instead (bundled with the Worker, no such limit; see docs/config.md) and leave TRIBUTARY_CONFIG empty`;
}

/** Parses dotenv-style lines (NAME=value, # comments, optional quotes), as in .dev.vars. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || line.trimStart().startsWith("#")) continue;
    let v = m[2]!;
    if (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))) v = v.slice(1, -1);
    out[m[1]!] = v;
  }
  return out;
}

/** The report printed by the script. */
export function formatReport(file: string, r: CheckResult): string {
  const out: string[] = [];
  if (!r.ok) {
    out.push(`${file}: invalid config (${r.errors.length} error${r.errors.length === 1 ? "" : "s"})`);
    for (const e of r.errors) out.push(`  error: ${e}`);
  } else {
    const c = r.config!;
    out.push(`OK: ${file} is a valid Tributary config (${Object.keys(c.sinks).length} sink(s) besides the archive, ${c.routes.length} route(s), ${credentialRows(c.auth).length} ingest credential(s)${c.redact ? `, ${c.redact.rules.length} redaction rule(s)${c.redact.presets.map((p) => ` + preset ${p}`).join("")}` : ""})`);
    for (const [name, s] of Object.entries(c.sinks)) if (s.projection) out.push(`  sinks.${name} is sent ${describeProjection(s.projection)} (projection; the archive and the DLQ keep whole events)`);
  }
  if (r.secrets.length) {
    out.push("Worker secrets it refers to (set each with `wrangler secret put NAME`; locally in .dev.vars):");
    const byName = new Map<string, SecretUse[]>();
    for (const s of r.secrets) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
    for (const [name, uses] of byName) {
      const state = uses[0]!.set === undefined ? "" : uses[0]!.set ? " [set]" : " [NOT SET]";
      out.push(`  ${name}${state}  (${uses.map((u) => u.path).join(", ")})`);
    }
  }
  if (r.bindings.length) {
    out.push("Worker bindings it needs (declare each in wrangler.toml and create its bucket or namespace; docs/deploy.md):");
    for (const b of r.bindings) out.push(`  ${b.name}  [[${b.kind}]]  (${b.path})`);
  }
  for (const w of r.warnings) out.push(`  warning: ${w}`);
  return out.join("\n") + "\n";
}
