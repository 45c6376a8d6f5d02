// Reliability (issue 9): a sink that is down for several queue batches in a row, then back. Inside
// workerd: the Worker's queue handler takes EVENTS batches one after another while an S3 sink (s3rver
// behind the fault-injecting gate) answers 503 SlowDown, 429 with Retry-After, 500 or drops the
// connection; its events go to DELIVERIES (a stub whose messages are fed back to the consumer, round
// after round) until the sink is back. Every event must then be stored exactly once (counted by
// uid), nothing dead-lettered, the archive complete, and every Retry-After honoured.
import { env } from "cloudflare:test";
import { describe, it, expect, beforeAll, inject } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { freshBucket, readBucket, ndjsonEvents, uidOfPlain } from "../support/s3-read";
import { gateControl, type GateStep } from "../support/gate-client";
import { uniqueFixtureEvents, eventsMessages, stubDeliveries, runBatch, drainDeliveries, EVENTS_QUEUE } from "../support/delivery";
import { readArchive } from "../support/archive";

const s3Endpoint = inject("s3Endpoint");
const s3Gate = inject("s3Gate");

const xml = (code: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`;
const slowDown = (retryAfter?: number): GateStep => ({
  status: 503,
  headers: { "content-type": "application/xml", ...(retryAfter !== undefined ? { "retry-after": String(retryAfter) } : {}) },
  body: xml("SlowDown"),
});
const tooMany = (retryAfter: number): GateStep => ({ status: 429, headers: { "content-type": "application/xml", "retry-after": String(retryAfter) }, body: xml("TooManyRequests") });
const internal: GateStep = { status: 500, headers: { "content-type": "application/xml" }, body: xml("InternalError") };

let events: OcsfEvent[];
beforeAll(() => {
  events = uniqueFixtureEvents();
});

describe("a sink down for several batches, then back", () => {
  it("every event of every batch is stored exactly once, nothing is dead-lettered, Retry-After is honoured", async () => {
    const BATCHES = 6;
    const bucket = await freshBucket(s3Endpoint, "outage");
    const sink = `outage${Date.now().toString(36)}`;
    const cfg = { sinks: { [sink]: { type: "s3", bucket, endpoint: s3Gate, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "S3_SECRET" }, batch: { maxEvents: 10 } } }, routes: [{ sinks: [sink] }] };
    const deliveries = stubDeliveries();
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries, S3_SECRET: "S3RVER" } as unknown as Env;

    // one failure per EVENTS batch (the first request fails, the rest of the attempt waits with it),
    // then two more for the first rounds of retries: the sink stays down for 8 attempts in all
    const down: { step: GateStep; retryAfter?: number }[] = [
      { step: slowDown() },
      { step: tooMany(17), retryAfter: 17 },
      { step: { drop: true } },
      { step: internal },
      { step: slowDown(40), retryAfter: 40 },
      { step: tooMany(3), retryAfter: 3 },
      { step: slowDown() },
      { step: { drop: true } },
    ];
    await gateControl.script(s3Gate, bucket, down.map((d) => d.step));

    // the events arrive in BATCHES consecutive queue batches while the sink is down
    const chunk = Math.ceil(events.length / BATCHES);
    const scheduledBy: number[][] = [];
    for (let b = 0; b < BATCHES; b++) {
      const part = events.slice(b * chunk, (b + 1) * chunk);
      const before = deliveries.sent.length;
      const res = await runBatch(EVENTS_QUEUE, eventsMessages(cfg, part), e);
      expect(res.retried).toEqual([]); // settled (rescheduled on DELIVERIES), not bounced back to EVENTS
      const scheduled = deliveries.sent.slice(before);
      expect(scheduled.reduce((n, c) => n + c.body.count, 0)).toBe(part.length);
      scheduledBy.push(scheduled.map((c) => c.delaySeconds ?? 0));
    }
    // a Retry-After answer delays that batch's retries at least as long as asked
    for (let b = 0; b < BATCHES; b++) {
      const asked = down[b]!.retryAfter;
      if (asked !== undefined) expect(Math.min(...scheduledBy[b]!)).toBeGreaterThanOrEqual(asked);
    }
    expect(await readBucket(s3Endpoint, bucket)).toEqual([]); // nothing got through yet

    // DELIVERIES rounds until nothing is scheduled any more (bounded): two more failures, then recovery
    const rounds = await drainDeliveries(deliveries, e, 20);
    expect(rounds.length).toBeGreaterThanOrEqual(3);
    expect(rounds[1]!.every((c) => c.body.attempt >= 3)).toBe(true);

    // exactly once, by uid: the sorted list equals the sorted uids (a duplicate would show)
    const stored = (await readBucket(s3Endpoint, bucket)).flatMap((o) => ndjsonEvents(o.bytes)).map(uidOfPlain).sort();
    expect(stored).toEqual(events.map((x) => x.metadata.uid!).sort());
    expect((await env.ARCHIVE.list({ prefix: `dlq/${sink}/` })).objects).toEqual([]);
    // the gate saw the 8 failures first, then only successful forwards
    const actions = (await gateControl.state(s3Gate, bucket)).log.map((l) => l.action);
    expect(actions.slice(0, down.length)).toEqual(down.map((d) => (d.step.drop ? "dropped" : "scripted")));
    expect(actions.slice(down.length).every((a) => a === "forwarded")).toBe(true);
    // the archive took every event on the first try, whatever the sink did
    const archived = new Set((await readArchive(env.ARCHIVE)).flatMap((o) => o.events.map(uidOfPlain)));
    for (const x of events) expect(archived.has(x.metadata.uid!)).toBe(true);
  });
});
