// otlp_logs with encoding "protobuf": the binary request is the JSON request's content (decoded back by the
// independent decoder of test/support/otlp-proto.ts), the field numbers are pinned by golden bytes, maxBytes
// counts the protobuf bytes, protobuf answers are read (partial success, google.rpc.Status), the JSON default
// is unchanged, and the fake collector on 127.0.0.1 takes and answers protobuf (the whole delivery path with
// either encoding: otlp.test.ts).
import { afterEach, describe, expect, it, vi } from "vitest";
import { gunzipSync } from "fflate";
import { version } from "../../package.json";
import { otlpLogs, protoAnswerJson, recordProto, type OtlpConfig } from "../../src/sinks/otlp";
import { ProtoWriter } from "../../src/sinks/protobuf";
import type { SinkContext, SinkRequest } from "../../src/sinks/types";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { enrichContext } from "../../src/enrich/context";
import { NOW, deliverAll, fixtureEvents, listen, plain, send, uids } from "../support/siem-servers";
import { collectorPerTest } from "../support/otlp-collector";
import { decodeExportLogs, exportLogsResponse, hex, rpcStatus } from "../support/otlp-proto";

const AUTH = "Bearer otlp-test-token";
const ctx: SinkContext = { env: { OTLP_AUTH: AUTH }, now: NOW };
const events = fixtureEvents().map((e) => enrichContext(structuredClone(e), { clusters: new Map(), aliases: new Map() }));
const config = (extra: Record<string, unknown> = {}): OtlpConfig => otlpLogs.schema.parse({ endpoint: "http://collector.invalid:4318", ...extra });
const bytesOf = (req: SinkRequest): Uint8Array => {
  if (typeof req.body === "string") throw new Error("a protobuf request's body is bytes");
  return req.headers["content-encoding"] === "gzip" ? gunzipSync(req.body) : req.body;
};
const withUid = (e: OcsfEvent, uid: string, extra: Partial<OcsfEvent> = {}): OcsfEvent => ({ ...e, ...extra, metadata: { ...e.metadata, uid } });

const start = collectorPerTest();
afterEach(() => {
  vi.restoreAllMocks();
});

/** A small event whose every attribute is set. */
const TINY: OcsfEvent = {
  activity_id: 1,
  category_uid: 1,
  class_uid: 1007,
  class_name: "Process Activity",
  type_uid: 100701,
  severity_id: 4,
  severity: "High",
  time: 1_700_000_000_123,
  metadata: { version: "1.3.0", product: { name: "Falco", vendor_name: "Falco" }, uid: "u-1", logged_time: 1_700_000_001_000, labels: ["k8s.namespace:prod", "k8s.pod:web-1"] },
  device: { hostname: "node-1" },
};
const TINY_LINE = '{"a":1}';

describe("otlp_logs encoding protobuf", () => {
  it("is the JSON request's content, record for record, for every fixture event (and odd times and severities)", async () => {
    const odd = [
      withUid(events[0]!, "far", { time: Date.UTC(9999, 0, 1) }), // timeUnixNano 0 (unknown)
      withUid(events[1]!, "unknown-sev", { severity_id: 0, severity: "Unknown" }), // no severityNumber
      withUid(events[2]!, "no-logged", { metadata: { ...events[2]!.metadata, uid: "no-logged", logged_time: undefined } }),
      withUid(events[3]!, "unicode", { message: "naïve — 日本 🙂" }),
    ];
    const all = [...events, ...odd];
    const lines = all.map((e) => JSON.stringify(e));
    const opts = { compression: "none", maxEvents: 7, resource: { "service.name": "tributary", "deployment.environment": "test" } };
    const json = await otlpLogs.encode(all, config(opts), ctx, lines);
    const proto = await otlpLogs.encode(all, config({ ...opts, encoding: "protobuf" }), ctx, lines);
    expect(proto.map((r) => r.events)).toEqual(json.map((r) => r.events));
    expect(proto.length).toBe(Math.ceil(all.length / 7));
    proto.forEach((p, k) => {
      expect(p.url).toBe("http://collector.invalid:4318/v1/logs");
      expect(p.headers["content-type"]).toBe("application/x-protobuf");
      expect(decodeExportLogs(bytesOf(p))).toEqual(JSON.parse(json[k]!.body as string));
    });
    // and the bodies carry the events
    const decoded = proto.flatMap((p) => (decodeExportLogs(bytesOf(p)).resourceLogs[0]!.scopeLogs as { logRecords: { body: { stringValue: string } }[] }[])[0]!.logRecords);
    expect(decoded.map((r) => JSON.parse(r.body.stringValue) as unknown)).toEqual(all.map(plain));
  });

  it("pins the field numbers: golden bytes of one record and of a whole request", async () => {
    // LogRecord: 09 time (fixed64 1) | 10 severity_number (2) | 1a severity_text (3) | 2a body (5) | 32 attributes (6)
    // (KeyValue 0a key, 12 AnyValue: 0a string_value or 18 int_value) | 59 observed_time (fixed64 11)
    const record =
      "09c0d47e3dfe9c9717" + "1011" + "1a0448696768" + "2a090a077b2261223a317d" +
      "32150a0e6f6373662e636c6173735f756964120318ef07" +
      "32250a0f6f6373662e636c6173735f6e616d6512120a1050726f63657373204163746976697479" +
      "32160a106f6373662e73657665726974795f6964120218" + "04" +
      "321a0a116f6373662e6d657461646174612e75696412050a03752d31" +
      "32150a09686f73742e6e616d6512080a066e6f64652d31" +
      "321c0a126b38732e6e616d6573706163652e6e616d6512060a0470726f64" +
      "32170a0c6b38732e706f642e6e616d6512070a057765622d31" +
      "5900cac471fe9c9717";
    expect(hex(recordProto(TINY, TINY_LINE))).toBe(record);
    // a length-delimited field of a one-byte tag, for lengths under 2^14
    const ld = (tag: string, body: string): string => {
      const n = body.length / 2;
      const len = n < 128 ? n.toString(16).padStart(2, "0") : ((n % 128) + 128).toString(16) + Math.floor(n / 128).toString(16).padStart(2, "0");
      return tag + len + body;
    };
    const text = (s: string): string => Buffer.from(s).toString("hex");
    // ExportLogsServiceRequest 0a ResourceLogs { 0a Resource { 0a KeyValue }, 12 ScopeLogs { 0a scope { 0a name, 12 version }, 12 LogRecord } }
    const resource = ld("0a", ld("0a", ld("0a", text("service.name")) + ld("12", ld("0a", text("t")))));
    const scope = ld("0a", ld("0a", text("tributary")) + ld("12", text(version)));
    const golden = ld("0a", resource + ld("12", scope + ld("12", record)));
    const [req] = await otlpLogs.encode([TINY], config({ compression: "none", encoding: "protobuf", resource: { "service.name": "t" } }), ctx, [TINY_LINE]);
    expect(hex(bytesOf(req!))).toBe(golden);
  });

  it("JSON stays the default, byte for byte the request it was before the protobuf encoding", async () => {
    const golden =
      '{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"t"}}]},"scopeLogs":[{"scope":{"name":"tributary","version":' +
      JSON.stringify(version) +
      '},"logRecords":[{"timeUnixNano":"1700000000123000000","observedTimeUnixNano":"1700000001000000000","severityNumber":17,"severityText":"High","attributes":[{"key":"ocsf.class_uid","value":{"intValue":"1007"}},{"key":"ocsf.class_name","value":{"stringValue":"Process Activity"}},{"key":"ocsf.severity_id","value":{"intValue":"4"}},{"key":"ocsf.metadata.uid","value":{"stringValue":"u-1"}},{"key":"host.name","value":{"stringValue":"node-1"}},{"key":"k8s.namespace.name","value":{"stringValue":"prod"}},{"key":"k8s.pod.name","value":{"stringValue":"web-1"}}],"body":{"stringValue":"{\\"a\\":1}"}}]}]}]}';
    expect(config().encoding).toBe("json");
    const [req] = await otlpLogs.encode([TINY], config({ compression: "none", resource: { "service.name": "t" } }), ctx, [TINY_LINE]);
    expect(req!.headers["content-type"]).toBe("application/json");
    expect(req!.body).toBe(golden);
  });

  it("ProtoWriter: a field's head then its value is the nested field, in an exact-size buffer that later writes leave alone", () => {
    const inner = new ProtoWriter().string(1, "x".repeat(200)).uint(2, 300).finish(); // a two-byte length
    const nested = new ProtoWriter().bytes(1, inner).finish();
    const w = new ProtoWriter(nested.length).head(1, inner.length).string(1, "x".repeat(200)).uint(2, 300);
    const flat = w.finish();
    expect(hex(flat)).toBe(hex(nested));
    expect(flat.buffer.byteLength).toBe(nested.length); // the exact size asked for
    w.uint(3, 1);
    expect(hex(flat)).toBe(hex(nested));
    expect(w.finish().length).toBe(nested.length + 2);
  });

  it("gzips the protobuf bytes by default (Content-Encoding gzip)", async () => {
    const [plainReq] = await otlpLogs.encode(events, config({ compression: "none", encoding: "protobuf" }), ctx);
    const [gz] = await otlpLogs.encode(events, config({ encoding: "protobuf" }), ctx);
    expect(gz!.headers["content-encoding"]).toBe("gzip");
    expect(plainReq!.headers["content-encoding"]).toBeUndefined();
    expect(hex(gunzipSync(gz!.body as Uint8Array))).toBe(hex(plainReq!.body as Uint8Array));
  });

  it("maxBytes counts the protobuf bytes: every request within it, each event in exactly one", async () => {
    const sizes = await Promise.all(events.map(async (e) => bytesOf((await otlpLogs.encode([e], config({ compression: "none", encoding: "protobuf" }), ctx))[0]!).length));
    const maxBytes = Math.max(...sizes) * 3;
    const reqs = await otlpLogs.encode(events, config({ compression: "none", encoding: "protobuf", maxBytes }), ctx);
    expect(reqs.length).toBeGreaterThan(2);
    for (const r of reqs) expect(bytesOf(r).length).toBeLessThanOrEqual(maxBytes);
    expect(reqs.flatMap((r) => r.events)).toEqual(events.map((_, i) => i));
    // and the JSON encoding of the same events needs more requests under the same limit (protobuf is smaller)
    const jsonReqs = await otlpLogs.encode(events, config({ compression: "none", maxBytes }), ctx);
    expect(jsonReqs.length).toBeGreaterThanOrEqual(reqs.length);
  });
});

describe("otlp_logs protobuf answers", () => {
  it("decodes an ExportLogsServiceResponse's partial success for classify, as the JSON answer", () => {
    const req = { events: [0, 1, 2], url: "http://x/v1/logs", method: "POST", headers: {}, body: "" } satisfies SinkRequest;
    const cfg = config({ encoding: "protobuf" });
    expect(protoAnswerJson(200, exportLogsResponse({ rejected: 2, message: "too old" }))).toBe('{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"too old"}}');
    expect(protoAnswerJson(200, exportLogsResponse())).toBe("{}");
    // a count past one varint byte and a message past 127 bytes (two-byte lengths)
    const long = "x".repeat(300);
    expect(JSON.parse(protoAnswerJson(200, exportLogsResponse({ rejected: 300, message: long })))).toEqual({ partialSuccess: { rejectedLogRecords: "300", errorMessage: long } });
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const some = otlpLogs.classify({ status: 200, headers: {}, body: protoAnswerJson(200, exportLogsResponse({ rejected: 2, message: "too old" })) }, req, cfg);
    expect(some).toEqual({ outcome: { kind: "delivered" }, partialRejects: 2 });
    const every = otlpLogs.classify({ status: 200, headers: {}, body: protoAnswerJson(200, exportLogsResponse({ rejected: 3, message: "too old" })) }, req, cfg);
    expect(every.outcome).toEqual({ kind: "reject", reason: "OTLP 200 partial success: the receiver rejected all 3 log records: too old" });
    // google.rpc.Status of a failure: its message is the reason
    expect(protoAnswerJson(400, rpcStatus(3, "bad record"))).toBe('{"code":3,"message":"bad record"}');
    expect(otlpLogs.classify({ status: 400, headers: {}, body: protoAnswerJson(400, rpcStatus(3, "bad record")) }, req, cfg).outcome).toEqual({ kind: "reject", reason: "OTLP 400: bad record" });
    // bytes that are no message: a note, and for a 2xx no partial success (delivered)
    const cut = exportLogsResponse({ rejected: 1, message: "cut" }).slice(0, 4);
    expect(protoAnswerJson(200, cut)).toMatch(/^\(an undecodable protobuf answer of 4 bytes: /);
    expect(otlpLogs.classify({ status: 200, headers: {}, body: protoAnswerJson(200, cut) }, req, cfg).outcome).toEqual({ kind: "delivered" });
  });

  it("keeps a partial success's rejected count when its error_message is not UTF-8 (replacement characters)", () => {
    const req = { events: [0, 1, 2], url: "http://x/v1/logs", method: "POST", headers: {}, body: "" } satisfies SinkRequest;
    // ExportLogsServiceResponse { partial_success (1) { rejected_log_records (1) = 2, error_message (2) = "bad \xff\xfe" } }
    const partial = [0x08, 0x02, 0x12, 0x06, 0x62, 0x61, 0x64, 0x20, 0xff, 0xfe];
    const answer = protoAnswerJson(200, new Uint8Array([0x0a, partial.length, ...partial]));
    expect(JSON.parse(answer)).toEqual({ partialSuccess: { rejectedLogRecords: "2", errorMessage: "bad \ufffd\ufffd" } });
    vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(otlpLogs.classify({ status: 200, headers: {}, body: answer }, req, config({ encoding: "protobuf" }))).toEqual({ outcome: { kind: "delivered" }, partialRejects: 2 });
  });
});

describe("otlp_logs protobuf delivery to an OTLP/HTTP receiver on 127.0.0.1", () => {
  it("reads a protobuf answer in the chunks it comes in, up to 64 KiB (a longer one is cut: undecodable, a full success)", async () => {
    const server = await listen(() => ({ status: 500 }));
    try {
      const cfg = config({ endpoint: server.url, encoding: "protobuf" });
      const [req] = await otlpLogs.encode(events.slice(0, 3), cfg, ctx);
      const answer = (body: Uint8Array) => ({ status: 200, headers: { "content-type": "application/x-protobuf" }, body });
      const message = "m".repeat(40_000); // more than one chunk on the wire, less than the cap
      server.script.push(answer(exportLogsResponse({ rejected: 2, message })), answer(exportLogsResponse({ rejected: 2, message: "m".repeat(70_000) })));
      expect(JSON.parse((await send(otlpLogs, req!, cfg, ctx)).body)).toEqual({ partialSuccess: { rejectedLogRecords: "2", errorMessage: message } });
      const cut = await send(otlpLogs, req!, cfg, ctx);
      expect(cut.body).toMatch(/^\(an undecodable protobuf answer of 65536 bytes: /);
      expect(otlpLogs.classify(cut, req!, cfg).outcome).toEqual({ kind: "delivered" });
      expect(server.requests.length).toBe(2);
    } finally {
      await server.close();
    }
  });

  it("reads the receiver's protobuf answers: partial success counted, a 400's Status message as the reason, 401 gone", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const refused = new Set(uids(events.slice(0, 2)));
    const s = await start({ require: { name: "authorization", value: AUTH }, rejectRecord: (x) => refused.has(String(x.attributes["ocsf.metadata.uid"])) });
    const cfg = config({ endpoint: s.url, encoding: "protobuf", headers: { authorization: AUTH } });
    const batch = events.slice(0, 6);
    const log = await deliverAll(otlpLogs, batch, cfg, ctx);
    expect(log.delivered.size).toBe(6);
    expect(log.retries).toEqual([]);
    expect(s.stored.map((x) => x.attributes["ocsf.metadata.uid"])).toEqual(uids(batch.slice(2)));
    const [req] = await otlpLogs.encode(events.slice(2, 4), config({ ...cfg, compression: "none" }), ctx);
    const answer = await send(otlpLogs, req!, cfg, ctx);
    expect(answer.headers["content-type"]).toBe("application/x-protobuf");
    expect(otlpLogs.classify(answer, req!, cfg).outcome).toEqual({ kind: "delivered" });
    // a request the receiver cannot decode: its google.rpc.Status message
    const bad = { ...req!, body: new Uint8Array([0x0a, 0x05, 0x01]) };
    expect(otlpLogs.classify(await send(otlpLogs, bad, cfg, ctx), bad, cfg).outcome).toEqual({ kind: "reject", reason: "OTLP 400: length past the message's end" });
    const refusedAuth = { ...req!, headers: { ...req!.headers, authorization: "Bearer wrong" } };
    expect(otlpLogs.classify(await send(otlpLogs, refusedAuth, cfg, ctx), refusedAuth, cfg)).toMatchObject({ outcome: { kind: "reject", reason: expect.stringMatching(/^OTLP 401: missing or bad credentials; /) }, gone: true });
  });
});
