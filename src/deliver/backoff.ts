// Retry delays: exponential backoff with jitter, honouring the sink's Retry-After.
//   delay(n) = max(jitter(min(maxSeconds, baseSeconds * 2^(n-1))), Retry-After), capped at 12 h
// where n is the attempt that just failed (1 = the first delivery) and jitter picks uniformly in
// [d/2, d] ("equal jitter": spreads retries of many consumers, never collapses to zero).
import { MAX_DELAY_SECONDS } from "../config/sinks";

export interface RetryPolicy {
  maxAttempts: number;
  baseSeconds: number;
  maxSeconds: number;
}

/** The exponential part before jitter, in seconds. */
export function backoffCeiling(failedAttempt: number, p: RetryPolicy): number {
  const n = Math.max(1, Math.min(failedAttempt, 40));
  return Math.min(p.maxSeconds, p.baseSeconds * 2 ** (n - 1));
}

/** Seconds to wait before the next attempt. `rand` returns [0, 1) (injected in tests). */
export function backoffSeconds(failedAttempt: number, p: RetryPolicy, retryAfterMs?: number, rand: () => number = Math.random): number {
  const ceiling = backoffCeiling(failedAttempt, p);
  const jittered = Math.round(ceiling / 2 + rand() * (ceiling / 2));
  const after = retryAfterMs !== undefined && Number.isFinite(retryAfterMs) ? Math.ceil(retryAfterMs / 1000) : 0;
  return Math.min(MAX_DELAY_SECONDS, Math.max(1, jittered, after));
}

/**
 * Queue-level redelivery (`msg.retry`) of a message the consumer could not settle at all (the archive
 * write failed, spilled events unreadable, a bad config, neither DELIVERIES nor the DLQ accepted a
 * delivery): 5 s doubling per delivery of the message, capped at 1 h, no jitter (the queue spreads
 * them). `attempts` is the message's `msg.attempts` (1 = its first delivery). With the consumers'
 * max_retries (wrangler.toml, 60) this keeps a message about 51 h before the queue hands it to the
 * dead-letter queue, inside the queue's 4-day default retention (docs/delivery.md).
 */
export const REDELIVER_POLICY: RetryPolicy = { maxAttempts: 61, baseSeconds: 5, maxSeconds: 3600 };

export function redeliverSeconds(attempts: number): number {
  return backoffCeiling(Number.isFinite(attempts) ? attempts : 1, REDELIVER_POLICY);
}

/**
 * Hands a message whose events could not be settled at all back to the queue, later each time
 * (redeliverSeconds). After max_retries the queue moves it to the dead-letter queue (wrangler.toml),
 * whose consumer keeps it in R2 (src/deliver/queue-dlq.ts).
 */
export function redeliver(msg: Message<unknown>): void {
  msg.retry({ delaySeconds: redeliverSeconds(msg.attempts) });
}
