// Microsoft Sentinel (any Log Analytics workspace) through the Azure Monitor Logs Ingestion API:
//   POST {endpoint}/dataCollectionRules/{dcrImmutableId}/streams/{stream}?api-version=2023-01-01
//   Authorization: Bearer <Entra ID token for scope https://monitor.azure.com//.default>,
//   Content-Type: application/json, Content-Encoding: gzip (optional); the body a JSON array of records
//   (https://learn.microsoft.com/en-us/azure/azure-monitor/logs/logs-ingestion-api-overview#rest-api-call).
// Each record is the OCSF event itself with a `TimeGenerated` member added (ISO 8601): the event's time, or its
// receipt time for a wrong sensor clock (./file-time). The data collection rule (DCR) must declare the columns
// (SENTINEL_COLUMNS, docs/sinks.md): properties it does not declare are not kept.
// Limits (https://learn.microsoft.com/en-us/azure/azure-monitor/fundamentals/service-limits#logs-ingestion-api):
// 1 MB per call, "both compressed and uncompressed data", so requests are packed by their uncompressed size
// (maxBytes, at most 1,000,000) and a record larger than that alone is not sent but rejected; field values over
// 64 KB are truncated by Azure; 429 (per-DCR data and request rates) with Retry-After.
// The token: client credentials flow, POST {authorityHost}/{tenantId}/oauth2/v2.0/token
// (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow), done in send
// (encode stays free of I/O), cached per isolate per (authority, tenant, client, scope, secret fingerprint) until
// 5 minutes before it expires. An ingestion 401 drops the cached token and the request is sent once more with a new
// one; a 401 to that is retried later. The token endpoint refusing the credentials (400/401: invalid_client,
// unauthorized_client, AADSTS7000215 wrong secret, AADSTS7000222 expired secret, AADSTS700016 unknown app,
// AADSTS90002 unknown tenant: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes) and
// an ingestion 403 (the app lacks the "Monitoring Metrics Publisher" role on the DCR) mean the sink is gone
// (Classification.gone, ../deliver/gone). The secret and the token are never put in a reason or a log line.
import { z } from "zod";
import { secretRef } from "../config/secret";
import { stableHex } from "../normalize/uid";
import type { OcsfEvent } from "../normalize/ocsf";
import { classifyHttpStatus, goneReject, secretWhere, type Classification, type SinkDriver, type SinkRequest, type SinkResponse } from "./types";
import type { TimedContext } from "./s3";
import { compressionSchema, headersSchema, isoTime, jsonTextOf, pack, postRuns, secretValue, utf8Length } from "./batch";
import { fileTime } from "./file-time";
import { sinkResponse } from "../deliver/attempt";

/** The Logs Ingestion API's largest call, compressed or not (service limits); the default and maximum maxBytes. */
export const MAX_CALL_BYTES = 1_000_000;
export const API_VERSION = "2023-01-01";
/** The token is renewed this long before it expires (or at half its lifetime, when that is shorter). */
export const TOKEN_MARGIN_MS = 5 * 60_000;

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** An https URL, or http to this machine (fakes in tests, local development); without trailing slashes. */
const serviceUrl = z
  .url()
  .refine((t) => {
    const u = new URL(t);
    return u.protocol === "https:" || (u.protocol === "http:" && LOOPBACK.has(u.hostname));
  }, "expected an https URL (http only to 127.0.0.1 or localhost)")
  .transform((u) => u.replace(/\/+$/, ""));

export const sentinelConfig = z
  .object({
    /** The DCR's logs ingestion endpoint, or a data collection endpoint (DCE): https://<name>.<region>-1.ingest.monitor.azure.com */
    endpoint: serviceUrl.refine((t) => {
      const u = new URL(t);
      return u.pathname === "/" && u.search === "" && u.hash === "";
    }, "expected the logs ingestion endpoint alone (https://<name>.<region>-1.ingest.monitor.azure.com), without a path or query: the sink adds /dataCollectionRules/{dcrImmutableId}/streams/{stream}?api-version=" + API_VERSION),
    /** The DCR's immutable id (its Overview page, or `immutableId` in its JSON): dcr- and 32 hex digits. */
    dcrImmutableId: z.string().regex(/^dcr-[0-9a-f]{32}$/i, "expected the DCR's immutable id: dcr- followed by 32 hex digits"),
    /** The stream declared in the DCR (streamDeclarations) that takes the records. */
    stream: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'expected a DCR stream name such as "Custom-TributaryOCSF"')
      .default("Custom-TributaryOCSF"),
    /** Directory (tenant) id of the app registration, or its domain (contoso.onmicrosoft.com). */
    tenantId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, "expected the directory (tenant) id"),
    /** Application (client) id of the app registration. */
    clientId: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "expected the application (client) id, a GUID"),
    /** The client secret's Value (not its Secret ID). */
    clientSecret: secretRef,
    /** Entra ID sign-in host: https://login.microsoftonline.us (US Government), https://login.chinacloudapi.cn (21Vianet). */
    authorityHost: serviceUrl.default("https://login.microsoftonline.com"),
    /** Token scope: the ingestion audience + "/.default" (https://monitor.azure.us//.default, https://monitor.azure.cn//.default). */
    scope: z.string().min(1).default("https://monitor.azure.com//.default"),
    compression: compressionSchema.default("gzip"),
    headers: headersSchema,
    /** Largest request body, uncompressed (the API's 1 MB counts either way). */
    maxBytes: z.number().int().positive().max(MAX_CALL_BYTES).default(MAX_CALL_BYTES),
    maxEvents: z.number().int().positive().default(1000),
  })
  .strict();

export type SentinelConfig = z.infer<typeof sentinelConfig>;

/**
 * The DCR's stream columns (and the custom table's): TimeGenerated and the OCSF top-level attributes Tributary's
 * events carry (the normalizers' and the correlator's incidents), with their Log Analytics types (objects and arrays as dynamic). docs/sinks.md gives the DCR and
 * table built from this list; test/sinks/sentinel.test.ts checks that every fixture event's fields are in it and
 * that the docs match it.
 */
export const SENTINEL_COLUMNS: Readonly<Record<string, "datetime" | "string" | "int" | "long" | "boolean" | "dynamic">> = {
  TimeGenerated: "datetime",
  time: "long",
  start_time: "long",
  end_time: "long",
  class_uid: "int",
  class_name: "string",
  category_uid: "int",
  category_name: "string",
  activity_id: "int",
  activity_name: "string",
  type_uid: "long",
  type_name: "string",
  severity_id: "int",
  severity: "string",
  status_id: "int",
  status: "string",
  status_code: "string",
  status_detail: "string",
  action_id: "int",
  action: "string",
  disposition_id: "int",
  disposition: "string",
  message: "string",
  desc: "string",
  priority_id: "int",
  priority: "string",
  count: "int",
  raw_data: "string",
  metadata: "dynamic",
  observables: "dynamic",
  enrichments: "dynamic",
  unmapped: "dynamic",
  finding_info: "dynamic",
  finding_info_list: "dynamic",
  attacks: "dynamic",
  assignee_group: "dynamic",
  evidences: "dynamic",
  resources: "dynamic",
  device: "dynamic",
  process: "dynamic",
  actor: "dynamic",
  user: "dynamic",
  group: "dynamic",
  api: "dynamic",
  cloud: "dynamic",
  src_endpoint: "dynamic",
  dst_endpoint: "dynamic",
  http_request: "dynamic",
  http_response: "dynamic",
  connection_info: "dynamic",
  traffic: "dynamic",
  service: "dynamic",
  policy: "dynamic",
  authorizations: "dynamic",
  privileges: "dynamic",
  file: "dynamic",
  file_result: "dynamic",
  driver: "dynamic",
  kernel: "dynamic",
  is_mfa: "boolean",
  auth_protocol_id: "int",
  auth_protocol: "string",
  is_remote: "boolean",
  exit_code: "int",
  access_mask: "int",
  log_provider: "string",
  log_type: "string",
  log_type_id: "int",
};

/**
 * The record's TimeGenerated (epoch ms): the event's time, unless a wrong sensor clock put it before 2000 or more
 * than a day after its receipt (fileTime); then its receipt (metadata.logged_time), or the delivery time `now` for
 * an event without a plausible one. Azure itself replaces a TimeGenerated over 2 days old or a day ahead with its
 * receive time (https://learn.microsoft.com/en-us/azure/azure-monitor/logs/log-standard-columns#timegenerated).
 */
export function timeGenerated(e: Pick<OcsfEvent, "time" | "metadata">, now: number): number {
  const logged = e.metadata?.logged_time;
  const arrived = fileTime(typeof logged === "number" ? logged : NaN, now);
  return fileTime(e.time, arrived);
}

/** The record's JSON text: the event's (`json`, JSON.stringify of it) with TimeGenerated added as its last member. */
function record(e: OcsfEvent, json: string, now: number): string {
  const at = JSON.stringify(isoTime(timeGenerated(e, now))!);
  return json === "{}" ? `{"TimeGenerated":${at}}` : `${json.slice(0, -1)},"TimeGenerated":${at}}`;
}

function ingestUrl(cfg: SentinelConfig): string {
  return `${cfg.endpoint}/dataCollectionRules/${encodeURIComponent(cfg.dcrImmutableId)}/streams/${encodeURIComponent(cfg.stream)}?api-version=${API_VERSION}`;
}

// ---------------------------------------------------------------------------------------------
// Entra ID token (client credentials), cached per isolate

interface Token {
  value: string;
  /** Epoch ms after which it is not used (expiry less the margin). */
  useUntil: number;
}

/** Tokens by tokenKey; at most MAX_TOKENS (the oldest dropped), so rotated secrets do not pile up. */
const tokens = new Map<string, Token>();
const MAX_TOKENS = 32;

/** The cache key: authority, tenant, client, scope and a fingerprint of the secret (never the secret itself). */
function tokenKey(cfg: SentinelConfig, secret: string): string {
  return [cfg.authorityHost, cfg.tenantId, cfg.clientId, cfg.scope, stableHex(secret)].join("\u0000");
}

/** Marks a response that came from the token endpoint, not from ingestion (for classify). */
export const TOKEN_STAGE_HEADER = "x-tributary-token-endpoint";

/**
 * A token (cached under `key`, tokenKey), or the token endpoint's answer (marked with TOKEN_STAGE_HEADER) when it gave none. `timed`: the send's
 * one timeout signal (sendTimeout), shared by its token and ingestion requests.
 */
async function fetchToken(cfg: SentinelConfig, secret: string, key: string, now: number, timed: { signal?: AbortSignal }): Promise<Token | SinkResponse> {
  const form = new URLSearchParams({ client_id: cfg.clientId, client_secret: secret, grant_type: "client_credentials", scope: cfg.scope });
  const url = `${cfg.authorityHost}/${encodeURIComponent(cfg.tenantId)}/oauth2/v2.0/token`;
  const res = await sinkResponse(
    await fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form.toString(), redirect: "manual", ...timed }),
  );
  const marked = (status: number, body: string): SinkResponse => ({ status, headers: { ...res.headers, [TOKEN_STAGE_HEADER]: "1" }, body });
  if (res.status !== 200) return marked(res.status, res.body);
  let o: { access_token?: unknown; expires_in?: unknown } = {};
  try {
    o = JSON.parse(res.body) as typeof o;
  } catch {
    // below: no token in it
  }
  if (typeof o.access_token !== "string" || o.access_token === "") return marked(502, "the token endpoint answered 200 without an access_token");
  // seconds, a number in v2.0 answers (a string in v1.0 ones); RFC 6749 5.1 leaves it optional: an hour then
  const secs = Number(o.expires_in ?? 3600);
  const lifetime = Number.isFinite(secs) && secs > 0 ? secs * 1000 : 3_600_000;
  const token = { value: o.access_token, useUntil: now + lifetime - Math.min(TOKEN_MARGIN_MS, lifetime / 2) };
  tokens.delete(key);
  tokens.set(key, token);
  if (tokens.size > MAX_TOKENS) tokens.delete(tokens.keys().next().value!);
  return token;
}

/** One abort signal for a whole send (its up to two token and two ingestion requests), at the sink's timeout. */
function sendTimeout(ctx: TimedContext): { signal?: AbortSignal } {
  return ctx.timeoutMs !== undefined ? { signal: AbortSignal.timeout(ctx.timeoutMs) } : {};
}

/** Drops every cached token (tests). */
export function clearSentinelTokens(): void {
  tokens.clear();
}

// ---------------------------------------------------------------------------------------------
// classify

/** The fix for a token endpoint's refusal, by its AADSTS code (`secret`: where the secret is set). */
function tokenFix(body: string, cfg: SentinelConfig, secret: string): string {
  const code = /AADSTS(\d+)/.exec(body)?.[1];
  switch (code) {
    case "7000215":
      return `Entra ID did not take the client secret: set the secret's Value (not its Secret ID) of app ${cfg.clientId} in ${secret}`;
    case "7000222":
      return `the client secret has expired: create a new one (app registration > Certificates & secrets) and set its Value in ${secret}`;
    case "700016":
      return `no application ${cfg.clientId} in tenant ${cfg.tenantId}: check the sink's clientId and tenantId`;
    case "90002":
    case "900023":
      return `tenant ${cfg.tenantId} not found: check the sink's tenantId (and authorityHost for a national cloud)`;
    case "70011":
    case "1002012":
      return `the scope ${cfg.scope} was refused: use the ingestion audience + "/.default" (https://monitor.azure.com//.default)`;
    default:
      return `Entra ID refused the client credentials: check the sink's tenantId, clientId and the client secret in ${secret}`;
  }
}

/** The error text of an Entra answer: error and the first line of error_description (no trace ids). */
function entraError(body: string): string {
  try {
    const o = JSON.parse(body) as { error?: unknown; error_description?: unknown };
    const desc = typeof o.error_description === "string" ? o.error_description.split(/\r?\n/)[0]! : "";
    if (typeof o.error === "string") return `${o.error}${desc ? `: ${desc}` : ""}`.slice(0, 300);
  } catch {
    // not JSON: the text itself
  }
  return body.trim().slice(0, 300);
}

/** The error text of an ingestion answer: {"error":{"code","message"}} as "code: message", else the text. */
function ingestionError(body: string): string {
  try {
    const e = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
    if (e && (typeof e.code === "string" || typeof e.message === "string")) return [e.code, e.message].filter((x) => typeof x === "string").join(": ").slice(0, 300);
  } catch {
    // not JSON: the text itself
  }
  return body.trim().slice(0, 300);
}

function classifyToken(res: SinkResponse, cfg: SentinelConfig): Classification {
  const what = `Entra ID sign-in ${res.status}: ${entraError(res.body)}`;
  const o = classifyHttpStatus(res);
  if (o.kind === "retry") return { outcome: { ...o, reason: what } };
  return goneReject(what, tokenFix(res.body, cfg, secretWhere(cfg.clientSecret, "clientSecret")));
}

export const sentinel: SinkDriver<SentinelConfig> = {
  type: "sentinel",
  schema: sentinelConfig,

  async encode(events, cfg, ctx, lines) {
    secretValue(cfg.clientSecret, ctx.env, "sentinel", "clientSecret"); // missing: the encode fails (MissingSecretError), as for other sinks
    const json = jsonTextOf(events, lines);
    const items: { i: number; text: string; bytes: number }[] = [];
    events.forEach((e, i) => {
      const text = record(e, json(i), ctx.now);
      const bytes = utf8Length(text);
      if (bytes + 2 <= cfg.maxBytes) items.push({ i, text, bytes }); // larger: see unsentOutcome
    });
    const runs = pack(items, (x) => x.bytes, { ...cfg, overhead: 2, separator: 1 });
    return postRuns(runs, ingestUrl(cfg), { "content-type": "application/json" }, cfg, (run) => `[${run.map((x) => x.text).join(",")}]`);
  },

  unsentOutcome(e, cfg, ctx) {
    const bytes = utf8Length(record(e, JSON.stringify(e), ctx.now)) + 2;
    return { kind: "reject", reason: `record is ${bytes} bytes as a request, over the ${cfg.maxBytes}-byte limit (the Logs Ingestion API takes at most 1 MB per call)` };
  },

  async send(req: SinkRequest, cfg: SentinelConfig, ctx: TimedContext): Promise<SinkResponse> {
    const secret = secretValue(cfg.clientSecret, ctx.env, "sentinel", "clientSecret");
    const key = tokenKey(cfg, secret);
    const timed = sendTimeout(ctx);
    const post = async (token: Token) =>
      sinkResponse(await fetch(req.url, { method: req.method, headers: { ...req.headers, authorization: `Bearer ${token.value}` }, body: req.body, redirect: "manual", ...timed }));
    const cached = tokens.get(key);
    const first = cached !== undefined && ctx.now < cached.useUntil ? cached : await fetchToken(cfg, secret, key, ctx.now, timed);
    if (!("value" in first)) return first;
    const res = await post(first);
    if (res.status !== 401) return res;
    // the token was refused (revoked, or an old one still cached): a new one, and the request once more
    tokens.delete(key);
    if (first !== cached) return res; // it was new already: classify retries later
    const fresh = await fetchToken(cfg, secret, key, ctx.now, timed);
    if (!("value" in fresh)) return fresh;
    const again = await post(fresh);
    if (again.status === 401) tokens.delete(key);
    return again;
  },

  classify(res, _req, cfg) {
    if (res.headers[TOKEN_STAGE_HEADER] !== undefined) return classifyToken(res, cfg);
    const o = classifyHttpStatus(res);
    if (o.kind === "delivered") return { outcome: o };
    const what = `Logs Ingestion API ${res.status}: ${ingestionError(res.body)}`;
    if (res.status === 403) {
      return goneReject(
        what,
        `app ${cfg.clientId} may not send to DCR ${cfg.dcrImmutableId}: assign it the "Monitoring Metrics Publisher" role on the data collection rule (Access control (IAM); a new assignment can take some minutes to apply), and check the endpoint belongs to that DCR`,
      );
    }
    if (res.status === 401) return { outcome: { kind: "retry", reason: `${what} (a newly issued token was refused)` } };
    if (res.status === 413) return { outcome: { kind: "reject", reason: `${what} (requests are packed under maxBytes: lower the sink's maxBytes)` } };
    return { outcome: { ...o, reason: what } };
  },
};
