// Reliability (issues 6 and 9): the Security Lake sink (Parquet) down for several queue batches, then
// back. Inside workerd, s3rver behind the fault gate answers 503 SlowDown (with and without
// Retry-After), 500, 429 and drops connections while the events of 5 consecutive EVENTS batches
// arrive; their events wait on DELIVERIES until the store is back (the scenario and its common checks:
// test/support/outage.ts). Then every event must be in exactly one Parquet file, read back with
// hyparquet and counted by uid, under ext/{source}/region=…/accountId=…/eventDay=…/, of its own class
// and event day, rows sorted by time; nothing dead-lettered.
import { describe, it, expect, beforeAll, inject } from "vitest";
import { parquetReadObjects } from "hyparquet";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { eventDay, fileTime } from "../../src/sinks/objects";
import { freshBucket } from "../support/s3-read";
import { s3Error } from "../support/gate-client";
import { uniqueFixtureEvents } from "../support/delivery";
import { outageScenario, type OutageStep } from "../support/outage";

const s3Endpoint = inject("s3Endpoint");
const s3Gate = inject("s3Gate");
const ACCOUNT = "123456789012";

let events: OcsfEvent[];
beforeAll(() => {
  events = uniqueFixtureEvents();
});

describe("Security Lake: the store down for several batches, then back", () => {
  it("every event ends up in exactly one Parquet file under its source, region, account and event day; nothing dead-lettered", async () => {
    const bucket = await freshBucket(s3Endpoint, "lake-outage");
    const sink = `lakeout${Date.now().toString(36)}`;
    const classes = [...new Set(events.map((x) => x.class_uid))];
    const sources = Object.fromEntries(classes.map((c) => [String(c), `tributary-${c}`]));
    const down: OutageStep[] = [
      { step: s3Error(503, "SlowDown") },
      { step: { drop: true } },
      { step: s3Error(503, "SlowDown", 25), retryAfter: 25 },
      { step: s3Error(500, "InternalError") },
      { step: s3Error(429, "TooManyRequests", 8), retryAfter: 8 },
      // the first retry round: still down
      { step: { drop: true } },
      { step: s3Error(503, "SlowDown") },
    ];
    const { objects } = await outageScenario({
      s3Endpoint,
      s3Gate,
      bucket,
      sink,
      sinkConfig: {
        type: "security_lake",
        bucket,
        endpoint: s3Gate,
        forcePathStyle: true,
        accessKeyId: "S3RVER",
        secretAccessKey: { env: "S3_SECRET" },
        region: "us-east-2",
        accountId: ACCOUNT,
        sources,
        batch: { maxEvents: 10 },
        // per queue batch (the buffered path: test/deliver/buffer.worker.test.ts)
        buffer: false,
      },
      events,
      batches: 5,
      down,
    });

    const seen = new Map<string, number>();
    for (const o of objects) {
      const m = new RegExp(`^ext/tributary-(\\d+)/region=us-east-2/accountId=${ACCOUNT}/eventDay=(\\d{8})/[0-9a-f]{28}\\.parquet$`).exec(o.key);
      expect(m, o.key).not.toBeNull();
      const rows = (await parquetReadObjects({ file: o.bytes.slice().buffer as ArrayBuffer })) as Record<string, unknown>[];
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.length).toBeLessThanOrEqual(10);
      rows.forEach((r, i) => {
        expect(r.class_uid).toBe(Number(m![1]));
        // time is INT64 epoch ms (read as a bigint), metadata a nested group
        const time = Number(r.time);
        expect(eventDay(fileTime(time, Number((r.metadata as { logged_time: bigint }).logged_time)))).toBe(m![2]); // sinks/file-time.ts
        if (i > 0) expect(time >= Number(rows[i - 1]!.time)).toBe(true);
        const uid = (r.metadata as { uid: string }).uid;
        seen.set(uid, (seen.get(uid) ?? 0) + 1);
      });
    }
    // exactly once, by uid
    expect([...seen].filter(([, c]) => c !== 1)).toEqual([]);
    expect([...seen.keys()].sort()).toEqual(events.map((x) => x.metadata.uid!).sort());
  });
});
