// Reliability (issues 6 and 9): Retry-After across DELIVERIES retry messages, inside workerd. A sink's
// events wait on DELIVERIES in several messages (one per failed object); in the next round the sink
// answers the first request with 429 + Retry-After, so the other messages of that round are not sent.
// Every rescheduled message, sent or not, must be delayed at least as long as the sink asked, and
// never more than the queue's 12 h limit (43,200 s).
import { env } from "cloudflare:test";
import { describe, it, expect, beforeAll, inject } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { MAX_DELAY_SECONDS } from "../../src/config/sinks";
import { freshBucket, readEvents, uidOfPlain } from "../support/s3-read";
import { gateControl, s3Error, type GateStep } from "../support/gate-client";
import { uniqueFixtureEvents, eventsMessages, stubDeliveries, runBatch, drainDeliveries, EVENTS_QUEUE, DELIVERIES_QUEUE } from "../support/delivery";

const s3Endpoint = inject("s3Endpoint");
const s3Gate = inject("s3Gate");

const slowDown = s3Error(503, "SlowDown");
const tooMany = (retryAfter: string) => s3Error(429, "TooManyRequests", retryAfter);

let events: OcsfEvent[];
beforeAll(() => {
  events = uniqueFixtureEvents();
});

/**
 * A sink whose first EVENTS delivery fails (503, no Retry-After) so that its events wait on
 * DELIVERIES in several messages; then one DELIVERIES round in which the sink answers `answer`.
 * Returns what that round rescheduled, and the env and stub to finish with.
 */
async function retryRound(label: string, answer: GateStep) {
  const bucket = await freshBucket(s3Endpoint, label);
  const sink = `${label}${Date.now().toString(36)}`;
  const cfg = {
    sinks: { [sink]: { type: "s3", bucket, endpoint: s3Gate, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "S3_SECRET" }, batch: { maxEvents: 10 } } },
    routes: [{ sinks: [sink] }],
  };
  const deliveries = stubDeliveries();
  const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries, S3_SECRET: "S3RVER" } as unknown as Env;
  await gateControl.script(s3Gate, bucket, [slowDown]);
  await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
  const first = deliveries.sent.splice(0);
  expect(first.length).toBeGreaterThan(2); // several retry messages for the one sink
  expect(first.every((c) => c.body.attempt === 2)).toBe(true);

  await gateControl.script(s3Gate, bucket, [answer]);
  const res = await runBatch(DELIVERIES_QUEUE, first.map((c) => c.body), e);
  expect(res.retried).toEqual([]);
  const second = deliveries.sent.slice();
  // one request went out in the round (the 429); every message came back as attempt 3
  expect((await gateControl.state(s3Gate, bucket)).log.map((l) => l.status)).toEqual([503, 429]);
  expect(second.length).toBe(first.length);
  expect(second.every((c) => c.body.attempt === 3)).toBe(true);
  expect(second.reduce((n, c) => n + c.body.count, 0)).toBe(events.length);
  return { bucket, sink, e, deliveries, first, second };
}

describe("Retry-After across DELIVERIES messages", () => {
  it("429 with Retry-After: 90 delays every rescheduled message of the round (also those not sent) at least 90 s; then all arrive once", async () => {
    const { bucket, sink, e, deliveries, first, second } = await retryRound("ra90", tooMany("90"));
    // the first round had no Retry-After: the plain backoff of attempt 1 (baseSeconds 5: 3 to 5 s)
    for (const c of first) expect(c.delaySeconds).toBeLessThanOrEqual(5);
    for (const c of second) expect(c.delaySeconds).toBeGreaterThanOrEqual(90);
    expect(second.every((c) => /HTTP 429/.test(c.body.reason))).toBe(true);

    await drainDeliveries(deliveries, e);
    const stored = (await readEvents(s3Endpoint, bucket, events.length)).events.map(uidOfPlain).sort();
    expect(stored).toEqual(events.map((x) => x.metadata.uid!).sort());
    expect((await env.ARCHIVE.list({ prefix: `dlq/${sink}/` })).objects).toEqual([]);
  });

  it("Retry-After is capped at the queue's 12 h: seconds or an HTTP date, every message gets exactly 43,200 s", async () => {
    expect(MAX_DELAY_SECONDS).toBe(43_200);
    const a = await retryRound("racap", tooMany("100000"));
    for (const c of a.second) expect(c.delaySeconds).toBe(MAX_DELAY_SECONDS);
    const twoDays = new Date(Date.now() + 2 * 86_400_000).toUTCString();
    const b = await retryRound("radate", tooMany(twoDays));
    for (const c of b.second) expect(c.delaySeconds).toBe(MAX_DELAY_SECONDS);
  });

  it("an HTTP-date Retry-After one hour ahead delays every message by about an hour, more than the plain backoff", async () => {
    const inAnHour = new Date(Date.now() + 3_600_000).toUTCString();
    const { second } = await retryRound("radate1h", tooMany(inAnHour));
    for (const c of second) {
      expect(c.delaySeconds).toBeGreaterThan(3_000);
      expect(c.delaySeconds).toBeLessThanOrEqual(3_600);
    }
  });
});
