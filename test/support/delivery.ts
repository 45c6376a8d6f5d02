// Drives the queue consumer inside workerd: routed fixture events packed into EVENTS messages as
// ingest does, a stub DELIVERIES producer that captures what the consumer schedules, and batches fed
// to the Worker's queue handler with createMessageBatch / getQueueResult.
import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index";
import { parseConfig } from "../../src/config/load";
import { makeRouter } from "../../src/route/index";
import { pack, type EventsMessage } from "../../src/deliver/enqueue";
import type { DeliveryMessage } from "../../src/deliver/retry";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fixtures } from "./fixtures";
import { runFixture } from "./fixture-pipeline";

export const EVENTS_QUEUE = "tributary-events";
export const DELIVERIES_QUEUE = "tributary-deliveries";

/** Every fixture event once per uid (the tests count deliveries by uid). */
export function uniqueFixtureEvents(dirs?: string[]): OcsfEvent[] {
  const out: OcsfEvent[] = [];
  const seen = new Set<string>();
  for (const f of fixtures) {
    if (dirs && !dirs.includes(f.dir)) continue;
    for (const { event } of runFixture(f).result.events) {
      const uid = event.metadata.uid;
      if (uid === undefined || seen.has(uid)) continue;
      seen.add(uid);
      out.push(event);
    }
  }
  return out;
}

/** The EVENTS messages ingest would enqueue for these events under this config. */
export function eventsMessages(cfg: unknown, events: OcsfEvent[]): EventsMessage[] {
  const route = makeRouter(parseConfig(cfg));
  return pack(events.map((event) => ({ event, sinks: route(event) })));
}

export interface Captured {
  body: DeliveryMessage;
  delaySeconds?: number;
}

/** A DELIVERIES producer that records what is sent (or fails, when told to). */
export function stubDeliveries(): { send(body: DeliveryMessage, opts?: { delaySeconds?: number }): Promise<void>; sent: Captured[]; fail: boolean } {
  const stub = {
    sent: [] as Captured[],
    fail: false,
    async send(body: DeliveryMessage, opts?: { delaySeconds?: number }): Promise<void> {
      if (stub.fail) throw new Error("Queue send failed: Too Many Requests");
      // a queue serializes its messages: keep a copy, not the consumer's object
      stub.sent.push({ body: structuredClone(body), ...(opts?.delaySeconds !== undefined ? { delaySeconds: opts.delaySeconds } : {}) });
    },
  };
  return stub;
}

export interface BatchResult {
  acked: string[];
  retried: string[];
}

/** One HTTP request to the Worker (http://tributary<path>) with this env, its waitUntil work awaited. */
export async function callWorker(e: Env, path: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`http://tributary${path}`, init), e, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

let seq = 0;
/** Runs one batch through the Worker's queue handler with this env (`attempts` > 1: the messages are redelivered). */
export async function runBatch(queue: string, bodies: unknown[], env: Env, ids?: string[], attempts = 1): Promise<BatchResult> {
  const messages = bodies.map((body, i) => ({ id: ids?.[i] ?? `m-${++seq}`, timestamp: new Date(), attempts, body }));
  const batch = createMessageBatch(queue, messages);
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  const r = (await getQueueResult(batch, ctx)) as { explicitAcks: string[]; retryMessages: { msgId: string }[] };
  return { acked: r.explicitAcks, retried: r.retryMessages.map((m) => m.msgId) };
}

/**
 * Feeds what the consumer scheduled on DELIVERIES back to it, round after round, until nothing is
 * scheduled any more (at most maxRounds). Returns every message scheduled, per round.
 */
export async function drainDeliveries(stub: { sent: Captured[] }, env: Env, maxRounds = 20, beforeRound?: (round: number) => Promise<void>): Promise<Captured[][]> {
  const rounds: Captured[][] = [];
  for (let r = 0; r < maxRounds && stub.sent.length > 0; r++) {
    const due = stub.sent.splice(0);
    rounds.push(due);
    await beforeRound?.(r);
    const res = await runBatch(DELIVERIES_QUEUE, due.map((c) => c.body), env);
    if (res.retried.length > 0) throw new Error(`deliveries retried by the queue: ${res.retried.join(", ")}`);
  }
  if (stub.sent.length > 0) throw new Error(`still scheduled after ${maxRounds} rounds`);
  return rounds;
}
