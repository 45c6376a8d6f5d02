// OpenTelemetry logs over OTLP/HTTP: POST {endpoint}{path} (path "/v1/logs" by default, the spec's default URL
// path for logs), one ExportLogsServiceRequest
// {"resourceLogs":[{"resource":{...},"scopeLogs":[{"scope":{...},"logRecords":[...]}]}]} per request, in the JSON
// encoding (Content-Type application/json, the default) or, with `encoding: "protobuf"`, the binary protobuf one
// (application/x-protobuf, the spec's default encoding; some backends take no other): the same records from
// the same builder (recordParts), only the serialization differs; a protobuf answer is read as its JSON
// mapping (protoAnswerJson) so that classify reads one form. Sources (opentelemetry-proto docs/specification.md, "OTLP/HTTP" and "JSON Protobuf Encoding";
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
import { cappedText, readCapped, sinkResponse } from "../deliver/attempt";
import { goneReject, retryAfterMs, secretWhere, type Classification, type SinkDriver, type SinkRequest, type SinkResponse } from "./types";
import type { TimedContext } from "./s3";
import { ProtoError, ProtoWriter, readFields, utf8, utf8Lenient, varintSize } from "./protobuf";
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
    /**
     * "json" (OTLP/HTTP JSON, application/json) or "protobuf" (binary protobuf, application/x-protobuf: the
     * spec's default OTLP/HTTP encoding, and the only one some backends take). The same request either way.
     */
    encoding: z.enum(["json", "protobuf"]).default("json"),
  })
  .strict()
  // the full logs URL (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT's form) as the endpoint would be sent to .../v1/logs/v1/logs
  .refine((c) => !new URL(c.endpoint).pathname.replace(/\/+$/, "").endsWith(c.path), {
    path: ["endpoint"],
    message: "ends with the request path: the sink appends path (default /v1/logs) to endpoint, so give the receiver's base URL (OTEL_EXPORTER_OTLP_ENDPOINT's form, e.g. https://collector:4318), or set path",
  });

export type OtlpConfig = z.infer<typeof otlpConfig>;

/**
 * OCSF severity_id -> OTel SeverityNumber (data model: TRACE 1-4, DEBUG 5-8, INFO 9-12, WARN 13-16, ERROR
 * 17-20, FATAL 21-24; 17 and up mean an erroneous situation). OCSF's scale is syslog-like, so the data
 * model's Appendix B syslog column decides: Informational -> INFO (9), Low -> INFO2 (10, syslog Notice),
 * Medium -> WARN (13), High -> ERROR (17), Critical -> ERROR2 (18, syslog Critical), Fatal -> FATAL (21).
 * Unknown (0) and Other (99, a sender's own word) get no number (UNSPECIFIED), only their severityText.
 */
export const SEVERITY_NUMBER: Readonly<Record<number, number>> = { 1: 9, 2: 10, 3: 13, 4: 17, 5: 18, 6: 21 };

/** An attribute of the request: a string, or an integer (AnyValue.intValue, an int64). */
type Attribute = { key: string; string: string } | { key: string; int: number };

/**
 * A LogRecord's content, before serialization: the one place that says which fields and attributes a
 * record gets; logRecord (JSON) and recordProto (binary protobuf) only write it out.
 */
interface RecordParts {
  /** fixed64 ns as a decimal string (unixNanos) */
  time: string;
  observed?: string;
  severityNumber?: number;
  severityText?: string;
  attributes: Attribute[];
  /** the event's JSON text */
  body: string;
}

/** The record's attributes. */
function attributesOf(e: OcsfEvent): Attribute[] {
  const kv: Attribute[] = [];
  const str = (key: string, v: string | undefined): void => {
    if (v !== undefined) kv.push({ key, string: v });
  };
  if (Number.isInteger(e.class_uid)) kv.push({ key: "ocsf.class_uid", int: e.class_uid });
  str("ocsf.class_name", textAt(e, "class_name"));
  if (Number.isInteger(e.severity_id)) kv.push({ key: "ocsf.severity_id", int: e.severity_id });
  str("ocsf.metadata.uid", eventUid(e));
  str("host.name", hostOf(e));
  str("k8s.namespace.name", labelValue(e.metadata.labels, "k8s.namespace:"));
  str("k8s.pod.name", labelValue(e.metadata.labels, "k8s.pod:"));
  return kv;
}

function recordParts(e: OcsfEvent, json: string): RecordParts {
  const parts: RecordParts = { time: unixNanos(e.time), attributes: attributesOf(e), body: json };
  const logged = e.metadata.logged_time;
  if (typeof logged === "number") parts.observed = unixNanos(logged);
  const sev = SEVERITY_NUMBER[e.severity_id];
  if (sev !== undefined) parts.severityNumber = sev;
  if (e.severity !== undefined && e.severity !== "") parts.severityText = e.severity;
  return parts;
}

// ---- the JSON encoding (OTLP/HTTP JSON: lowerCamelCase keys, int64 and fixed64 as decimal strings) ----

/** A KeyValue's JSON text. */
function kvJson(a: Attribute): string {
  const value = "int" in a ? `{"intValue":"${a.int}"}` : `{"stringValue":${JSON.stringify(a.string)}}`;
  return `{"key":${JSON.stringify(a.key)},"value":${value}}`;
}

/** One LogRecord's JSON text; `json` is the event's (JSON.stringify of it), carried as the body string. */
export function logRecord(e: OcsfEvent, json: string): string {
  const p = recordParts(e, json);
  let head = `{"timeUnixNano":"${p.time}"`;
  if (p.observed !== undefined) head += `,"observedTimeUnixNano":"${p.observed}"`;
  if (p.severityNumber !== undefined) head += `,"severityNumber":${p.severityNumber}`;
  if (p.severityText !== undefined) head += `,"severityText":${JSON.stringify(p.severityText)}`;
  return `${head},"attributes":[${p.attributes.map(kvJson).join(",")}],"body":{"stringValue":${JSON.stringify(p.body)}}}`;
}

const resourceAttributes = (cfg: OtlpConfig): Attribute[] => Object.entries(cfg.resource).map(([key, v]) => ({ key, string: v }));

/** The request's text around its records: [prefix, suffix]. */
function envelope(cfg: OtlpConfig): [string, string] {
  const scope = `{"name":"tributary","version":${JSON.stringify(version)}}`;
  return [`{"resourceLogs":[{"resource":{"attributes":[${resourceAttributes(cfg).map(kvJson).join(",")}]},"scopeLogs":[{"scope":${scope},"logRecords":[`, "]}]}]}"];
}

// ---- the binary protobuf encoding (application/x-protobuf) ----
// Field numbers (opentelemetry-proto, opentelemetry/proto/...):
//   collector/logs/v1/logs_service.proto  ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1 }
//                                         ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1 }
//                                         ExportLogsPartialSuccess { int64 rejected_log_records = 1; string error_message = 2 }
//   logs/v1/logs.proto                    ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2 }
//                                         ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2 }
//                                         LogRecord { fixed64 time_unix_nano = 1; SeverityNumber severity_number = 2;
//                                           string severity_text = 3; AnyValue body = 5; repeated KeyValue attributes = 6;
//                                           fixed64 observed_time_unix_nano = 11 }
//   resource/v1/resource.proto            Resource { repeated KeyValue attributes = 1 }
//   common/v1/common.proto                InstrumentationScope { string name = 1; string version = 2 }
//                                         KeyValue { string key = 1; AnyValue value = 2 }
//                                         AnyValue { oneof: string string_value = 1; int64 int_value = 3 }
// google.rpc.Status (googleapis google/rpc/status.proto): { int32 code = 1; string message = 2 }.
// Fields at their proto3 default (0, "") are left out, as a protobuf serializer does.

function anyString(s: string): Uint8Array {
  return new ProtoWriter().string(1, s).finish();
}

function kvProto(a: Attribute): Uint8Array {
  const value = "int" in a ? new ProtoWriter().int64(3, BigInt(a.int)).finish() : anyString(a.string);
  return new ProtoWriter().string(1, a.key).bytes(2, value).finish();
}

/** One LogRecord's protobuf bytes (the message, without its tag and length). */
export function recordProto(e: OcsfEvent, json: string): Uint8Array {
  const p = recordParts(e, json);
  const w = new ProtoWriter();
  if (p.time !== "0") w.fixed64(1, BigInt(p.time));
  if (p.severityNumber !== undefined && p.severityNumber !== 0) w.uint(2, p.severityNumber);
  if (p.severityText !== undefined) w.string(3, p.severityText);
  w.bytes(5, anyString(p.body));
  for (const a of p.attributes) w.bytes(6, kvProto(a));
  if (p.observed !== undefined && p.observed !== "0") w.fixed64(11, BigInt(p.observed));
  return w.finish();
}

/** The Resource and InstrumentationScope messages every request carries. */
interface ProtoEnvelope {
  resource: Uint8Array;
  scope: Uint8Array;
}

function protoEnvelope(cfg: OtlpConfig): ProtoEnvelope {
  const resource = new ProtoWriter();
  for (const a of resourceAttributes(cfg)) resource.bytes(1, kvProto(a));
  return { resource: resource.finish(), scope: new ProtoWriter().string(1, "tributary").string(2, version).finish() };
}

/** Bytes of a length-delimited field with a one-byte tag whose value is `n` bytes long. */
const fieldSize = (n: number): number => 1 + varintSize(n) + n;

/**
 * The most bytes a request adds around its records' fields: the resource and scope fields, and the tags and
 * lengths of the enclosing ResourceLogs and ScopeLogs (a length under 2^35 is at most 5 varint bytes).
 */
const protoOverhead = (env: ProtoEnvelope): number => fieldSize(env.resource.length) + fieldSize(env.scope.length) + 2 * (1 + 5);

/**
 * The ExportLogsServiceRequest of a run of records (each a LogRecord message), written into one buffer of its exact
 * size: the enclosing ResourceLogs and ScopeLogs lengths are summed from the parts' sizes, so each part is copied once.
 */
function requestProto(env: ProtoEnvelope, records: readonly Uint8Array[]): Uint8Array {
  let scopeLogs = fieldSize(env.scope.length);
  for (const r of records) scopeLogs += fieldSize(r.length);
  const resourceLogs = fieldSize(env.resource.length) + fieldSize(scopeLogs);
  const w = new ProtoWriter(fieldSize(resourceLogs)).head(1, resourceLogs).bytes(1, env.resource).head(2, scopeLogs).bytes(1, env.scope);
  for (const r of records) w.bytes(2, r);
  return w.finish();
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

/** A binary protobuf answer's media type (OTLP/HTTP answers in the request's encoding). */
const PROTOBUF_TYPE = /^application\/(x-)?protobuf\s*(;|$)/i;

/** The most of a protobuf answer read: ExportLogsServiceResponse and google.rpc.Status are a count and a message. */
const MAX_PROTO_ANSWER = 64 * 1024;

/**
 * A binary protobuf answer as its JSON mapping, so that classify reads both encodings alike: a 2xx body is an
 * ExportLogsServiceResponse ({"partialSuccess":{"rejectedLogRecords":"N","errorMessage":"..."}} or {}), any
 * other a google.rpc.Status ({"code":N,"message":"..."}). Bytes that are no such message give a short note
 * instead (for a 2xx: no partialSuccess, a full success).
 */
export function protoAnswerJson(status: number, bytes: Uint8Array): string {
  try {
    if (status >= 200 && status < 300) {
      let partial: { rejectedLogRecords?: string; errorMessage?: string } | undefined;
      for (const f of readFields(bytes)) {
        if (f.field !== 1 || f.wire !== 2) continue;
        partial ??= {};
        for (const g of readFields(f.value)) {
          if (g.field === 1 && g.wire === 0) partial.rejectedLogRecords = BigInt.asIntN(64, g.value).toString();
          // not UTF-8: replacement characters, not an undecodable answer (that would lose the rejected count)
          else if (g.field === 2 && g.wire === 2) partial.errorMessage = utf8Lenient(g.value);
        }
      }
      return JSON.stringify(partial === undefined ? {} : { partialSuccess: partial });
    }
    const st: { code?: number; message?: string } = {};
    for (const f of readFields(bytes)) {
      if (f.field === 1 && f.wire === 0) st.code = Number(BigInt.asIntN(32, f.value));
      else if (f.field === 2 && f.wire === 2) st.message = utf8(f.value);
    }
    return JSON.stringify(st);
  } catch (e) {
    if (!(e instanceof ProtoError)) throw e;
    return `(an undecodable protobuf answer of ${bytes.length} bytes: ${e.message})`;
  }
}

/** Up to `max` bytes of a response's body (readCapped). */
async function cappedBytes(res: Response, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  await readCapped(res, max, (part) => parts.push(part));
  return parts.length === 1 ? parts[0]! : new Uint8Array(await new Blob(parts).arrayBuffer());
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
    const send = { compression: cfg.compression, headers };
    const url = cfg.endpoint + cfg.path;
    if (cfg.encoding === "protobuf") {
      const env = protoEnvelope(cfg);
      const items = events.map((e, i) => {
        const bytes = recordProto(e, json(i));
        return { i, bytes, size: fieldSize(bytes.length) };
      });
      const runs = pack(items, (x) => x.size, { ...cfg, overhead: protoOverhead(env) });
      return postRuns(runs, url, { "content-type": "application/x-protobuf" }, send, (run) => requestProto(env, run.map((x) => x.bytes)));
    }
    const [prefix, suffix] = envelope(cfg);
    const items = events.map((e, i) => {
      const text = logRecord(e, json(i));
      return { i, text, bytes: utf8Length(text) };
    });
    const runs = pack(items, (x) => x.bytes, { ...cfg, overhead: utf8Length(prefix) + suffix.length, separator: 1 });
    return postRuns(runs, url, { "content-type": "application/json" }, send, (run) => `${prefix}${run.map((x) => x.text).join(",")}${suffix}`);
  },

  /** fetch, as the delivery layer's default does, but a binary protobuf answer is read as bytes (protoAnswerJson). */
  async send(req: SinkRequest, _cfg: OtlpConfig, ctx: TimedContext): Promise<SinkResponse> {
    const signal = ctx.timeoutMs !== undefined ? { signal: AbortSignal.timeout(ctx.timeoutMs) } : {};
    const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, redirect: "manual", ...signal });
    const protobuf = PROTOBUF_TYPE.test(res.headers.get("content-type") ?? "");
    return sinkResponse(res, protobuf ? async (r) => protoAnswerJson(r.status, await cappedBytes(r, MAX_PROTO_ANSWER)) : cappedText);
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
