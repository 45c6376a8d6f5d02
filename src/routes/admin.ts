// The operator endpoints' credential (GET/POST /v1/dlq..., GET /v1/archive/...): `Authorization: Bearer
// <delivery.adminToken>`. As for ingest and /metrics, a configured credential is enforced in local
// development too (TRIBUTARY_DEV=true); only a dev server without delivery.adminToken is open.
import type { Context, MiddlewareHandler } from "hono";
import type { z } from "zod";
import type { AppEnv } from "./ingest";
import { configFor, resolveSecret } from "../config/load";
import type { SecretRef } from "../config/schema";
import { ingestCredentialWithSecret, sameSecret } from "./auth";
import { log } from "../ops/log";

export interface AdminGuardOptions {
  /** What is guarded, for the error texts, e.g. "the DLQ endpoints". */
  what: string;
  /** Answer when no token is configured outside development (the archive browser is dev-only). */
  closed: (c: Context<AppEnv>) => Response;
}

/** Checks the admin token when one is configured (dev or not); otherwise open in dev, `closed` elsewhere. */
export function adminGuard(o: AdminGuardOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const ref = configFor(c.env).delivery.adminToken;
    if (ref === undefined) return c.env.TRIBUTARY_DEV === "true" ? next() : o.closed(c);
    return (await adminRefusal(c, ref, o.what)) ?? next();
  };
}

/**
 * An operator API's guard (adminGuard) whose answer without delivery.adminToken outside development is a 403
 * saying `${what} ${need} delivery.adminToken` (`need`: "needs" for one endpoint).
 */
export function operatorGuard(what: string, need: "need" | "needs" = "need"): MiddlewareHandler<AppEnv> {
  return adminGuard({ what, closed: (c) => c.json({ error: `${what} ${need} delivery.adminToken in the config (or local development, TRIBUTARY_DEV=true)` }, 403) });
}

/** The answer refusing a request without the configured admin token `ref`, or undefined when it carries it. */
export async function adminRefusal(c: Context<AppEnv>, ref: SecretRef, what: string): Promise<Response | undefined> {
  const token = resolveSecret(ref, c.env as unknown as Record<string, unknown>);
  if (!token) {
    const name = typeof ref === "object" ? `the Worker secret ${ref.env}` : "its value";
    return c.json({ error: `delivery.adminToken is configured but ${name} is not set: ${what} stay closed` }, 503);
  }
  const clash = await ingestCredentialWithSecret(configFor(c.env), c.env, token);
  if (clash !== undefined) {
    log("error", "delivery.adminToken has the same value as an ingest credential; the admin endpoints stay closed until it is a secret of its own", { which: clash });
    return c.json({ error: `delivery.adminToken has the same value as the ingest credential ${clash}: every sender holding it could read and replay every tenant's dead letters, so ${what} stay closed until the admin token is a secret of its own` }, 503);
  }
  const m = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "");
  if (!m) return c.json({ error: "send Authorization: Bearer <delivery.adminToken> (npm scripts: TRIBUTARY_ADMIN_TOKEN)" }, 401, { "www-authenticate": 'Bearer realm="tributary-admin"' });
  if (!(await sameSecret(m[1]!.trim(), token))) return c.json({ error: "invalid admin token" }, 403);
  return undefined;
}

/** A zod refusal as one line, `path: message; ...` (`(body)` for the body itself). */
export function issuesText(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
}

/** An operator endpoint's JSON body (an empty one is `{}`) as `schema` reads it, or the 400 answer refusing it. */
export async function adminBody<S extends z.ZodType>(c: Context<AppEnv>, schema: S): Promise<z.output<S> | Response> {
  const text = await c.req.text();
  let body: unknown;
  try {
    body = text.trim() ? JSON.parse(text) : {};
  } catch {
    return c.json({ error: "the body is not JSON" }, 400);
  }
  const parsed = schema.safeParse(body);
  return parsed.success ? parsed.data : c.json({ error: issuesText(parsed.error) }, 400);
}
