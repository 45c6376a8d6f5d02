// Noise tests inside workerd: copies of a real Falco alert, ingest through the Worker with a
// capturing EVENTS producer, the consumer fed with those messages, and the webhook receiver read back.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { inject } from "vitest";
import worker from "../../src/index";
import type { EventsMessage } from "../../src/deliver/enqueue";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { queued } from "../support/queue-capture";
import { stableUid } from "../../src/normalize/uid";
import { EVENTS_QUEUE, runBatch, type BatchResult } from "../support/delivery";
import { gateControl } from "../support/gate-client";
import { fixture } from "../support/fixtures";
import { NOISE_WEBHOOK_SECRET } from "./constants";

const FALCO = fixture("falco/terminal-shell-in-container__falco-docs.json").trim();
const FALCO_TIME = '"time":"2023-05-25T13:44:05.478445995Z"';
const FALCO_EVT_TIME = '"evt.time":1685022245478445995';
const FALCO_HOST = '"hostname":"falco-xczjd"';
/** The alert's time, ms. */
export const FALCO_MS = 1685022245478;

/** The first event of the first EVENTS message. */
export function firstEvent(msgs: EventsMessage[]): OcsfEvent {
  return JSON.parse(msgs[0]!.ndjson.split("\n")[0]!) as OcsfEvent;
}

/**
 * `n` copies of the Falco "Terminal shell in container" alert from `host`, as NDJSON. Each copy gets
 * its own uuid (as Falcosidekick adds) and is 1 ms after the previous one; nothing else changes.
 */
export function falcoCopies(n: number, host: string, tag: string, firstMs = FALCO_MS): { ndjson: string; uids: string[] } {
  const lines: string[] = [];
  const uids: string[] = [];
  for (let i = 0; i < n; i++) {
    const uid = stableUid(`${tag}|${host}|${i}`);
    const ms = firstMs + i;
    const iso = `${new Date(ms).toISOString().slice(0, -1)}445995Z`;
    const line = FALCO.replace(FALCO_TIME, `"time":"${iso}"`)
      .replace(FALCO_EVT_TIME, `"evt.time":${BigInt(ms) * 1_000_000n + 445_995n}`)
      .replace(FALCO_HOST, `"hostname":${JSON.stringify(host)}`);
    lines.push(`{"uuid":"${uid}",${line.slice(1)}`);
    uids.push(uid);
  }
  return { ndjson: lines.join("\n"), uids };
}

/** A Standard Webhooks sink on the 127.0.0.1 receiver; `key` separates its requests on the recording gate. */
export function webhookSink(key: string): Record<string, unknown> {
  return { type: "webhook", url: `${inject("noiseWebhookGate")}/${key}/hook`, secret: NOISE_WEBHOOK_SECRET, maxEvents: 1000 };
}

/** A config: Falco events to a Standard Webhooks sink (per-test key on the recording gate), plus noise. */
export function noiseConfig(key: string, noise: unknown): Record<string, unknown> {
  return {
    sinks: { hook: webhookSink(key) },
    routes: [{ match: { source: "falco" }, sinks: ["hook"] }],
    noise,
  };
}

export function envWith(cfg: unknown): Env {
  return { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg) };
}

/** POSTs a body (default: NDJSON to /v1/events/falco) with this config; returns the EVENTS messages ingest sent. */
export async function ingest(cfg: unknown, ndjson: string, path = "/v1/events/falco", contentType = "application/x-ndjson", headers: Record<string, string> = {}): Promise<EventsMessage[]> {
  const sent: EventsMessage[] = [];
  const events = {
    async sendBatch(msgs: Iterable<{ body: unknown }>): Promise<void> {
      for (const m of msgs) sent.push(queued(m.body));
    },
  };
  const e = { ...envWith(cfg), EVENTS: events as unknown as Queue };
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`http://tributary${path}`, { method: "POST", headers: { ...headers, "content-type": contentType }, body: ndjson }), e, ctx);
  await waitOnExecutionContext(ctx);
  const body = (await res.json()) as { accepted: number; rejected: number };
  if (res.status !== 202 || body.rejected !== 0) throw new Error(`ingest answered ${res.status}: ${JSON.stringify(body)}`);
  return sent;
}

/** Feeds messages to the consumer in batches of up to 100 (the queue's largest), ids `${prefix}-<i>`. */
export async function consume(cfg: unknown, messages: EventsMessage[], prefix: string): Promise<BatchResult> {
  const all: BatchResult = { acked: [], retried: [] };
  for (let i = 0; i < messages.length; i += 100) {
    const chunk = messages.slice(i, i + 100);
    const r = await runBatch(EVENTS_QUEUE, chunk, envWith(cfg), chunk.map((_, j) => `${prefix}-${i + j}`));
    all.acked.push(...r.acked);
    all.retried.push(...r.retried);
  }
  return all;
}

export interface HookRequest {
  /** The receiver's answer: 204 stored (signature verified), 200 duplicate webhook-id, 401 bad signature. */
  status: number | undefined;
  events: Record<string, unknown>[];
}

/** Every request the webhook sink of this test key made, in order. */
export async function hookRequests(key: string): Promise<HookRequest[]> {
  const state = await gateControl.state(inject("noiseWebhookGate"), key);
  return state.log.map((l) => ({ status: l.status, events: l.body ? (JSON.parse(l.body) as { data: { events: Record<string, unknown>[] } }).data.events : [] }));
}
