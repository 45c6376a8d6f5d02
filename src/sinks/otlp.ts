// OpenTelemetry logs over OTLP/HTTP with the JSON encoding: POST {endpoint}{path} (path "/v1/logs" by
// default, the spec's default URL path for logs), Content-Type application/json, one
// ExportLogsServiceRequest {"resourceLogs":[{"resource":{...},"scopeLogs":[{"scope":{...},"logRecords":[...]}]}]}
// per request. Sources (opentelemetry-proto docs/specification.md, "OTLP/HTTP" and "JSON Protobuf Encoding";
// opentelemetry-specification specification/logs/data-model.md):
//   - JSON keys are the proto field names in lowerCamelCase; enums are integers; 64-bit integers (the fixed64
//     times, AnyValue.intValue) are decimal strings; receivers ignore unknown fields.
//   - timeUnixNano is the event's `time`, observedTimeUnixNano its metadata.logged_time (when Tributary
//     received it), both ms -> ns (unixNanos); body is the event's JSON text as a stringValue (the
//     delivered line, not serialized again).
//   - one resourceLogs with the configured static resource (default service.name "tributary") and one scope
//     ("tributary", the package version). The host is a record attribute, not a resource per host: events of
//     many hosts (and CloudTrail's, of none) share a batch, and a resource per host would split every request
//     into as many envelopes for no gain to a collector, which routes on record attributes as well.
//   - record attributes a collector can route on: ocsf.class_uid, ocsf.class_name, ocsf.severity_id,
//     ocsf.metadata.uid, and the semantic-convention names host.name (hostOf, as Splunk/Datadog),
//     k8s.namespace.name and k8s.pod.name (the context enricher's k8s.namespace: / k8s.pod: labels).
// Responses (the spec's "OTLP/HTTP Response"): 2xx delivered, unless a partialSuccess says the collector
// rejected every record of the request (then they are rejected: dead-lettered, not retried); a partial success
// that rejected only some is delivered, since OTLP names no rejected record and the client MUST NOT retry
// it: a warning is logged with the count and the collector's message, and the count goes to
// tributary_sink_partial_rejects_total{sink} (Classification.partialRejects). 429, 502, 503 and 504 are retried
// honouring Retry-After (the spec's whole list of retryable codes); every other status is rejected (the
// spec: all other 4xx/5xx MUST NOT be retried; 400 bad data and 413 too large named explicitly). A 401 or 403
// (the receiver's authenticator refused the credentials in the configured headers, which every request carries)
// means the sink is gone (Classification.gone, ../deliver/gone): the rest of the delivery joins that dead letter
// and later deliveries wait until a header's secret or the config changes. (Requests have no scope here: a
// scoped request's 401 would be its destination's alone, see loki.ts.)
import { z } from "zod";
import { version } from "../../package.json";
import { secretRef } from "../config/secret";
import { isObject } from "../normalize/json";
import { labelValue, type OcsfEvent } from "../normalize/ocsf";
import { log } from "../ops/log";
import { goneReject, retryAfterMs, secretWhere, type Classification, type SinkDriver } from "./types";
import { baseUrlSchema, compressionSchema, eventUid, hostOf, jsonTextOf, pack, postRuns, secretValue, textAt, unixNanos, utf8Length } from "./batch";

/** The spec's recommended default limit on a request body (20 MiB), also the largest maxBytes allowed. */
export const MAX_REQUEST_BYTES = 20 * 1024 * 1024;

export const otlpConfig = z
  .object({
    /** Base URL of the OTLP/HTTP receiver, e.g. "http://otel-collector:4318". */
    endpoint: baseUrlSchema,
    /** Request path under the endpoint (the spec's default for logs). */
    path: z.string().startsWith("/").default("/v1/logs"),
    /** Extra request headers (e.g. authorization); each value a literal or `{ "env": "NAME" }`. */
    headers: z.record(z.string().min(1), secretRef).optional(),
    compression: compressionSchema.default("gzip"),
    /** Static resource attributes (string values) of every request. */
    resource: z.record(z.string().min(1), z.string()).default({ "service.name": "tributary" }),
    maxBytes: z.number().int().positive().max(MAX_REQUEST_BYTES).default(5_000_000),
    maxEvents: z.number().int().positive().default(10_000),
  })
  .strict();

export type OtlpConfig = z.infer<typeof otlpConfig>;

/**
 * OCSF severity_id -> OTel SeverityNumber (data model: TRACE 1-4, DEBUG 5-8, INFO 9-12, WARN 13-16, ERROR
 * 17-20, FATAL 21-24; 17 and up mean an erroneous situation). OCSF's scale is syslog-like, so the data
 * model's Appendix B syslog column decides: Informational -> INFO (9), Low -> INFO2 (10, syslog Notice),
 * Medium -> WARN (13), High -> ERROR (17), Critical -> ERROR2 (18, syslog Critical), Fatal -> FATAL (21).
 * Unknown (0) and Other (99, a sender's own word) get no number (UNSPECIFIED), only their severityText.
 */
export const SEVERITY_NUMBER: Readonly<Record<number, number>> = { 1: 9, 2: 10, 3: 13, 4: 17, 5: 18, 6: 21 };

const str = (key: string, v: string): string => `{"key":${JSON.stringify(key)},"value":{"stringValue":${JSON.stringify(v)}}}`;
const int = (key: string, n: number): string => `{"key":${JSON.stringify(key)},"value":{"intValue":"${n}"}}`;

/** The record's attributes (JSON text of the KeyValue list). */
function attributesOf(e: OcsfEvent): string {
  const kv: string[] = [];
  if (Number.isInteger(e.class_uid)) kv.push(int("ocsf.class_uid", e.class_uid));
  const className = textAt(e, "class_name");
  if (className !== undefined) kv.push(str("ocsf.class_name", className));
  if (Number.isInteger(e.severity_id)) kv.push(int("ocsf.severity_id", e.severity_id));
  const uid = eventUid(e);
  if (uid !== undefined) kv.push(str("ocsf.metadata.uid", uid));
  const host = hostOf(e);
  if (host !== undefined) kv.push(str("host.name", host));
  const ns = labelValue(e.metadata.labels, "k8s.namespace:");
  if (ns !== undefined) kv.push(str("k8s.namespace.name", ns));
  const pod = labelValue(e.metadata.labels, "k8s.pod:");
  if (pod !== undefined) kv.push(str("k8s.pod.name", pod));
  return `[${kv.join(",")}]`;
}

/** One LogRecord's JSON text; `json` is the event's (JSON.stringify of it), carried as the body string. */
export function logRecord(e: OcsfEvent, json: string): string {
  let head = `{"timeUnixNano":"${unixNanos(e.time)}"`;
  const logged = e.metadata.logged_time;
  if (typeof logged === "number") head += `,"observedTimeUnixNano":"${unixNanos(logged)}"`;
  const sev = SEVERITY_NUMBER[e.severity_id];
  if (sev !== undefined) head += `,"severityNumber":${sev}`;
  if (e.severity !== undefined && e.severity !== "") head += `,"severityText":${JSON.stringify(e.severity)}`;
  return `${head},"attributes":${attributesOf(e)},"body":{"stringValue":${JSON.stringify(json)}}}`;
}

/** The request's text around its records: [prefix, suffix]. */
function envelope(cfg: OtlpConfig): [string, string] {
  const resource = Object.entries(cfg.resource).map(([k, v]) => str(k, v));
  const scope = `{"name":"tributary","version":${JSON.stringify(version)}}`;
  return [`{"resourceLogs":[{"resource":{"attributes":[${resource.join(",")}]},"scopeLogs":[{"scope":${scope},"logRecords":[`, "]}]}]}"];
}

/** ExportLogsServiceResponse.partialSuccess (rejectedLogRecords is an int64: a string or a number in JSON). */
function partialSuccess(body: string): { rejected: number; message: string } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return undefined; // an empty or non-JSON 2xx body: full success
  }
  const p = isObject(v) ? v.partialSuccess : undefined;
  if (!isObject(p)) return undefined;
  const n = Number(p.rejectedLogRecords ?? 0);
  return { rejected: Number.isFinite(n) && n > 0 ? n : 0, message: typeof p.errorMessage === "string" ? p.errorMessage : "" };
}

/** A failure body's text: the google.rpc.Status `message` when the body is one, else the body (cut). */
function statusMessage(body: string): string {
  try {
    const v: unknown = JSON.parse(body);
    if (isObject(v) && typeof v.message === "string") return v.message.slice(0, 300);
  } catch {
    // not JSON: the body as it is
  }
  return body.slice(0, 300);
}

/** The spec's retryable response codes (all other 4xx/5xx MUST NOT be retried). */
const RETRYABLE: ReadonlySet<number> = new Set([429, 502, 503, 504]);

export const otlpLogs: SinkDriver<OtlpConfig> = {
  type: "otlp_logs",
  schema: otlpConfig,

  encode(events, cfg, ctx, lines) {
    const json = jsonTextOf(events, lines);
    const headers: Record<string, string> = {};
    for (const [name, ref] of Object.entries(cfg.headers ?? {})) headers[name] = secretValue(ref, ctx.env, "otlp_logs", `headers.${name}`);
    const [prefix, suffix] = envelope(cfg);
    const items = events.map((e, i) => {
      const text = logRecord(e, json(i));
      return { i, text, bytes: utf8Length(text) };
    });
    const runs = pack(items, (x) => x.bytes, { ...cfg, overhead: utf8Length(prefix) + suffix.length, separator: 1 });
    const send = { compression: cfg.compression, headers };
    return postRuns(runs, cfg.endpoint + cfg.path, { "content-type": "application/json" }, send, (run) => `${prefix}${run.map((x) => x.text).join(",")}${suffix}`);
  },

  classify(res, req, cfg): Classification {
    const s = res.status;
    if (s >= 200 && s < 300) {
      const p = partialSuccess(res.body);
      if (p === undefined || (p.rejected === 0 && p.message === "")) return { outcome: { kind: "delivered" } };
      const n = req.events.length;
      if (p.rejected >= n) {
        return { outcome: { kind: "reject", reason: `OTLP ${s} partial success: the receiver rejected all ${n} log records: ${p.message.slice(0, 300)}` } };
      }
      // OTLP names no rejected record, and a partial success MUST NOT be retried: delivered, with a warning
      log("warn", p.rejected > 0 ? "otlp_logs: receiver rejected some log records" : "otlp_logs: receiver warning", { url: req.url, rejected: p.rejected, sent: n, message: p.message });
      return p.rejected > 0 ? { outcome: { kind: "delivered" }, partialRejects: p.rejected } : { outcome: { kind: "delivered" } };
    }
    const reason = `OTLP ${s}: ${statusMessage(res.body)}`;
    if (RETRYABLE.has(s)) return { outcome: { kind: "retry", reason, afterMs: retryAfterMs(res.headers["retry-after"], Date.now()) } };
    if ((s === 401 || s === 403) && req.scope === undefined) {
      const headers = Object.entries(cfg.headers ?? {}).map(([name, ref]) => `${name} (${secretWhere(ref, `headers.${name}`)})`);
      const fix = headers.length === 0 ? "the receiver asks for credentials: set them in the sink's headers (e.g. authorization)" : `the receiver refused the credentials: set new ones in the sink's headers: ${headers.join(", ")}`;
      return goneReject(reason, fix);
    }
    return { outcome: { kind: "reject", reason } };
  },
};
