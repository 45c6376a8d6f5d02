// Reliability (issue 9): a sink that is down for several queue batches in a row, then back. Inside
// workerd: the Worker's queue handler takes EVENTS batches one after another while an S3 sink (s3rver
// behind the fault-injecting gate) answers 503 SlowDown, 429 with Retry-After, 500 or drops the
// connection; its events go to DELIVERIES (a stub whose messages are fed back to the consumer, round
// after round) until the sink is back. Every event must then be stored exactly once (counted by
// uid), nothing dead-lettered, the archive complete, and every Retry-After honoured (the scenario
// and its common checks: test/support/outage.ts; Security Lake: security-lake-outage.worker.test.ts).
import { describe, it, expect, beforeAll, inject } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { freshBucket, ndjsonEvents, uidOfPlain } from "../support/s3-read";
import { s3Error } from "../support/gate-client";
import { uniqueFixtureEvents } from "../support/delivery";
import { outageScenario, type OutageStep } from "../support/outage";

const s3Endpoint = inject("s3Endpoint");
const s3Gate = inject("s3Gate");

let events: OcsfEvent[];
beforeAll(() => {
  events = uniqueFixtureEvents();
});

describe("a sink down for several batches, then back", () => {
  it("every event of every batch is stored exactly once, nothing is dead-lettered, Retry-After is honoured", async () => {
    const bucket = await freshBucket(s3Endpoint, "outage");
    const sink = `outage${Date.now().toString(36)}`;
    // one failure per EVENTS batch (the first request fails, the rest of the attempt waits with it),
    // then two more for the first rounds of retries: the sink stays down for 8 attempts in all
    const down: OutageStep[] = [
      { step: s3Error(503, "SlowDown") },
      { step: s3Error(429, "TooManyRequests", 17), retryAfter: 17 },
      { step: { drop: true } },
      { step: s3Error(500, "InternalError") },
      { step: s3Error(503, "SlowDown", 40), retryAfter: 40 },
      { step: s3Error(429, "TooManyRequests", 3), retryAfter: 3 },
      { step: s3Error(503, "SlowDown") },
      { step: { drop: true } },
    ];
    const { objects, rounds } = await outageScenario({
      s3Endpoint,
      s3Gate,
      bucket,
      sink,
      sinkConfig: { type: "s3", bucket, endpoint: s3Gate, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "S3_SECRET" }, batch: { maxEvents: 10 } },
      events,
      batches: 6,
      down,
    });
    expect(rounds.length).toBeGreaterThanOrEqual(3);
    // exactly once, by uid: the sorted list equals the sorted uids (a duplicate would show)
    const stored = objects.flatMap((o) => ndjsonEvents(o.bytes)).map(uidOfPlain).sort();
    expect(stored).toEqual(events.map((x) => x.metadata.uid!).sort());
  });
});
