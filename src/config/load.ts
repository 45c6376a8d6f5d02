// Loads and validates the config once per isolate. The config comes from the TRIBUTARY_CONFIG
// binding (a JSON string, or an object when set as a wrangler [vars] table); absent means defaults.
import { z } from "zod";
import { configSchema, type Config, type SecretRef } from "./schema";

export class ConfigError extends Error {
  override name = "ConfigError";
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

/** The issue lines joined with "; " (one line for a thrown ConfigError). */
export function formatIssues(err: z.ZodError): string {
  return issueLines(err).join("; ");
}

export function parseConfig(input: unknown): Config {
  let value = input;
  if (typeof input === "string") {
    try {
      value = input.trim() === "" ? {} : JSON.parse(input);
    } catch (e) {
      throw new ConfigError(`config is not valid JSON: ${(e as Error).message}`);
    }
  }
  const r = configSchema.safeParse(value ?? {});
  if (!r.success) throw new ConfigError(`invalid config: ${formatIssues(r.error)}`);
  return r.data;
}

export function resolveSecret(ref: SecretRef | undefined, env: Record<string, unknown>): string | undefined {
  if (ref === undefined) return undefined;
  if (typeof ref === "string") return ref;
  const v = env[ref.env];
  return typeof v === "string" && v !== "" ? v : undefined;
}

const cache = new WeakMap<object, Config>();

/** The validated config for this env (parsed once per isolate per env object). */
export function configFor(env: object): Config {
  let c = cache.get(env);
  if (!c) {
    c = parseConfig((env as { TRIBUTARY_CONFIG?: unknown }).TRIBUTARY_CONFIG);
    cache.set(env, c);
  }
  return c;
}
