// Reliability (issue 9): the buffered Security Lake sink (the default; docs/delivery.md "Buffered storage
// sinks") with its store down, inside workerd. Mixed-source fixture events (unique uids) arrive in several
// EVENTS batches and are staged in R2 (stage/<sink>/…); the compaction (compactAll, the every-minute
// cron's work, driven with its `now` a minute apart) meets a store that refuses the connection, answers
// 503 SlowDown, drops the connection, answers 500 and a 429 throttle with Retry-After (s3rver behind the
// fault gate), while one batch arrives and another is redelivered (the same messages twice). Then:
//   - the store back: every staged uid in exactly one Parquet row (read back with hyparquet), the staged
//     objects and leases gone, nothing dead-lettered;
//   - the store down past the give-up span (buffer.seconds + the retry schedule): every uid in exactly
//     one dead letter (all by the first run past the span), none in Parquet, the staged objects gone.
// Loops are bounded by a count of compaction runs; time is the runs' `now`, never the wall clock.
import { describe, it, expect, beforeAll, inject } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { giveUpMs } from "../../src/deliver/compact";
import { resolveSinks } from "../../src/deliver/sinks";
import { parseConfig } from "../../src/config/load";
import { classDayOf, eventDay, fileTime } from "../../src/sinks/objects";
import { freshBucket, readBucket } from "../support/s3-read";
import { gateControl, s3Error, type GateStep } from "../support/gate-client";
import { readParquet } from "../support/lake-read";
import { keys, deadLetters, uids, bufferedEnv } from "../support/staged";
import { uniqueFixtureEvents, eventsMessages, runBatch, EVENTS_QUEUE } from "../support/delivery";

const s3Endpoint = inject("s3Endpoint");
const s3Gate = inject("s3Gate");
const ACCOUNT = "123456789012";
const WINDOW_S = 60;
const MINUTE = 60_000;
/** A loopback port nothing listens on: the connection is refused. */
const REFUSED = "http://127.0.0.1:1";

let events: OcsfEvent[];
beforeAll(() => {
  events = uniqueFixtureEvents();
});

let n = 0;
function lake(bucket: string) {
  const sink = `lakebuf${++n}${Date.now().toString(36)}`;
  const classes = [...new Set(events.map((x) => x.class_uid))];
  const entry = (endpoint: string) => ({
    type: "security_lake",
    bucket,
    endpoint,
    forcePathStyle: true,
    accessKeyId: "S3RVER",
    secretAccessKey: { env: "S3_SECRET" },
    region: "us-east-2",
    accountId: ACCOUNT,
    sources: Object.fromEntries(classes.map((c) => [String(c), `tributary-${c}`])),
    // several files per class and day, so a run that finds the store down leaves files unsent
    buffer: { seconds: WINDOW_S, maxEvents: 10 },
  });
  const cfg = { sinks: { [sink]: entry(s3Gate) }, routes: [{ sinks: [sink] }] };
  const refused = { sinks: { [sink]: entry(REFUSED) }, routes: cfg.routes };
  return { sink, cfg, refused, ...bufferedEnv(cfg) };
}

/** The events in `batches` consecutive slices. */
function slices(list: OcsfEvent[], batches: number): OcsfEvent[][] {
  const chunk = Math.ceil(list.length / batches);
  return Array.from({ length: batches }, (_, b) => list.slice(b * chunk, (b + 1) * chunk));
}

/** Runs EVENTS batches through the consumer: every message acked (staged), nothing scheduled on DELIVERIES. */
async function stage(l: ReturnType<typeof lake>, batch: OcsfEvent[]): Promise<void> {
  const msgs = eventsMessages(l.cfg, batch);
  const res = await runBatch(EVENTS_QUEUE, msgs, l.e);
  expect(res.acked).toHaveLength(msgs.length);
  expect(res.retried).toEqual([]);
  expect(l.deliveries.sent).toEqual([]);
}

describe("buffered Security Lake: the store down for several compaction runs", () => {
  it("then back: every staged uid in exactly one Parquet row, staged objects gone, no dead letters; a redelivered batch adds no rows", async () => {
    const bucket = await freshBucket(s3Endpoint, "lakebufout");
    const l = lake(bucket);
    const [b0, b1, b2, b3, late] = slices(events, 5) as [OcsfEvent[], OcsfEvent[], OcsfEvent[], OcsfEvent[], OcsfEvent[]];
    expect(new Set(events.map(classDayOf)).size).toBeGreaterThan(1); // mixed classes (and sources)
    for (const b of [b0, b1, b2, b3]) await stage(l, b);
    const t0 = Date.now();
    const stagedBefore = await keys(`stage/${l.sink}/`);
    expect(stagedBefore.length).toBeGreaterThanOrEqual(4);

    // run 0: connection refused (the same sink, its endpoint a closed port); runs 1-5: through the gate
    const down: GateStep[] = [s3Error(503, "SlowDown"), { drop: true }, s3Error(500, "InternalError"), s3Error(429, "TooManyRequests", 30), s3Error(503, "SlowDown", 5)];
    await gateControl.script(s3Gate, bucket, down);
    let at = t0 + WINDOW_S * 1000 + MINUTE;
    for (let run = 0; run <= down.length; run++, at += MINUTE) {
      const [r] = await l.compact(at, run === 0 ? l.refused : l.cfg);
      // one file tried, the sink found down: nothing written, nothing removed, nothing dead
      expect(r, `run ${run}`).toMatchObject({ sink: l.sink, objects: 0, delivered: 0, dead: 0 });
      expect(r!.retried).toBeGreaterThan(0);
      expect(r!.retried).toBeLessThanOrEqual(10);
      if (run === 1) {
        // during the outage: a batch redelivered (the same messages again), and a new one
        const before = await keys(`stage/${l.sink}/`);
        await stage(l, b1);
        expect(await keys(`stage/${l.sink}/`)).toEqual(before);
        await stage(l, late);
      }
    }
    expect(await readBucket(s3Endpoint, bucket)).toEqual([]);
    const staged = await keys(`stage/${l.sink}/`);
    expect(staged.length).toBeGreaterThan(stagedBefore.length);
    for (const k of stagedBefore) expect(staged).toContain(k);
    expect(await keys(`stage-lease/${l.sink}/`)).toEqual([]);
    const failed = (await gateControl.state(s3Gate, bucket)).log;
    expect(failed.map((x) => x.action)).toEqual(["scripted", "dropped", "scripted", "scripted", "scripted"]);

    // back: runs a minute apart until nothing is staged (bounded)
    let delivered = 0;
    for (let run = 0; run < 10 && (await keys(`stage/${l.sink}/`)).length > 0; run++, at += MINUTE) {
      const [r] = await l.compact(at);
      expect(r).toMatchObject({ dead: 0, retried: 0 });
      delivered += r!.delivered;
    }
    expect(await keys(`stage/${l.sink}/`)).toEqual([]);
    expect(await keys(`stage-lease/${l.sink}/`)).toEqual([]);
    expect(await deadLetters(l.sink)).toEqual([]);
    expect(delivered).toBe(events.length);

    const log = (await gateControl.state(s3Gate, bucket)).log.slice(down.length);
    expect(log.every((x) => x.action === "forwarded" && x.status === 200)).toBe(true);
    const files = await readBucket(s3Endpoint, bucket, "", log.length);
    expect(files).toHaveLength(log.length);
    const seen = new Map<string, number>();
    for (const f of files) {
      const m = new RegExp(`^ext/tributary-(\\d+)/region=us-east-2/accountId=${ACCOUNT}/eventDay=(\\d{8})/[0-9a-f]{28}\\.parquet$`).exec(f.key);
      expect(m, f.key).not.toBeNull();
      const rows = await readParquet(f.bytes);
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) {
        expect(r.class_uid).toBe(Number(m![1]));
        expect(eventDay(fileTime(Number(r.time), Number((r.metadata as { logged_time: bigint }).logged_time)))).toBe(m![2]); // sinks/file-time.ts
      }
      for (const u of uids(rows)) seen.set(u, (seen.get(u) ?? 0) + 1);
    }
    // exactly once, by uid
    expect([...seen].filter(([, c]) => c !== 1)).toEqual([]);
    expect([...seen.keys()].sort()).toEqual(uids(events));
  });

  it("down past the give-up span: every uid in exactly one dead letter, none in Parquet, the staged objects gone", async () => {
    const bucket = await freshBucket(s3Endpoint, "lakebufgone");
    const l = lake(bucket);
    const t0 = Date.now(); // every object is staged at t0 or later
    for (const b of slices(events, 3)) await stage(l, b);
    const t1 = Date.now(); // and at t1 or earlier
    // the window, then the sink's retry schedule (the defaults: 2,555 s)
    const giveUp = giveUpMs(resolveSinks(parseConfig(l.cfg)).get(l.sink)!.retry);
    const span = WINDOW_S * 1000 + giveUp;
    // a minute apart from the window's end: the give-up span passes after this many runs
    const runsToGiveUp = Math.ceil(giveUp / MINUTE) + 1;
    const maxRuns = runsToGiveUp + 5;
    // every request answered 503 (more steps than runs: each run sends at most one file)
    await gateControl.script(s3Gate, bucket, Array.from({ length: maxRuns }, () => s3Error(503, "SlowDown")));
    let at = t0 + WINDOW_S * 1000 + MINUTE;
    let dead = 0;
    let last = at;
    for (let run = 0; run < maxRuns && (await keys(`stage/${l.sink}/`)).length > 0; run++, at += MINUTE) {
      last = at;
      // every few runs the connection is refused instead
      const [r] = await l.compact(at, run % 7 === 3 ? l.refused : l.cfg);
      expect(r).toMatchObject({ delivered: 0 });
      // nothing is given up before the span has passed
      if (at - t0 <= span) expect(r!.dead, `run ${run}`).toBe(0);
      dead += r!.dead;
    }
    expect(await keys(`stage/${l.sink}/`)).toEqual([]);
    // all given up by the first run past the span: once a run finds the store down, every overdue file of
    // it is dead-lettered (not sent), not one file a run
    expect(last - t1).toBeLessThanOrEqual(span + MINUTE);
    expect(await keys(`stage-lease/${l.sink}/`)).toEqual([]);
    expect(dead).toBe(events.length);
    expect(await readBucket(s3Endpoint, bucket)).toEqual([]);
    const letters = await deadLetters(l.sink);
    const seen = new Map<string, number>();
    for (const d of letters) {
      expect(d).toMatchObject({ sink: l.sink, type: "security_lake" });
      expect(d.reason).toMatch(/^gave up after \d+ min of compaction attempts: (HTTP 503|network error|not sent)/);
      for (const u of uids(d.events)) seen.set(u, (seen.get(u) ?? 0) + 1);
    }
    expect([...seen].filter(([, c]) => c !== 1)).toEqual([]);
    expect([...seen.keys()].sort()).toEqual(uids(events));
  });
});
