// The queue consumer inside workerd, delivering to s3rver and a fake Splunk HEC on 127.0.0.1 through
// fault-injecting gates: per-sink isolation, timeouts, Retry-After, dead letters, outage and
// recovery (every event delivered exactly once, counted by uid), deterministic object keys,
// Security Lake Parquet, large retries parked in R2. DELIVERIES is a stub producer whose messages
// the tests feed back to the consumer.
import { env } from "cloudflare:test";
import { describe, it, expect, inject, beforeAll, vi } from "vitest";
import { parquetReadObjects } from "hyparquet";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { eventDay, fileTime } from "../../src/sinks/objects";
import type { DeadLetter } from "../../src/deliver/dlq";
import { freshBucket, readBucket, readEvents, ndjsonEvents, uidOfPlain } from "../support/s3-read";
import { gateControl, type GateStep } from "../support/gate-client";
import { readArchive } from "../support/archive";
import { uniqueFixtureEvents, eventsMessages, stubDeliveries, runBatch, drainDeliveries, EVENTS_QUEUE, DELIVERIES_QUEUE } from "../support/delivery";
import { encodeMessage } from "../../src/deliver/enqueue";

const s3Endpoint = inject("s3Endpoint");
const s3Gate = inject("s3Gate");
const hecGate = inject("hecGate");
const HEC_TOKEN = "00000000-0000-4000-8000-00000000cafe";

let events: OcsfEvent[];
let uids: string[];
beforeAll(() => {
  events = uniqueFixtureEvents();
  uids = events.map((e) => e.metadata.uid!).sort();
});

let n = 0;
/** A unique sink/bucket label per test (the archive and the DLQ are shared by the file). */
const label = (s: string) => `${s}${++n}${Date.now().toString(36)}`;

function s3Sink(bucket: string, over: Record<string, unknown> = {}) {
  return { type: "s3", bucket, endpoint: s3Gate, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "S3_SECRET" }, ...over };
}

function testEnv(cfg: unknown, deliveries = stubDeliveries()) {
  const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries, S3_SECRET: "S3RVER", HEC_TOKEN } as unknown as Env;
  return { env: e, deliveries };
}

/** The events stored in a bucket (waiting, bounded, until `expect` of them are readable). */
async function storedEvents(bucket: string, expect = 0): Promise<Record<string, unknown>[]> {
  return (await readEvents(s3Endpoint, bucket, expect)).events;
}

async function deadLetters(sink: string): Promise<{ key: string; rec: DeadLetter }[]> {
  const list = await env.ARCHIVE.list({ prefix: `dlq/${sink}/` });
  const out: { key: string; rec: DeadLetter }[] = [];
  for (const o of list.objects) out.push({ key: o.key, rec: (await (await env.ARCHIVE.get(o.key))!.json()) as DeadLetter });
  return out;
}

const xml = (code: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`;
const slowDown: GateStep = { status: 503, headers: { "content-type": "application/xml" }, body: xml("SlowDown") };

describe("EVENTS consumer: per-sink isolation", () => {
  it("a failing sink (503) does not hold the others: the good sink and the archive get every event, the bad one's go to DELIVERIES", async () => {
    const good = await freshBucket(s3Endpoint, "good");
    const bad = await freshBucket(s3Endpoint, "bad");
    const [g, b] = [label("good"), label("bad")];
    const cfg = { sinks: { [g]: s3Sink(good), [b]: s3Sink(bad, { retry: { baseSeconds: 8 } }) }, routes: [{ sinks: [g, b] }] };
    await gateControl.script(s3Gate, bad, Array.from({ length: 5 }, () => slowDown));
    const { env: e, deliveries } = testEnv(cfg);
    const msgs = eventsMessages(cfg, events);
    const res = await runBatch(EVENTS_QUEUE, msgs, e);
    expect(res.retried).toEqual([]);
    expect(res.acked).toHaveLength(msgs.length);

    expect((await storedEvents(good, uids.length)).map(uidOfPlain).sort()).toEqual(uids);
    expect(await storedEvents(bad)).toEqual([]);
    // one request reached the bad sink; the rest of the attempt was not sent
    const state = await gateControl.state(s3Gate, bad);
    expect(state.log.map((l) => l.action)).toEqual(["scripted"]);

    expect(deliveries.sent.length).toBeGreaterThan(0);
    const retried = deliveries.sent.flatMap((c) => c.body.ndjson!.split("\n").map((l) => (JSON.parse(l) as OcsfEvent).metadata.uid!));
    expect(retried.sort()).toEqual(uids);
    for (const c of deliveries.sent) {
      expect(c.body).toMatchObject({ v: 1, kind: "delivery", sink: b, attempt: 2 });
      expect(c.body.reason).toMatch(/503|SlowDown/);
      // first retry: baseSeconds 8 with jitter in [4, 8]
      expect(c.delaySeconds).toBeGreaterThanOrEqual(4);
      expect(c.delaySeconds).toBeLessThanOrEqual(8);
    }
    const archived = (await readArchive(env.ARCHIVE)).flatMap((o) => o.events).map(uidOfPlain);
    for (const u of uids) expect(archived).toContain(u);
  });

  it("a hung sink times out (per-request timeout) while the good sink gets everything", async () => {
    const good = await freshBucket(s3Endpoint, "good");
    const slow = await freshBucket(s3Endpoint, "slow");
    const [g, s] = [label("good"), label("slow")];
    const cfg = { sinks: { [g]: s3Sink(good), [s]: s3Sink(slow, { timeoutMs: 500 }) }, routes: [{ sinks: [g, s] }] };
    await gateControl.script(s3Gate, slow, [{ hang: true }]);
    const { env: e, deliveries } = testEnv(cfg);
    const res = await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
    expect(res.retried).toEqual([]);
    expect((await storedEvents(good, uids.length)).map(uidOfPlain).sort()).toEqual(uids);
    expect(deliveries.sent.every((c) => c.body.sink === s && /timeout|abort/i.test(c.body.reason))).toBe(true);
    expect(deliveries.sent.reduce((a, c) => a + c.body.count, 0)).toBe(events.length);
    expect((await gateControl.state(s3Gate, slow)).log.map((l) => l.action)).toEqual(["hung"]);
  });

  it("a slow sink gets a time budget per batch: what it could not take in time is rescheduled, then arrives", async () => {
    const good = await freshBucket(s3Endpoint, "good");
    const slow = await freshBucket(s3Endpoint, "sluggish");
    const [g, s] = [label("good"), label("sluggish")];
    const cfg = {
      sinks: { [g]: s3Sink(good), [s]: s3Sink(slow, { batch: { maxEvents: 5 }, budgetMs: 1000 }) },
      routes: [{ sinks: [g, s] }],
    };
    // every answer of the slow sink takes 400 ms (it works, slowly) for the first batch
    await gateControl.script(s3Gate, slow, Array.from({ length: 8 }, () => ({ delayMs: 400 })));
    const { env: e, deliveries } = testEnv(cfg);
    const res = await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
    expect(res.retried).toEqual([]);
    expect((await storedEvents(good, uids.length)).map(uidOfPlain).sort()).toEqual(uids);
    const sent = (await gateControl.state(s3Gate, slow)).log.length;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(Math.ceil(events.length / 5));
    expect(deliveries.sent.length).toBeGreaterThan(0);
    expect(deliveries.sent.every((c) => c.body.sink === s && /budgetMs/.test(c.body.reason))).toBe(true);
    await drainDeliveries(deliveries, e);
    expect((await storedEvents(slow, uids.length)).map(uidOfPlain).sort()).toEqual(uids);
  });

  it("honours Retry-After (HTTP sink, 429): the retry waits at least as long as asked, then delivers", async () => {
    const key = label("hec");
    const sink = label("splunk");
    const cfg = { sinks: { [sink]: { type: "splunk_hec", url: `${hecGate}/${key}`, token: { env: "HEC_TOKEN" } } }, routes: [{ match: { class_uid: 2004 }, sinks: [sink] }] };
    await gateControl.script(hecGate, key, [{ status: 429, headers: { "retry-after": "120", "content-type": "application/json" }, body: '{"text":"Server is busy","code":9}' }]);
    const { env: e, deliveries } = testEnv(cfg);
    const findings = events.filter((x) => x.class_uid === 2004);
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
    expect(deliveries.sent).toHaveLength(1);
    expect(deliveries.sent[0]!.delaySeconds).toBeGreaterThanOrEqual(120);
    expect(deliveries.sent[0]!.body.count).toBe(findings.length);
    await drainDeliveries(deliveries, e);
    // what the fake Splunk accepted (200), envelope by envelope
    const log = (await gateControl.state(hecGate, key)).log;
    expect(log.map((l) => [l.action, l.status])).toEqual([
      ["scripted", 429],
      ["forwarded", 200],
    ]);
    const envelopes = log[1]!.body!.split(/(?<=\})(?=\{"time":)/).map((t) => JSON.parse(t) as { event: OcsfEvent; sourcetype: string });
    expect(envelopes.map((x) => x.event.metadata.uid).sort()).toEqual(findings.map((x) => x.metadata.uid).sort());
    expect(envelopes.every((x) => x.sourcetype === "ocsf:2004")).toBe(true);
  });
});

describe("EVENTS consumer: connections", () => {
  it("10 slow sinks share the invocation's 5 request slots: at most 5 requests open at once, every event delivered, nothing retried", async () => {
    const group = label("slots");
    const names = Array.from({ length: 10 }, (_, i) => label(`hec${i}-`));
    const key = (i: number) => `${group}~${i}`;
    const sinks = Object.fromEntries(names.map((n, i) => [n, { type: "splunk_hec", url: `${hecGate}/${key(i)}`, token: { env: "HEC_TOKEN" } }]));
    // each sink answers its one request slowly, so the requests overlap
    for (let i = 0; i < names.length; i++) await gateControl.script(hecGate, key(i), [{ delayMs: 300 }]);
    const cfg = { sinks, routes: [{ match: { class_uid: 2004 }, sinks: names }] };
    const findings = events.filter((x) => x.class_uid === 2004);
    expect(findings.length).toBeGreaterThan(0);
    const { env: e, deliveries } = testEnv(cfg);
    const res = await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
    expect(res.retried).toEqual([]);
    expect(deliveries.sent).toEqual([]);
    let maxOpen = 0;
    for (let i = 0; i < names.length; i++) {
      const state = await gateControl.state(hecGate, key(i));
      expect(state.log.map((l) => [l.action, l.status])).toEqual([["forwarded", 200]]);
      maxOpen = Math.max(maxOpen, state.maxOpen);
    }
    expect(maxOpen).toBeLessThanOrEqual(5);
    expect(maxOpen).toBeGreaterThan(1); // the sinks still go concurrently
  });
});

describe("dead letters", () => {
  it("a permanent failure (403) goes to the DLQ with the sink's response, nothing is retried", async () => {
    const bucket = await freshBucket(s3Endpoint, "denied");
    const sink = label("denied");
    const cfg = { sinks: { [sink]: s3Sink(bucket) }, routes: [{ match: { source: "falco" }, sinks: [sink] }] };
    // access revoked: every PutObject answers 403
    await gateControl.script(s3Gate, bucket, Array.from({ length: 50 }, () => ({ status: 403, headers: { "content-type": "application/xml" }, body: xml("AccessDenied") })));
    const { env: e, deliveries } = testEnv(cfg);
    const falco = events.filter((x) => x.metadata.product.name === "Falco");
    const warned: string[] = [];
    const spy = vi.spyOn(console, "warn").mockImplementation((l: unknown) => void warned.push(String(l)));
    let res: Awaited<ReturnType<typeof runBatch>>;
    try {
      res = await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
    } finally {
      spy.mockRestore();
    }
    expect(res.retried).toEqual([]);
    expect(deliveries.sent).toEqual([]);
    const dead = await deadLetters(sink);
    // one "delivery" line for the sink says why and where the dead letters are (the first key and how many)
    const lines = warned.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "delivery" && l.sink === sink);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "warn", queue: "events", dead: falco.length, reason: "HTTP 403: AccessDenied: AccessDenied" });
    expect(dead.map((d) => d.key)).toContain(lines[0]!.dlq);
    expect(dead.length).toBeGreaterThan(1);
    expect(lines[0]!.dlqObjects).toBe(dead.length);
    // one dead letter per rejected request (object), each with the sink's answer
    expect(dead.length).toBe((await gateControl.state(s3Gate, bucket)).log.length);
    for (const { key, rec } of dead) {
      expect(key).toMatch(new RegExp(`^dlq/${sink}/\\d{8}/[0-9a-f]{28}\\.json$`));
      expect(rec).toMatchObject({ v: 1, sink, type: "s3", attempts: 1, response: { status: 403, body: "AccessDenied: AccessDenied" } });
      expect(rec.reason).toMatch(/^HTTP 403: AccessDenied/);
      expect(rec.count).toBe(rec.events.length);
    }
    expect(dead.flatMap((d) => d.rec.events.map((x) => x.metadata.uid)).sort()).toEqual(falco.map((x) => x.metadata.uid).sort());
    expect(await storedEvents(bucket)).toEqual([]);
  });

  it("events past maxAttempts are dead-lettered with the last response", async () => {
    const bucket = await freshBucket(s3Endpoint, "never");
    const sink = label("never");
    const cfg = { sinks: { [sink]: s3Sink(bucket, { retry: { maxAttempts: 3 } }) }, routes: [{ match: { class_uid: 2004 }, sinks: [sink] }] };
    await gateControl.script(s3Gate, bucket, Array.from({ length: 10 }, () => slowDown));
    const { env: e, deliveries } = testEnv(cfg);
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
    const rounds = await drainDeliveries(deliveries, e);
    expect(rounds.map((r) => [...new Set(r.map((c) => c.body.attempt))])).toEqual([[2], [3]]);
    const dead = await deadLetters(sink);
    expect(dead.length).toBeGreaterThan(0);
    for (const { rec } of dead) {
      expect(rec.attempts).toBe(3);
      expect(rec.reason).toMatch(/^gave up after 3 attempts: .*SlowDown/);
    }
    // the one request sent in the last attempt answered 503; the rest of that attempt was not sent
    expect(dead.filter((d) => d.rec.response?.status === 503)).toHaveLength(1);
    expect(dead.reduce((a, d) => a + d.rec.count, 0)).toBe(events.filter((x) => x.class_uid === 2004).length);
  });

  it("events for a sink that is no longer configured are dead-lettered, not lost", async () => {
    const sink = label("gone");
    const { env: e } = testEnv({});
    const body = { v: 1, sinks: ["archive", sink], count: 2, ndjson: events.slice(0, 2).map((x) => JSON.stringify(x)).join("\n") };
    const res = await runBatch(EVENTS_QUEUE, [body], e);
    expect(res.acked).toHaveLength(1);
    const dead = await deadLetters(sink);
    expect(dead[0]!.rec).toMatchObject({ type: "unknown", count: 2, reason: `sink "${sink}" is not configured` });
  });
});

describe("outage and recovery", () => {
  it("a sink down for several attempts (503s, a dropped connection), then back: every event arrives exactly once", async () => {
    const bucket = await freshBucket(s3Endpoint, "flaky");
    const sink = label("flaky");
    const cfg = { sinks: { [sink]: s3Sink(bucket, { batch: { maxEvents: 20 } }) }, routes: [{ sinks: [sink] }] };
    // four failed attempts: 503, dropped connection, 503 with Retry-After, 500
    await gateControl.script(s3Gate, bucket, [slowDown, { drop: true }, { ...slowDown, headers: { ...slowDown.headers, "retry-after": "30" } }, { status: 500, body: xml("InternalError") }]);
    const { env: e, deliveries } = testEnv(cfg);
    const msgs = eventsMessages(cfg, events);
    expect((await runBatch(EVENTS_QUEUE, msgs, e)).acked).toHaveLength(msgs.length);
    const rounds = await drainDeliveries(deliveries, e);
    expect(rounds.length).toBeGreaterThanOrEqual(4);
    const delays = rounds.map((r) => Math.max(...r.map((c) => c.delaySeconds ?? 0)));
    expect(delays[2]).toBeGreaterThanOrEqual(30); // Retry-After honoured on the third failure
    expect(rounds[0]!.every((c) => c.body.attempt === 2)).toBe(true);

    const stored = await storedEvents(bucket, uids.length);
    expect(stored.map(uidOfPlain).sort()).toEqual(uids);
    expect(await deadLetters(sink)).toEqual([]);
    const actions = (await gateControl.state(s3Gate, bucket)).log.map((l) => l.action);
    expect(actions.slice(0, 4)).toEqual(["scripted", "dropped", "scripted", "scripted"]);
    expect(actions.slice(4).every((a) => a === "forwarded")).toBe(true);
    // every object holds events of its own class and day (the day they are filed under: sinks/file-time.ts)
    for (const o of await readBucket(s3Endpoint, bucket)) {
      const [, cls, day] = /class_uid=(\d+)\/event_day=(\d{8})/.exec(o.key)!;
      for (const x of ndjsonEvents(o.bytes)) expect([x.class_uid, eventDay(fileTime(x.time as number, (x.metadata as { logged_time?: number }).logged_time))]).toEqual([Number(cls), day]);
    }
  });

  it("a large retry is parked in R2 (not inline), delivered whole, then the parked copy is removed", async () => {
    const bucket = await freshBucket(s3Endpoint, "big");
    const sink = label("big");
    const cfg = { sinks: { [sink]: s3Sink(bucket) }, routes: [{ sinks: [sink] }] };
    const many: OcsfEvent[] = [];
    for (let k = 0; many.length < 600; k++) for (const x of events) many.push({ ...x, metadata: { ...x.metadata, uid: `${x.metadata.uid}-${k}` } });
    await gateControl.script(s3Gate, bucket, [slowDown]);
    const { env: e, deliveries } = testEnv(cfg);
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, many), e);
    const parked = deliveries.sent.filter((c) => c.body.ref !== undefined);
    expect(parked.length).toBeGreaterThan(0);
    for (const c of parked) {
      expect(c.body.ndjson).toBeUndefined();
      expect(c.body.ref).toMatch(new RegExp(`^deliveries/${sink}/[0-9a-f]{28}\\.ndjson$`));
      expect(await env.ARCHIVE.head(c.body.ref!)).not.toBeNull();
    }
    await drainDeliveries(deliveries, e);
    expect((await storedEvents(bucket, many.length)).map(uidOfPlain).sort()).toEqual(many.map((x) => x.metadata.uid!).sort());
    for (const c of parked) expect(await env.ARCHIVE.head(c.body.ref!)).toBeNull();
  });

  it("a DELIVERIES sink that fails in a batch is not retried for the batch's other messages", async () => {
    const bucket = await freshBucket(s3Endpoint, "skip");
    const sink = label("skip");
    const cfg = { sinks: { [sink]: s3Sink(bucket, { batch: { maxEvents: 10 } }) }, routes: [{ sinks: [sink] }] };
    await gateControl.script(s3Gate, bucket, [slowDown]);
    const { env: e, deliveries } = testEnv(cfg);
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
    const first = deliveries.sent.splice(0);
    expect(first.length).toBeGreaterThan(1);
    await gateControl.script(s3Gate, bucket, [slowDown]);
    await runBatch(DELIVERIES_QUEUE, first.map((c) => c.body), e);
    // only the first message was sent (and failed); all were rescheduled as attempt 3
    expect((await gateControl.state(s3Gate, bucket)).log.length).toBe(2);
    expect(deliveries.sent.reduce((a, c) => a + c.body.count, 0)).toBe(events.length);
    expect(deliveries.sent.every((c) => c.body.attempt === 3)).toBe(true);
    await drainDeliveries(deliveries, e);
    expect((await storedEvents(bucket, uids.length)).map(uidOfPlain).sort()).toEqual(uids);
  });
});

describe("idempotent storage", () => {
  it("the same batch delivered twice (a redelivered queue batch) overwrites its objects: same keys, no duplicates", async () => {
    const bucket = await freshBucket(s3Endpoint, "dedupe");
    const sink = label("dedupe");
    const cfg = { sinks: { [sink]: s3Sink(bucket) }, routes: [{ sinks: [sink] }] };
    const { env: e } = testEnv(cfg);
    const msgs = eventsMessages(cfg, events);
    const ids = msgs.map((_, i) => `dedupe-${n}-${i}`);
    await runBatch(EVENTS_QUEUE, msgs, e, ids);
    const first = (await readEvents(s3Endpoint, bucket, uids.length)).objects;
    const archiveFirst = (await env.ARCHIVE.list({ prefix: "ocsf/" })).objects.map((o) => o.key);
    await runBatch(EVENTS_QUEUE, msgs, e, ids);
    const second = await readBucket(s3Endpoint, bucket, "", first.length);
    expect(second.map((o) => o.key)).toEqual(first.map((o) => o.key));
    expect(second.flatMap((o) => ndjsonEvents(o.bytes)).map(uidOfPlain).sort()).toEqual(uids);
    expect((await env.ARCHIVE.list({ prefix: "ocsf/" })).objects.map((o) => o.key)).toEqual(archiveFirst);
  });
});

describe("message formats", () => {
  it("queue text (as ingest sends it) and the older JSON object (in flight during a deploy) in one batch: every event delivered once", async () => {
    const bucket = await freshBucket(s3Endpoint, "formats");
    const sink = label("formats");
    const cfg = { sinks: { [sink]: s3Sink(bucket) }, routes: [{ sinks: [sink] }] };
    const { env: e } = testEnv(cfg);
    const msgs = eventsMessages(cfg, events);
    expect(msgs.length).toBeGreaterThan(1);
    // every other message as text, the rest as the object ingest sent with contentType "json"
    const bodies = msgs.map((m, i) => (i % 2 ? JSON.parse(JSON.stringify(m)) : encodeMessage(m)) as unknown);
    expect(bodies.some((b) => typeof b === "string")).toBe(true);
    const res = await runBatch(EVENTS_QUEUE, bodies, e, msgs.map((_, i) => `formats-${n}-${i}`));
    expect(res.retried).toEqual([]);
    expect(res.acked).toHaveLength(msgs.length);
    expect((await storedEvents(bucket, uids.length)).map(uidOfPlain).sort()).toEqual(uids);
  });

  it("a text message whose header is not ours is quarantined, not retried", async () => {
    const { env: e } = testEnv({});
    const res = await runBatch(EVENTS_QUEUE, ['{"v":9,"sinks":["archive"],"count":1}\n{}', "plain text"], e, ["q-text-1", "q-text-2"]);
    expect(res.acked).toEqual(["q-text-1", "q-text-2"]);
    for (const id of ["q-text-1", "q-text-2"]) expect(((await (await env.ARCHIVE.get(`quarantine/queue/${id}.json`))!.json()) as { reason: string }).reason).toBe("unknown message format");
  });
});

describe("Security Lake through the consumer", () => {
  it("writes one Parquet file per class and event day, rows sorted by time, read back in workerd", async () => {
    const bucket = await freshBucket(s3Endpoint, "lake");
    const sink = label("lake");
    const classes = [...new Set(events.map((x) => x.class_uid))];
    const sources = Object.fromEntries(classes.map((c) => [String(c), `tributary-${c}`]));
    const cfg = {
      sinks: { [sink]: { ...s3Sink(bucket), type: "security_lake", region: "us-east-2", accountId: "external", sources, buffer: false } },
      routes: [{ sinks: [sink] }],
    };
    const { env: e, deliveries } = testEnv(cfg);
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
    expect(deliveries.sent).toEqual([]);
    expect(await deadLetters(sink)).toEqual([]);
    const files = new Set(events.map((x) => `${x.class_uid}/${eventDay(fileTime(x.time, x.metadata.logged_time))}`)).size;
    const objects = await readBucket(s3Endpoint, bucket, "", files);
    expect(objects).toHaveLength(files);
    const seen: string[] = [];
    for (const o of objects) {
      const m = /^ext\/tributary-(\d+)\/region=us-east-2\/accountId=external\/eventDay=(\d{8})\/[0-9a-f]{28}\.parquet$/.exec(o.key);
      expect(m, o.key).not.toBeNull();
      const rows = (await parquetReadObjects({ file: o.bytes.slice().buffer as ArrayBuffer })) as Record<string, unknown>[];
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        expect(r.class_uid).toBe(Number(m![1]));
        // time is INT64 epoch ms (read as a bigint), metadata a nested group
        const time = Number(r.time);
        expect(eventDay(fileTime(time, Number((r.metadata as { logged_time: bigint }).logged_time)))).toBe(m![2]);
        if (i > 0) expect(time >= Number(rows[i - 1]!.time)).toBe(true);
        seen.push((r.metadata as { uid: string }).uid);
      }
    }
    expect(seen.sort()).toEqual(uids);
  });
});

describe("R2 sink and failure paths", () => {
  it("an r2 sink writes the routed events under its prefix on its binding; a missing binding dead-letters them", async () => {
    const [mine, broken] = [label("r2"), label("nobind")];
    const prefix = `subset-${mine}`;
    const cfg = {
      sinks: { [mine]: { type: "r2", binding: "ARCHIVE", prefix }, [broken]: { type: "r2", binding: "NO_SUCH_BUCKET" } },
      routes: [{ match: { source: "tetragon" }, sinks: [mine, broken] }],
    };
    const { env: e, deliveries } = testEnv(cfg);
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
    const tetragon = events.filter((x) => x.metadata.product.name === "Tetragon").map((x) => x.metadata.uid!).sort();
    const objects = await readArchive(env.ARCHIVE, `${prefix}/`);
    for (const o of objects) expect(o.key).toMatch(new RegExp(`^${prefix}/class_uid=\\d+/event_day=\\d{8}/[0-9a-f]{28}\\.ndjson\\.gz$`));
    expect(objects.flatMap((o) => o.events).map(uidOfPlain).sort()).toEqual(tetragon);
    expect(deliveries.sent).toEqual([]);
    const dead = await deadLetters(broken);
    expect(dead.reduce((a, d) => a + d.rec.count, 0)).toBe(tetragon.length);
    expect(dead[0]!.rec.response).toMatchObject({ status: 404, body: expect.stringMatching(/NO_SUCH_BUCKET/) });
  });

  it("when the retry queue refuses, the events are dead-lettered (replayable), not lost", async () => {
    const bucket = await freshBucket(s3Endpoint, "noqueue");
    const sink = label("noqueue");
    const cfg = { sinks: { [sink]: s3Sink(bucket) }, routes: [{ match: { class_uid: 2004 }, sinks: [sink] }] };
    await gateControl.script(s3Gate, bucket, Array.from({ length: 20 }, () => slowDown));
    const { env: e, deliveries } = testEnv(cfg);
    deliveries.fail = true;
    const res = await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
    expect(res.retried).toEqual([]);
    const dead = await deadLetters(sink);
    expect(dead.reduce((a, d) => a + d.rec.count, 0)).toBe(events.filter((x) => x.class_uid === 2004).length);
    for (const d of dead) expect(d.rec.reason).toMatch(/^could not schedule a retry \(Queue send failed: Too Many Requests\); last failure: /);
  });

  it("if the archive write fails, the whole batch is retried and no sink is sent anything yet", async () => {
    const bucket = await freshBucket(s3Endpoint, "noarchive");
    const sink = label("noarchive");
    const cfg = { sinks: { [sink]: s3Sink(bucket) }, routes: [{ sinks: [sink] }] };
    const failing = new Proxy(env.ARCHIVE, {
      get(target, prop, recv) {
        if (prop === "put") return () => Promise.reject(new Error("R2 unavailable"));
        const v = Reflect.get(target, prop, recv) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const { env: base } = testEnv(cfg);
    const e = { ...base, ARCHIVE: failing } as unknown as Env;
    const msgs = eventsMessages(cfg, events);
    const res = await runBatch(EVENTS_QUEUE, msgs, e);
    expect(res.acked).toEqual([]);
    expect(res.retried).toHaveLength(msgs.length);
    expect((await gateControl.state(s3Gate, bucket)).log).toEqual([]);
  });

  it("a message that is not ours is quarantined in R2 and acknowledged", async () => {
    const { env: e } = testEnv({});
    const res = await runBatch(EVENTS_QUEUE, [{ hello: "world" }, { v: 1, sinks: ["archive"], count: 1, ndjson: "{not json" }], e, ["q-odd-1", "q-odd-2"]);
    expect(res.acked).toEqual(["q-odd-1", "q-odd-2"]);
    const a = (await (await env.ARCHIVE.get("quarantine/queue/q-odd-1.json"))!.json()) as { reason: string };
    expect(a.reason).toBe("unknown message format");
    const b = (await (await env.ARCHIVE.get("quarantine/queue/q-odd-2.json"))!.json()) as { reason: string };
    expect(b.reason).toMatch(/^unreadable NDJSON/);
  });
});

