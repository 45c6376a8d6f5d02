// POST /v1/test: like Falcosidekick's /test, builds a synthetic Falco "Test rule" alert, runs it
// through the pipeline (normalize -> enrich -> route) and sends it — with the admin token, to EVERY
// configured sink and the built-in archive, whatever the routes say; with an ingest credential, the same
// when one tenant can send, else only the sinks the routes give that alert of the credential's tenant, as
// ingest would (tenants are isolation boundaries: one tenant's test never reaches, nor names, another's
// sinks) — the archive copy under test/
// instead of ocsf/, then answers with the result per sink:
//   200 {ok: true, event, routed, results: {<sink>: {outcome, status?, reason?, requests, ms, projection?}}}
//   502 the same body when a sink did not take it.
// outcome: delivered | filtered (the sink's own filter, e.g. Slack minSeverityId, left it out: try
// ?priority=Critical) | retry (the sink is unavailable: network error, timeout, 429, 5xx) | reject.
// Nothing is queued, retried or dead-lettered. A sink this isolate remembers as gone (../deliver/gone) is
// probed all the same; delivered, it is forgotten, so deliveries resume at once (filtered, e.g. the default Debug
// alert below Slack's minSeverityId, nothing is probed: the result's reason says the sink is still held back).
// Query: ?priority=<Falco priority> (default Debug, as Falcosidekick; it also changes what severity
// routes give the alert), ?sinks=a,b to test some sinks only (a tenant's credential with several
// tenants: only among its routed ones, else 403). Authentication: with
// `delivery.adminToken` configured, only that token (an operator action: the test alert reaches every
// sink, pagers included, and the ingest credentials sit in every sensor's config; a valid ingest bearer
// token is told so in its 403, any other keeps "invalid admin token"); without it, the
// ingest's (a credential allowed to send Falco records), as Falcosidekick's /test.
import { Hono, type Context } from "hono";
import type { AppEnv } from "./ingest";
import { authenticate, allows, isIngestBearerToken, CHALLENGE, type AuthResult } from "./auth";
import { adminRefusal } from "./admin";
import { readBytes, drainFor, BodyError } from "./body";
import { configFor } from "../config/load";
import { multiTenant, type Config } from "../config/schema";
import { ARCHIVE_SINK } from "../config/routing";
import { runPipeline } from "../pipeline";
import { enricherFor } from "../enrich/load";
import { makeRouter } from "../route/index";
import { resolveSinks, type ResolvedSink } from "../deliver/sinks";
import { attemptDelivery, sinkSecrets, type AttemptReport, type Item } from "../deliver/attempt";
import { forgetGone, knownGone, probing } from "../deliver/gone";
import { archiveLine, buildArchiveObjects, writeArchive } from "../deliver/archive";
import { stableHex } from "../normalize/uid";
import { describeProjection } from "../sinks/project";
import type { OcsfEvent } from "../normalize/ocsf";
import type { Json } from "../normalize/json";
import { log } from "../ops/log";

export const PRIORITIES = ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"] as const;

/** Where the archive test object goes (never among the real events under ocsf/). */
export const TEST_PREFIX = "test";

export interface SinkTestResult {
  outcome: "delivered" | "filtered" | "retry" | "reject";
  /** HTTP status (or the storage sink's equivalent) of the last answer. */
  status?: number;
  reason?: string;
  /** Requests sent. */
  requests: number;
  ms: number;
  /** The sink's projection (what it was sent of the event, ../sinks/project): the test goes through it like any delivery. */
  projection?: string;
}

export interface TestResponse {
  ok: boolean;
  event: { uid: string; class_uid: number; severity_id: number; severity?: string };
  /** The sinks the routes would send this event to. */
  routed: string[];
  results: Record<string, SinkTestResult>;
}

/** The alert Falcosidekick's /test sends, with Tributary's name and the current time. */
export function testAlert(priority: string, now: number): { [key: string]: Json } {
  return {
    output: `${new Date(now).toISOString()}: ${priority} This is a test from Tributary`,
    priority,
    rule: "Test rule",
    time: new Date(now).toISOString(),
    source: "internal",
    hostname: "tributary",
    output_fields: { "proc.name": "tributary", "user.name": "tributary" },
    tags: ["test", "example"],
  };
}

/** Sorts one attempt's report into a result (the first failure wins over deliveries). */
export function resultOf(report: AttemptReport, statuses: number[], ms: number): SinkTestResult {
  const failed = report.rejected[0] ?? report.retry[0];
  const status = failed?.response?.status ?? statuses[statuses.length - 1];
  const base = { requests: report.requests, ms, ...(status !== undefined ? { status } : {}) };
  if (report.rejected[0]) return { outcome: "reject", reason: report.rejected[0].reason, ...base };
  if (report.retry[0]) return { outcome: "retry", reason: report.retry[0].reason, ...base };
  if (report.requests === 0) return { outcome: "filtered", reason: "the sink's own settings left the test event out (e.g. a minimum severity): try ?priority=Critical", ...base };
  return { outcome: "delivered", ...base };
}

async function testSink(sink: ResolvedSink, item: Item, env: Record<string, unknown>, now: number): Promise<SinkTestResult> {
  const statuses: number[] = [];
  // the real delivery path, with classify wrapped to see the status of answers that were delivered
  // a probe (../deliver/gone): sent even when this isolate remembers the sink as gone (the operator asks whether it
  // works now, e.g. after unarchiving the channel), and reporting the real answer
  const watched: ResolvedSink = probing({
    ...sink,
    driver: {
      ...sink.driver,
      classify: (res, req, cfg) => {
        statuses.push(res.status);
        return sink.driver.classify(res, req, cfg);
      },
    },
  });
  const started = Date.now();
  const report = await attemptDelivery(watched, [item], { env, now });
  const result = resultOf(report, statuses, Date.now() - started);
  if (sink.project) result.projection = describeProjection(sink.project.spec);
  // it works now: deliveries resume at once instead of being dead-lettered unsent for the rest of GONE_MS
  if (result.outcome === "delivered") forgetGone(sink.name);
  // left out by the sink's own filter (Slack's minimum severity): nothing was probed, so a sink remembered gone stays
  // so; say it, or "filtered" (ok: true) reads as "it works" and a replay now is dead-lettered unsent again
  if (result.outcome === "filtered") {
    const gone = knownGone(sink, () => sinkSecrets(sink, env), now);
    if (gone) result.reason = `${result.reason} to probe it: nothing was sent, and this isolate still holds the sink's deliveries back as gone (${gone.reason})`;
  }
  return result;
}

async function testArchive(bucket: R2Bucket, item: Item): Promise<SinkTestResult> {
  const started = Date.now();
  try {
    await writeArchive(bucket, buildArchiveObjects([archiveLine(item.line)], stableHex(item.line), TEST_PREFIX));
    return { outcome: "delivered", requests: 1, ms: Date.now() - started };
  } catch (e) {
    return { outcome: "retry", reason: `R2 write failed: ${(e as Error).message}`, requests: 1, ms: Date.now() - started };
  }
}

function fail(c: Context<AppEnv>, status: 400 | 401 | 403 | 413 | 415, error: string) {
  if (status === 401) c.header("WWW-Authenticate", CHALLENGE);
  return c.json({ error }, status);
}

/** Ingest authentication (HMAC signatures are checked against the body, which is otherwise ignored). */
async function principalOf(c: Context<AppEnv>, cfg: Config): Promise<AuthResult> {
  const auth = await authenticate(c.req.raw.headers, cfg, c.env);
  if (auth.ok !== "body") return auth;
  return auth.verify(await readBytes(c.req.raw.body, cfg.limits, drainFor(c.env)));
}

export const testRoutes = new Hono<AppEnv>();

/**
 * Who called: the admin token (tests every sink), or an ingest credential (its tenant; none when auth is off),
 * `scoped` to its tenant's routed sinks when more than one tenant can send.
 */
type Caller = { admin: true } | { admin: false; tenant?: string; scoped: boolean };

/** The 403 for an ingest credential sent while delivery.adminToken is configured. */
export const INGEST_NOT_ADMIN =
  "an ingest credential cannot send the test alert when delivery.adminToken is configured (it goes to every sink, pagers included): send Authorization: Bearer <delivery.adminToken> (npm scripts: TRIBUTARY_ADMIN_TOKEN)";

/**
 * Whether the request's bearer token is an ingest bearer token (which one is not said). Only bearer tokens: a Basic
 * password or an HMAC key sent as a bearer is not confirmed (its holder may not know the username, or send it as a
 * bearer anywhere else).
 */
async function isIngestBearer(c: Context<AppEnv>, cfg: Config): Promise<boolean> {
  const m = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "");
  return m !== null && (await isIngestBearerToken(cfg, c.env, m[1]!.trim()));
}

/**
 * The admin token when one is configured, else the ingest credentials (allowed to send Falco records).
 * Returns the refusal, or who is sending.
 */
async function admitted(c: Context<AppEnv>, cfg: Config): Promise<Response | Caller> {
  if (cfg.delivery.adminToken !== undefined) {
    const refusal = await adminRefusal(c, cfg.delivery.adminToken, "POST /v1/test");
    if (refusal === undefined) return { admin: true };
    // a bearer that is not the admin token (403) but a valid ingest credential: say so rather than "invalid admin
    // token" (its holder knows it is valid); any other token keeps the answer it had, telling nothing more
    if (refusal.status === 403 && (await isIngestBearer(c, cfg))) return fail(c, 403, INGEST_NOT_ADMIN);
    return refusal;
  }
  let auth: AuthResult;
  try {
    auth = await principalOf(c, cfg);
  } catch (e) {
    if (e instanceof BodyError) return fail(c, e.status === 413 ? 413 : 400, e.message);
    throw e;
  }
  if (auth.ok === false) return fail(c, auth.status, auth.reason);
  if (auth.ok !== true) return fail(c, 401, "unexpected authentication state");
  const principal = auth.principal;
  if (!allows(principal, "falco")) return fail(c, 403, `credentials of tenant "${principal.tenant}" may not send falco records, and the test event is a Falco alert`);
  return { admin: false, scoped: multiTenant(cfg.auth), ...(principal.tenant !== undefined ? { tenant: principal.tenant } : {}) };
}

/**
 * The sinks ?sinks= names (all it may test when absent). The admin may test any configured sink (400 names
 * an unknown one, with the configured ones); an ingest credential only those its test alert is routed to
 * (403 for any other name, known or not, listing only its own: another tenant's sink names stay unsaid).
 */
function sinksWanted(c: Context<AppEnv>, who: Caller, configured: string[], routed: string[]): Response | string[] {
  const all = who.admin || !who.scoped;
  const mayTest = all ? configured : configured.filter((s) => routed.includes(s));
  const only = c.req.query("sinks");
  if (only === undefined) return mayTest;
  const wanted = [...new Set(only.split(",").map((s) => s.trim()).filter((s) => s !== ""))];
  const outside = wanted.filter((s) => !mayTest.includes(s));
  if (!outside.length) return wanted;
  const names = `sink${outside.length > 1 ? "s" : ""} ${outside.map((s) => `"${s}"`).join(", ")}`;
  if (all) return fail(c, 400, `unknown ${names}: configured sinks are ${configured.join(", ")}`);
  const whose = who.tenant !== undefined ? `tenant "${who.tenant}"'s` : "this";
  return fail(
    c,
    403,
    `${names}: an ingest credential tests only the sinks the routes give ${whose} test alert (${mayTest.join(", ") || "none"}; ?priority= changes what severity routes give it); the admin token (delivery.adminToken) tests any sink`,
  );
}

testRoutes.post("/v1/test", async (c) => {
  const cfg = configFor(c.env);
  const who = await admitted(c, cfg);
  if (who instanceof Response) return who;

  const priority = c.req.query("priority") ?? "Debug";
  const known = PRIORITIES.find((p) => p.toLowerCase() === priority.toLowerCase());
  if (!known) return fail(c, 400, `unknown priority "${priority}": use one of ${PRIORITIES.join(", ")}`);
  const now = Date.now();
  const res = runPipeline([testAlert(known, now)], ["(test)"], [], {
    kind: "falco",
    enrich: await enricherFor(c.env, cfg),
    route: makeRouter(cfg),
    ctx: { ocsfVersion: cfg.ocsf.version, rawData: cfg.ocsf.rawData, ...(!who.admin && who.tenant !== undefined ? { tenant: who.tenant } : {}), receivedAt: now },
  });
  const routed = res.events[0];
  if (!routed) return c.json({ error: `the test event did not normalize: ${res.errors[0]?.reason ?? "no event"}` }, 500);
  const sinks = resolveSinks(cfg);
  const wanted = sinksWanted(c, who, [ARCHIVE_SINK, ...sinks.keys()], routed.sinks);
  if (wanted instanceof Response) return wanted;
  const event: OcsfEvent = routed.event;
  const item: Item = { event, line: JSON.stringify(event) };
  const env = c.env as unknown as Record<string, unknown>;

  const results: Record<string, SinkTestResult> = {};
  await Promise.all(
    wanted.map(async (name) => {
      const sink = sinks.get(name);
      results[name] = name === ARCHIVE_SINK ? await testArchive(c.env.ARCHIVE, item) : await testSink(sink!, item, env, now);
    }),
  );
  const ordered: Record<string, SinkTestResult> = {};
  for (const name of wanted) ordered[name] = results[name]!;
  const ok = Object.values(ordered).every((r) => r.outcome === "delivered" || r.outcome === "filtered");
  const body: TestResponse = {
    ok,
    event: { uid: event.metadata.uid ?? "", class_uid: event.class_uid, severity_id: event.severity_id, ...(event.severity ? { severity: event.severity } : {}) },
    routed: routed.sinks,
    results: ordered,
  };
  const summary = Object.fromEntries(Object.entries(ordered).map(([k, r]) => [k, r.outcome]));
  log(ok ? "info" : "warn", "test event sent", { requestId: c.get("requestId"), tenant: who.admin ? "(admin)" : (who.tenant ?? "(none)"), results: summary });
  return c.json(body, ok ? 200 : 502);
});
