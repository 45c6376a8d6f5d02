// Loads and validates the config once per isolate. The config comes from the TRIBUTARY_CONFIG
// binding (a JSON string, or an object when set as a wrangler [vars] table) when it is set, else from
// tributary.config.json at the repo root, bundled with the Worker as a JSON module (committed as {}:
// defaults). A variable or secret holds at most 5 KB, too little for a real deployment's config; the
// bundled file has no limit but the Worker's size (docs/config.md).
import { z } from "zod";
import { configSchema, type Config, type SecretRef } from "./schema";
import bundledConfig from "../../tributary.config.json";
import { log } from "../ops/log";

/** The config file bundled with the Worker, used when TRIBUTARY_CONFIG is empty. */
export const CONFIG_FILE = "tributary.config.json";

/**
 * The most a Worker variable or secret may hold: "Environment variable size: 5 KB" on the Workers
 * limits page (https://developers.cloudflare.com/workers/platform/limits/), taken as 5 × 1024 bytes
 * of UTF-8.
 */
export const VAR_LIMIT_BYTES = 5 * 1024;

/** Retry-After (seconds) of the 503 every config-dependent route answers while the config is invalid (src/index.ts). */
export const CONFIG_RETRY_AFTER_S = 60;

export class ConfigError extends Error {
  override name = "ConfigError";
  /**
   * The fields at fault ("sinks.x.url", "(root)"; "(not valid JSON)" when it does not parse), without the
   * messages: those may quote the config's values, so only the error log has them, never an HTTP answer.
   */
  readonly #fields: readonly string[];
  constructor(message: string, fields: readonly string[] = []) {
    super(message);
    this.#fields = fields;
  }
  get fields(): readonly string[] {
    return this.#fields;
  }
}

/** The field an issue line ("path.to.field: message") names. */
function fieldOf(line: string): string {
  return line.slice(0, line.indexOf(": "));
}

function pathText(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join(".") : "(root)";
}

/**
 * Zod issues as "path.to.field: message" lines, so an error names the exact field. An unknown key
 * (a typo such as `routng`, or `limits.maxRecrods`) is named itself rather than its parent.
 */
export function issueLines(err: z.ZodError): string[] {
  const out: string[] = [];
  for (const i of err.issues) {
    if (i.code !== "unrecognized_keys") {
      out.push(`${pathText(i.path)}: ${i.message}`);
      continue;
    }
    const what = i.path.length === 0 ? `unknown top-level key (known keys: ${Object.keys(configSchema.shape).join(", ")})` : "unknown field";
    for (const k of i.keys) out.push(`${pathText([...i.path, k])}: ${what}`);
  }
  return out;
}

const PROTO = "__proto__";

/**
 * A "path: message" line for every key named "__proto__" in the raw config, at any depth (JSON.parse
 * makes it an own key). zod drops such a key from a record without a word (a sink named
 * "__proto__", a labels or headers entry would vanish), so it is refused everywhere instead. The walk
 * keeps its own stack: no recursion on a deeply nested config.
 */
export function protoKeyLines(value: unknown): string[] {
  const out: string[] = [];
  const stack: Array<{ v: unknown; path: string[] }> = [{ v: value, path: [] }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { v, path } = item;
    if (typeof v !== "object" || v === null) continue;
    const children: Array<{ v: unknown; path: string[] }> = [];
    for (const [k, x] of Object.entries(v)) {
      if (k === PROTO) out.push(`${pathText([...path, k])}: a key named "__proto__" is refused (the parser would drop it); name it otherwise`);
      else children.push({ v: x, path: [...path, k] });
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return out;
}

/**
 * The config a raw value describes, or every issue with it: keys named "__proto__" first, then
 * zod's issues (an "unknown field" for such a key is not said twice).
 */
export function validateConfig(value: unknown): { ok: true; config: Config } | { ok: false; issues: string[] } {
  const proto = protoKeyLines(value);
  const r = configSchema.safeParse(value);
  if (r.success && proto.length === 0) return { ok: true, config: r.data };
  const said = new Set(proto.map(fieldOf));
  const zodLines = r.success ? [] : issueLines(r.error).filter((l) => !said.has(fieldOf(l)));
  return { ok: false, issues: [...proto, ...zodLines] };
}

/** TRIBUTARY_CONFIG counts as set unless absent, null or a blank string. */
function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && !(typeof value === "string" && value.trim() === "");
}

/** Where the config comes from: TRIBUTARY_CONFIG when it is set (it wins), else the bundled file. */
export function configSource(value: unknown, file: unknown = bundledConfig): { from: "TRIBUTARY_CONFIG" | typeof CONFIG_FILE; input: unknown } {
  return isSet(value) ? { from: "TRIBUTARY_CONFIG", input: value } : { from: CONFIG_FILE, input: file };
}

/** The config for a TRIBUTARY_CONFIG value (or the bundled file when it is empty); errors name the file. */
export function selectConfig(value: unknown, file: unknown = bundledConfig): Config {
  const src = configSource(value, file);
  if (src.from === "TRIBUTARY_CONFIG") return parseConfig(src.input);
  try {
    return parseConfig(src.input);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${CONFIG_FILE} (bundled; TRIBUTARY_CONFIG is empty): ${e.message}`, e.fields);
    throw e;
  }
}

export function parseConfig(input: unknown): Config {
  let value = input;
  if (typeof input === "string") {
    try {
      value = input.trim() === "" ? {} : JSON.parse(input);
    } catch (e) {
      throw new ConfigError(`config is not valid JSON: ${(e as Error).message}`, ["(not valid JSON)"]);
    }
  }
  const r = validateConfig(value ?? {});
  if (!r.ok) throw new ConfigError(`invalid config: ${r.issues.join("; ")}`, [...new Set(r.issues.map(fieldOf))]);
  return r.config;
}

export function resolveSecret(ref: SecretRef | undefined, env: Record<string, unknown>): string | undefined {
  if (ref === undefined) return undefined;
  if (typeof ref === "string") return ref;
  const v = env[ref.env];
  return typeof v === "string" && v !== "" ? v : undefined;
}

const cache = new WeakMap<object, Config | ConfigError>();

/**
 * The validated config for this env (parsed once per isolate per env object): TRIBUTARY_CONFIG, else the
 * bundled file. An invalid config is kept too, so every later call throws the same error without parsing
 * again, and logged once (an `error` line naming the fields and what is wrong with each): the requests it
 * fails answer 503 with Retry-After, naming only the fields (src/index.ts), and log nothing themselves.
 */
export function configFor(env: object): Config {
  let c = cache.get(env);
  if (!c) {
    try {
      c = selectConfig((env as { TRIBUTARY_CONFIG?: unknown }).TRIBUTARY_CONFIG);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      c = e;
      log("error", "config invalid: ingest, /v1/test, /metrics and the admin endpoints (/v1/dlq, /v1/backfill, /v1/quarantine, /v1/archive) answer 503 and queue messages wait until a valid config is deployed", { error: e.message });
    }
    cache.set(env, c);
  }
  if (c instanceof ConfigError) throw c;
  return c;
}
