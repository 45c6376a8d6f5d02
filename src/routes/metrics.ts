// GET /metrics (Prometheus text format) and the middleware that counts ingest requests.
// Access: with `metrics.token` set, a Bearer token (or HTTP Basic with it as the password); else
// open when `metrics.public` is true or in local development (TRIBUTARY_DEV=true); else 403.
import { Hono, type Context, type MiddlewareHandler } from "hono";
import type { AppEnv } from "./ingest";
import { configFor, resolveSecret } from "../config/load";
import type { Config } from "../config/schema";
import { renderPrometheus, withZeros, zeroSeries, PROMETHEUS_CONTENT_TYPE, type ConfigLabels, type ExtraFamily } from "../ops/metrics";
import { policyLabel } from "../config/noise";
import { CHAIN_NAMES } from "../config/correlate";
import { countIngestRequest, flushMetrics, maybeFlush, metricsStore } from "../ops/record";
import { suppressionReport } from "../noise/stats";
import { ingestTenants, sameSecret, WHERE } from "./auth";
import { resolveSinks } from "../deliver/sinks";

/** The credential in Authorization: the Bearer token, or the password of HTTP Basic. */
function presented(authz: string | undefined): string | undefined {
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(authz ?? "");
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme === "bearer") return m[2];
  if (scheme !== "basic") return undefined;
  try {
    const text = atob(m[2]!);
    const i = text.indexOf(":");
    return i < 0 ? undefined : text.slice(i + 1);
  } catch {
    return undefined;
  }
}

type Denied = { status: 401 | 403 | 503; error: string };

async function checkAccess(cfg: Config, env: Env, authz: string | undefined): Promise<Denied | undefined> {
  const m = cfg.metrics;
  if (m.token === undefined) {
    if (m.public || env.TRIBUTARY_DEV === "true") return undefined;
    return { status: 403, error: `GET /metrics is closed: set metrics.token (a Bearer token for Prometheus, {"env": "NAME"}) or metrics.public: true in ${WHERE} (see docs/operate.md)` };
  }
  const want = resolveSecret(m.token, env as unknown as Record<string, unknown>);
  if (want === undefined) {
    const name = typeof m.token === "object" ? `the Worker secret ${m.token.env}` : "its value";
    return { status: 503, error: `metrics.token is configured but ${name} is not set` };
  }
  const given = presented(authz);
  if (given === undefined) return { status: 401, error: "missing credentials: send Authorization: Bearer <metrics token>" };
  return (await sameSecret(given, want)) ? undefined : { status: 403, error: "invalid credentials" };
}

/** Gauges known from the config alone (not stored). */
function configFamilies(cfg: Config): ExtraFamily[] {
  const suppress = suppressionReport(cfg).map((s) => ({ labels: { policy: s.rule, expires: s.expires, reason: s.reason }, value: s.active ? 1 : 0 }));
  return [
    { name: "tributary_noise_suppression_active", help: "Each noise allow-list entry (noise.suppress) with its reason and expiry: 1 while in force, 0 once expired.", type: "gauge", samples: suppress },
    { name: "tributary_build_info", help: "Constant 1, labelled with the OCSF version events are written in.", type: "gauge", samples: [{ labels: { ocsf_version: cfg.ocsf.version }, value: 1 }] },
    { name: "tributary_sinks_configured", help: "Sinks defined in the config, the built-in archive included.", type: "gauge", samples: [{ value: Object.keys(cfg.sinks).length + 1 }] },
    { name: "tributary_routes_configured", help: "Routing rules in the config.", type: "gauge", samples: [{ value: cfg.routes.length }] },
  ];
}

/**
 * The config's label values of the counters /metrics shows at 0 before they count: its sinks (and which
 * of them buffer), the tenants an ingest request can be counted under (with metrics.tenantLabels), its noise.suppress
 * entries and noise.sample policies, and the correlation chains that can emit incidents.
 */
export function configLabels(cfg: Config, env: { TRIBUTARY_DEV?: string }): ConfigLabels {
  const c = cfg.correlate;
  return {
    sinks: Object.keys(cfg.sinks),
    bufferedSinks: [...resolveSinks(cfg).values()].filter((s) => s.buffer !== undefined).map((s) => s.name),
    ...(cfg.metrics.tenantLabels ? { tenants: ingestTenants(cfg, env) } : {}),
    suppress: (cfg.noise?.suppress ?? []).map((p, i) => policyLabel("suppress", i, p)),
    sample: (cfg.noise?.sample ?? []).map((p, i) => policyLabel("sample", i, p)),
    chains: c.enabled ? CHAIN_NAMES.filter((n) => c.chains[n].enabled) : [],
  };
}

export const metricsRoutes = new Hono<AppEnv>();

metricsRoutes.get("/metrics", async (c) => {
  const cfg = configFor(c.env);
  const denied = await checkAccess(cfg, c.env, c.req.header("authorization"));
  if (denied) {
    if (denied.status === 401) c.header("WWW-Authenticate", 'Bearer realm="tributary-metrics"');
    return c.json({ error: denied.error }, denied.status);
  }
  const stub = metricsStore(c.env);
  if (!stub) return c.json({ error: "the METRICS Durable Object binding is missing (see docs/deploy.md)" }, 503);
  await flushMetrics(c.env);
  const snap = await stub.snapshot();
  return c.body(renderPrometheus(withZeros(snap, zeroSeries(configLabels(cfg, c.env))), configFamilies(cfg)), 200, { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" });
});

const INGEST_PATH = /^\/(v1\/events(\/[^/]+)?\/?)?$/;

function waitUntilOf(c: Context<AppEnv>): ((p: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx;
    return (p) => ctx.waitUntil(p);
  } catch {
    return undefined; // called without an ExecutionContext (app.request in a test)
  }
}

/** Counts ingest requests (status, latency) and flushes this isolate's counters when due. */
export const observeRequests: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  await next();
  if (c.req.method === "POST" && INGEST_PATH.test(new URL(c.req.url).pathname)) {
    countIngestRequest(c.res.status, (performance.now() - started) / 1000);
  }
  const wait = waitUntilOf(c);
  if (!wait) return;
  let cfg: Config | undefined;
  try {
    cfg = configFor(c.env);
  } catch {
    cfg = undefined; // an invalid config is reported by the route; flush with the defaults
  }
  maybeFlush(c.env, cfg, wait);
};
