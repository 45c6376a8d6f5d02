// The queue dead-letter layer inside workerd: a batch from "tributary-events-dlq" (what Cloudflare
// Queues moves there after max_retries) goes through the Worker's queue handler; every message is
// kept verbatim in R2 under dlq-queue/ and acked only after the put; an R2 failure retries it with the
// backoff. GET /v1/dlq lists them, /v1/dlq/object shows one, replay sends each body back to its queue.
// And the main consumer: a config that does not load hands its messages back with the backoff.
import { env, createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import worker from "../../src/index";
import { decodeMessage, encodeMessage, messageLines, Packer, type EventsMessage } from "../../src/deliver/enqueue";
import { consumeDeadLetterQueue } from "../../src/deliver/queue-dlq";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import type { DeliveryMessage } from "../../src/deliver/retry";
import type { QueueDeadLetter } from "../../src/deliver/queue-dlq";
import type { DeadLetterInfo } from "../../src/deliver/dlq";
import { eventDay } from "../../src/sinks/objects";
import { uniqueFixtureEvents, eventsMessages, callWorker, EVENTS_QUEUE } from "../support/delivery";

const DLQ = "tributary-events-dlq";

interface QueueResult {
  explicitAcks: string[];
  retryMessages: { msgId: string }[];
  /** The delaySeconds each retried message asked for (the runtime's result does not carry it). */
  delays: Record<string, number | undefined>;
}

async function runQueue(queue: string, msgs: { id: string; body: unknown; attempts?: number }[], e: Env): Promise<QueueResult> {
  const batch = createMessageBatch(
    queue,
    msgs.map((m) => ({ id: m.id, timestamp: new Date(Date.UTC(2026, 10, 1, 12)), attempts: m.attempts ?? 1, body: m.body })),
  );
  const delays: Record<string, number | undefined> = {};
  // the real messages, with retry() observed on the way
  const observed = batch.messages.map((m) => ({
    id: m.id,
    timestamp: m.timestamp,
    attempts: m.attempts,
    body: m.body,
    ack: () => m.ack(),
    retry: (o?: QueueRetryOptions) => {
      delays[m.id] = o?.delaySeconds;
      m.retry(o);
    },
  }));
  const ctx = createExecutionContext();
  await worker.queue({ queue: batch.queue, messages: observed, ackAll: () => batch.ackAll(), retryAll: (o?: QueueRetryOptions) => batch.retryAll(o) } as unknown as MessageBatch<unknown>, e);
  const r = (await getQueueResult(batch, ctx)) as unknown as Omit<QueueResult, "delays">;
  return { ...r, delays };
}

/** A queue producer that records what is sent. */
function captureQueue() {
  const sent: { body: unknown; contentType?: string }[] = [];
  return {
    sent,
    async send(body: unknown, opts?: { contentType?: string }) {
      sent.push({ body: structuredClone(body), ...(opts?.contentType ? { contentType: opts.contentType } : {}) });
    },
  };
}

const uniq = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 8);

describe("queue dead-letter consumer", () => {
  it("keeps EVENTS and DELIVERIES messages verbatim in R2, acks them, and replay sends them back to their queue", async () => {
    const events = uniqueFixtureEvents(["falco"]).slice(0, 3);
    const text = encodeMessage(eventsMessages({}, events)[0]!);
    expect(typeof text).toBe("string");
    const delivery: DeliveryMessage = { v: 1, kind: "delivery", sink: "siem", attempt: 4, first_attempt_at: 1, reason: "503", count: 1, ndjson: JSON.stringify(events[0]) };
    const idE = `ev-${uniq()}`;
    const idD = `de-${uniq()}`;
    const res = await runQueue(DLQ, [{ id: idE, body: text, attempts: 61 }, { id: idD, body: delivery, attempts: 61 }], env);
    expect(res.explicitAcks.sort()).toEqual([idD, idE].sort());
    expect(res.retryMessages).toEqual([]);

    const day = eventDay(Date.now());
    const objE = await env.ARCHIVE.get(`dlq-queue/events/${day}/${idE}.json`);
    const objD = await env.ARCHIVE.get(`dlq-queue/deliveries/${day}/${idD}.json`);
    const recE = (await objE!.json()) as QueueDeadLetter;
    const recD = (await objD!.json()) as QueueDeadLetter;
    expect(recE).toMatchObject({ v: 1, origin: "events", dlq: DLQ, id: idE, attempts: 61, timestamp: "2026-11-01T12:00:00.000Z", count: 3 });
    expect(recE.body).toBe(text);
    expect(recD).toMatchObject({ origin: "deliveries", attempts: 61, count: 1, body: delivery });

    // visible through GET /v1/dlq (the npm run dlq CLI) and /v1/dlq/object
    const list = (await (await callWorker(env, "/v1/dlq?sink=queue:events")).json()) as { dead: DeadLetterInfo[] };
    expect(list.dead.find((d) => d.key.endsWith(`/${idE}.json`))).toMatchObject({ sink: "queue:events", count: 3, attempts: 61 });
    const all = (await (await callWorker(env, "/v1/dlq")).json()) as { dead: DeadLetterInfo[] };
    expect(all.dead.map((d) => d.key)).toEqual(expect.arrayContaining([`dlq-queue/events/${day}/${idE}.json`, `dlq-queue/deliveries/${day}/${idD}.json`]));
    const shown = (await (await callWorker(env, `/v1/dlq/object/${encodeURIComponent(`dlq-queue/deliveries/${day}/${idD}.json`)}`)).json()) as QueueDeadLetter;
    expect(shown.body).toEqual(delivery);

    // replay: each body back to its own queue, unchanged (EVENTS text stays text), then removed
    const EVENTS = captureQueue();
    const DELIVERIES = captureQueue();
    const e = { ...env, EVENTS, DELIVERIES } as unknown as Env;
    const keys = [`dlq-queue/events/${day}/${idE}.json`, `dlq-queue/deliveries/${day}/${idD}.json`];
    const rep = await callWorker(e, "/v1/dlq/replay", { method: "POST", body: JSON.stringify({ keys }) });
    expect(rep.status).toBe(200);
    expect(await rep.json()).toMatchObject({ failed: [], events: 4 });
    expect(EVENTS.sent).toEqual([{ body: text, contentType: "text" }]);
    expect(DELIVERIES.sent).toEqual([{ body: delivery, contentType: "json" }]);
    for (const k of keys) expect(await env.ARCHIVE.head(k)).toBeNull();
  });

  it("does not ack a message whose R2 write failed: it comes back with the backoff", async () => {
    const failing = { put: async () => { throw new Error("R2 unavailable"); } };
    const e = { ...env, ARCHIVE: failing } as unknown as Env;
    const res = await runQueue(DLQ, [{ id: `x-${uniq()}`, body: "{}", attempts: 3 }], e);
    expect(res.explicitAcks).toEqual([]);
    expect(res.retryMessages).toHaveLength(1);
    expect(Object.values(res.delays)).toEqual([20]);
  });
});

/**
 * An EVENTS message text with one small event and `big` events too large for a message, as ingest
 * sends it: the spill objects are written to R2 first (spill/<uid>.json).
 */
async function spilledMessage(big: number): Promise<{ text: string; spill: { key: string; line: string }[] }> {
  const [small, ...rest] = uniqueFixtureEvents(["falco"]).slice(0, big + 1);
  const p = new Packer();
  const out: EventsMessage[] = [];
  const spill: { key: string; line: string }[] = [];
  for (const e of rest) {
    const ev = { ...e, metadata: { ...e.metadata, uid: `dlq-spill-${uniq()}` }, unmapped: { blob: "s".repeat(150_000) } } as OcsfEvent;
    const sp = p.add({ event: ev, sinks: ["archive"] }, out);
    if (sp) spill.push(sp);
  }
  p.add({ event: small!, sinks: ["archive"] }, out);
  p.flush(out);
  expect(out).toHaveLength(1);
  for (const sp of spill) await env.ARCHIVE.put(sp.key, sp.line);
  return { text: encodeMessage(out[0]!), spill };
}

/** The DLQ consumer on one batch, with a budget for referenced objects kept inside the record. */
async function deadLetter(id: string, body: unknown, inlineBytes?: number): Promise<QueueDeadLetter> {
  const batch = createMessageBatch(DLQ, [{ id, timestamp: new Date(), attempts: 61, body }]);
  await consumeDeadLetterQueue(batch, env.ARCHIVE, Date.now, inlineBytes);
  const obj = await env.ARCHIVE.get(`dlq-queue/${typeof body === "string" ? "events" : "deliveries"}/${eventDay(Date.now())}/${id}.json`);
  return (await obj!.json()) as QueueDeadLetter;
}

async function replay(key: string, e: Env): Promise<{ status: number; body: { failed: unknown[]; events: number } }> {
  const rep = await callWorker(e, "/v1/dlq/replay", { method: "POST", body: JSON.stringify({ keys: [key] }) });
  return { status: rep.status, body: (await rep.json()) as { failed: unknown[]; events: number } };
}

describe("queue dead letters are self-contained", () => {
  it("an EVENTS message's spilled events are kept in the record; after spill/ expired, replay re-spills them and the consumer reads every event", async () => {
    const { text, spill } = await spilledMessage(2);
    const id = `sp-${uniq()}`;
    const rec = await deadLetter(id, text);
    expect(rec.body).toBe(text);
    expect(rec.objects).toEqual(spill.map((sp) => ({ key: sp.key, text: sp.line })));
    expect(rec.missing).toBeUndefined();
    // the lifecycle rule deletes spill/ long before the record is replayed
    for (const sp of spill) await env.ARCHIVE.delete(sp.key);

    const EVENTS = captureQueue();
    const key = `dlq-queue/events/${eventDay(Date.now())}/${id}.json`;
    const r = await replay(key, { ...env, EVENTS } as unknown as Env);
    expect(r).toMatchObject({ status: 200, body: { failed: [], events: 3 } });
    expect(EVENTS.sent).toEqual([{ body: text, contentType: "text" }]);
    const lines = await messageLines(decodeMessage(EVENTS.sent[0]!.body)!, env.ARCHIVE);
    expect(lines).toHaveLength(3);
    expect(lines.filter((l) => l.length > 150_000)).toHaveLength(2);
    expect(await env.ARCHIVE.head(key)).toBeNull();
  });

  it("past the record's inline budget the objects are copied beside it (outside spill/), put back on replay, and the copies removed", async () => {
    const { text, spill } = await spilledMessage(2);
    const id = `cp-${uniq()}`;
    const rec = await deadLetter(id, text, 200_000); // room for one spilled event inline
    expect(rec.objects).toHaveLength(2);
    expect(rec.objects![0]).toEqual({ key: spill[0]!.key, text: spill[0]!.line });
    const copy = rec.objects![1]!.copy!;
    expect(copy).toBe(`dlq-queue-objects/events/${eventDay(Date.now())}/${id}/${spill[1]!.key}`);
    expect(await (await env.ARCHIVE.get(copy))!.text()).toBe(spill[1]!.line);
    for (const sp of spill) await env.ARCHIVE.delete(sp.key);

    const r = await replay(`dlq-queue/events/${eventDay(Date.now())}/${id}.json`, { ...env, EVENTS: captureQueue() } as unknown as Env);
    expect(r.status).toBe(200);
    for (const sp of spill) expect(await (await env.ARCHIVE.get(sp.key))!.text()).toBe(sp.line);
    expect(await env.ARCHIVE.head(copy)).toBeNull();
  });

  it("a spilled event already gone is named in `missing`; replay sends the others (the message would fail on it for ever)", async () => {
    const { text, spill } = await spilledMessage(2);
    await env.ARCHIVE.delete(spill[0]!.key);
    const id = `mi-${uniq()}`;
    const rec = await deadLetter(id, text);
    expect(rec.missing).toEqual([spill[0]!.key]);
    expect(rec.objects).toEqual([{ key: spill[1]!.key, text: spill[1]!.line }]);
    await env.ARCHIVE.delete(spill[1]!.key);

    const EVENTS = captureQueue();
    expect((await replay(`dlq-queue/events/${eventDay(Date.now())}/${id}.json`, { ...env, EVENTS } as unknown as Env)).status).toBe(200);
    const sent = decodeMessage(EVENTS.sent[0]!.body)!;
    expect(sent).toMatchObject({ count: 2, spill: [spill[1]!.key] });
    expect(await messageLines(sent, env.ARCHIVE)).toHaveLength(2);
  });

  it("reading the objects fails: the message comes back with the backoff; from attempt 5 on it is kept with the pointers only", async () => {
    const { text } = await spilledMessage(1);
    // R2 answers puts but no get (as when an invocation's subrequests run out)
    const noGets = new Proxy(env.ARCHIVE, {
      get(target, prop) {
        if (prop === "get") return () => Promise.reject(new Error("R2 get failed: 503"));
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const e = { ...env, ARCHIVE: noGets } as unknown as Env;
    const early = `og-${uniq()}`;
    const r1 = await runQueue(DLQ, [{ id: early, body: text, attempts: 4 }], e);
    expect(r1.explicitAcks).toEqual([]);
    expect(r1.retryMessages.map((m) => m.msgId)).toEqual([early]);
    expect(await env.ARCHIVE.head(`dlq-queue/events/${eventDay(Date.now())}/${early}.json`)).toBeNull();

    const late = `og-${uniq()}`;
    const r5 = await runQueue(DLQ, [{ id: late, body: text, attempts: 5 }], e);
    expect(r5.explicitAcks).toEqual([late]);
    const rec = (await (await env.ARCHIVE.get(`dlq-queue/events/${eventDay(Date.now())}/${late}.json`))!.json()) as QueueDeadLetter;
    expect(rec.body).toBe(text);
    expect(rec.objects).toBeUndefined();
    expect(rec.objects_error).toMatch(/R2 get failed: 503.*pointers only/);
  });

  it("a DELIVERIES message's parked batch (deliveries/...) is kept in the record and put back on replay", async () => {
    const events = uniqueFixtureEvents(["falco"]).slice(0, 2);
    const ref = `deliveries/siem/${uniq()}.ndjson`;
    const ndjson = events.map((e) => JSON.stringify(e)).join("\n");
    await env.ARCHIVE.put(ref, ndjson);
    const delivery: DeliveryMessage = { v: 1, kind: "delivery", sink: "siem", attempt: 9, first_attempt_at: 1, reason: "503", count: 2, ref };
    const id = `dr-${uniq()}`;
    const rec = await deadLetter(id, delivery);
    expect(rec.objects).toEqual([{ key: ref, text: ndjson }]);
    await env.ARCHIVE.delete(ref);
    const DELIVERIES = captureQueue();
    expect((await replay(`dlq-queue/deliveries/${eventDay(Date.now())}/${id}.json`, { ...env, DELIVERIES } as unknown as Env)).status).toBe(200);
    expect(DELIVERIES.sent).toEqual([{ body: delivery, contentType: "json" }]);
    const back = (await env.ARCHIVE.get(ref))!;
    expect(await back.text()).toBe(ndjson);
    expect(back.httpMetadata?.contentType).toBe("application/x-ndjson");
  });
});

describe("main consumer with a config that does not load", () => {
  it("hands every message back with the backoff of its attempt (5 s doubling, 1 h cap), nothing acked", async () => {
    const events = uniqueFixtureEvents(["falco"]).slice(0, 2);
    const text = encodeMessage(eventsMessages({}, events)[0]!);
    const e = { ...env, TRIBUTARY_CONFIG: "{ not json" } as unknown as Env;
    const res = await runQueue(EVENTS_QUEUE, [{ id: "a1", body: text, attempts: 1 }, { id: "a4", body: text, attempts: 4 }, { id: "a30", body: text, attempts: 30 }], e);
    expect(res.explicitAcks).toEqual([]);
    expect(res.retryMessages.map((r) => r.msgId).sort()).toEqual(["a1", "a30", "a4"]);
    expect(res.delays).toEqual({ a1: 5, a4: 40, a30: 3600 });
  });
});
