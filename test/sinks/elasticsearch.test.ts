import { afterEach, describe, expect, it } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { bulkItemStatus, elasticsearch, opensearch, withTimestamp, type ElasticsearchConfig } from "../../src/sinks/elasticsearch";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import type { SinkContext, SinkRequest } from "../../src/sinks/types";
import { NOW, deliverAll, fixtureEvents, manyEvents, plain, send, startElasticsearch, uids, type EsOptions, type EsServer } from "../support/siem-servers";

const API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";
const ctx: SinkContext = { env: { ES_API_KEY: API_KEY, ES_PASSWORD: "s3cret:pässword" }, now: NOW };
const events = fixtureEvents();

let es: EsServer | undefined;
afterEach(async () => {
  await es?.close();
  es = undefined;
});

async function server(opts: EsOptions = { apiKey: API_KEY }): Promise<EsServer> {
  es = await startElasticsearch(opts);
  return es;
}
const config = (url: string, extra: Record<string, unknown> = {}): ElasticsearchConfig =>
  elasticsearch.schema.parse({ url, auth: { apiKey: { env: "ES_API_KEY" } }, ...extra });

async function sendOne(req: SinkRequest, cfg: ElasticsearchConfig) {
  return elasticsearch.classify(await send(elasticsearch, req, cfg, ctx), req, cfg);
}

describe("elasticsearch sink", () => {
  it("bulk-creates every fixture event with _id = metadata.uid in ocsf-{class_uid}", async () => {
    const s = await server();
    const cfg = config(s.url);
    const reqs = await elasticsearch.encode(events, cfg, ctx);
    expect(reqs).toHaveLength(1);
    const req = reqs[0]!;
    expect(req.url).toBe(`${s.url}/_bulk`);
    expect(req.headers["content-type"]).toBe("application/x-ndjson");
    expect((req.body as string).endsWith("\n")).toBe(true);
    expect((req.body as string).split("\n")).toHaveLength(events.length * 2 + 1);
    expect((await sendOne(req, cfg)).outcome).toEqual({ kind: "delivered" });
    const docs = s.docs();
    expect(docs.map((d) => d.id).sort()).toEqual(uids(events).sort());
    for (const e of events) {
      const doc = docs.find((d) => d.id === e.metadata.uid)!;
      expect(doc.index).toBe(`ocsf-${e.class_uid}`);
      expect(doc.source).toEqual({ "@timestamp": new Date(e.time).toISOString(), ...plain(e) });
    }
  });

  it("adds @timestamp as the first member of each source line, spliced into the event's text; addTimestamp: false leaves the event as it is", async () => {
    const e = events[0]!;
    const line = JSON.stringify(e);
    const [on] = await elasticsearch.encode([e], config("https://es.example:9200"), ctx, [line]);
    const source = (on!.body as string).split("\n")[1]!;
    expect(source).toBe(`{"@timestamp":"${new Date(e.time).toISOString()}",${line.slice(1)}`);
    expect(Object.keys(JSON.parse(source) as object)[0]).toBe("@timestamp");
    const [off] = await elasticsearch.encode([e], config("https://es.example:9200", { addTimestamp: false }), ctx, [line]);
    expect((off!.body as string).split("\n")[1]).toBe(line);
    // an event that already has one, or a time that is no date, is left alone
    expect(withTimestamp({ ...e, "@timestamp": "x" } as OcsfEvent, line)).toBe(line);
    expect(withTimestamp({ ...e, time: Number.NaN }, line)).toBe(line);
    expect(withTimestamp({ ...e, time: 0 }, "{}")).toBe('{"@timestamp":"1970-01-01T00:00:00.000Z"}');
  });

  it("supports Basic auth, gzip, an ingest pipeline and dated index templates (OpenSearch too)", async () => {
    const s = await server({ basic: { username: "tributary", password: "s3cret:pässword" } });
    const cfg = opensearch.schema.parse({
      url: `${s.url}/`,
      auth: { username: "tributary", password: { env: "ES_PASSWORD" } },
      index: "OCSF-{class_uid}-{yyyy}.{mm}.{dd}",
      compression: "gzip",
      pipeline: "ocsf enrich",
    });
    const [req] = await opensearch.encode(events.slice(0, 5), cfg, ctx);
    expect(req!.url).toBe(`${s.url}/_bulk?pipeline=ocsf%20enrich`);
    expect(strFromU8(gunzipSync(req!.body as Uint8Array)).endsWith("\n")).toBe(true);
    expect(opensearch.classify(await send(opensearch, req!, cfg, ctx), req!, cfg).outcome.kind).toBe("delivered");
    const d = new Date(events[0]!.time);
    const day = `${d.getUTCFullYear()}.${String(d.getUTCMonth() + 1).padStart(2, "0")}.${String(d.getUTCDate()).padStart(2, "0")}`;
    expect(s.docs().find((x) => x.id === events[0]!.metadata.uid)!.index).toBe(`ocsf-${events[0]!.class_uid}-${day}`);
    expect(s.docs()).toHaveLength(5);
    expect(() => elasticsearch.schema.parse({ url: s.url, index: "ocsf-{nope}" })).toThrow(/unknown placeholder/);
  });

  it("treats 409 on create as already indexed, so a resent batch is not duplicated", async () => {
    const s = await server();
    const cfg = config(s.url);
    const [first] = await elasticsearch.encode(events.slice(0, 6), cfg, ctx);
    await sendOne(first!, cfg);
    const [again] = await elasticsearch.encode(events.slice(0, 10), cfg, ctx);
    const res = await send(elasticsearch, again!, cfg, ctx);
    const statuses = (JSON.parse(res.body) as { items: { create: { status: number } }[] }).items.map((i) => i.create.status);
    expect(statuses).toEqual([409, 409, 409, 409, 409, 409, 201, 201, 201, 201]);
    const c = elasticsearch.classify(res, again!, cfg);
    expect(c.outcome).toEqual({ kind: "delivered" });
    expect(c.perEvent?.size ?? 0).toBe(0);
    expect(s.docs()).toHaveLength(10);
  });

  it("settles partial failures per item: 429/5xx items retry, mapping errors reject", async () => {
    const throttled = events[2]!.metadata.uid;
    const unmappable = events[4]!.metadata.uid;
    const s = await server({
      apiKey: API_KEY,
      itemFailure: (_src, _index, id) =>
        id === throttled
          ? { status: 429, type: "es_rejected_execution_exception", reason: "rejected execution of coordinating operation" }
          : id === unmappable
            ? { status: 400, type: "document_parsing_exception", reason: "[1:2] failed to parse field [time] of type [date]" }
            : undefined,
    });
    const cfg = config(s.url);
    const batch = events.slice(0, 8);
    const [req] = await elasticsearch.encode(batch, cfg, ctx);
    const c = await sendOne(req!, cfg);
    expect(c.outcome).toEqual({ kind: "delivered" });
    expect(c.perEvent?.get(2)).toMatchObject({ kind: "retry", reason: expect.stringContaining("es_rejected_execution_exception"), itemStatus: 429 });
    expect(c.perEvent?.get(4)).toEqual({ kind: "reject", reason: "item 400: document_parsing_exception: [1:2] failed to parse field [time] of type [date]", itemStatus: 400 });
    expect(c.perEvent?.size).toBe(2);
    expect(s.docs()).toHaveLength(6);
    // `npm run dlq -- list` reads the item's status back from such a reason (src/deliver/dlq.ts)
    const reasonOf = (k: number) => (c.perEvent?.get(k) as { reason: string }).reason;
    expect([bulkItemStatus(reasonOf(4)), bulkItemStatus(reasonOf(2)), bulkItemStatus(`gave up after 10 attempts: ${reasonOf(2)}`)]).toEqual([400, 429, 429]);
  });

  it("retries HTTP 429 (Retry-After) and 5xx, rejects 501, 401 and other 4xx", async () => {
    const s = await server();
    const cfg = config(s.url);
    const [req] = await elasticsearch.encode(events.slice(0, 2), cfg, ctx);
    s.script.push(
      { status: 429, headers: { "retry-after": "3" }, body: '{"error":{"type":"circuit_breaking_exception","reason":"[parent] Data too large"},"status":429}' },
      { status: 503, body: '{"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"},"status":503}' },
      { status: 501, body: "" },
      { status: 400, body: '{"error":{"type":"illegal_argument_exception","reason":"bad"},"status":400}' },
    );
    expect((await sendOne(req!, cfg)).outcome).toEqual({ kind: "retry", afterMs: 3000, reason: "Elasticsearch 429: circuit_breaking_exception: [parent] Data too large" });
    expect((await sendOne(req!, cfg)).outcome).toMatchObject({ kind: "retry", reason: expect.stringContaining("unavailable_shards_exception") });
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("reject");
    expect((await sendOne(req!, cfg)).outcome).toEqual({ kind: "reject", reason: "Elasticsearch 400: illegal_argument_exception: bad" });
    const wrong = config(s.url, { auth: { apiKey: "wrong" } });
    const [bad] = await elasticsearch.encode(events.slice(0, 2), wrong, ctx);
    // credentials refused at the request level: the sink is gone (src/deliver/gone.ts), the reason naming the fix
    expect(await sendOne(bad!, wrong)).toEqual({
      outcome: { kind: "reject", reason: expect.stringMatching(/^Elasticsearch 401: security_exception: .*; the credentials were refused \(wrong, expired or invalidated\): set the API key in the sink's auth\.apiKey, then replay: npm run dlq -- replay --sink <name>$/) },
      gone: true,
    });
    expect(s.docs()).toHaveLength(0);
  });

  it("request-level 401/403 mark the sink gone (not a cluster block's 403, nor a bulk item's 403)", async () => {
    const s = await server();
    const byKey = config(s.url);
    const byPassword = config(s.url, { auth: { username: "tributary", password: { env: "ES_PASSWORD" } } });
    const none = config(s.url, { auth: undefined });
    const [req] = await elasticsearch.encode(events.slice(0, 2), byKey, ctx);
    const forbidden = '{"error":{"type":"security_exception","reason":"action [indices:data/write/bulk] is unauthorized for API key id [k1]"},"status":403}';
    s.script.push(
      { status: 403, body: forbidden },
      { status: 401, body: '{"error":{"type":"security_exception","reason":"unable to authenticate user [tributary]"},"status":401}' },
      { status: 401, body: "Unauthorized" },
      { status: 403, body: '{"error":{"type":"cluster_block_exception","reason":"index [ocsf-2004] blocked by: [FORBIDDEN/8/index write (api)];"},"status":403}' },
      { status: 200, body: JSON.stringify({ errors: true, items: [{ create: { status: 403, error: { type: "security_exception", reason: "action [indices:data/write/bulk[s]] is unauthorized" } } }, { create: { status: 201 } }] }) },
    );
    expect(await sendOne(req!, byKey)).toEqual({
      outcome: { kind: "reject", reason: expect.stringContaining("the credentials may not write with _bulk: grant them the create_doc (or create) index privilege on the sink's indices, or set the API key in ES_API_KEY, then replay") },
      gone: true,
    });
    expect(await sendOne(req!, byPassword)).toMatchObject({ outcome: { reason: expect.stringContaining("set the password of tributary in ES_PASSWORD, then replay") }, gone: true });
    expect(await sendOne(req!, none)).toMatchObject({ outcome: { reason: expect.stringContaining("the cluster asks for credentials: set the sink's auth") }, gone: true });
    expect(await sendOne(req!, byKey)).toEqual({ outcome: { kind: "reject", reason: "Elasticsearch 403: cluster_block_exception: index [ocsf-2004] blocked by: [FORBIDDEN/8/index write (api)];" } });
    const items = await sendOne(req!, byKey);
    expect(items.gone).toBeUndefined();
    expect(items.perEvent?.get(0)).toMatchObject({ kind: "reject", itemStatus: 403 });
    // OpenSearch: the same rule, its own name
    s.script.push({ status: 403, body: forbidden });
    const os = opensearch.schema.parse({ url: s.url, auth: { username: "admin", password: { env: "ES_PASSWORD" } } });
    const c = opensearch.classify(await send(opensearch, req!, os, ctx), req!, os);
    expect(c).toMatchObject({ outcome: { reason: expect.stringMatching(/^OpenSearch 403: security_exception: .*set the password of admin in ES_PASSWORD, then replay/) }, gone: true });
  });

  it("splits into requests under maxBytes, each accepted by a server with that http.max_content_length", async () => {
    const s = await server({ apiKey: API_KEY, maxContentLength: 200_000 });
    const many = manyEvents(500);
    const cfg = config(s.url, { maxBytes: 200_000 });
    const reqs = await elasticsearch.encode(many, cfg, ctx);
    expect(reqs.length).toBeGreaterThan(2);
    for (const r of reqs) expect(Buffer.byteLength(r.body as string)).toBeLessThanOrEqual(200_000);
    const log = await deliverAll(elasticsearch, many, cfg, ctx, 1);
    expect(log.delivered.size).toBe(500);
    expect(s.docs().map((d) => d.id).sort()).toEqual(uids(many).sort());
    // over the limit: the server's 413 is a reject
    const [big] = await elasticsearch.encode(many, config(s.url, { maxBytes: 5_000_000 }), ctx);
    expect((await sendOne(big!, cfg)).outcome).toMatchObject({ kind: "reject", reason: expect.stringContaining("413") });
  });

  it("outage and recovery: 503s then 200; items throttled once; every event stored exactly once", async () => {
    const throttledOnce = new Set([events[1]!.metadata.uid, events[7]!.metadata.uid]);
    const s = await server({
      apiKey: API_KEY,
      itemFailure: (_src, _index, id) => {
        if (!throttledOnce.has(id)) return undefined;
        throttledOnce.delete(id);
        return { status: 503, type: "unavailable_shards_exception", reason: "primary shard is not active" };
      },
    });
    for (let k = 0; k < 4; k++) s.script.push({ status: 503, body: '{"error":{"type":"cluster_block_exception","reason":"blocked"},"status":503}' });
    const cfg = config(s.url, { maxEvents: 20 });
    const log = await deliverAll(elasticsearch, events, cfg, ctx, 10);
    expect(log.pending).toEqual([]);
    expect(log.rejected.size).toBe(0);
    expect(log.delivered.size).toBe(events.length);
    expect(throttledOnce.size).toBe(0);
    expect(s.docs().map((d) => d.id).sort()).toEqual(uids(events).sort());
  });
});
