// Two edges of the buffered storage sinks (docs/delivery.md, "Buffered storage sinks"), inside workerd
// against s3rver (behind the fault gate where the store must answer Retry-After):
//   - a queue batch redelivered AFTER the compaction wrote and deleted its staged object finds the
//     marker left in its place (stage-done/…) and stages nothing, so every uid is in one Parquet row; a
//     new batch still stages; markers are no staged objects (listing, gauges) and are swept after their
//     retention, a bounded number of list pages a run, continuing where the last run stopped;
//   - a store answering 503 with Retry-After: 300 is not tried again before then (the group's lease kept
//     until then, and the sink held: its other groups are not tried either), yet a group past the sink's
//     retry span is still dead-lettered once overdue.
// Time is the compaction's `now` (runs a minute apart), never the wall clock; loops bounded by a count.
import { env } from "cloudflare:test";
import { describe, it, expect, inject, beforeAll } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { holdKey, STAGE_DONE_RETENTION_MS, STAGE_SWEEP_PREFIX, sweepDone } from "../../src/deliver/compact";
import { stagedBySink } from "../../src/deliver/inventory";
import { doneKey } from "../../src/deliver/stage";
import { classDayOf } from "../../src/sinks/objects";
import { freshBucket, readBucket } from "../support/s3-read";
import { gateControl, s3Error } from "../support/gate-client";
import { readParquet } from "../support/lake-read";
import { keys, deadLetters, uids, largestLakePartition, lakeForPartition } from "../support/staged";
import { eventsMessages, runBatch, EVENTS_QUEUE } from "../support/delivery";

const s3Endpoint = inject("s3Endpoint");
const s3Gate = inject("s3Gate");
const WINDOW = 300_000;
const MINUTE = 60_000;

let part: OcsfEvent[];
beforeAll(() => {
  part = largestLakePartition();
});

let n = 0;
const setup = (bucket: string, endpoint = s3Endpoint, fields?: Record<string, unknown>) => lakeForPartition(`bufre${++n}${Date.now().toString(36)}`, bucket, endpoint, part, fields);

/** Every uid of the bucket's Parquet files with how many rows carry it. */
async function rowCounts(bucket: string, files: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (const f of await readBucket(s3Endpoint, bucket, "", files)) for (const u of uids(await readParquet(f.bytes))) seen.set(u, (seen.get(u) ?? 0) + 1);
  return seen;
}

describe("a buffered sink's queue batch redelivered after its compaction", () => {
  it("stages nothing (the marker), so every uid is in exactly one Parquet row; a new batch still stages; markers are not staged objects and are swept after their retention", async () => {
    expect(part.length).toBeGreaterThanOrEqual(2);
    const bucket = await freshBucket(s3Endpoint, "bufredeliv");
    const { sink, cfg, e, deliveries, compact } = setup(bucket);
    const half = Math.ceil(part.length / 2);
    const [a, b] = [part.slice(0, half), part.slice(half)];
    const msgsA = eventsMessages(cfg, a);
    const ids = msgsA.map((_, i) => `${sink}-a${i}`);
    expect((await runBatch(EVENTS_QUEUE, msgsA, e, ids)).acked).toHaveLength(msgsA.length);
    const stagedA = await keys(`stage/${sink}/`);
    expect(stagedA).toHaveLength(1);

    // the window passed: written, the staged object replaced by its marker
    expect((await compact(Date.now() + WINDOW + 1000))[0]).toMatchObject({ objects: 1, delivered: a.length, dead: 0, retried: 0 });
    expect(await keys(`stage/${sink}/`)).toEqual([]);
    expect(await keys(`stage-done/${sink}/`)).toEqual(stagedA.map(doneKey));

    // the same messages again (the consumer had died before acking them): settled, nothing staged
    const again = await runBatch(EVENTS_QUEUE, msgsA, e, ids, 2);
    expect(again.acked).toHaveLength(msgsA.length);
    expect(again.retried).toEqual([]);
    expect(deliveries.sent).toEqual([]);
    expect(await keys(`stage/${sink}/`)).toEqual([]);

    // a new batch stages; its own redelivery while still staged keeps its one object
    const msgsB = eventsMessages(cfg, b);
    const idsB = msgsB.map((_, i) => `${sink}-b${i}`);
    await runBatch(EVENTS_QUEUE, msgsB, e, idsB);
    const stagedB = await keys(`stage/${sink}/`);
    expect(stagedB).toHaveLength(1);
    expect(stagedB).not.toEqual(stagedA);
    await runBatch(EVENTS_QUEUE, msgsB, e, idsB, 3);
    expect(await keys(`stage/${sink}/`)).toEqual(stagedB);
    // the listing and the compaction's gauges see only the staged object, not the marker
    const listed = await stagedBySink(env.ARCHIVE, Date.now(), sink);
    expect(listed.sinks).toEqual([expect.objectContaining({ sink, objects: 1, events: b.length })]);

    const [r] = await compact(Date.now() + WINDOW + 2000);
    expect(r).toMatchObject({ objects: 1, delivered: b.length, listed: 1 });
    expect(await readBucket(s3Endpoint, bucket)).toHaveLength(2);
    const seen = await rowCounts(bucket, 2);
    expect([...seen].filter(([, c]) => c !== 1)).toEqual([]);
    expect([...seen.keys()].sort()).toEqual(uids(part));
    expect(await keys(`stage-done/${sink}/`)).toEqual([...stagedA, ...stagedB].map(doneKey).sort());

    // a run past the retention sweeps them (the compaction has nothing to do)
    expect((await compact(Date.now() + STAGE_DONE_RETENTION_MS - MINUTE))[0]).toMatchObject({ objects: 0, listed: 0 });
    expect(await keys(`stage-done/${sink}/`)).toHaveLength(2);
    expect((await compact(Date.now() + STAGE_DONE_RETENTION_MS + MINUTE))[0]).toMatchObject({ objects: 0, listed: 0 });
    expect(await keys(`stage-done/${sink}/`)).toEqual([]);
    expect(await keys(`${STAGE_SWEEP_PREFIX}${sink}`)).toEqual([]);
    expect(await readBucket(s3Endpoint, bucket)).toHaveLength(2);
  });

  it("the sweep lists a bounded number of pages a run and goes on where the last run stopped; young markers and other sinks' stay", async () => {
    const sink = `sweep${++n}${Date.now().toString(36)}`;
    const marks = Array.from({ length: 5 }, (_, i) => `stage-done/${sink}/2004/20261206/${i}.ndjson`);
    const other = `stage-done/${sink}x/2004/20261206/0.ndjson`;
    for (const k of [...marks, other]) await env.ARCHIVE.put(k, "");
    const budget = { pages: 1, perPage: 2 };
    // none old yet: listed, kept, the place remembered
    expect(await sweepDone(env.ARCHIVE, sink, Date.now(), budget)).toEqual({ listed: 2, removed: 0 });
    expect(await keys(`stage-done/${sink}/`)).toEqual(marks);
    expect(await (await env.ARCHIVE.get(`${STAGE_SWEEP_PREFIX}${sink}`))!.text()).toBe(marks[1]);
    const late = Date.now() + STAGE_DONE_RETENTION_MS + MINUTE;
    // from there on: two, then the last one (the end: the place forgotten), then from the start
    expect(await sweepDone(env.ARCHIVE, sink, late, budget)).toEqual({ listed: 2, removed: 2 });
    expect(await keys(`stage-done/${sink}/`)).toEqual([marks[0], marks[1], marks[4]]);
    expect(await sweepDone(env.ARCHIVE, sink, late, budget)).toEqual({ listed: 1, removed: 1 });
    expect(await keys(`${STAGE_SWEEP_PREFIX}${sink}`)).toEqual([]);
    expect(await sweepDone(env.ARCHIVE, sink, late, budget)).toEqual({ listed: 2, removed: 2 });
    expect(await keys(`stage-done/${sink}/`)).toEqual([]);
    expect(await keys(`stage-done/${sink}x/`)).toEqual([other]);
  });
});

describe("a store answering Retry-After over a minute", () => {
  it("503 with Retry-After: 300: runs a minute apart leave the group alone until then (its lease kept), then write it", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufwait");
    const { sink, cfg, e, compact } = setup(bucket, s3Gate);
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, part), e);
    const staged = await keys(`stage/${sink}/`);
    expect(staged).toHaveLength(1);
    await gateControl.script(s3Gate, bucket, [s3Error(503, "SlowDown", 300)]);
    const at = Date.now() + WINDOW + 1000;
    expect((await compact(at))[0]).toMatchObject({ objects: 0, delivered: 0, retried: part.length, dead: 0 });
    const lease = `stage-lease/${sink}/${classDayOf(part[0]!)}`;
    expect((await env.ARCHIVE.head(lease))!.customMetadata).toEqual({ until: String(at + 300_000) });
    for (let k = 1; k <= 4; k++) {
      const [r] = await compact(at + k * MINUTE);
      expect(r, `run ${k}`).toMatchObject({ objects: 0, delivered: 0, retried: 0, dead: 0, listed: 1 });
    }
    expect((await gateControl.state(s3Gate, bucket)).log).toHaveLength(1);
    expect(await keys(`stage/${sink}/`)).toEqual(staged);

    expect((await compact(at + 5 * MINUTE))[0]).toMatchObject({ objects: 1, delivered: part.length, retried: 0, dead: 0 });
    const log = (await gateControl.state(s3Gate, bucket)).log;
    expect(log.map((x) => x.action)).toEqual(["scripted", "forwarded"]);
    expect(uids(await readParquet((await readBucket(s3Endpoint, bucket, "", 1))[0]!.bytes))).toEqual(uids(part));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
    expect(await keys(`stage-lease/${sink}/`)).toEqual([]);
    expect(await deadLetters(sink)).toEqual([]);
  });

  it("503 with Retry-After: 300 for one of two groups holds the whole sink: the other group is not tried before then either; then both are written", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufhold");
    const { sink, cfg, e, compact } = setup(bucket, s3Gate);
    // the same class a day earlier (other uids): a second group of the sink
    const DAY = 86_400_000;
    const earlier = part.map((x) => ({ ...x, time: x.time - DAY, metadata: { ...x.metadata, uid: `${x.metadata.uid}-d` } }) as OcsfEvent);
    expect(classDayOf(earlier[0]!)).not.toBe(classDayOf(part[0]!));
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, [...part, ...earlier]), e);
    expect(await keys(`stage/${sink}/`)).toHaveLength(2);
    await gateControl.script(s3Gate, bucket, [s3Error(503, "SlowDown", 300)]);
    const at = Date.now() + WINDOW + 1000;
    // the first group answered 503: the second is not sent in this run (the sink is down)
    expect((await compact(at))[0]).toMatchObject({ objects: 0, delivered: 0, retried: part.length, dead: 0 });
    expect((await env.ARCHIVE.head(holdKey(sink)))!.customMetadata).toEqual({ until: String(at + 300_000) });
    // nor in the runs before the hold ends (unheld, the next run would send it and the gate forward it)
    for (let k = 1; k <= 4; k++) {
      const [r] = await compact(at + k * MINUTE);
      expect(r, `run ${k}`).toMatchObject({ objects: 0, delivered: 0, retried: 0, dead: 0, listed: 2 });
      expect((await gateControl.state(s3Gate, bucket)).log, `run ${k}`).toHaveLength(1);
    }
    expect(await keys(`stage/${sink}/`)).toHaveLength(2);

    expect((await compact(at + 5 * MINUTE))[0]).toMatchObject({ objects: 2, delivered: 2 * part.length, retried: 0, dead: 0 });
    expect((await gateControl.state(s3Gate, bucket)).log.map((x) => x.action)).toEqual(["scripted", "forwarded", "forwarded"]);
    const rows = await readBucket(s3Endpoint, bucket, "", 2);
    expect(rows).toHaveLength(2);
    const written: string[] = [];
    for (const f of rows) written.push(...uids(await readParquet(f.bytes)));
    expect(written.sort()).toEqual(uids([...part, ...earlier]));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
    expect(await keys(`stage-lease/${sink}/`)).toEqual([]);
    expect(await deadLetters(sink)).toEqual([]);
  });

  it("a Retry-After reaching past the sink's retry span: the group is tried again once overdue and dead-lettered then", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufwaitgone");
    // two attempts: the retry span is 2 minutes
    const { sink, cfg, e, compact } = setup(bucket, s3Gate, { retry: { maxAttempts: 2 } });
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, part), e);
    const at = Date.now() + WINDOW + 1000; // every event was staged before `at - WINDOW - 1000`
    await gateControl.script(s3Gate, bucket, [s3Error(503, "SlowDown", 300), s3Error(503, "SlowDown", 300)]);
    expect((await compact(at))[0]).toMatchObject({ retried: part.length, dead: 0 });
    expect((await compact(at + MINUTE))[0]).toMatchObject({ objects: 0, retried: 0, dead: 0 });
    expect((await gateControl.state(s3Gate, bucket)).log).toHaveLength(1);
    expect((await compact(at + 2 * MINUTE))[0]).toMatchObject({ objects: 1, delivered: 0, retried: 0, dead: part.length });
    expect((await gateControl.state(s3Gate, bucket)).log).toHaveLength(2);
    const dead = await deadLetters(sink);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.reason).toMatch(/^gave up after \d+ min of compaction attempts: HTTP 503/);
    expect(uids(dead[0]!.events)).toEqual(uids(part));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
    expect(await keys(`stage-lease/${sink}/`)).toEqual([]);
    expect(await readBucket(s3Endpoint, bucket)).toEqual([]);
  });
});
