// Buffered storage sinks (docs/delivery.md, "Buffered storage sinks"), inside workerd against s3rver
// (behind the fault gate where the store must fail): the consumer stages a Security Lake sink's events
// in R2 (stage/<sink>/<class>/<day>/<id>.ndjson) instead of writing Parquet per queue batch; the
// compaction (the every-minute cron) writes one file per class and event day once the window has
// passed, read back with hyparquet; a store that is down keeps the staged events for a later run, a
// refusal dead-letters them; a redelivered batch stages under the same key; buffer: false writes per batch.
import { env, createExecutionContext, createScheduledController } from "cloudflare:test";
import { describe, it, expect, inject, beforeAll } from "vitest";
import worker from "../../src/index";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { classDayOf } from "../../src/sinks/objects";
import { SPOOL_CRON } from "../../src/deliver/spool";
import { freshBucket, readBucket } from "../support/s3-read";
import { gateControl, s3Error } from "../support/gate-client";
import { readParquet } from "../support/lake-read";
import { keys, deadLetters, uids, largestLakePartition, lakeForPartition } from "../support/staged";
import { eventsMessages, runBatch, callWorker, EVENTS_QUEUE } from "../support/delivery";
import { parsePrometheus, sampleValue, type Family } from "../ops/prom";

const s3Endpoint = inject("s3Endpoint");
const s3Gate = inject("s3Gate");
const FILE_KEY = /^ext\/tributary-(\d+)\/region=us-east-2\/accountId=external\/eventDay=(\d{8})\/[0-9a-f]{28}\.parquet$/;

/** The events of the largest class and event day that has a Parquet schema (one partition: one file). */
let part: OcsfEvent[];
beforeAll(() => {
  part = largestLakePartition();
});

let n = 0;
const label = (s: string) => `${s}${++n}${Date.now().toString(36)}`;

function setup(bucket: string, opts: { endpoint?: string; buffer?: unknown; source?: unknown } = {}) {
  return lakeForPartition(label("buf"), bucket, opts.endpoint ?? s3Endpoint, part, {
    ...(opts.source !== undefined ? { sources: { [String(part[0]!.class_uid)]: opts.source } } : {}),
    ...(opts.buffer !== undefined ? { buffer: opts.buffer } : {}),
  });
}

async function metrics(e: Env): Promise<Map<string, Family>> {
  return parsePrometheus(await (await callWorker({ ...e, TRIBUTARY_DEV: "true" } as unknown as Env, "/metrics")).text());
}

const WINDOW = 300_000;

describe("buffered Security Lake sink", () => {
  it("two queue batches within the window stage their events and write no Parquet; the cron after the window writes ONE file with both batches' rows and removes the staged objects", async () => {
    expect(part.length).toBeGreaterThanOrEqual(2);
    const bucket = await freshBucket(s3Endpoint, "buffered");
    const { sink, cfg, e, deliveries, compact } = setup(bucket);
    const half = Math.ceil(part.length / 2);
    const before = Date.now();
    for (const batch of [part.slice(0, half), part.slice(half)]) {
      const msgs = eventsMessages(cfg, batch);
      const res = await runBatch(EVENTS_QUEUE, msgs, e);
      expect(res.acked).toHaveLength(msgs.length);
    }
    expect(deliveries.sent).toEqual([]);
    const staged = await keys(`stage/${sink}/`);
    expect(staged).toHaveLength(2);
    for (const k of staged) expect(k).toMatch(new RegExp(`^stage/${sink}/${classDayOf(part[0]!)}/[0-9a-f]+\\.ndjson$`));
    expect(await readBucket(s3Endpoint, bucket)).toEqual([]);

    // within the window: nothing written, nothing removed
    expect((await compact(before + 120_000))[0]).toMatchObject({ objects: 0, delivered: 0, listed: 2 });
    expect(await readBucket(s3Endpoint, bucket)).toEqual([]);
    let m = await metrics(e);
    expect(sampleValue(m, "tributary_sink_staged_events_total", { sink })).toBe(part.length);
    expect(sampleValue(m, "tributary_sink_staged_objects", { sink })).toBe(2);
    expect(sampleValue(m, "tributary_sink_staged_oldest_seconds", { sink })).toBeGreaterThanOrEqual(100);
    expect(sampleValue(m, "tributary_sink_events_total", { sink, outcome: "delivered" })).toBe(0);

    const [r] = await compact(Date.now() + WINDOW + 1000);
    expect(r).toMatchObject({ sink, objects: 2, delivered: part.length, dead: 0, retried: 0 });
    const files = await readBucket(s3Endpoint, bucket, "", 1);
    expect(files).toHaveLength(1);
    expect(files[0]!.key).toMatch(FILE_KEY);
    const rows = await readParquet(files[0]!.bytes);
    expect(uids(rows)).toEqual(uids(part));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
    expect(await keys(`stage-lease/${sink}/`)).toEqual([]);
    expect(await deadLetters(sink)).toEqual([]);
    m = await metrics(e);
    expect(sampleValue(m, "tributary_sink_events_total", { sink, outcome: "delivered" })).toBe(part.length);
    expect(sampleValue(m, "tributary_sink_staged_objects", { sink })).toBe(0);
    expect(sampleValue(m, "tributary_sink_staged_oldest_seconds", { sink })).toBe(0);
  });

  it("a source given as the location Security Lake prints, with its version segment: the compacted file lands under it", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufver");
    const name = `tributary-${part[0]!.class_uid}`;
    const { sink, cfg, e, compact } = setup(bucket, { source: `s3://${bucket}/ext/${name}/1.0/` });
    const res = await runBatch(EVENTS_QUEUE, eventsMessages(cfg, part), e);
    expect(res.retried).toEqual([]);
    expect((await compact(Date.now() + WINDOW + 1000))[0]).toMatchObject({ sink, delivered: part.length, dead: 0 });
    const files = await readBucket(s3Endpoint, bucket, "", 1);
    expect(files.map((f) => f.key)).toEqual([expect.stringMatching(new RegExp(`^ext/${name}/1\\.0/region=us-east-2/accountId=external/eventDay=\\d{8}/[0-9a-f]{28}\\.parquet$`))]);
    expect(uids(await readParquet(files[0]!.bytes))).toEqual(uids(part));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
  });

  it("two compaction runs at once write the group once (the lease): one file, every staged object gone, no lease left", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufrace");
    const { sink, cfg, e, compact } = setup(bucket);
    const half = Math.ceil(part.length / 2);
    for (const batch of [part.slice(0, half), part.slice(half)]) await runBatch(EVENTS_QUEUE, eventsMessages(cfg, batch), e);
    const at = Date.now() + WINDOW + 1000;
    const runs = await Promise.all([compact(at), compact(at)]);
    expect(runs.reduce((n, [r]) => n + r!.delivered, 0)).toBe(part.length);
    const files = await readBucket(s3Endpoint, bucket, "", 1);
    expect(files).toHaveLength(1);
    expect(uids(await readParquet(files[0]!.bytes))).toEqual(uids(part));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
    expect(await keys(`stage-lease/${sink}/`)).toEqual([]);
  });

  it("a redelivered queue batch stages under the same key (one object, not two)", async () => {
    const bucket = await freshBucket(s3Endpoint, "restage");
    const { sink, cfg, e } = setup(bucket);
    const msgs = eventsMessages(cfg, part);
    await runBatch(EVENTS_QUEUE, msgs, e);
    const first = await keys(`stage/${sink}/`);
    const stagedAt = (await env.ARCHIVE.head(first[0]!))!.customMetadata!.staged;
    await runBatch(EVENTS_QUEUE, msgs, e);
    expect(first).toHaveLength(1);
    expect(await keys(`stage/${sink}/`)).toEqual(first);
    // the object was left as it was: its first staged time is kept
    expect((await env.ARCHIVE.head(first[0]!))!.customMetadata).toMatchObject({ events: String(part.length), staged: stagedAt });
  });

  it("the store down during compaction keeps the staged objects; a later run delivers them", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufdown");
    const { sink, cfg, e, compact } = setup(bucket, { endpoint: s3Gate });
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, part), e);
    const staged = await keys(`stage/${sink}/`);
    expect(staged).toHaveLength(1);
    await gateControl.script(s3Gate, bucket, [s3Error(503, "SlowDown")]);
    const [down] = await compact(Date.now() + WINDOW + 1000);
    expect(down).toMatchObject({ objects: 0, delivered: 0, retried: part.length, dead: 0 });
    expect(await keys(`stage/${sink}/`)).toEqual(staged);
    expect(await keys(`stage-lease/${sink}/`)).toEqual([]);
    expect(await readBucket(s3Endpoint, bucket)).toEqual([]);

    const [later] = await compact(Date.now() + WINDOW + 61_000);
    expect(later).toMatchObject({ objects: 1, delivered: part.length, retried: 0 });
    const files = await readBucket(s3Endpoint, bucket, "", 1);
    expect(files).toHaveLength(1);
    expect(uids(await readParquet(files[0]!.bytes))).toEqual(uids(part));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
    expect(await deadLetters(sink)).toEqual([]);
  });

  it("a store still down once the group waited past the sink's retry span dead-letters its events (gave up) and removes them", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufgaveup");
    const { sink, cfg, e, compact } = setup(bucket, { endpoint: s3Gate });
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, part), e);
    await gateControl.script(s3Gate, bucket, [s3Error(503, "SlowDown")]);
    // the default retry schedule (10 attempts, 5 s doubling) spans 2,555 s
    const [r] = await compact(Date.now() + WINDOW + 2_556_000);
    expect(r).toMatchObject({ objects: 1, delivered: 0, retried: 0, dead: part.length });
    const dead = await deadLetters(sink);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.reason).toMatch(/^gave up after \d+ min of compaction attempts: HTTP 503/);
    expect(uids(dead[0]!.events)).toEqual(uids(part));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
  });

  it("a store down past the retry span dead-letters every overdue file of the run: the first after its send, the others not sent (before: one file a run)", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufgaveall");
    const { sink, cfg, e, compact } = setup(bucket, { endpoint: s3Gate, buffer: { maxEvents: 1 } });
    const some = part.slice(0, 3);
    // one staged object (one file at maxEvents 1) per batch
    for (const x of some) await runBatch(EVENTS_QUEUE, eventsMessages(cfg, [x]), e);
    expect(await keys(`stage/${sink}/`)).toHaveLength(some.length);
    await gateControl.script(s3Gate, bucket, some.map(() => s3Error(503, "SlowDown")));
    const [r] = await compact(Date.now() + WINDOW + 2_556_000);
    expect(r).toMatchObject({ objects: some.length, delivered: 0, retried: 0, dead: some.length });
    expect((await gateControl.state(s3Gate, bucket)).log).toHaveLength(1); // one send: the sink was down
    const dead = await deadLetters(sink);
    expect(dead).toHaveLength(some.length);
    const reasons = dead.map((d) => d.reason.replace(/\d+ min/, "N min")).sort();
    expect(reasons).toEqual([
      "gave up after N min of compaction attempts: HTTP 503: SlowDown: SlowDown",
      ...some.slice(1).map(() => "gave up after N min of compaction attempts: not sent: HTTP 503: SlowDown: SlowDown"),
    ]);
    expect(uids(dead.flatMap((d) => d.events))).toEqual(uids(some));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
    expect(await keys(`stage-lease/${sink}/`)).toEqual([]);
  });

  it("a refusal (403 AccessDenied) dead-letters the staged events once and removes them", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufdenied");
    const { sink, cfg, e, compact } = setup(bucket, { endpoint: s3Gate });
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, part), e);
    await gateControl.script(s3Gate, bucket, [s3Error(403, "AccessDenied")]);
    const [r] = await compact(Date.now() + WINDOW + 1000);
    expect(r).toMatchObject({ objects: 1, delivered: 0, dead: part.length, retried: 0 });
    const dead = await deadLetters(sink);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ sink, type: "security_lake", count: part.length, response: { status: 403 } });
    expect(dead[0]!.reason).toContain("AccessDenied");
    expect(uids(dead[0]!.events)).toEqual(uids(part));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
    expect(await readBucket(s3Endpoint, bucket)).toEqual([]);
  });

  it("a group that reached buffer.maxEvents is written by the cron before its window ends", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufcron");
    const { sink, cfg, e } = setup(bucket, { buffer: { seconds: 3600, maxEvents: 1 } });
    const one = part.slice(0, 2);
    for (const x of one) await runBatch(EVENTS_QUEUE, eventsMessages(cfg, [x]), e);
    expect(await keys(`stage/${sink}/`)).toHaveLength(2);
    await worker.scheduled(createScheduledController({ cron: SPOOL_CRON, scheduledTime: Date.now() }), e, createExecutionContext());
    const files = await readBucket(s3Endpoint, bucket, "", 2);
    expect(files).toHaveLength(2);
    const seen: string[] = [];
    for (const f of files) seen.push(...uids(await readParquet(f.bytes)));
    expect(seen.sort()).toEqual(uids(one));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
  });

  it("a sink whose buffer was turned off has what it staged before written by the next run", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufoff");
    const buffered = setup(bucket);
    await runBatch(EVENTS_QUEUE, eventsMessages(buffered.cfg, part), buffered.e);
    const sinkCfg = (buffered.cfg.sinks as Record<string, Record<string, unknown>>)[buffered.sink]!;
    const cfg = { sinks: { [buffered.sink]: { ...sinkCfg, buffer: false } }, routes: buffered.cfg.routes };
    const [r] = await buffered.compact(Date.now(), cfg);
    expect(r).toMatchObject({ objects: 1, delivered: part.length });
    const files = await readBucket(s3Endpoint, bucket, "", 1);
    expect(uids(await readParquet(files[0]!.bytes))).toEqual(uids(part));
    expect(await keys(`stage/${buffered.sink}/`)).toEqual([]);
  });

  it("a staged object that is not NDJSON is set aside under stage-unreadable/ (byte for byte); the group's other objects are written", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufbad");
    const { sink, cfg, e, compact } = setup(bucket);
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, part), e);
    const bad = `stage/${sink}/${classDayOf(part[0]!)}/0000bad.ndjson`;
    await env.ARCHIVE.put(bad, '{"class_uid": 1\nnot json\n', { customMetadata: { events: "2", staged: String(Date.now()) } });
    const [r] = await compact(Date.now() + WINDOW + 1000);
    expect(r).toMatchObject({ objects: 1, delivered: part.length });
    expect(await keys(`stage/${sink}/`)).toEqual([]);
    const aside = await env.ARCHIVE.get(`stage-unreadable/${bad}`);
    expect(await aside!.text()).toBe('{"class_uid": 1\nnot json\n');
    expect(aside!.customMetadata!.unreadable).toMatch(/^not NDJSON: /);
    expect(await readBucket(s3Endpoint, bucket, "", 1)).toHaveLength(1);
  });

  it("buffer: false writes Parquet per queue batch and stages nothing", async () => {
    const bucket = await freshBucket(s3Endpoint, "unbuffered");
    const { sink, cfg, e } = setup(bucket, { buffer: false });
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, part), e);
    expect(await keys(`stage/${sink}/`)).toEqual([]);
    const files = await readBucket(s3Endpoint, bucket, "", 1);
    expect(files).toHaveLength(1);
    expect(uids(await readParquet(files[0]!.bytes))).toEqual(uids(part));
  });
});
