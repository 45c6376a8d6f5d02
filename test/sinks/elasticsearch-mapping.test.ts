// The fixture events against Elasticsearch's dynamic mapping (the fake in support/es-mapping.ts): with
// no template the Falco alerts of ocsf-2004 conflict (output_fields "evt.time" is a string in some and,
// dotted, the object holding "evt.time.iso8601" in others), and the losers are rejected for good; with
// examples/elasticsearch/ocsf-index-template.json installed every document is accepted, also into
// data streams (which need the @timestamp the sink adds).
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { elasticsearch, type ElasticsearchConfig } from "../../src/sinks/elasticsearch";
import type { SinkContext } from "../../src/sinks/types";
import { IndexMapping, parseIndexTemplate } from "../support/es-mapping";
import { NOW, deliverAll, fixtureEvents, send, startElasticsearch, uids, type EsServer } from "../support/siem-servers";

const ctx: SinkContext = { env: {}, now: NOW };
const events = fixtureEvents();
const templateText = (name: string): string => readFileSync(new URL(`../../examples/elasticsearch/${name}`, import.meta.url), "utf8");
const TEMPLATE = JSON.parse(templateText("ocsf-index-template.json")) as Record<string, unknown>;

let es: EsServer | undefined;
afterEach(async () => {
  await es?.close();
  es = undefined;
});

const config = (url: string, extra: Record<string, unknown> = {}): ElasticsearchConfig => elasticsearch.schema.parse({ url, maxEvents: 25, ...extra });

async function install(s: EsServer, body: unknown): Promise<void> {
  const req = { events: [], url: `${s.url}/_index_template/ocsf`, method: "PUT" as const, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  const res = await send(elasticsearch, req, config(s.url), ctx);
  expect(res.status).toBe(200);
}

describe("elasticsearch mapping of the fixture events", () => {
  it("without the template: the evt.time leaf/object conflict in ocsf-2004 is rejected, the rest indexed", async () => {
    const s = (es = await startElasticsearch({ mapping: true }));
    const log = await deliverAll(elasticsearch, events, config(s.url), ctx, 3);
    expect(log.pending).toEqual([]);
    // the first event of the index to have output_fields "evt.time" or "evt.time.*" decides; the others fail
    const kinds = events.map((e) => {
      const keys = e.class_uid === 2004 ? Object.keys((e.unmapped?.output_fields ?? {}) as object) : [];
      return keys.includes("evt.time") ? "leaf" : keys.some((k) => k.startsWith("evt.time.")) ? "object" : undefined;
    });
    const first = kinds.find((k) => k !== undefined);
    const losers = kinds.flatMap((k, i) => (k !== undefined && k !== first ? [i] : []));
    expect(losers.length).toBeGreaterThan(0);
    expect([...log.rejected.keys()].sort((a, b) => a - b)).toEqual(losers);
    for (const [i, reason] of log.rejected) {
      expect(events[i]!.class_uid).toBe(2004);
      expect(reason).toMatch(/^item 400: document_parsing_exception: .*unmapped\.output_fields\.evt\.time/);
    }
    expect(log.delivered.size + log.rejected.size).toBe(events.length);
    // and `time` became a long, not a date
    expect(s.mappings.get("ocsf-2004")!.fields.get("time")).toEqual({ type: "long" });
  });

  it("with the template installed: every document is accepted, time fields are dates, free-form objects one field each", async () => {
    const s = (es = await startElasticsearch({ mapping: true }));
    await install(s, TEMPLATE);
    const log = await deliverAll(elasticsearch, events, config(s.url), ctx, 3);
    expect([...log.rejected.values()]).toEqual([]);
    expect(log.delivered.size).toBe(events.length);
    expect(s.docs().map((d) => d.id).sort()).toEqual(uids(events).sort());
    const m = s.mappings.get("ocsf-2004")!;
    expect(m.fields.get("time")).toEqual({ type: "date", format: "epoch_millis" });
    expect(m.fields.get("unmapped")!.type).toBe("flattened");
    expect([...m.fields.keys()].some((k) => k.startsWith("unmapped."))).toBe(false);
    expect(s.mappings.get("ocsf-3002")?.fields.get("api.request.data")?.type ?? "flattened").toBe("flattened");
    for (const [, mapping] of s.mappings) {
      expect(mapping.fields.size).toBeLessThan(1000);
      for (const [path, f] of mapping.fields) if (/(^|\.)[a-z]+_time$/.test(path) && path !== "metadata.original_time" && f.type !== "object") expect([path, f.type]).toEqual([path, "date"]);
    }
  });

  it("as data streams: the template with data_stream takes the documents with @timestamp; without it they are refused", async () => {
    const s = (es = await startElasticsearch({ mapping: true }));
    await install(s, { ...TEMPLATE, data_stream: {} });
    const sample = events.filter((e) => e.class_uid === 2004);
    const refused = await deliverAll(elasticsearch, sample, config(s.url, { addTimestamp: false }), ctx, 2);
    expect(refused.rejected.size).toBe(sample.length);
    expect([...refused.rejected.values()][0]).toBe("item 400: document_parsing_exception: data stream timestamp field [@timestamp] is missing");
    const log = await deliverAll(elasticsearch, events, config(s.url), ctx, 3);
    expect([...log.rejected.values()]).toEqual([]);
    expect(log.delivered.size).toBe(events.length);
    expect(s.mappings.get("ocsf-2004")!.fields.get("@timestamp")!.type).toBe("date");
  });

  it("takes a huge free-form value (a kubectl last-applied-configuration annotation) thanks to ignore_above", () => {
    const doc = { time: 1, unmapped: { requestObject: { metadata: { annotations: { "kubectl.kubernetes.io/last-applied-configuration": "x".repeat(40_000) } } } } };
    expect(new IndexMapping(parseIndexTemplate("ocsf", TEMPLATE)).index(doc, "create")).toBeUndefined();
    const bare = JSON.parse(JSON.stringify(TEMPLATE).replaceAll(',"ignore_above":8191', "")) as unknown;
    expect(new IndexMapping(parseIndexTemplate("ocsf", bare)).index(doc, "create")).toMatchObject({ type: "illegal_argument_exception", reason: expect.stringContaining("immense term") });
  });

  it("the OpenSearch variant is the same template with flat_object (no ignore_above) for flattened", () => {
    expect(templateText("ocsf-index-template.opensearch.json")).toBe(templateText("ocsf-index-template.json").replaceAll('"flattened", "ignore_above": 8191', '"flat_object"'));
    const os = parseIndexTemplate("ocsf", JSON.parse(templateText("ocsf-index-template.opensearch.json")));
    expect(new IndexMapping(os).index({ unmapped: { "evt.time": "1", evt: { time: { iso8601: "x" } } }, time: 1 }, "create")).toBeUndefined();
  });
});

describe("the fake's dynamic mapping rules", () => {
  const fresh = (): IndexMapping => new IndexMapping(undefined);

  it("refuses an object where a leaf is mapped, a leaf where an object is mapped, and a type conflict", () => {
    const m = fresh();
    expect(m.index({ a: { b: "x" }, n: 1, d: "2024-01-02T03:04:05Z", ok: true }, "create")).toBeUndefined();
    expect(m.index({ "a.b.c": 1 }, "create")).toMatchObject({ type: "document_parsing_exception", reason: expect.stringContaining("Existing mapping for [a.b] must be of type object but found [text]") });
    expect(m.index({ a: "flat" }, "create")).toMatchObject({ reason: "object mapping for [a] tried to parse field [a] as object, but found a concrete value" });
    expect(m.index({ n: "not a number" }, "create")?.reason).toMatch(/^failed to parse field \[n\] of type \[long\]/);
    expect(m.index({ d: "yesterday" }, "create")?.reason).toMatch(/^failed to parse field \[d\] of type \[date\]/);
    expect(m.index({ ok: "maybe" }, "create")?.reason).toMatch(/of type \[boolean\]/);
    // what ES coerces is accepted; a failed document adds no fields
    expect(m.index({ n: "42", ok: "false", a: { b: 3 } }, "create")).toBeUndefined();
    expect(m.fields.has("a.b.c")).toBe(false);
  });

  it("counts fields against index.mapping.total_fields.limit", () => {
    const t = parseIndexTemplate("t", { index_patterns: ["x-*"], template: { settings: { index: { mapping: { total_fields: { limit: 10 } } } } } });
    const m = new IndexMapping(t);
    expect(m.index(Object.fromEntries(Array.from({ length: 6 }, (_, k) => [`f${k}`, "text"])), "create")).toMatchObject({ type: "illegal_argument_exception", reason: "Limit of total fields [10] has been exceeded while adding new fields [12]" });
    expect(m.index(Object.fromEntries(Array.from({ length: 5 }, (_, k) => [`f${k}`, k])), "create")).toBeUndefined();
  });
});
