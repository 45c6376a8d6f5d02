// The outage-and-recovery scenario of the reliability suite, for any storage sink behind the S3 gate
// (inside workerd): the events arrive in several consecutive EVENTS queue batches while the sink
// fails (each step of `down` answers, or drops, one request: the first request of each batch and then
// of the first retry rounds), their events wait on DELIVERIES (a stub fed back to the consumer round
// after round, bounded) until the sink is back. Checks what holds for every sink: each batch settled
// on DELIVERIES (not bounced back to EVENTS), Retry-After honoured, nothing stored while down, every
// retry delivered, nothing dead-lettered, the gate saw the failures then only successful forwards,
// the archive complete. The caller reads the bucket back and counts its events by uid.
import { env } from "cloudflare:test";
import { expect } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { readBucket, uidOfPlain, type StoredObject } from "./s3-read";
import { gateControl, type GateStep } from "./gate-client";
import { eventsMessages, stubDeliveries, runBatch, drainDeliveries, EVENTS_QUEUE, type Captured } from "./delivery";
import { readArchive } from "./archive";

export interface OutageStep {
  step: GateStep;
  /** The Retry-After (s) the step sends, when it does: the retries it causes must wait that long. */
  retryAfter?: number;
}

export interface OutageRun {
  /** The bucket's objects once every retry round is done. */
  objects: StoredObject[];
  /** What each DELIVERIES round carried. */
  rounds: Captured[][];
}

export async function outageScenario(opts: {
  s3Endpoint: string;
  s3Gate: string;
  bucket: string;
  sink: string;
  /** The sink's config (it must write to `bucket` through `s3Gate`). */
  sinkConfig: Record<string, unknown>;
  events: OcsfEvent[];
  batches: number;
  down: OutageStep[];
}): Promise<OutageRun> {
  const { s3Endpoint, s3Gate, bucket, sink, events, down } = opts;
  const cfg = { sinks: { [sink]: opts.sinkConfig }, routes: [{ sinks: [sink] }] };
  const deliveries = stubDeliveries();
  const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries, S3_SECRET: "S3RVER" } as unknown as Env;
  expect(down.length).toBeGreaterThan(opts.batches); // the sink is still down for the first retry round
  await gateControl.script(s3Gate, bucket, down.map((d) => d.step));

  const chunk = Math.ceil(events.length / opts.batches);
  const scheduledBy: number[][] = [];
  for (let b = 0; b < opts.batches; b++) {
    const part = events.slice(b * chunk, (b + 1) * chunk);
    const before = deliveries.sent.length;
    const res = await runBatch(EVENTS_QUEUE, eventsMessages(cfg, part), e);
    expect(res.retried).toEqual([]); // settled (rescheduled on DELIVERIES), not bounced back to EVENTS
    const scheduled = deliveries.sent.slice(before);
    expect(scheduled.reduce((n, c) => n + c.body.count, 0)).toBe(part.length);
    scheduledBy.push(scheduled.map((c) => c.delaySeconds ?? 0));
  }
  // a Retry-After answer delays all of that batch's retries at least as long as asked
  for (let b = 0; b < opts.batches; b++) {
    const asked = down[b]!.retryAfter;
    if (asked !== undefined) expect(Math.min(...scheduledBy[b]!)).toBeGreaterThanOrEqual(asked);
  }
  expect(await readBucket(s3Endpoint, bucket)).toEqual([]); // nothing got through yet

  const rounds = await drainDeliveries(deliveries, e, 20);
  expect(rounds.length).toBeGreaterThanOrEqual(2);
  expect(rounds[1]!.every((c) => c.body.attempt >= 3)).toBe(true);

  expect((await env.ARCHIVE.list({ prefix: `dlq/${sink}/` })).objects).toEqual([]);
  // the gate saw the failures first, then only successful forwards
  const log = (await gateControl.state(s3Gate, bucket)).log;
  expect(log.slice(0, down.length).map((l) => l.action)).toEqual(down.map((d) => (d.step.drop ? "dropped" : "scripted")));
  expect(log.slice(down.length).every((l) => l.action === "forwarded" && l.status === 200)).toBe(true);
  // the archive took every event on the first try, whatever the sink did
  const archived = new Set((await readArchive(env.ARCHIVE)).flatMap((o) => o.events.map(uidOfPlain)));
  for (const x of events) expect(archived.has(x.metadata.uid!)).toBe(true);
  return { objects: await readBucket(s3Endpoint, bucket, "", log.length - down.length), rounds };
}
