// Retry delays: exponential with equal jitter, capped, never below Retry-After, never above 12 h.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { backoffCeiling, backoffSeconds, redeliverSeconds, type RetryPolicy } from "../../src/deliver/backoff";
import { retryAfterMs } from "../../src/sinks/types";

const P: RetryPolicy = { maxAttempts: 10, baseSeconds: 5, maxSeconds: 3600 };

describe("backoff", () => {
  it("doubles per failed attempt from baseSeconds up to maxSeconds", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 50].map((n) => backoffCeiling(n, P))).toEqual([5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]);
  });

  it("jitters within [ceiling/2, ceiling]", () => {
    expect(backoffSeconds(3, P, undefined, () => 0)).toBe(10);
    expect(backoffSeconds(3, P, undefined, () => 0.999999)).toBe(20);
    expect(backoffSeconds(1, { ...P, baseSeconds: 1 }, undefined, () => 0)).toBe(1);
  });

  it("waits at least as long as Retry-After asks, up to the queue's 12 hours", () => {
    expect(backoffSeconds(1, P, 120_000, () => 0.5)).toBe(120);
    expect(backoffSeconds(1, P, 1_500, () => 0)).toBe(3);
    expect(backoffSeconds(1, P, 86_400_000, () => 0)).toBe(43_200);
  });

  it("Retry-After as the sink sends it (seconds or an HTTP date) becomes the delay, over maxSeconds, up to 12 h", () => {
    const now = Date.UTC(2026, 10, 22, 7, 26, 0);
    const at = (header: string, attempt = 1, p = P) => backoffSeconds(attempt, p, retryAfterMs(header, now), () => 0);
    expect(at("90")).toBe(90);
    expect(at("Sun, 22 Nov 2026 07:28:00 GMT")).toBe(120); // an HTTP date two minutes ahead
    expect(at("Sun, 22 Nov 2026 07:00:00 GMT")).toBe(3); // in the past: the plain backoff
    expect(at("soon")).toBe(3); // unreadable: ignored
    expect(at("7200", 1, { ...P, maxSeconds: 600 })).toBe(7200); // the sink's wish beats maxSeconds
    expect(at("43201")).toBe(43_200);
    expect(at("Tue, 24 Nov 2026 07:26:00 GMT")).toBe(43_200); // two days ahead
    expect(at("5", 6)).toBe(80); // shorter than the backoff: the backoff
  });

  it("always lies between the jitter floor and max(ceiling, Retry-After), capped at 12 h", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 600 }),
        fc.integer({ min: 1, max: 43_200 }),
        fc.option(fc.integer({ min: 0, max: 100_000_000 }), { nil: undefined }),
        fc.double({ min: 0, max: 0.9999999, noNaN: true }),
        (attempt, base, max, after, r) => {
          const p = { maxAttempts: 10, baseSeconds: base, maxSeconds: max };
          const d = backoffSeconds(attempt, p, after, () => r);
          const ceiling = backoffCeiling(attempt, p);
          const floor = Math.max(1, Math.floor(ceiling / 2), after === undefined ? 0 : Math.ceil(after / 1000));
          expect(d).toBeGreaterThanOrEqual(Math.min(floor, 43_200));
          expect(d).toBeLessThanOrEqual(Math.min(43_200, Math.max(ceiling, floor)));
          expect(Number.isInteger(d)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("redeliverSeconds (queue-level msg.retry of a message the consumer could not settle)", () => {
  it("5 s doubling per msg.attempts, capped at 1 h, never below 5 s", () => {
    expect([1, 2, 3, 4, 5, 10, 11, 12, 60, 100].map(redeliverSeconds)).toEqual([5, 10, 20, 40, 80, 2560, 3600, 3600, 3600, 3600]);
    expect([0, -1, Number.NaN].map(redeliverSeconds)).toEqual([5, 5, 5]);
  });

  it("with wrangler.toml's max_retries a message survives an outage of more than a day before the DLQ, inside the 4-day retention", () => {
    // the message is delivered 1 + max_retries times; the delays between them sum to its time in the queue
    const maxRetries = 60;
    let total = 0;
    for (let a = 1; a <= maxRetries; a++) total += redeliverSeconds(a);
    expect(total).toBeGreaterThan(24 * 3600);
    expect(total).toBeLessThan(4 * 24 * 3600);
  });
});
