// S3 sink against s3rver on 127.0.0.1 (real S3 REST API with SigV4 checks), through the gate for
// failures: every object is read back and its events compared with what was sent.
import { describe, it, expect, inject, beforeAll, vi } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { s3Driver, s3Schema, type S3Config, type TimedContext } from "../../src/sinks/s3";
import { eventDay } from "../../src/sinks/objects";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fixtureEvents, plain, NOW } from "../support/siem-servers";
import { freshBucket, readBucket, ndjsonEvents, uidOfPlain } from "../support/s3-read";
import { gateControl } from "../support/gate-client";

const endpoint = inject("s3Endpoint");
const gate = inject("s3Gate");
const ctx: TimedContext = { env: { S3_SECRET: "S3RVER" }, now: NOW, timeoutMs: 10_000 };

function config(bucket: string, over: Record<string, unknown> = {}): S3Config {
  return s3Schema.parse({ bucket, endpoint, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "S3_SECRET" }, ...over });
}

async function deliver(events: OcsfEvent[], cfg: S3Config, c: TimedContext = ctx) {
  const reqs = await s3Driver.encode(events, cfg, c);
  const out = [];
  for (const req of reqs) {
    const res = await s3Driver.send!(req, cfg, c);
    out.push({ req, res, outcome: s3Driver.classify(res, req, cfg).outcome });
  }
  return out;
}

let events: OcsfEvent[];
beforeAll(() => {
  events = fixtureEvents();
});

describe("s3 sink: encoding", () => {
  it("groups by class and event day (Hive keys), gzip NDJSON, deterministic batch ids", async () => {
    const cfg = config("bucket-name");
    const reqs = await s3Driver.encode(events, cfg, ctx);
    const covered = reqs.flatMap((r) => r.events).sort((a, b) => a - b);
    expect(covered).toEqual(events.map((_, i) => i));
    for (const r of reqs) {
      const m = /^ocsf\/class_uid=(\d+)\/event_day=(\d{8})\/[0-9a-f]{28}\.ndjson\.gz$/.exec(r.url);
      expect(m, r.url).not.toBeNull();
      for (const i of r.events) {
        expect(events[i]!.class_uid).toBe(Number(m![1]));
        expect(eventDay(events[i]!.time)).toBe(m![2]);
      }
      expect(r.method).toBe("PUT");
    }
    // the same events in another order: the same keys; other events: other keys
    const again = await s3Driver.encode([...events].reverse(), cfg, ctx);
    expect(again.map((r) => r.url).sort()).toEqual(reqs.map((r) => r.url).sort());
    const fewer = await s3Driver.encode(events.slice(1), cfg, ctx);
    expect(fewer.map((r) => r.url)).not.toEqual(reqs.map((r) => r.url));
  });

  it("writes the delivered lines as they are (no event serialized again); without lines, the same keys and bodies", async () => {
    const cfg = config("bucket-name");
    const lines = events.map((e) => JSON.stringify(e));
    const stringify = vi.spyOn(JSON, "stringify");
    let reqs: Awaited<ReturnType<typeof s3Driver.encode>>;
    try {
      reqs = await s3Driver.encode(events, cfg, ctx, lines);
      expect(stringify).not.toHaveBeenCalled();
    } finally {
      stringify.mockRestore();
    }
    for (const r of reqs) expect(strFromU8(gunzipSync(r.body as Uint8Array))).toBe(r.events.map((i) => lines[i] + "\n").join(""));
    const bare = await s3Driver.encode(events, cfg, ctx);
    expect(bare.map((r) => [r.url, r.events, strFromU8(gunzipSync(r.body as Uint8Array))])).toEqual(reqs.map((r) => [r.url, r.events, strFromU8(gunzipSync(r.body as Uint8Array))]));
  });

  it("uses the event's day, not the upload day, and honours the prefix", async () => {
    const e = { ...events[0]!, time: Date.UTC(2023, 4, 25, 23, 59, 59, 999) };
    const [req] = await s3Driver.encode([e], config("bucket-name", { prefix: "/security/ocsf/" }), { ...ctx, now: Date.UTC(2030, 0, 1) });
    expect(req!.url).toMatch(new RegExp(`^security/ocsf/class_uid=${e.class_uid}/event_day=20230525/`));
    const [bare] = await s3Driver.encode([e], config("bucket-name", { prefix: "" }), ctx);
    expect(bare!.url).toMatch(/^class_uid=\d+\/event_day=20230525\//);
  });

  it("rejects a bad config naming the field", () => {
    const r = s3Schema.safeParse({ bucket: "b", endpoint: "not a url", accessKeyId: "a", secretAccessKey: "s" });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join("."))).toEqual(expect.arrayContaining(["bucket", "endpoint"]));
  });
});

describe("s3 sink: PutObject against s3rver", () => {
  it("stores every event; each object reads back with exactly its events", async () => {
    const bucket = await freshBucket(endpoint, "all");
    const cfg = config(bucket);
    const sent = await deliver(events, cfg);
    for (const s of sent) expect(s.outcome, s.res.body).toEqual({ kind: "delivered" });
    const objects = await readBucket(endpoint, bucket, "", sent.length);
    expect(objects.map((o) => o.key)).toEqual(sent.map((s) => s.req.url).sort());
    const stored = objects.flatMap((o) => ndjsonEvents(o.bytes));
    expect(stored).toHaveLength(events.length);
    const byUid = new Map(stored.map((e) => [uidOfPlain(e), e]));
    expect(byUid.size).toBe(events.length);
    for (const e of events) expect(byUid.get(e.metadata.uid!)).toEqual(plain(e));
    for (const o of objects) {
      expect(o.contentType).toBe("application/gzip");
      const [, cls, day] = /class_uid=(\d+)\/event_day=(\d{8})/.exec(o.key)!;
      for (const e of ndjsonEvents(o.bytes)) {
        expect(e.class_uid).toBe(Number(cls));
        expect(eventDay(e.time as number)).toBe(day);
      }
    }
  });

  it("a batch delivered twice overwrites its objects instead of duplicating them", async () => {
    const bucket = await freshBucket(endpoint, "twice");
    const cfg = config(bucket);
    const sent = await deliver(events, cfg);
    const first = await readBucket(endpoint, bucket, "", sent.length);
    await deliver([...events].reverse(), cfg);
    const second = await readBucket(endpoint, bucket, "", sent.length);
    expect(second.map((o) => o.key)).toEqual(first.map((o) => o.key));
    expect(second.flatMap((o) => ndjsonEvents(o.bytes))).toHaveLength(events.length);
  });

  it("classifies the store's answers: unknown key, missing bucket and missing secret are rejected", async () => {
    const bucket = await freshBucket(endpoint, "errors");
    // s3rver checks the access key id (it does not recompute SigV4 signatures)
    const [badKey] = await deliver(events.slice(0, 1), config(bucket, { accessKeyId: "NOT-A-KEY" }));
    expect(badKey!.res.status).toBe(403);
    expect(badKey!.res.body).toMatch(/^InvalidAccessKeyId/);
    expect(badKey!.outcome.kind).toBe("reject");
    const [noBucket] = await deliver(events.slice(0, 1), config("no-such-bucket-here"));
    expect(noBucket!.res.status).toBe(404);
    expect(noBucket!.res.body).toMatch(/NoSuchBucket/);
    expect(noBucket!.outcome.kind).toBe("reject");
    const [noSecret] = await deliver(events.slice(0, 1), config(bucket), { ...ctx, env: {} });
    expect(noSecret!.outcome).toMatchObject({ kind: "reject", reason: expect.stringMatching(/S3_SECRET/) });
    expect(await readBucket(endpoint, bucket)).toEqual([]);
  });

  it("retries 503 SlowDown honouring Retry-After, and RequestTimeout even as a 400", async () => {
    const bucket = await freshBucket(endpoint, "slow");
    const cfg = config(bucket, { endpoint: gate });
    const xml = (code: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`;
    await gateControl.script(gate, bucket, [
      { status: 503, headers: { "content-type": "application/xml", "retry-after": "7" }, body: xml("SlowDown") },
      { status: 400, headers: { "content-type": "application/xml" }, body: xml("RequestTimeout") },
    ]);
    const [a] = await deliver(events.slice(0, 1), cfg);
    expect(a!.res.status).toBe(503);
    expect(a!.outcome).toMatchObject({ kind: "retry", afterMs: 7000 });
    const [b] = await deliver(events.slice(0, 1), cfg);
    expect(b!.res.body).toMatch(/^RequestTimeout/);
    expect(b!.outcome.kind).toBe("retry");
    // the gate's script is used up: the next attempt reaches s3rver
    const [c] = await deliver(events.slice(0, 1), cfg);
    expect(c!.outcome).toEqual({ kind: "delivered" });
    expect((await readBucket(endpoint, bucket, "", 1)).length).toBe(1);
  });

  it("a dropped connection or a hung store throws (a network error: the delivery layer retries)", async () => {
    const bucket = await freshBucket(endpoint, "down");
    const cfg = config(bucket, { endpoint: gate });
    await gateControl.script(gate, bucket, [{ drop: true }, { hang: true }]);
    const [req] = await s3Driver.encode(events.slice(0, 1), cfg, ctx);
    await expect(s3Driver.send!(req!, cfg, ctx)).rejects.toThrow();
    const short: TimedContext = { ...ctx, timeoutMs: 300 };
    await expect(s3Driver.send!(req!, cfg, short)).rejects.toThrow();
    const state = await gateControl.state(gate, bucket);
    expect(state.log.map((l) => l.action)).toEqual(["dropped", "hung"]);
    expect(await readBucket(endpoint, bucket)).toEqual([]);
  });
});
