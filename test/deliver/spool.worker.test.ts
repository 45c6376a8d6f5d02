// The spool inside workerd: a Falco alert whose request the events queue refuses is written to R2
// (spool/...) and answered 202 `spooled: 1` (Falco ignores status codes and sends each alert once);
// the scheduled handler's every-minute drain (or `npm run dlq -- spool --drain`) sends it back to the queue, the consumer archives it, and
// its uid is in the archive exactly once. A later successful request drains the spool too. With R2
// failing as well, the answer is 503 + Retry-After and nothing is kept.
import { env, createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { encodeMessage } from "../../src/deliver/enqueue";
import { SPOOL_CRON, SPOOL_PREFIX, type SpoolRecord } from "../../src/deliver/spool";
import { CaptureQueue, call, keys, post, spoolFailing } from "../routes/helpers";
import { EVENTS_QUEUE, callWorker, runBatch } from "../support/delivery";
import { readArchive } from "../support/archive";
import { fixture } from "../support/fixtures";
import { parsePrometheus, sampleValue, type Family } from "../ops/prom";

const run = crypto.randomUUID().slice(0, 8);
let seq = 0;

/** A Falco alert of its own (a distinct time gives a distinct metadata.uid). */
function alert(): string {
  const base = JSON.parse(fixture("falco/terminal-shell-in-container__falco-docs.json")) as Record<string, unknown>;
  return JSON.stringify({ ...base, time: new Date(Date.UTC(2026, 5, 1, 0, 0, 0, ++seq)).toISOString(), output: `${String(base.output)} run=${run}` });
}

const refusing = () => new CaptureQueue({ failOnCall: 1, error: "Queue sendBatch failed: Too Many Requests" });
const uidsIn = (q: CaptureQueue) => q.events().map((e) => (e.metadata as { uid: string }).uid);

/** Posts one alert as Falco's http_output does (one alert per POST, to the Falcosidekick path). */
const postAlert = (text: string, requestId: string, queue: CaptureQueue, archive?: R2Bucket) =>
  call(post("/", text, { "content-type": "application/json", "x-request-id": requestId }), { queue, ...(archive ? { archive } : {}) });

/** The Worker's scheduled handler with the spool cron and this queue as EVENTS. */
async function cronDrain(queue: CaptureQueue): Promise<void> {
  const e = { ...env, TRIBUTARY_CONFIG: "", TRIBUTARY_DEV: "true", EVENTS: queue } as unknown as Env;
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: SPOOL_CRON, scheduledTime: Date.now() }), e, ctx);
  await waitOnExecutionContext(ctx);
}

/** GET /metrics (open in development), parsed. */
async function metrics(): Promise<Map<string, Family>> {
  const e = { ...env, TRIBUTARY_CONFIG: "", TRIBUTARY_DEV: "true" } as unknown as Env;
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request("http://tributary/metrics"), e, ctx);
  await waitOnExecutionContext(ctx);
  return parsePrometheus(await res.text());
}

describe("the spool", () => {
  it("queue refused: 202 spooled, the scheduled drain queues it back, the consumer archives its uid exactly once", async () => {
    const before = await metrics();
    const requestId = `spool-${run}-a`;
    const r = await postAlert(alert(), requestId, refusing());
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: 1, rejected: 0, errors: [], spooled: 1 });

    const spooled = (await keys(env.ARCHIVE, SPOOL_PREFIX)).filter((k) => k.includes(requestId));
    expect(spooled).toHaveLength(1);
    expect(spooled[0]).toMatch(new RegExp(`^spool/\\d{8}/${requestId}-[0-9a-f]{12}-0\\.json$`));
    const rec = (await (await env.ARCHIVE.get(spooled[0]!))!.json()) as SpoolRecord;
    expect(rec).toMatchObject({ v: 1, request_id: requestId, count: 1, reason: "Queue sendBatch failed: Too Many Requests" });
    expect(rec.messages).toHaveLength(1);
    const uid = (JSON.parse(rec.messages[0]!.split("\n")[1]!) as { metadata: { uid: string } }).metadata.uid;

    // the every-minute cron: the spool goes back to the queue, then it is gone
    const queue = new CaptureQueue();
    await cronDrain(queue);
    expect(uidsIn(queue)).toEqual([uid]);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual([]);
    // what the queue got is what ingest would have sent: the consumer archives it
    const res = await runBatch(EVENTS_QUEUE, queue.messages.map(encodeMessage), { ...env, TRIBUTARY_CONFIG: "" } as unknown as Env);
    expect(res.retried).toEqual([]);
    const archived = (await readArchive(env.ARCHIVE)).flatMap((o) => o.events).filter((e) => (e.metadata as { uid: string }).uid === uid);
    expect(archived).toHaveLength(1);

    // a second drain finds nothing to send
    const again = new CaptureQueue();
    await cronDrain(again);
    expect(again.calls).toBe(0);

    const after = await metrics();
    const grew = (name: string) => sampleValue(after, name) - sampleValue(before, name);
    expect(grew("tributary_spool_events_spooled_total")).toBe(1);
    expect(grew("tributary_spool_events_drained_total")).toBe(1);
    expect(sampleValue(after, "tributary_spool_backlog_objects")).toBe(0);
  });

  it("a drain that stops at a refusing queue keeps the object; draining an object twice queues the same uid (sinks deduplicate)", async () => {
    const requestId = `spool-${run}-b`;
    expect((await postAlert(alert(), requestId, refusing())).body.spooled).toBe(1);
    const [key] = (await keys(env.ARCHIVE, SPOOL_PREFIX)).filter((k) => k.includes(requestId));
    const text = await (await env.ARCHIVE.get(key!))!.text();

    const stillDown = refusing();
    await cronDrain(stillDown);
    expect(stillDown.messages).toEqual([]);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual([key]);
    // `npm run dlq -- spool` lists it; `-- spool --drain` sends it back now
    const listed = await callWorker({ ...env, TRIBUTARY_CONFIG: "" } as unknown as Env, "/v1/dlq/spool");
    expect(await listed.json()).toMatchObject({ objects: 1, events: 1, more: false, spool: [{ key, events: 1, messages: 1, reason: "queue refused: Queue sendBatch failed: Too Many Requests" }] });

    const first = new CaptureQueue();
    const drained = await callWorker({ ...env, TRIBUTARY_CONFIG: "", EVENTS: first } as unknown as Env, "/v1/dlq/spool/drain", { method: "POST" });
    expect(await drained.json()).toEqual({ objects: 1, events: 1, left: 0, more: false });
    // as if a second drain had read the object before the first deleted it
    await env.ARCHIVE.put(key!, text);
    const second = new CaptureQueue();
    await cronDrain(second);
    expect(uidsIn(second)).toEqual(uidsIn(first));
    expect(uidsIn(first)).toHaveLength(1);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual([]);
  });

  it("the next request the queue takes drains the spool after its answer", async () => {
    const spooledText = alert();
    expect((await postAlert(spooledText, `spool-${run}-c`, refusing())).body.spooled).toBe(1);
    const queue = new CaptureQueue();
    const r = await postAlert(alert(), `spool-${run}-d`, queue);
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: 1, rejected: 0, errors: [] });
    // its own alert, then (waitUntil, after the answer) the spooled one
    expect(queue.count()).toBe(2);
    expect(new Set(uidsIn(queue)).size).toBe(2);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual([]);
  });

  it("queue refused and the spool write failing too: 503 with Retry-After, nothing accepted, nothing spooled", async () => {
    const queue = new CaptureQueue({ failOnCall: 1, error: "Queue sendBatch failed: Internal Server Error" });
    const r = await postAlert(alert(), `spool-${run}-e`, queue, spoolFailing());
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(r.body.accepted).toBe(0);
    expect(r.body.spooled).toBeUndefined();
    expect(r.body.errors[0]!.reason).toMatch(/Internal Server Error.*the spool could not keep them.*send the request again/);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual([]);
  });
});
