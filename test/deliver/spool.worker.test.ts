// The spool inside workerd: a Falco alert whose request the events queue refuses is written to R2
// (spool/...) and answered 202 `spooled: 1` (Falco ignores status codes and sends each alert once);
// the scheduled handler's every-minute drain (or `npm run dlq -- spool --drain`) sends it back to the queue, the consumer archives it, and
// its uid is in the archive exactly once. A later successful request drains the spool too. With R2
// failing as well, the answer is 503 + Retry-After and nothing is kept.
import { env, createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { encodeMessage } from "../../src/deliver/enqueue";
import { countSpoolObjects, drainSpool, SPOOL_CRON, SPOOL_DRAIN_AFTER_INGEST, SPOOL_DRAIN_SCHEDULED, SPOOL_LEASE_MS, SPOOL_LEASE_PREFIX, SPOOL_PREFIX, SPOOL_UNREADABLE_PREFIX, type SpoolRecord } from "../../src/deliver/spool";
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

/** The Worker's scheduled handler with the spool cron (or another) and this queue as EVENTS. */
async function cronDrain(queue: CaptureQueue, cron = SPOOL_CRON): Promise<void> {
  const e = { ...env, TRIBUTARY_CONFIG: "", TRIBUTARY_DEV: "true", EVENTS: queue } as unknown as Env;
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron, scheduledTime: Date.now() }), e, ctx);
  await waitOnExecutionContext(ctx);
}

/** GET /metrics (open in development), parsed. */
async function metrics(): Promise<Map<string, Family>> {
  const res = await callWorker({ ...env, TRIBUTARY_CONFIG: "", TRIBUTARY_DEV: "true" } as unknown as Env, "/metrics");
  return parsePrometheus(await res.text());
}

describe("the spool", () => {
  it("a trigger without a cron (wrangler dev's bare /cdn-cgi/handler/scheduled) drains the spool too; the hourly cron does not", async () => {
    const requestId = `spool-${run}-bare`;
    expect((await postAlert(alert(), requestId, refusing())).status).toBe(202);
    const mine = async () => (await keys(env.ARCHIVE, SPOOL_PREFIX)).filter((k) => k.includes(requestId));
    expect(await mine()).toHaveLength(1);
    const hourly = new CaptureQueue();
    await cronDrain(hourly, "17 * * * *");
    expect(hourly.calls).toBe(0);
    expect(await mine()).toHaveLength(1);
    const bare = new CaptureQueue();
    await cronDrain(bare, "");
    expect(bare.events()).toHaveLength(1);
    expect(await mine()).toEqual([]);
  });
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

describe("the spool at scale", () => {
  // what an earlier test left in the spool (R2 is shared by this file's tests)
  beforeEach(async () => {
    const left = [...(await keys(env.ARCHIVE, SPOOL_PREFIX)), ...(await keys(env.ARCHIVE, SPOOL_LEASE_PREFIX))];
    for (let i = 0; i < left.length; i += 1000) await env.ARCHIVE.delete(left.slice(i, i + 1000));
  });

  /** `n` spool objects of one message each (the message text is its index), keys in index order. */
  async function fill(n: number, tag: string): Promise<string[]> {
    const made: string[] = [];
    for (let from = 0; from < n; from += 50) {
      const batch = Array.from({ length: Math.min(50, n - from) }, (_, j) => from + j);
      await Promise.all(
        batch.map((i) => {
          const key = `${SPOOL_PREFIX}20260601/${tag}-${String(i).padStart(5, "0")}-0.json`;
          made.push(key);
          const rec: SpoolRecord = { v: 1, request_id: tag, received_at: "2026-06-01T00:00:00.000Z", spooled_at: "2026-06-01T00:00:00.000Z", reason: "Too Many Requests", count: 1, messages: [`${tag}:${i}`] };
          return env.ARCHIVE.put(key, JSON.stringify(rec));
        }),
      );
    }
    return made.sort();
  }

  /** A queue that keeps the message texts it took (the spool's own texts, not ingest's format). */
  class TextQueue {
    texts: string[] = [];
    calls = 0;
    constructor(private refuseFrom = Number.POSITIVE_INFINITY) {}
    async sendBatch(batch: Iterable<{ body: unknown }>): Promise<void> {
      if (++this.calls >= this.refuseFrom) throw new Error("Queue sendBatch failed: Too Many Requests");
      for (const m of batch) this.texts.push(String(m.body));
    }
  }

  /** ARCHIVE with its calls counted (the subrequests a drain makes to R2). */
  function counted(bucket: R2Bucket): { bucket: R2Bucket; calls: () => number } {
    let n = 0;
    const b = {
      list: (o?: R2ListOptions) => (n++, bucket.list(o)),
      get: (k: string) => (n++, bucket.get(k)),
      head: (k: string) => (n++, bucket.head(k)),
      put: (k: string, v: string, o?: R2PutOptions) => (n++, bucket.put(k, v, o)),
      delete: (k: string | string[]) => (n++, bucket.delete(k)),
    } as unknown as R2Bucket;
    return { bucket: b, calls: () => n };
  }

  it("one cron run drains more than 100 objects (250) in key order, all of them, and the backlog is 0", async () => {
    const made = await fill(250, `scale-${run}-a`);
    const queue = new TextQueue();
    await cronDrain(queue as unknown as CaptureQueue);
    expect(queue.calls).toBe(250);
    expect(new Set(queue.texts).size).toBe(250);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual([]);
    expect(made).toHaveLength(250);
    const m = await metrics();
    expect(sampleValue(m, "tributary_spool_backlog_objects")).toBe(0);
    expect(sampleValue(m, "tributary_spool_backlog_more")).toBe(0);
  });

  it("a drain stays within its subrequest budget (claim + get + sendBatch + delete per object, one per list page) and leaves the rest", async () => {
    const made = await fill(40, `scale-${run}-b`);
    const r2 = counted(env.ARCHIVE);
    const queue = new TextQueue();
    const r = await drainSpool(r2.bucket, queue, { ...SPOOL_DRAIN_SCHEDULED, subrequests: 1 + 4 * 25 + 3 });
    expect(r).toMatchObject({ objects: 25, events: 25, left: 15, more: false });
    expect(r2.calls() + queue.calls).toBeLessThanOrEqual(1 + 4 * 25 + 3);
    // the oldest 25 went, in key order (four lanes start them in order)
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual(made.slice(25));
  });

  it("a drain stops starting objects when its time budget is spent (a clock that moves 1 s a look)", async () => {
    await fill(20, `scale-${run}-f`);
    let t = 0;
    const queue = new TextQueue();
    const r = await drainSpool(env.ARCHIVE, queue, { ...SPOOL_DRAIN_SCHEDULED, ms: 5_000, lanes: 1 }, { now: () => (t += 1000) });
    // the deadline is 1 s + 5 s; the clock is read before the list (2 s) and before each object: 3, 4, 5 s start one, 6 s stops
    expect(r.objects).toBe(3);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toHaveLength(17);
  });

  it("a refusal stops the drain: nothing after it is started, and a refused object stays", async () => {
    await fill(30, `scale-${run}-c`);
    const queue = new TextQueue(6);
    const r = await drainSpool(env.ARCHIVE, queue, SPOOL_DRAIN_SCHEDULED);
    expect(r.error).toMatch(/Too Many Requests/);
    // the first refusal is call 6; the (at most 3) other lanes' objects in flight may be refused too, none sent after it
    expect(r.objects).toBe(5);
    expect(queue.calls).toBeLessThanOrEqual(5 + SPOOL_DRAIN_SCHEDULED.lanes);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toHaveLength(25);
    // the objects not sent are not held: their claims were given back for the next drain
    expect(await keys(env.ARCHIVE, SPOOL_LEASE_PREFIX)).toEqual([]);
  });

  it("two after-request drains at once start at different places and send no object twice", async () => {
    await fill(60, `scale-${run}-d`);
    const a = new TextQueue();
    const b = new TextQueue();
    const [ra, rb] = await Promise.all([
      drainSpool(env.ARCHIVE, a, SPOOL_DRAIN_AFTER_INGEST, { scatter: () => 0.1 }),
      drainSpool(env.ARCHIVE, b, SPOOL_DRAIN_AFTER_INGEST, { scatter: () => 0.6 }),
    ]);
    expect(ra.objects).toBe(3);
    expect(rb.objects).toBe(3);
    expect(a.texts.filter((t) => b.texts.includes(t))).toEqual([]);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toHaveLength(54);
    // without scatter both list the same oldest three: each is sent by one of them (the other finds it claimed)
    const c = new TextQueue();
    const d = new TextQueue();
    await Promise.all([drainSpool(env.ARCHIVE, c, SPOOL_DRAIN_AFTER_INGEST), drainSpool(env.ARCHIVE, d, SPOOL_DRAIN_AFTER_INGEST)]);
    expect(c.texts.filter((t) => d.texts.includes(t))).toEqual([]);
    expect(c.texts.length + d.texts.length).toBe(3);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toHaveLength(51);
  });

  it("two full drains at once (the cron's and an admin drain) send each object exactly once, and leave no claim behind", async () => {
    const made = await fill(40, `scale-${run}-g`);
    const a = new TextQueue();
    const b = new TextQueue();
    const [ra, rb] = await Promise.all([drainSpool(env.ARCHIVE, a, SPOOL_DRAIN_SCHEDULED), drainSpool(env.ARCHIVE, b, SPOOL_DRAIN_SCHEDULED)]);
    const sent = [...a.texts, ...b.texts];
    expect(sent).toHaveLength(40);
    expect(new Set(sent).size).toBe(40);
    expect(ra.objects + rb.objects).toBe(40);
    expect(a.texts.length).toBeGreaterThan(0);
    expect(b.texts.length).toBeGreaterThan(0);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual([]);
    expect(await keys(env.ARCHIVE, SPOOL_LEASE_PREFIX)).toEqual([]);
    expect(made).toHaveLength(40);
  });

  it("a drain skips an object another drain holds, and takes over a claim older than SPOOL_LEASE_MS (its drain died)", async () => {
    const [held, stale] = await fill(3, `scale-${run}-h`);
    const t = Date.now();
    await env.ARCHIVE.put(`${SPOOL_LEASE_PREFIX}${held!}`, "", { customMetadata: { until: String(t + SPOOL_LEASE_MS) } });
    await env.ARCHIVE.put(`${SPOOL_LEASE_PREFIX}${stale!}`, "", { customMetadata: { until: String(t - 1) } });
    const queue = new TextQueue();
    const r = await drainSpool(env.ARCHIVE, queue, SPOOL_DRAIN_SCHEDULED, { now: () => t });
    expect(r).toMatchObject({ objects: 2, left: 1 });
    expect(queue.texts.sort()).toEqual([`scale-${run}-h:1`, `scale-${run}-h:2`]);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual([held]);
    // the stale claim was taken over and went with its object; the live one is untouched
    expect(await keys(env.ARCHIVE, SPOOL_LEASE_PREFIX)).toEqual([`${SPOOL_LEASE_PREFIX}${held!}`]);
    expect(stale).toBeDefined();
  });

  it("an object R2 does not give (get fails, body breaks off) stays and its claim is given back at once: the next drain sends it", async () => {
    const [ok, failing, broken] = await fill(3, `scale-${run}-u`);
    const bucket = {
      list: (o?: R2ListOptions) => env.ARCHIVE.list(o),
      head: (k: string) => env.ARCHIVE.head(k),
      put: (k: string, v: string, o?: R2PutOptions) => env.ARCHIVE.put(k, v, o),
      delete: (k: string | string[]) => env.ARCHIVE.delete(k),
      get: async (k: string) => {
        if (k === failing) throw new Error("get: We encountered an internal error. Please try again.");
        const o = await env.ARCHIVE.get(k);
        if (k !== broken || !o) return o;
        return { customMetadata: o.customMetadata, arrayBuffer: () => Promise.reject(new Error("Network connection lost.")) };
      },
    } as unknown as R2Bucket;
    const t = Date.now();
    const queue = new TextQueue();
    expect(await drainSpool(bucket, queue, SPOOL_DRAIN_SCHEDULED, { now: () => t })).toMatchObject({ objects: 1, left: 2 });
    expect(queue.texts).toEqual([`scale-${run}-u:0`]);
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual([failing, broken]);
    expect(await keys(env.ARCHIVE, SPOOL_LEASE_PREFIX)).toEqual([]); // given back, not held for SPOOL_LEASE_MS
    // the next drain, well within SPOOL_LEASE_MS, reads and sends them
    expect(await drainSpool(env.ARCHIVE, queue, SPOOL_DRAIN_SCHEDULED, { now: () => t + 1000 })).toMatchObject({ objects: 2, left: 0 });
    expect(queue.texts.sort()).toEqual([0, 1, 2].map((i) => `scale-${run}-u:${i}`));
    expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual([]);
    expect(ok).toBeDefined();
  });

  it("an object that is no spool record is set aside byte for byte (never lost), the others drained, and no drain reads it again", async () => {
    const good = await fill(2, `scale-${run}-v`);
    const day = `${SPOOL_PREFIX}20260601/scale-${run}-v`;
    const corrupt: [string, Uint8Array][] = [
      [`${day}-00000-1.json`, new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])], // not UTF-8
      [`${day}-00000-2.json`, new TextEncoder().encode('{"v":1,"messages":["cut')], // not JSON
      [`${day}-00000-3.json`, new TextEncoder().encode('{"v":1,"count":1,"messages":"one"}')], // not a spool record's shape
    ];
    for (const [k, b] of corrupt) await env.ARCHIVE.put(k, b, { customMetadata: { events: "1", messages: "1" } });
    const aside = corrupt.map(([k]) => `${SPOOL_UNREADABLE_PREFIX}${k}`).sort();
    try {
      // setting aside fails: each stays, its claim given back (tried again by the next drain)
      const refusing = { ...counted(env.ARCHIVE).bucket, get: (k: string) => env.ARCHIVE.get(k), put: (k: string, v: string, o?: R2PutOptions) => (k.startsWith(SPOOL_UNREADABLE_PREFIX) ? Promise.reject(new Error("put: internal error")) : env.ARCHIVE.put(k, v, o)) } as unknown as R2Bucket;
      const queue = new TextQueue();
      expect(await drainSpool(refusing, queue, SPOOL_DRAIN_SCHEDULED)).toMatchObject({ objects: 2, left: 3 });
      expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual(corrupt.map(([k]) => k).sort());
      expect(await keys(env.ARCHIVE, SPOOL_LEASE_PREFIX)).toEqual([]);
      expect(await keys(env.ARCHIVE, SPOOL_UNREADABLE_PREFIX)).toEqual([]);
      // then it works: set aside with the same bytes and metadata, gone from the spool with its claim
      const r = await drainSpool(env.ARCHIVE, queue, SPOOL_DRAIN_SCHEDULED);
      expect(r).toMatchObject({ objects: 0, left: 0 });
      expect(r.error).toBeUndefined(); // a bad record is no queue refusal
      expect(queue.texts.sort()).toEqual(good.map((_, i) => `scale-${run}-v:${i}`));
      expect(await keys(env.ARCHIVE, SPOOL_PREFIX)).toEqual([]);
      expect(await keys(env.ARCHIVE, SPOOL_LEASE_PREFIX)).toEqual([]);
      expect(await keys(env.ARCHIVE, SPOOL_UNREADABLE_PREFIX)).toEqual(aside);
      for (const [k, b] of corrupt) {
        const o = (await env.ARCHIVE.get(`${SPOOL_UNREADABLE_PREFIX}${k}`))!;
        expect(new Uint8Array(await o.arrayBuffer())).toEqual(b);
        expect(o.customMetadata).toMatchObject({ events: "1", messages: "1", unreadable: expect.stringMatching(/^not a spool record: /) as unknown as string });
      }
      // no spin: the next drain lists an empty spool and reads nothing
      const r2 = counted(env.ARCHIVE);
      expect(await drainSpool(r2.bucket, queue, SPOOL_DRAIN_SCHEDULED)).toMatchObject({ objects: 0, left: 0 });
      expect(r2.calls()).toBe(1);
    } finally {
      await env.ARCHIVE.delete(aside);
    }
  });

  it("the backlog gauge counts past 1,000 objects (1,050, exact), with _more 0", async () => {
    await fill(1050, `scale-${run}-e`);
    await cronDrain(refusing());
    const m = await metrics();
    expect(sampleValue(m, "tributary_spool_backlog_objects")).toBe(1050);
    expect(sampleValue(m, "tributary_spool_backlog_more")).toBe(0);
    // counted over fewer pages than there are, it says so
    expect(await countSpoolObjects(env.ARCHIVE, 1)).toEqual({ objects: 1000, more: true });
    // its lists ask for no custom metadata (with it R2 may put fewer keys on a page, so the pages would count fewer)
    const asked: R2ListOptions[] = [];
    const watched = { list: (o: R2ListOptions) => (asked.push(o), env.ARCHIVE.list(o)) } as unknown as R2Bucket;
    expect(await countSpoolObjects(watched, 2)).toEqual({ objects: 1050, more: false });
    expect(asked).toHaveLength(2);
    expect(asked.every((o) => o.include === undefined && o.prefix === SPOOL_PREFIX)).toBe(true);
  });
});
