// Loads and validates the config once per isolate. The config comes from the TRIBUTARY_CONFIG
// binding (a JSON string, or an object when set as a wrangler [vars] table); absent means defaults.
import { z } from "zod";
import { configSchema, type Config, type SecretRef } from "./schema";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Formats zod issues as "path.to.field: message" lines, so an error names the exact field. */
export function formatIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`).join("; ");
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
