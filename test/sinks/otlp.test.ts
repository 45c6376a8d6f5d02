import { afterEach, describe, expect, it, vi } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { version } from "../../package.json";
import { otlpLogs, SEVERITY_NUMBER, type OtlpConfig } from "../../src/sinks/otlp";
import type { SinkContext, SinkRequest, SinkResponse } from "../../src/sinks/types";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { hostOf } from "../../src/sinks/batch";
import { enrichContext } from "../../src/enrich/context";
import { attemptDelivery } from "../../src/deliver/attempt";
import { resolveSinks } from "../../src/deliver/sinks";
import { deliverToSink } from "../../src/deliver/deliver";
import { buffer } from "../../src/ops/record";
import { renderPrometheus } from "../../src/ops/metrics";
import { memoryDeps } from "../support/memory-delivery";
import { parseConfig } from "../../src/config/load";
import { NOW, deliverAll, fixtureEvents, plain, send, uids } from "../support/siem-servers";
import { parseExportLogs, collectorPerTest } from "../support/otlp-collector";

const AUTH = "Bearer otlp-test-token";
const ctx: SinkContext = { env: { OTLP_AUTH: AUTH }, now: NOW };
// the sink runs after enrichment: the context enricher turns the sensors' pod fields into k8s labels
const events = fixtureEvents().map((e) => enrichContext(structuredClone(e), { clusters: new Map(), aliases: new Map() }));

const start = collectorPerTest();
afterEach(() => {
  vi.restoreAllMocks();
});
const config = (extra: Record<string, unknown> = {}): OtlpConfig => otlpLogs.schema.parse({ endpoint: "http://collector.invalid:4318", ...extra });

interface LogRecordJson {
  timeUnixNano: string;
  observedTimeUnixNano?: string;
  severityNumber?: number;
  severityText?: string;
  attributes: { key: string; value: Record<string, string> }[];
  body: { stringValue: string };
}
interface ExportJson {
  resourceLogs: { resource: { attributes: unknown[] }; scopeLogs: { scope: { name: string; version: string }; logRecords: LogRecordJson[] }[] }[];
}

const bodyText = (req: SinkRequest): string => (typeof req.body === "string" ? req.body : strFromU8(gunzipSync(req.body)));
const records = (req: SinkRequest): LogRecordJson[] => (JSON.parse(bodyText(req)) as ExportJson).resourceLogs[0]!.scopeLogs[0]!.logRecords;
const attrs = (r: LogRecordJson): Record<string, string> => Object.fromEntries(r.attributes.map((a) => [a.key, Object.values(a.value)[0]!]));
const res = (status: number, body = "", headers: Record<string, string> = {}): SinkResponse => ({ status, headers, body });
const withUid = (e: OcsfEvent, uid: string, extra: Partial<OcsfEvent> = {}): OcsfEvent => ({ ...e, ...extra, metadata: { ...e.metadata, uid } });

describe("otlp_logs encoding", () => {
  it("writes one ExportLogsServiceRequest: static resource, the tributary scope, a record per event with ns-string times and the event as body", async () => {
    const [req, ...more] = await otlpLogs.encode(events, config({ compression: "none" }), ctx);
    expect(more).toHaveLength(0);
    expect(req!.url).toBe("http://collector.invalid:4318/v1/logs");
    expect(req!.headers["content-type"]).toBe("application/json");
    const body = JSON.parse(req!.body as string) as ExportJson;
    expect(body.resourceLogs).toHaveLength(1);
    expect(body.resourceLogs[0]!.resource).toEqual({ attributes: [{ key: "service.name", value: { stringValue: "tributary" } }] });
    expect(body.resourceLogs[0]!.scopeLogs).toHaveLength(1);
    expect(body.resourceLogs[0]!.scopeLogs[0]!.scope).toEqual({ name: "tributary", version });
    const recs = records(req!);
    expect(recs).toHaveLength(events.length);
    expect(req!.events).toEqual(events.map((_, i) => i));
    recs.forEach((r, i) => {
      const e = events[i]!;
      expect(r.timeUnixNano).toBe(`${e.time}000000`);
      expect(r.observedTimeUnixNano).toBe(`${NOW}000000`); // metadata.logged_time: when Tributary received it
      expect(JSON.parse(r.body.stringValue)).toEqual(plain(e));
      const a = attrs(r);
      expect(a["ocsf.class_uid"]).toBe(String(e.class_uid));
      expect(a["ocsf.class_name"]).toBe(e.class_name);
      expect(a["ocsf.severity_id"]).toBe(String(e.severity_id));
      expect(a["ocsf.metadata.uid"]).toBe(e.metadata.uid);
      expect(a["host.name"]).toBe(hostOf(e));
    });
    // integers in the AnyValue are the JSON mapping's int64 strings
    expect(recs[0]!.attributes.find((x) => x.key === "ocsf.class_uid")!.value).toEqual({ intValue: String(events[0]!.class_uid) });
    // the fixtures include pods: their namespace and name under the semantic-convention keys
    const podEvents = events.filter((e) => e.metadata.labels?.some((l) => l.startsWith("k8s.pod:")));
    expect(podEvents.length).toBeGreaterThan(0);
    for (const e of podEvents) {
      const a = attrs(recs[events.indexOf(e)]!);
      expect(a["k8s.pod.name"]).toBe(e.metadata.labels!.find((l) => l.startsWith("k8s.pod:"))!.slice(8));
      expect(a["k8s.namespace.name"]).toBe(e.metadata.labels!.find((l) => l.startsWith("k8s.namespace:"))!.slice(14));
    }
  });

  it("times are exact decimal nanosecond strings (no float past 2^53); no logged_time, no observedTimeUnixNano", async () => {
    const e = events[0]!;
    const late: OcsfEvent = { ...e, time: 4_102_444_800_123, metadata: { ...e.metadata, uid: "t", logged_time: undefined } };
    const [r] = records((await otlpLogs.encode([late], config({ compression: "none" }), ctx))[0]!);
    expect(r!.timeUnixNano).toBe("4102444800123000000");
    expect(BigInt(r!.timeUnixNano)).toBe(4_102_444_800_123n * 1_000_000n);
    expect(r!.observedTimeUnixNano).toBeUndefined();
  });

  it("maps OCSF severity_id to OTel SeverityNumber by the data model's syslog mapping; severityText is the OCSF caption", async () => {
    const table: [number, string, number | undefined][] = [
      [0, "Unknown", undefined],
      [1, "Informational", 9],
      [2, "Low", 10],
      [3, "Medium", 13],
      [4, "High", 17],
      [5, "Critical", 18],
      [6, "Fatal", 21],
      [99, "Warning", undefined], // Other: the sender's own word (a Falco priority)
    ];
    const batch = table.map(([id, caption], k) => withUid(events[0]!, `sev-${k}`, { severity_id: id, severity: caption }));
    const recs = records((await otlpLogs.encode(batch, config({ compression: "none" }), ctx))[0]!);
    table.forEach(([id, caption, num], k) => {
      expect(recs[k]!.severityNumber).toBe(num);
      expect(SEVERITY_NUMBER[id]).toBe(num);
      expect(recs[k]!.severityText).toBe(caption);
    });
  });

  it("gzips by default: the same request text, Content-Encoding gzip", async () => {
    const [plainReq] = await otlpLogs.encode(events, config({ compression: "none" }), ctx);
    const [gz] = await otlpLogs.encode(events, config(), ctx);
    expect(gz!.headers["content-encoding"]).toBe("gzip");
    expect(gz!.body).toBeInstanceOf(Uint8Array);
    expect(strFromU8(gunzipSync(gz!.body as Uint8Array))).toBe(plainReq!.body);
    expect(plainReq!.headers["content-encoding"]).toBeUndefined();
  });

  it("carries the delivered lines as the bodies, byte for byte, instead of serializing the events again", async () => {
    const batch = events.slice(0, 3);
    const lines = batch.map((e) => JSON.stringify({ marker: "as-queued", uid: e.metadata.uid }));
    const recs = records((await otlpLogs.encode(batch, config({ compression: "none" }), ctx, lines))[0]!);
    expect(recs.map((r) => r.body.stringValue)).toEqual(lines);
  });

  it("headers come from config, secrets by env name; a missing one fails the encode naming it; path and endpoint slash", async () => {
    const cfg = config({ endpoint: "https://otlp.example.com/", path: "/otlp/v1/logs", headers: { Authorization: { env: "OTLP_AUTH" }, "X-Scope-OrgID": "team-a" } });
    const [req] = await otlpLogs.encode(events.slice(0, 1), cfg, ctx);
    expect(req!.url).toBe("https://otlp.example.com/otlp/v1/logs");
    expect(req!.headers.authorization).toBe(AUTH);
    expect(req!.headers["x-scope-orgid"]).toBe("team-a");
    await expect(async () => otlpLogs.encode(events.slice(0, 1), config({ headers: { authorization: { env: "NOPE" } } }), ctx)).rejects.toThrow(/otlp_logs: headers.authorization is not set \(env binding NOPE/);
    expect(() => otlpLogs.schema.parse({ endpoint: "http://c:4318", compression: "zstd" })).toThrow();
    // the full logs URL as the endpoint would post to /v1/logs/v1/logs (a 404, every event dead-lettered)
    expect(() => otlpLogs.schema.parse({ endpoint: "https://otlp.example.com:4318/v1/logs/" })).toThrow(/appends path \(default \/v1\/logs\) to endpoint/);
    expect(() => otlpLogs.schema.parse({ endpoint: "https://gw.example.com/otlp/ingest", path: "/ingest" })).toThrow(/appends path/);
    expect(otlpLogs.schema.parse({ endpoint: "https://gw.example.com/otlp", path: "/v1/logs" }).endpoint).toBe("https://gw.example.com/otlp");
    expect(() => otlpLogs.schema.parse({ endpoint: "http://c:4318", maxBytes: 30 * 1024 * 1024 })).toThrow();
  });

  it("splits into requests within maxBytes, each event in exactly one", async () => {
    const cfg = config({ compression: "none", maxBytes: 20_000 });
    const reqs = await otlpLogs.encode(events, cfg, ctx);
    expect(reqs.length).toBeGreaterThan(2);
    for (const r of reqs) {
      expect(Buffer.byteLength(r.body as string)).toBeLessThanOrEqual(20_000);
      expect(records(r)).toHaveLength(r.events.length);
      expect(() => parseExportLogs(r.body as string)).not.toThrow();
    }
    expect(reqs.flatMap((r) => r.events)).toEqual(events.map((_, i) => i));
  });
});

describe("otlp_logs classify (OTLP/HTTP spec)", () => {
  const req: SinkRequest = { events: [0, 1, 2, 3, 4], url: "http://c/v1/logs", method: "POST", headers: {}, body: "" };
  const outcome = (r: SinkResponse) => otlpLogs.classify(r, req, config()).outcome;

  it("200 is delivered; a partial success is never retried: some rejected -> delivered with a warning, all rejected -> reject", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(outcome(res(200))).toEqual({ kind: "delivered" });
    expect(outcome(res(200, "{}"))).toEqual({ kind: "delivered" });
    expect(outcome(res(200, '{"partialSuccess":{}}'))).toEqual({ kind: "delivered" });
    expect(warn).not.toHaveBeenCalled();
    expect(outcome(res(200, '{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"2 too old"}}'))).toEqual({ kind: "delivered" });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(JSON.parse(warn.mock.calls[0]![0] as string)).toMatchObject({ level: "warn", rejected: 2, sent: 5, message: "2 too old" });
    // a warning without rejections (rejectedLogRecords 0, message set) is delivered and logged too
    expect(outcome(res(200, '{"partialSuccess":{"errorMessage":"deprecated field"}}'))).toEqual({ kind: "delivered" });
    expect(warn).toHaveBeenCalledTimes(2);
    // int64 as a number is accepted too
    expect(outcome(res(200, '{"partialSuccess":{"rejectedLogRecords":5,"errorMessage":"schema"}}'))).toEqual({
      kind: "reject",
      reason: "OTLP 200 partial success: the receiver rejected all 5 log records: schema",
    });
  });

  it("a partial success that rejected some records carries their count (partialRejects); a mere warning or a full success none", () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const partial = (body: string) => otlpLogs.classify(res(200, body), req, config()).partialRejects;
    expect(partial('{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"2 too old"}}')).toBe(2);
    expect(partial('{"partialSuccess":{"rejectedLogRecords":4}}')).toBe(4);
    expect(partial('{"partialSuccess":{"errorMessage":"deprecated field"}}')).toBeUndefined();
    expect(partial('{"partialSuccess":{}}')).toBeUndefined();
    expect(partial("")).toBeUndefined();
  });

  it("429, 502, 503, 504 are retried with Retry-After; every other 4xx/5xx (500, 501, 400, 401, 404, 408, 413) and 3xx rejected", () => {
    expect(outcome(res(429, '{"code":8,"message":"rate limited"}', { "retry-after": "7" }))).toEqual({ kind: "retry", reason: "OTLP 429: rate limited", afterMs: 7000 });
    for (const s of [502, 503, 504]) expect(outcome(res(s, "upstream")).kind).toBe("retry");
    expect(outcome(res(503, "", { "retry-after": "30" }))).toMatchObject({ kind: "retry", afterMs: 30_000 });
    for (const s of [500, 501, 400, 401, 403, 404, 408, 413, 415, 301]) expect(outcome(res(s, "x")).kind, `status ${s}`).toBe("reject");
    // of these only 401 and 403 mark the sink gone (src/deliver/gone.ts): the credentials every request carries
    for (const s of [500, 501, 400, 404, 408, 413, 415, 301]) expect(otlpLogs.classify(res(s, "x"), req, config()).gone, `status ${s}`).toBeUndefined();
    expect(outcome(res(400, '{"code":3,"message":"unmarshal: bad time"}'))).toEqual({ kind: "reject", reason: "OTLP 400: unmarshal: bad time" });
  });
});

describe("otlp_logs delivery to an OTLP/HTTP receiver on 127.0.0.1", () => {
  it.each([
    ["json", "application/json"],
    ["protobuf", "application/x-protobuf"],
  ])("every fixture event goes through the delivery layer (config, batching, fetch) as gzipped %s and the receiver stores each once", async (encoding, contentType) => {
    const s = await start({ require: { name: "authorization", value: AUTH } });
    const cfg = parseConfig({ sinks: { otel: { type: "otlp_logs", endpoint: s.url, encoding, headers: { authorization: { env: "OTLP_AUTH" } }, batch: { maxEvents: 7 } } } });
    const sink = resolveSinks(cfg).get("otel")!;
    const items = events.map((event) => ({ event, line: JSON.stringify(event) }));
    const r = await attemptDelivery(sink, items, { env: ctx.env, now: NOW });
    expect(r.rejected).toEqual([]);
    expect(r.retry).toEqual([]);
    expect(r.delivered.sort((a, b) => a - b)).toEqual(items.map((_, i) => i));
    expect(r.requests).toBe(Math.ceil(items.length / 7));
    for (const q of s.requests) {
      expect(q.headers["content-encoding"]).toBe("gzip");
      expect(q.headers["content-type"]).toBe(contentType);
    }
    expect(s.stored.map((x) => JSON.parse(x.body) as unknown)).toEqual(events.map(plain));
    expect(s.stored.map((x) => x.attributes["ocsf.metadata.uid"])).toEqual(uids(events));
    for (const x of s.stored) {
      expect(x.resource).toEqual({ "service.name": "tributary" });
      expect(x.scope).toEqual({ name: "tributary", version });
      expect(typeof x.attributes["ocsf.class_uid"]).toBe("bigint");
    }
  });

  it("a sensor clock past what a fixed64 holds (9999) sends timeUnixNano 0 (unknown), so the receiver takes the request", async () => {
    const s = await start();
    const far = withUid(events[0]!, "far", { time: Date.UTC(9999, 11, 31, 23, 59, 59, 999) });
    const edge = withUid(events[1]!, "edge", { time: 18_446_744_073_709 }); // the last ms a fixed64 of ns holds
    const past = withUid(events[2]!, "past", { time: 18_446_744_073_710 });
    const batch = [far, edge, past, events[3]!];
    const log = await deliverAll(otlpLogs, batch, config({ endpoint: s.url, compression: "none" }), ctx);
    expect(log.rejected.size).toBe(0);
    expect(log.delivered.size).toBe(4);
    expect(s.requests.length).toBe(1);
    const sent = (JSON.parse(s.requests[0]!.text) as ExportJson).resourceLogs[0]!.scopeLogs[0]!.logRecords;
    expect(sent.map((r) => r.timeUnixNano)).toEqual(["0", "18446744073709000000", "0", `${events[3]!.time}000000`]);
    expect(sent[0]!.observedTimeUnixNano).toBe(`${far.metadata.logged_time}000000`);
  });

  it("a 429 with Retry-After is retried after the delay it gives, then stored once", async () => {
    const s = await start();
    s.script.push({ status: 429, headers: { "retry-after": "3", "content-type": "application/json" }, body: '{"code":8,"message":"queue is full"}' });
    const batch = events.slice(0, 5);
    const log = await deliverAll(otlpLogs, batch, config({ endpoint: s.url }), ctx);
    expect(log.retries).toEqual([...batch.map(() => ({ kind: "retry", reason: "OTLP 429: queue is full", afterMs: 3000 }))]);
    expect(log.delivered.size).toBe(5);
    expect(log.rounds).toBe(2);
    expect(s.stored.map((x) => x.attributes["ocsf.metadata.uid"])).toEqual(uids(batch));
  });

  it("a partial success is not resent: the request's events count as delivered, the receiver kept the others", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const refused = new Set(uids(events.slice(0, 2)));
    const s = await start({ rejectRecord: (x) => refused.has(String(x.attributes["ocsf.metadata.uid"])) });
    const batch = events.slice(0, 6);
    const log = await deliverAll(otlpLogs, batch, config({ endpoint: s.url }), ctx);
    expect(log.requests).toBe(1);
    expect(log.delivered.size).toBe(6);
    expect(log.retries).toEqual([]);
    expect(s.stored.map((x) => x.attributes["ocsf.metadata.uid"])).toEqual(uids(batch.slice(2)));
    // all of a request refused: rejected (dead-lettered), not retried
    const all = await deliverAll(otlpLogs, events.slice(0, 2), config({ endpoint: s.url }), ctx);
    expect([...all.rejected.values()]).toEqual([expect.stringContaining("rejected all 2 log records"), expect.stringContaining("rejected all 2 log records")]);
    expect(all.requests).toBe(1);
  });

  it("records a partial success drops are counted per sink in /metrics (tributary_sink_partial_rejects_total); their events count as delivered", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const refused = new Set(uids(events.slice(0, 3)));
    const s = await start({ rejectRecord: (x) => refused.has(String(x.attributes["ocsf.metadata.uid"])) });
    const cfg = parseConfig({ sinks: { otel: { type: "otlp_logs", endpoint: s.url, batch: { maxEvents: 5 } } } });
    const { deps } = memoryDeps(cfg, {}, NOW);
    buffer.drain();
    const r = await deliverToSink({ sink: "otel", items: events.slice(0, 10).map((event) => ({ event, line: JSON.stringify(event) })), attempt: 1, firstAttemptAt: NOW }, deps);
    expect(r).toMatchObject({ delivered: 10, retried: 0, dead: 0, requests: 2, partialRejects: 3 });
    const counters = buffer.drain().counters;
    expect(counters['tributary_sink_partial_rejects_total{sink="otel"}']).toBe(3);
    expect(counters['tributary_sink_events_total{sink="otel",outcome="delivered"}']).toBe(10);
    expect(renderPrometheus({ counters, gauges: {} })).toContain('tributary_sink_partial_rejects_total{sink="otel"} 3');
  });

  it("the receiver's 400 (bad data), 401 and 415 are rejected without retry", async () => {
    const s = await start({ require: { name: "authorization", value: AUTH } });
    const cfg = config({ endpoint: s.url, headers: { authorization: AUTH }, compression: "none" });
    const [req] = await otlpLogs.encode(events.slice(0, 2), cfg, ctx);
    const sendOne = async (r: SinkRequest) => otlpLogs.classify(await send(otlpLogs, r, cfg, ctx), r, cfg).outcome;
    // a number where the JSON mapping wants an int64 string, or a proto field name, is bad data
    const numeric = (req!.body as string).replace(/"timeUnixNano":"(\d+)"/, '"timeUnixNano":$1');
    expect(await sendOne({ ...req!, body: numeric })).toMatchObject({ kind: "reject", reason: expect.stringContaining("OTLP 400: logRecords[0].timeUnixNano: expected a fixed64 as a decimal string") });
    const snake = (req!.body as string).replace('"timeUnixNano"', '"time_unix_nano"');
    expect(await sendOne({ ...req!, body: snake })).toMatchObject({ kind: "reject", reason: expect.stringContaining("not a lowerCamelCase JSON name") });
    const refused = { ...req!, headers: { ...req!.headers, authorization: "Bearer wrong" } };
    expect(otlpLogs.classify(await send(otlpLogs, refused, cfg, ctx), refused, cfg)).toEqual({
      outcome: { kind: "reject", reason: expect.stringMatching(/^OTLP 401: .*; the receiver refused the credentials: set new ones in the sink's headers: authorization \(the sink's headers\.authorization\), then replay: npm run dlq -- replay --sink <name>$/) },
      gone: true,
    });
    const byEnv = config({ endpoint: s.url, headers: { authorization: { env: "OTLP_AUTH" }, "x-tenant": "sec" } });
    expect(otlpLogs.classify(res(403, '{"code":7,"message":"permission denied"}'), req!, byEnv)).toEqual({
      outcome: { kind: "reject", reason: "OTLP 403: permission denied; the receiver refused the credentials: set new ones in the sink's headers: authorization (OTLP_AUTH), x-tenant (the sink's headers.x-tenant), then replay: npm run dlq -- replay --sink <name>" },
      gone: true,
    });
    expect(otlpLogs.classify(res(401, "x"), req!, config()).outcome).toMatchObject({ reason: expect.stringContaining("the receiver asks for credentials: set them in the sink's headers") });
    expect(await sendOne({ ...req!, headers: { ...req!.headers, "content-type": "text/plain" } })).toMatchObject({ kind: "reject", reason: expect.stringContaining("OTLP 415") });
    expect(s.stored).toHaveLength(0);
    expect(await sendOne(req!)).toEqual({ kind: "delivered" });
    expect(s.stored).toHaveLength(2);
  });
});
