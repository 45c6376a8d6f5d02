// Splunk HTTP Event Collector: POST {url}/services/collector/event with JSON envelopes
// ({time, host, source, sourcetype, index, fields, event}) concatenated back to back.
// Retries: 408, 429, 5xx (503 = busy); 4xx rejected with Splunk's text and code; a 400 with
// invalid-event-number N and code 6 (invalid data format), 12 (event field is required) or 13 (event
// field cannot be blank) -- the per-event data errors of HEC -- means Splunk indexed the events before
// N and stopped at N: those are delivered, N alone is rejected, the rest retry.
// A 401/403 whose HEC code is about the token (1 token disabled, 2 token is required, 3 invalid
// authorization, 4 invalid token: Splunk's HEC error table, docs/sinks.md) means the sink is gone
// (Classification.gone, ../deliver/gone): no request succeeds until the token or the config changes, so the
// rest of the delivery joins that request's dead letter and later deliveries are not sent for a while.
import { z } from "zod";
import { secretRef } from "../config/secret";
import { stableUid } from "../normalize/uid";
import type { OcsfEvent } from "../normalize/ocsf";
import { classifyHttpStatus, goneReject, secretWhere, type Classification, type Outcome, type SinkDriver, type SinkRequest, type SinkResponse } from "./types";
import { baseUrlSchema, compressionSchema, expand, headersSchema, hostOf, jsonTextOf, pack, postRuns, secretValue, templateSchema, textAt, utf8Length, withLastMember } from "./batch";

export const splunkHecConfig = z
  .object({
    /** Base URL of the collector, e.g. "https://splunk.example.com:8088". */
    url: baseUrlSchema,
    /** HEC token, sent as `Authorization: Splunk <token>`. */
    token: secretRef,
    /** Endpoint path (the JSON event endpoint). */
    path: z.string().startsWith("/").default("/services/collector/event"),
    index: z.string().min(1).optional(),
    /** Template; default "{product}": the product name in lower case ("falco", "kubernetes"). */
    source: templateSchema.default("{product}"),
    sourcetype: templateSchema.default("ocsf:{class_uid}"),
    /** Indexed fields added to every event. */
    fields: z.record(z.string().min(1), z.string()).optional(),
    /** X-Splunk-Request-Channel GUID; default: derived from url, path and index (stable). */
    channel: z.uuid().optional(),
    compression: compressionSchema.default("none"),
    headers: headersSchema,
    /** Largest request body (uncompressed); Splunk Cloud commonly allows 1 MB. */
    maxBytes: z.number().int().positive().default(1_000_000),
    maxEvents: z.number().int().positive().default(1000),
  })
  .strict();

export type SplunkHecConfig = z.infer<typeof splunkHecConfig>;

/** The HEC envelope's JSON text; `json` is the event's (JSON.stringify of it), written as it is. */
function envelope(e: OcsfEvent, cfg: SplunkHecConfig, json: string): string {
  const env: Record<string, unknown> = { time: Math.round(e.time) / 1000 };
  const host = hostOf(e);
  if (host !== undefined) env.host = host;
  env.source = expand(cfg.source, e);
  env.sourcetype = expand(cfg.sourcetype, e);
  if (cfg.index !== undefined) env.index = cfg.index;
  if (cfg.fields !== undefined) env.fields = cfg.fields;
  return withLastMember(env, "event", json);
}

/** HEC codes about one event's data; with invalid-event-number they settle the request per event. */
const PER_EVENT_CODES: ReadonlySet<number> = new Set([6, 12, 13]);

/** HEC codes about the token, answered with 401/403 (the fix for each; `token`: where the token is set). */
const TOKEN_CODES: ReadonlyMap<number, (token: string) => string> = new Map([
  [1, (token: string) => `the HEC token is disabled in Splunk: enable it again (Settings > Data inputs > HTTP Event Collector) or set a new token in ${token}`],
  [2, (token: string) => `no HEC token reached Splunk (a proxy dropping the Authorization header?): check the sink's url and headers, and ${token}`],
  [3, (token: string) => `Splunk did not take the Authorization header: ${token} must hold the bare token (not "Splunk <token>"); check the sink's headers`],
  [4, (token: string) => `the HEC token was removed or was never this Splunk's: set a new token in ${token}`],
]);

interface HecReply {
  text?: string;
  code?: number;
  invalidEvent?: number;
}

function parseReply(body: string): HecReply {
  try {
    const v: unknown = JSON.parse(body);
    if (typeof v !== "object" || v === null) return {};
    const o = v as Record<string, unknown>;
    const n = o["invalid-event-number"];
    return {
      text: typeof o.text === "string" ? o.text : undefined,
      code: typeof o.code === "number" ? o.code : undefined,
      invalidEvent: typeof n === "number" ? n : typeof n === "string" && /^\d+$/.test(n) ? Number(n) : undefined,
    };
  } catch {
    return {};
  }
}

export const splunkHec: SinkDriver<SplunkHecConfig> = {
  type: "splunk_hec",
  schema: splunkHecConfig,

  encode(events, cfg, ctx, lines) {
    const json = jsonTextOf(events, lines);
    const token = secretValue(cfg.token, ctx.env, "splunk_hec", "token");
    const url = cfg.url + cfg.path;
    const channel = cfg.channel ?? stableUid(`splunk_hec:${url}:${cfg.index ?? ""}`);
    const items = events.map((e, i) => ({ i, text: envelope(e, cfg, json(i)) }));
    const headers = { "content-type": "application/json", authorization: `Splunk ${token}`, "x-splunk-request-channel": channel };
    return postRuns(pack(items, (x) => utf8Length(x.text), cfg), url, headers, cfg, (run) => run.map((x) => x.text).join(""));
  },

  classify(res: SinkResponse, req: SinkRequest, cfg: SplunkHecConfig): Classification {
    const reply = parseReply(res.body);
    const base = classifyHttpStatus(res);
    if (base.kind === "delivered") return { outcome: base };
    const what = `Splunk HEC ${res.status}${reply.code !== undefined ? ` (code ${reply.code})` : ""}: ${reply.text ?? res.body.slice(0, 300)}`;
    const tokenFix = (res.status === 401 || res.status === 403) && reply.code !== undefined ? TOKEN_CODES.get(reply.code) : undefined;
    if (tokenFix) return goneReject(what, tokenFix(secretWhere(cfg.token, "token")));
    const n = reply.invalidEvent;
    if (res.status === 400 && reply.code !== undefined && PER_EVENT_CODES.has(reply.code) && n !== undefined && n < req.events.length) {
      // Splunk indexed the events before the bad one and stopped there: resend only the tail.
      const perEvent = new Map<number, Outcome>();
      for (let k = 0; k < n; k++) perEvent.set(req.events[k]!, { kind: "delivered" });
      perEvent.set(req.events[n]!, { kind: "reject", reason: `${what} (event ${n} of the request)` });
      return { outcome: { kind: "retry", reason: `after invalid event ${n} of the request: ${what}` }, perEvent };
    }
    return { outcome: base.kind === "retry" ? { kind: "retry", reason: what, afterMs: base.afterMs } : { kind: "reject", reason: what } };
  },
};
