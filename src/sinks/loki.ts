// Grafana Loki push API (JSON): POST {url}/loki/api/v1/push
// {"streams":[{"stream":{labels},"values":[["<unix ns>","<line>"],...]}]}; the line is the OCSF event
// as JSON. Labels stay low-cardinality: a configured map label -> event field (default class_uid,
// source = metadata.log_name, severity) plus static labels. Values are sorted by time within a
// stream. A line over max_line_size (256000 bytes by default, as Loki) is not sent but rejected.
// `tenant` (X-Scope-OrgID) is a name template: "{tenant}" splits a batch into requests per org.
// Retries: 408, 429 and 5xx (not 501); other 4xx (out of order, too old, bad labels) rejected.
// Loki stores the valid entries of a push and answers 400 naming (some of) the ignored ones, by
// timestamp and stream only (several events can share both; the list may be cut short), so the
// rejected ones cannot be told apart reliably: the whole request is rejected (dead-lettered) and its
// reason says that Loki kept the others, so a replay may duplicate them (docs/sinks.md).
// So the entries Loki would refuse for their time alone are not sent with it: an event more than lateAfterMs
// before the delivery time (older than Loki's reject_old_samples_max_age, or over an hour behind its stream's
// newest entry: "entry too far behind") or more than aheadAfterMs after it (past creation_grace_period: a
// sensor clock in the future) gets the delivery time as its entry timestamp; the line keeps the OCSF `time`.
// One 5-day-late event then neither takes its push into the dead letters nor is refused itself.
// An org already down in the attempt (SinkContext.scopeDown) is not encoded: its events come back in one
// bodiless request of its scope, which the delivery layer holds back unsent (their events retried).
// A 401/403 of an unscoped push (one org, or none) means the sink is gone (Classification.gone,
// ../deliver/gone): the credentials (Grafana Cloud: an access policy token revoked or without logs:write) or,
// for "no org id", the missing tenant; the rest of the delivery joins that dead letter and later deliveries wait.
// A scoped push's (a "{tenant}" template) 401/403 is that org's alone: an ordinary reject, the other orgs still sent.
import { z } from "zod";
import { secretRef } from "../config/secret";
import type { OcsfEvent } from "../normalize/ocsf";
import { classifyHttpStatus, goneReject, secretWhere, type SinkDriver, type SinkRequest } from "./types";
import { baseUrlSchema, basicAuth, compressionSchema, expand, headersSchema, jsonTextOf, pack, postRuns, secretValue, templateSchema, textAt, unixNanos, utf8Length } from "./batch";

const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, "a Loki label name: letters, digits and _, not starting with a digit");

export const lokiConfig = z
  .object({
    /** Base URL, e.g. "http://loki:3100" or "https://logs-prod-012.grafana.net". */
    url: baseUrlSchema,
    /** Label name -> dotted event field path. Keep these few and low-cardinality. */
    labels: z.record(labelName, z.string().min(1)).default({ class_uid: "class_uid", source: "metadata.log_name", severity: "severity" }),
    /** Labels with fixed values added to every stream. */
    staticLabels: z.record(labelName, z.string().min(1)).default({ job: "tributary" }),
    /**
     * Tenant (X-Scope-OrgID) for multi-tenant Loki: a name template, so "{tenant}" sends each Tributary
     * tenant's events to its own Loki org (one request or more per expanded value).
     */
    tenant: templateSchema.optional(),
    /** Basic auth (Grafana Cloud: the instance id and an access token). */
    auth: z.object({ username: z.string().min(1), password: secretRef }).strict().optional(),
    compression: compressionSchema.default("gzip"),
    headers: headersSchema,
    maxBytes: z.number().int().positive().default(1_000_000),
    maxEvents: z.number().int().positive().default(10_000),
    /** Loki's max_line_size (bytes); longer lines are rejected rather than sent. */
    maxLineBytes: z.number().int().positive().default(256_000),
    /**
     * An event whose time is further than this before the delivery time is sent with the delivery time as its
     * entry timestamp (default 50 min: under Loki's out-of-order window of max_chunk_age / 2 = 1 h).
     */
    lateAfterMs: z.number().int().positive().default(50 * 60_000),
    /** Likewise an event further than this after the delivery time (default 5 min: under creation_grace_period's 10 min). */
    aheadAfterMs: z.number().int().positive().default(5 * 60_000),
  })
  .strict();

export type LokiConfig = z.infer<typeof lokiConfig>;

/**
 * The longest label value sent (characters). Loki refuses a whole push with a value over its
 * max_label_value_length (2048 by default), so one event with a long sender-written field (a Falco
 * `source`) would take its batch down with it: a longer value is cut.
 */
export const MAX_LABEL_VALUE = 1024;

/** The stream's labels as a JSON object with sorted keys (also its grouping key). */
function streamOf(e: OcsfEvent, cfg: LokiConfig): string {
  const labels: Record<string, string> = { ...cfg.staticLabels };
  for (const [name, path] of Object.entries(cfg.labels)) {
    const v = textAt(e, path);
    if (v !== undefined) labels[name] = v.length <= MAX_LABEL_VALUE ? v : v.slice(0, MAX_LABEL_VALUE);
  }
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) sorted[k] = labels[k]!;
  return JSON.stringify(sorted);
}

interface Item {
  i: number;
  time: number;
  stream: string;
  value: string;
  bytes: number;
}

/** Appends `x` to the list under `key`, starting it when there is none. */
function addTo<T>(m: Map<string, T[]>, key: string, x: T): void {
  const xs = m.get(key);
  if (xs) xs.push(x);
  else m.set(key, [x]);
}

/** A push request's body: the run's entries by stream, each stream's values in time order. */
function pushBody(run: Item[]): string {
  const streams = new Map<string, Item[]>();
  for (const x of run) addTo(streams, x.stream, x);
  const parts: string[] = [];
  for (const [stream, xs] of streams) {
    xs.sort((a, b) => a.time - b.time); // stable: equal times keep their order
    parts.push(`{"stream":${stream},"values":[${xs.map((x) => x.value).join(",")}]}`);
  }
  return `{"streams":[${parts.join(",")}]}`;
}

/** The entry timestamp (ms) of an event: its time, or the delivery time when Loki would refuse its time (see the top). */
export function entryTime(time: number, now: number, cfg: Pick<LokiConfig, "lateAfterMs" | "aheadAfterMs">): number {
  return now - time <= cfg.lateAfterMs && time - now <= cfg.aheadAfterMs ? time : now; // NaN time: now
}

/** Per-entry rejections of a push whose other entries Loki stored (out of order, too old, line too long). */
const PARTIAL_REJECT = /ignored, reason:|entry out of order|entry too far behind|timestamp too old|Max entry size .* exceeded/i;
export const PARTIAL_NOTE = "Loki stored the push's other entries, so replaying this dead letter may duplicate them in Loki (deduplicate by metadata.uid)";

export const loki: SinkDriver<LokiConfig> = {
  type: "loki",
  schema: lokiConfig,

  async encode(events, cfg, ctx, lines) {
    const json = jsonTextOf(events, lines);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (cfg.auth) headers.authorization = basicAuth(cfg.auth.username, secretValue(cfg.auth.password, ctx.env, "loki", "auth.password"));
    // a tenant template sends to several orgs, each with its own limits and outages: one scope per org
    const scoped = cfg.tenant?.includes("{") === true;
    // per X-Scope-OrgID ("" for none): a push goes to one Loki tenant, so each expanded value has its own requests
    const byTenant = new Map<string, Item[]>();
    // the events of orgs already down in this attempt (SinkContext.scopeDown): not serialized, grouped or gzipped
    const held = new Map<string, number[]>();
    events.forEach((e, i) => {
      const tenant = cfg.tenant === undefined ? "" : expand(cfg.tenant, e);
      if (scoped && ctx.scopeDown?.(tenant)) {
        addTo(held, tenant, i);
        return;
      }
      const line = json(i);
      if (utf8Length(line) > cfg.maxLineBytes) return; // see unsentOutcome
      const stream = streamOf(e, cfg);
      const time = entryTime(e.time, ctx.now, cfg);
      const value = `[${JSON.stringify(unixNanos(time))},${JSON.stringify(line)}]`;
      // as if every event had its own stream: {"stream":...,"values":[...]}, = 24 bytes around
      addTo(byTenant, tenant, { i, time, stream, value, bytes: utf8Length(value) + utf8Length(stream) + 24 });
    });
    const url = `${cfg.url}/loki/api/v1/push`;
    const requests = await Promise.all(
      [...byTenant].map(([tenant, items]) =>
        postRuns(pack(items, (x) => x.bytes, { ...cfg, overhead: 14 }), url, tenant ? { ...headers, "x-scope-orgid": tenant } : headers, cfg, pushBody),
      ),
    );
    if (!scoped) return requests.flat();
    const unbuilt = [...held].map(([tenant, idx]): SinkRequest => ({ events: idx, url, method: "POST", headers: { ...headers, "x-scope-orgid": tenant }, body: "", scope: tenant }));
    return [...requests.flat().map((r) => ({ ...r, scope: r.headers["x-scope-orgid"] ?? "" })), ...unbuilt];
  },

  unsentOutcome(e, cfg) {
    return { kind: "reject", reason: `log line is ${utf8Length(JSON.stringify(e))} bytes, over Loki's max_line_size of ${cfg.maxLineBytes}` };
  },

  classify(res, req, cfg) {
    const o = classifyHttpStatus(res);
    if (o.kind === "delivered") return { outcome: o };
    if ((res.status === 401 || res.status === 403) && req.scope === undefined) {
      const fix = /no org id/i.test(res.body)
        ? "Loki runs multi-tenant and the push named no org: set the sink's tenant (X-Scope-OrgID)"
        : cfg.auth === undefined
          ? "Loki (or its gateway) asks for credentials: set the sink's auth (username and password)"
          : `Loki refused the credentials of ${cfg.auth.username} (Grafana Cloud: an access policy token revoked, expired or without logs:write): set a new password in ${secretWhere(cfg.auth.password, "auth.password")}`;
      return goneReject(`Loki ${o.reason}`, fix);
    }
    const partial = res.status === 400 && PARTIAL_REJECT.test(res.body) ? `; ${PARTIAL_NOTE}` : "";
    return { outcome: { ...o, reason: `Loki ${o.reason}${partial}` } };
  },
};
