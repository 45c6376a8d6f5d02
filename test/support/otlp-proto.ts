// A strict hand decoder of OTLP's binary protobuf ExportLogsServiceRequest, written apart from
// src/sinks/protobuf.ts so that a mistake there cannot hide itself: it turns the bytes into the OTLP JSON
// mapping's object (the shape otlp.ts writes with encoding "json"), and throws on any field number or wire type
// the messages do not have, so the field numbers are checked as well as the values. Field numbers:
// opentelemetry-proto collector/logs/v1/logs_service.proto, logs/v1/logs.proto, common/v1/common.proto,
// resource/v1/resource.proto; google.rpc.Status from googleapis google/rpc/status.proto. Also the receiver's
// answers as protobuf (ExportLogsServiceResponse, google.rpc.Status) for the fake collector.

export class ProtoDecodeError extends Error {}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Reads one message's fields in order. */
class Cursor {
  private at = 0;
  constructor(private readonly b: Uint8Array) {}

  more(): boolean {
    return this.at < this.b.length;
  }

  private byte(): number {
    if (this.at >= this.b.length) throw new ProtoDecodeError("message ends inside a field");
    return this.b[this.at++]!;
  }

  varint(): bigint {
    let out = 0n;
    for (let k = 0; k < 10; k++) {
      const x = this.byte();
      out += BigInt(x & 127) * 128n ** BigInt(k);
      if ((x & 128) === 0) return out;
    }
    throw new ProtoDecodeError("varint of more than 10 bytes");
  }

  /** The next field's number and wire type. */
  key(): [number, number] {
    const k = Number(this.varint());
    return [k >>> 3, k & 7];
  }

  fixed64(): bigint {
    let out = 0n;
    for (let k = 0; k < 8; k++) out += BigInt(this.byte()) << BigInt(8 * k);
    return out;
  }

  delimited(): Uint8Array {
    const len = Number(this.varint());
    if (len > this.b.length - this.at) throw new ProtoDecodeError("length past the message's end");
    this.at += len;
    return this.b.subarray(this.at - len, this.at);
  }

  text(): string {
    return utf8.decode(this.delimited());
  }
}

/** Fails on a field the message does not have (by number and wire type). */
function unexpected(msg: string, field: number, wire: number): never {
  throw new ProtoDecodeError(`${msg}: unexpected field ${field} with wire type ${wire}`);
}

/** Reads each field of message `b` with `read`, which answers false for a field `msg` does not have. */
function eachField(b: Uint8Array, msg: string, read: (c: Cursor, field: number, wire: number) => boolean): void {
  const c = new Cursor(b);
  while (c.more()) {
    const [f, w] = c.key();
    if (!read(c, f, w)) unexpected(msg, f, w);
  }
}

type Json = Record<string, unknown>;

/** AnyValue (string_value = 1, int_value = 3 as an int64: the JSON mapping's decimal string). */
function anyValue(b: Uint8Array): Json {
  const out: Json = {};
  eachField(b, "AnyValue", (c, f, w) => {
    if (f === 1 && w === 2) out.stringValue = c.text();
    else if (f === 3 && w === 0) out.intValue = BigInt.asIntN(64, c.varint()).toString();
    else return false;
    return true;
  });
  return out;
}

/** KeyValue (key = 1, value = 2). */
function keyValue(b: Uint8Array): Json {
  const out: Json = { key: "", value: {} };
  eachField(b, "KeyValue", (c, f, w) => {
    if (f === 1 && w === 2) out.key = c.text();
    else if (f === 2 && w === 2) out.value = anyValue(c.delimited());
    else return false;
    return true;
  });
  return out;
}

/** LogRecord: time 1 and observed time 11 (fixed64), severity_number 2, severity_text 3, body 5, attributes 6. */
function logRecord(b: Uint8Array): Json {
  let time = 0n;
  let observed: bigint | undefined;
  let sevNumber: number | undefined;
  let sevText: string | undefined;
  let body: Json = {};
  const attributes: Json[] = [];
  eachField(b, "LogRecord", (c, f, w) => {
    if (f === 1 && w === 1) time = c.fixed64();
    else if (f === 11 && w === 1) observed = c.fixed64();
    else if (f === 2 && w === 0) sevNumber = Number(c.varint());
    else if (f === 3 && w === 2) sevText = c.text();
    else if (f === 5 && w === 2) body = anyValue(c.delimited());
    else if (f === 6 && w === 2) attributes.push(keyValue(c.delimited()));
    else return false;
    return true;
  });
  // in the JSON encoding's key order: timeUnixNano always (0: unknown), the optional ones when set
  const out: Json = { timeUnixNano: time.toString() };
  if (observed !== undefined) out.observedTimeUnixNano = observed.toString();
  if (sevNumber !== undefined) out.severityNumber = sevNumber;
  if (sevText !== undefined) out.severityText = sevText;
  return { ...out, attributes, body };
}

/** ScopeLogs (scope = 1: InstrumentationScope { name = 1; version = 2 }, log_records = 2). */
function scopeLogsOf(b: Uint8Array): Json {
  const scope: Json = {};
  const logRecords: Json[] = [];
  eachField(b, "ScopeLogs", (sl, h, x) => {
    if (h === 1 && x === 2) {
      eachField(sl.delimited(), "InstrumentationScope", (sc, i, y) => {
        if (i === 1 && y === 2) scope.name = sc.text();
        else if (i === 2 && y === 2) scope.version = sc.text();
        else return false;
        return true;
      });
    } else if (h === 2 && x === 2) logRecords.push(logRecord(sl.delimited()));
    else return false;
    return true;
  });
  return { scope, logRecords };
}

/** ExportLogsServiceRequest -> its OTLP JSON object ({"resourceLogs":[...]}). */
export function decodeExportLogs(bytes: Uint8Array): { resourceLogs: Json[] } {
  const resourceLogs: Json[] = [];
  const top = new Cursor(bytes);
  while (top.more()) {
    const [f, w] = top.key();
    if (f !== 1 || w !== 2) unexpected("ExportLogsServiceRequest", f, w);
    const attributes: Json[] = [];
    const scopeLogs: Json[] = [];
    eachField(top.delimited(), "ResourceLogs", (rl, g, v) => {
      if (g === 1 && v === 2) {
        eachField(rl.delimited(), "Resource", (res, h, x) => {
          if (h !== 1 || x !== 2) return false;
          attributes.push(keyValue(res.delimited()));
          return true;
        });
      } else if (g === 2 && v === 2) scopeLogs.push(scopeLogsOf(rl.delimited()));
      else return false;
      return true;
    });
    resourceLogs.push({ resource: { attributes }, scopeLogs });
  }
  return { resourceLogs };
}

// ---- the receiver's answers ----

function varintBytes(n: number): number[] {
  const out: number[] = [];
  for (; n > 127; n = Math.floor(n / 128)) out.push((n % 128) + 128);
  out.push(n);
  return out;
}

function delimitedField(field: number, bytes: Uint8Array): number[] {
  return [field * 8 + 2, ...varintBytes(bytes.length), ...bytes];
}

/** ExportLogsServiceResponse { partial_success = 1 { rejected_log_records = 1; error_message = 2 } }; none: empty. */
export function exportLogsResponse(partial?: { rejected: number; message: string }): Uint8Array {
  if (partial === undefined) return new Uint8Array(0);
  const inner = [...(partial.rejected > 0 ? [1 * 8, ...varintBytes(partial.rejected)] : []), ...delimitedField(2, new TextEncoder().encode(partial.message))];
  return new Uint8Array(delimitedField(1, new Uint8Array(inner)));
}

/** google.rpc.Status { int32 code = 1; string message = 2 }. */
export function rpcStatus(code: number, message: string): Uint8Array {
  return new Uint8Array([1 * 8, ...varintBytes(code), ...delimitedField(2, new TextEncoder().encode(message))]);
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
