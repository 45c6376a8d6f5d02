// The one small interface every sink implements (Vector's sinks are the model):
//   a zod config schema, encode(events) -> requests (pure), send (I/O, default fetch),
//   classify(response) -> delivered | retry(after) | reject, optionally per event.
// The delivery layer (../deliver) owns batching, retries, backoff and dead letters.
import type { z } from "zod";
import type { OcsfEvent } from "../normalize/ocsf";
import type { SecretRef } from "../config/secret";

export interface SinkRequest {
  /** Indices (into the events passed to encode) of the events this request carries. */
  events: number[];
  /** Full URL for HTTP sinks; the object key for storage sinks. */
  url: string;
  method: "POST" | "PUT";
  headers: Record<string, string>;
  body: string | Uint8Array;
  /**
   * The destination within the sink, when its requests go to several (a Loki org: X-Scope-OrgID).
   * Requests of different scopes are independent destinations: one found unavailable (408, 429, 5xx)
   * does not hold back the others (../deliver/attempt). Unset: the sink is one destination.
   */
  scope?: string;
  /**
   * A tag kept with this request's events when they are retried (../deliver/retry: the DELIVERIES
   * message's retry_of): the retry's encode gets it back as SinkContext.retryOf, so that a sink can send
   * them in the shape they had (Slack: a digest's events go out again as one digest). Unset: the retry is
   * encoded like a new batch.
   */
  retryAs?: string;
}

export interface SinkResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type Outcome =
  | { kind: "delivered" }
  | { kind: "retry"; reason: string; /** from Retry-After or the API's own hint */ afterMs?: number; itemStatus?: number }
  | { kind: "reject"; reason: string; itemStatus?: number };
// itemStatus: the event's own status inside a 200 answer (an Elasticsearch / OpenSearch bulk item), kept
// with its dead letter (../deliver/dlq item_status).

export interface Classification {
  /** Outcome for every event of the request, unless overridden below. */
  outcome: Outcome;
  /** Per-event outcomes for partial failures (e.g. Elasticsearch bulk items), keyed by event index. */
  perEvent?: Map<number, Outcome>;
  /**
   * Records the receiver says it dropped without naming them (an OTLP partial success): the request's
   * events still count as delivered; this count goes to tributary_sink_partial_rejects_total.
   */
  partialRejects?: number;
  /**
   * The sink's destination is gone, not merely unhappy with these events (a Slack webhook revoked, its
   * channel deleted or archived; a webhook receiver's 410; a SIEM token or API key revoked: goneReject): with a reject outcome, the delivery layer sends nothing more to the sink
   * and dead-letters the rest of the delivery with this reason, in one dead letter, and its later deliveries
   * too until the sink's config or secrets change or some minutes pass (../deliver/gone).
   */
  gone?: boolean;
}

export interface SinkContext {
  /** Worker env (secrets are read from here by name). */
  env: Record<string, unknown>;
  /** Wall clock, ms (injected so encoders stay deterministic in tests). */
  now: number;
  /** These events are the retry of one request that carried SinkRequest.retryAs: that tag. */
  retryOf?: string;
  /**
   * Whether a scope (SinkRequest.scope) is already known unavailable in this attempt (it only ever becomes
   * so): the delivery layer sends none of its requests, retrying their events unsent. So a sink may hand
   * such events back in one bodiless request of that scope instead of building its bodies (src/sinks/loki.ts).
   * Unset: every scope is encoded.
   */
  scopeDown?: (scope: string) => boolean;
}

/** The form a secret's value must have for a sink to use it (e.g. a webhook's whsec_ secret). */
export interface SecretFormat {
  ok(value: string): boolean;
  /** What is expected, after "is not" / "expected": 'a Standard Webhooks secret: ...'. Never the value. */
  expected: string;
}

export interface SinkDriver<C = unknown> {
  /** The `type` value in config, e.g. "splunk_hec". */
  type: string;
  /** zod schema of this sink's config (without the common `type`/`batch` keys). */
  schema: z.ZodType<C>;
  /**
   * Turns events into requests. Pure apart from WebCrypto signing and the runtime's compression
   * (hence the Promise). `lines`, when the delivery layer has them: each event's NDJSON line
   * (JSON.stringify of it, as the queues carried it), parallel to `events`, so that a sink writing the
   * events as JSON need not serialize them again.
   */
  encode(events: OcsfEvent[], cfg: C, ctx: SinkContext, lines?: readonly string[]): SinkRequest[] | Promise<SinkRequest[]>;
  /** Performs one request. Default: fetch(req.url). Storage sinks (S3, R2) provide their own. */
  send?(req: SinkRequest, cfg: C, ctx: SinkContext): Promise<SinkResponse>;
  /**
   * Storage sinks: the object an event belongs in (its class and event day). The delivery layer then
   * splits each partition's events on their own, in uid order, by maxEvents / maxBytes, so objects
   * fill up to the limits and a batch splits the same way (same object keys) whatever order its
   * events arrived in.
   */
  partition?(event: OcsfEvent, cfg: C): string;
  /**
   * Buffered storage sinks (../deliver/stage): why the sink could never write `event`, so that it is
   * rejected at once instead of staged; undefined to stage it.
   */
  unwritable?(event: OcsfEvent, cfg: C): string | undefined;
  /**
   * Settings (top-level config keys) holding a secret whose value this sink checks when it sends, where
   * a malformed one fails every send: `npm run check-config -- --env-file` checks the values it is given
   * (src/ops/check-config.ts). The schema checks literal values itself.
   */
  secretFormats?: Record<string, SecretFormat>;
  /** Decides what happened. Network errors never reach here: the delivery layer retries them. */
  classify(res: SinkResponse, req: SinkRequest, cfg: C): Classification;
  /**
   * Verdict for an event that encode() put in no request: `delivered` when the sink does not want it
   * (e.g. Slack below its severity threshold), `reject` when it cannot be sent (e.g. larger than the
   * API's per-event limit). Called only for such events (see unsentOutcomes).
   */
  unsentOutcome?(event: OcsfEvent, cfg: C, ctx: SinkContext): Outcome;
}

/**
 * Outcomes of the events that `requests` (the result of encode) do not carry, keyed by event index:
 * the driver's unsentOutcome, or a reject when it has none. The delivery layer settles these events
 * without sending anything.
 */
export function unsentOutcomes<C>(driver: SinkDriver<C>, events: OcsfEvent[], requests: SinkRequest[], cfg: C, ctx: SinkContext): Map<number, Outcome> {
  const carried = new Uint8Array(events.length);
  for (const r of requests) for (const i of r.events) carried[i] = 1;
  const out = new Map<number, Outcome>();
  for (let i = 0; i < events.length; i++) {
    if (carried[i]) continue;
    out.set(i, driver.unsentOutcome?.(events[i]!, cfg, ctx) ?? { kind: "reject", reason: `sink ${driver.type} did not encode this event` });
  }
  return out;
}

/**
 * The classification of an answer after which the sink is gone (Classification.gone: every later request would
 * meet it until someone changes the config or a secret): a reject whose reason is `answer` (what the API said),
 * then `fix` (what to change), then the replay to run once that is done.
 */
export function goneReject(answer: string, fix: string): Classification {
  return { outcome: { kind: "reject", reason: `${answer}; ${fix}, then replay: ${GONE_REPLAY}` }, gone: true };
}

/** The replay a gone reason ends with; the driver does not know the sink's name, the delivery layer fills it in (goneNaming). */
const GONE_REPLAY = "npm run dlq -- replay --sink <name>";

/** A goneReject reason with the sink's name in its replay command (once per gone, ../deliver/attempt). */
export function goneNaming(reason: string, sink: string): string {
  return reason.endsWith(GONE_REPLAY) ? `${reason.slice(0, -"<name>".length)}${sink}` : reason;
}

/** Where a secret setting is changed, for a reason naming the fix: its Worker secret, or the sink's `setting` when written literally. */
export function secretWhere(ref: SecretRef, setting: string): string {
  return typeof ref === "string" ? `the sink's ${setting}` : ref.env;
}

/** Parses Retry-After (delta seconds or HTTP date) into ms, relative to `now`. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Vector's default HTTP retry rule: 408, 429 and 5xx except 501 are retried; other 4xx rejected. */
export function classifyHttpStatus(res: SinkResponse, now = Date.now()): Outcome {
  const s = res.status;
  if (s >= 200 && s < 300) return { kind: "delivered" };
  const reason = `HTTP ${s}: ${res.body.trim().slice(0, 300)}`;
  if (s === 408 || s === 429 || (s >= 500 && s !== 501)) return { kind: "retry", reason, afterMs: retryAfterMs(res.headers["retry-after"], now) };
  return { kind: "reject", reason };
}
