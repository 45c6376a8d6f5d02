// A fake OpenTelemetry Collector otlphttp receiver for logs on 127.0.0.1 (the generic server of
// siem-servers.ts): POST /v1/logs with OTLP/HTTP JSON or binary protobuf (opentelemetry-proto
// docs/specification.md). It checks what a strict receiver would: Content-Type application/json or
// application/x-protobuf (anything else 415; a protobuf body is decoded by ./otlp-proto into the JSON
// mapping's object and then checked like a JSON one, and answered in protobuf), gzip when
// Content-Encoding says so, an optional required header (401), the 20 MiB body limit (413), and the
// ExportLogsServiceRequest shape: lowerCamelCase keys only (a proto snake_case name is a 400 here, where
// the real receiver would silently drop the field), fixed64 times as decimal strings, enum severityNumber
// 0..24, AnyValue with exactly one known member, int64 intValue as a decimal string. A bad request is a 400
// with a google.rpc.Status JSON body; an accepted one is stored per record and answered 200 with an
// ExportLogsServiceResponse. `rejectRecord` makes it refuse single records: those are not stored and the
// answer is a partial success naming their count (as OTLP does: no index).
import { afterEach } from "vitest";
import { gunzipSync } from "fflate";
import { header, listen, type FakeServer, type Received, type Reply } from "./siem-servers";
import { decodeExportLogs, exportLogsResponse, ProtoDecodeError, rpcStatus } from "./otlp-proto";

export interface KeyValue {
  key: string;
  value: Record<string, unknown>;
}

export interface StoredRecord {
  resource: Record<string, unknown>;
  scope: { name?: string; version?: string };
  record: Record<string, unknown>;
  /** The record's attributes decoded: stringValue as a string, intValue as a bigint. */
  attributes: Record<string, string | bigint | boolean | number>;
  body: string;
}

export interface CollectorServer extends FakeServer {
  stored: StoredRecord[];
}

export interface CollectorOptions {
  /** A header the receiver requires (e.g. authorization), with its value. */
  require?: { name: string; value: string };
  /** Refuse this record (partial success). */
  rejectRecord?: (r: StoredRecord) => boolean;
  /** Largest decoded body (default 20 MiB, the spec's recommendation). */
  maxBodyBytes?: number;
}

const status = (httpStatus: number, code: number, message: string, protobuf = false): Reply =>
  protobuf
    ? { status: httpStatus, headers: { "content-type": "application/x-protobuf" }, body: rpcStatus(code, message) }
    : { status: httpStatus, headers: { "content-type": "application/json" }, body: JSON.stringify({ code, message }) };

class BadData extends Error {}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new BadData(`${what}: expected an object`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k.includes("_")) throw new BadData(`${what}: "${k}" is not a lowerCamelCase JSON name`);
  return o;
}

function list(v: unknown, what: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new BadData(`${what}: expected an array`);
  return v;
}

function optString(v: unknown, what: string): string | undefined {
  if (v !== undefined && typeof v !== "string") throw new BadData(`${what}: expected a string`);
  return v;
}

/** A fixed64 time: this fake wants the JSON mapping's decimal string (the receiver also takes numbers). */
function nanos(v: unknown, what: string): void {
  if (v !== undefined && (typeof v !== "string" || !/^\d{1,20}$/.test(v) || BigInt(v) >= 2n ** 64n)) throw new BadData(`${what}: expected a fixed64 as a decimal string, got ${JSON.stringify(v)}`);
}

function anyValue(v: unknown, what: string): string | bigint | boolean | number {
  const o = obj(v, what);
  const keys = Object.keys(o);
  if (keys.length !== 1) throw new BadData(`${what}: AnyValue needs exactly one value, got ${keys.join(",") || "none"}`);
  const k = keys[0]!;
  const x = o[k];
  if (k === "stringValue" && typeof x === "string") return x;
  if (k === "intValue" && typeof x === "string" && /^-?\d{1,19}$/.test(x)) return BigInt(x);
  if (k === "boolValue" && typeof x === "boolean") return x;
  if (k === "doubleValue" && typeof x === "number") return x;
  throw new BadData(`${what}: bad AnyValue ${JSON.stringify(o).slice(0, 100)}`);
}

function attributes(v: unknown, what: string): Record<string, string | bigint | boolean | number> {
  const out: Record<string, string | bigint | boolean | number> = {};
  for (const [k, a] of list(v, what).entries()) {
    const kv = obj(a, `${what}[${k}]`);
    if (typeof kv.key !== "string" || kv.key === "") throw new BadData(`${what}[${k}]: key must be a non-empty string`);
    out[kv.key] = anyValue(kv.value, `${what}[${k}].value`);
  }
  return out;
}

/** Validates an ExportLogsServiceRequest; returns its records (not yet stored). */
export function parseExportLogs(text: string): StoredRecord[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new BadData(`unmarshal: ${(e as Error).message}`);
  }
  const out: StoredRecord[] = [];
  const req = obj(v, "request");
  for (const [i, rl] of list(req.resourceLogs, "resourceLogs").entries()) {
    const r = obj(rl, `resourceLogs[${i}]`);
    const res = obj(r.resource ?? {}, `resourceLogs[${i}].resource`);
    const resource = attributes(res.attributes, `resourceLogs[${i}].resource.attributes`);
    for (const [j, sl] of list(r.scopeLogs, `resourceLogs[${i}].scopeLogs`).entries()) {
      const s = obj(sl, `scopeLogs[${j}]`);
      const sc = obj(s.scope ?? {}, `scopeLogs[${j}].scope`);
      const scope = { name: optString(sc.name, "scope.name"), version: optString(sc.version, "scope.version") };
      for (const [k, lr] of list(s.logRecords, `scopeLogs[${j}].logRecords`).entries()) {
        const what = `logRecords[${k}]`;
        const record = obj(lr, what);
        nanos(record.timeUnixNano, `${what}.timeUnixNano`);
        nanos(record.observedTimeUnixNano, `${what}.observedTimeUnixNano`);
        const sev = record.severityNumber;
        if (sev !== undefined && !(Number.isInteger(sev) && (sev as number) >= 0 && (sev as number) <= 24)) throw new BadData(`${what}.severityNumber: expected an integer 0..24`);
        optString(record.severityText, `${what}.severityText`);
        const body = anyValue(record.body, `${what}.body`);
        if (typeof body !== "string") throw new BadData(`${what}.body: this fake stores string bodies only`);
        out.push({ resource, scope, record, attributes: attributes(record.attributes, `${what}.attributes`), body });
      }
    }
  }
  return out;
}

export async function startCollector(opts: CollectorOptions = {}): Promise<CollectorServer> {
  const stored: StoredRecord[] = [];
  const maxBodyBytes = opts.maxBodyBytes ?? 20 * 1024 * 1024;
  const s = await listen((r: Received) => {
    if (r.method !== "POST") return status(405, 12, "method not allowed, supported: [POST]");
    if (r.path !== "/v1/logs") return status(404, 5, `no handler for ${r.path}`);
    const ct = (header(r, "content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    const proto = ct === "application/x-protobuf";
    if (ct !== "application/json" && !proto) return status(415, 3, `415 unsupported media type, supported: [application/json, application/x-protobuf]`);
    if (opts.require && header(r, opts.require.name) !== opts.require.value) return status(401, 16, "missing or bad credentials", proto);
    if (r.badGzip) return status(400, 3, "gzip: invalid header", proto);
    let records: StoredRecord[];
    try {
      let text = r.text;
      if (proto) {
        const bytes = (header(r, "content-encoding") ?? "").toLowerCase() === "gzip" ? gunzipSync(r.raw) : r.raw;
        if (bytes.length > maxBodyBytes) return status(413, 8, "request body too large", proto);
        text = JSON.stringify(decodeExportLogs(bytes));
      } else if (Buffer.byteLength(r.text) > maxBodyBytes) return status(413, 8, "request body too large");
      records = parseExportLogs(text);
    } catch (e) {
      if (e instanceof BadData || e instanceof ProtoDecodeError) return status(400, 3, e.message, proto);
      throw e;
    }
    let rejected = 0;
    for (const rec of records) {
      if (opts.rejectRecord?.(rec)) rejected++;
      else stored.push(rec);
    }
    const message = `${rejected} log records refused by the fake's rule`;
    if (proto) return { status: 200, headers: { "content-type": "application/x-protobuf" }, body: exportLogsResponse(rejected > 0 ? { rejected, message } : undefined) };
    const partialSuccess = rejected > 0 ? { rejectedLogRecords: String(rejected), errorMessage: message } : {};
    return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ partialSuccess }) };
  });
  return Object.assign(s, { stored });
}

/** For a test file: a start function whose collectors are closed after each test. */
export function collectorPerTest(): (opts?: CollectorOptions) => Promise<CollectorServer> {
  const open: CollectorServer[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  return async (opts = {}) => {
    const s = await startCollector(opts);
    open.push(s);
    return s;
  };
}
