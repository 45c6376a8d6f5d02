// Two DELIVERIES messages pointing at the same parked object (deliveries/<sink>/<digest of sink and uids>.ndjson):
// a retry still in flight when a DLQ replay (or a backfill) parks the same events, or a message the queue hands
// over twice. The key names the events, so whichever consumer deletes it has settled that same set (delivered,
// dead-lettered, or re-parked under another key with a message of its own; the same key re-parked is never
// deleted): the other message then finds nothing and is acked as already settled. These tests pin that no event
// is lost either way round, nothing is retried by the queue, and no parked object is left behind.
import { env } from "cloudflare:test";
import { describe, it, expect, inject, beforeAll } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { scheduleDelivery } from "../../src/deliver/retry";
import { freshBucket, readEvents, uidOfPlain } from "../support/s3-read";
import { gateControl, s3Error } from "../support/gate-client";
import { uniqueFixtureEvents, stubDeliveries, runBatch, drainDeliveries, DELIVERIES_QUEUE } from "../support/delivery";

const s3Endpoint = inject("s3Endpoint");
const s3Gate = inject("s3Gate");

let many: OcsfEvent[];
beforeAll(() => {
  // large enough to be parked in R2 rather than carried inline (retry.ts INLINE_BYTES)
  const events = uniqueFixtureEvents();
  many = [];
  for (let k = 0; many.length < 600; k++) for (const x of events) many.push({ ...x, metadata: { ...x.metadata, uid: `${x.metadata.uid}-p${k}` } });
});

/** A fresh s3 sink, its env with a stub DELIVERIES, and the same events parked twice: a retry (attempt 3) and a replay (attempt 1). */
async function twoParkedCopies(tag: string) {
  const bucket = await freshBucket(s3Endpoint, tag);
  const sink = `${tag}${Date.now().toString(36)}`;
  const cfg = { sinks: { [sink]: { type: "s3", bucket, endpoint: s3Gate, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "S3_SECRET" } } }, routes: [{ sinks: [sink] }] };
  const deliveries = stubDeliveries();
  const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries, S3_SECRET: "S3RVER" } as unknown as Env;
  const items = many.map((event) => ({ event, line: JSON.stringify(event) }));
  const deps = { deliveries, archive: env.ARCHIVE };
  const retryRef = await scheduleDelivery(deps, { sink, attempt: 3, first_attempt_at: 0, reason: "S3 503" }, items, 0);
  const replayRef = await scheduleDelivery(deps, { sink, attempt: 1, first_attempt_at: 0, reason: "replay of dlq/x" }, items, 0);
  const [retry, replay] = deliveries.sent.splice(0).map((c) => c.body);
  return { bucket, sink, e, deliveries, retryRef, replayRef, retry: retry!, replay: replay! };
}

const allUids = () => many.map((x) => x.metadata.uid!).sort();

describe("two DELIVERIES messages with the same parked events", () => {
  it("the first delivers and removes the object; the second is acked as settled without a request; every event is in the sink", async () => {
    const t = await twoParkedCopies("shared");
    expect(t.retryRef).toBeDefined();
    expect(t.replayRef).toBe(t.retryRef);
    expect(t.retry.ref).toBe(t.replay.ref);
    expect((await runBatch(DELIVERIES_QUEUE, [t.retry], t.e)).acked).toHaveLength(1);
    expect(await env.ARCHIVE.head(t.retryRef!)).toBeNull();
    const requests = (await gateControl.state(s3Gate, t.bucket)).log.length;
    expect(requests).toBeGreaterThan(0);
    const second = await runBatch(DELIVERIES_QUEUE, [t.replay], t.e);
    expect(second).toEqual({ acked: [expect.any(String)], retried: [] });
    expect((await gateControl.state(s3Gate, t.bucket)).log.length).toBe(requests);
    expect(t.deliveries.sent).toEqual([]);
    expect((await readEvents(s3Endpoint, t.bucket, many.length)).events.map(uidOfPlain).sort()).toEqual(allUids());
    expect((await env.ARCHIVE.list({ prefix: `deliveries/${t.sink}/` })).objects).toEqual([]);
  });

  it("the first fails: its events are parked again per request and its object removed; the second finds nothing and is acked; nothing lost or left", async () => {
    const t = await twoParkedCopies("sharedfail");
    await gateControl.script(s3Gate, t.bucket, [s3Error(503, "SlowDown")]);
    expect((await runBatch(DELIVERIES_QUEUE, [t.retry], t.e)).acked).toHaveLength(1);
    expect(t.deliveries.sent.reduce((a, c) => a + c.body.count, 0)).toBe(many.length);
    expect(await env.ARCHIVE.head(t.retryRef!)).toBeNull();
    expect(await runBatch(DELIVERIES_QUEUE, [t.replay], t.e)).toEqual({ acked: [expect.any(String)], retried: [] });
    await drainDeliveries(t.deliveries, t.e);
    expect((await readEvents(s3Endpoint, t.bucket, many.length)).events.map(uidOfPlain).sort()).toEqual(allUids());
    expect((await env.ARCHIVE.list({ prefix: `dlq/${t.sink}/` })).objects).toEqual([]);
    expect((await env.ARCHIVE.list({ prefix: `deliveries/${t.sink}/` })).objects).toEqual([]);
  });

  it("both rescheduled unsent (the sink failed earlier in the batch) park again under the same key, which neither removes; then one delivers, the other is acked", async () => {
    const t = await twoParkedCopies("sharedskip");
    // an earlier message of the sink (two other events, inline) fails first: the two behind it are rescheduled unsent
    const other = many.slice(0, 2).map((x) => ({ ...x, metadata: { ...x.metadata, uid: `${x.metadata.uid}-other` } }));
    await scheduleDelivery({ deliveries: t.deliveries, archive: env.ARCHIVE }, { sink: t.sink, attempt: 2, first_attempt_at: 0, reason: "S3 503" }, other.map((event) => ({ event, line: JSON.stringify(event) })), 0);
    const [first] = t.deliveries.sent.splice(0).map((c) => c.body);
    expect(first!.ndjson).toBeDefined();
    await gateControl.script(s3Gate, t.bucket, [s3Error(503, "SlowDown")]);
    expect((await runBatch(DELIVERIES_QUEUE, [first, t.retry, t.replay], t.e)).acked).toHaveLength(3);
    const again = t.deliveries.sent.splice(0).map((c) => c.body);
    const parked = again.filter((b) => b.ref !== undefined);
    expect(parked.map((b) => b.ref)).toEqual([t.retryRef, t.retryRef]);
    expect(await env.ARCHIVE.head(t.retryRef!)).not.toBeNull();
    const inline = again.filter((b) => b.ref === undefined);
    expect(await runBatch(DELIVERIES_QUEUE, [...inline, parked[0]], t.e)).toEqual({ acked: expect.any(Array), retried: [] });
    expect(await env.ARCHIVE.head(t.retryRef!)).toBeNull();
    const requests = (await gateControl.state(s3Gate, t.bucket)).log.length;
    expect(await runBatch(DELIVERIES_QUEUE, [parked[1]], t.e)).toEqual({ acked: [expect.any(String)], retried: [] });
    expect((await gateControl.state(s3Gate, t.bucket)).log.length).toBe(requests);
    expect(t.deliveries.sent).toEqual([]);
    const uids = [...allUids(), ...other.map((x) => x.metadata.uid!)].sort();
    expect((await readEvents(s3Endpoint, t.bucket, uids.length)).events.map(uidOfPlain).sort()).toEqual(uids);
    expect((await env.ARCHIVE.list({ prefix: `deliveries/${t.sink}/` })).objects).toEqual([]);
  });

  it("both in one batch (a message handed over twice): both acked, every event in the sink, the object removed", async () => {
    const t = await twoParkedCopies("sharedbatch");
    const r = await runBatch(DELIVERIES_QUEUE, [t.retry, t.replay], t.e);
    expect(r.acked).toHaveLength(2);
    expect(r.retried).toEqual([]);
    expect(t.deliveries.sent).toEqual([]);
    expect((await readEvents(s3Endpoint, t.bucket, many.length)).events.map(uidOfPlain).sort()).toEqual(allUids());
    expect(await env.ARCHIVE.head(t.retryRef!)).toBeNull();
  });
});
