// S3 sink batching by bytes (batch.maxBytes) through the delivery layer (deliverToSink), against
// s3rver on 127.0.0.1 behind the fault gate: a batch larger than maxBytes becomes several objects,
// each gzip NDJSON body within the limit, every event stored exactly once; the keys depend only on
// the events (not on their order), and a batch retried after a failure writes the same keys.
import { describe, it, expect, inject, beforeAll } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { parseConfig } from "../../src/config/load";
import { deliverToSink } from "../../src/deliver/deliver";
import type { Item } from "../../src/deliver/attempt";
import { parseItems } from "../../src/deliver/consumer";
import { classDayOf, eventDay } from "../../src/sinks/objects";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { manyEvents, NOW } from "../support/siem-servers";
import { freshBucket, readBucket, ndjsonEvents, uidOfPlain, type StoredObject } from "../support/s3-read";
import { gateControl, s3Error } from "../support/gate-client";
import { memoryDeps, drainScheduled } from "../support/memory-delivery";

const endpoint = inject("s3Endpoint");
const gate = inject("s3Gate");
const MAX_BYTES = 10_000;

function setup(bucket: string, batch: Record<string, number> = { maxBytes: MAX_BYTES }) {
  const cfg = parseConfig({
    sinks: { s3: { type: "s3", bucket, endpoint: gate, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "S3_SECRET" }, batch } },
    routes: [{ sinks: ["s3"] }],
  });
  return memoryDeps(cfg, { S3_SECRET: "S3RVER" }, NOW);
}

const itemsOf = (events: OcsfEvent[]): Item[] => events.map((event) => ({ event, line: JSON.stringify(event) }));
const ndjson = (o: StoredObject) => strFromU8(gunzipSync(o.bytes));
const uidsIn = (objects: StoredObject[]) => objects.flatMap((o) => ndjsonEvents(o.bytes)).map(uidOfPlain).sort();

let events: OcsfEvent[];
let uids: string[];
/** NDJSON bytes (line + newline) of each class/day partition. */
const partitionBytes = new Map<string, number>();
beforeAll(() => {
  events = manyEvents(400);
  uids = events.map((e) => e.metadata.uid!).sort();
  for (const e of events) partitionBytes.set(classDayOf(e), (partitionBytes.get(classDayOf(e)) ?? 0) + JSON.stringify(e).length + 1);
});

/** Delivers the events in one attempt, all accepted; returns the stored objects. */
async function deliverAll(bucket: string, list: OcsfEvent[]): Promise<StoredObject[]> {
  const { deps, sent } = setup(bucket);
  const r = await deliverToSink({ sink: "s3", items: itemsOf(list), attempt: 1, firstAttemptAt: NOW }, deps);
  expect(r).toMatchObject({ delivered: list.length, retried: 0, dead: 0 });
  expect(sent).toEqual([]);
  return readBucket(endpoint, bucket, "", r.requests);
}

describe("s3 sink: object bodies", () => {
  it("each object decompresses to exactly the delivered lines of its events, in uid order, each ended by a newline", async () => {
    // the items as the consumer holds them: the queue's lines, and the events parsed back from them
    const lines = events.slice(0, 120).map((e) => JSON.stringify(e));
    const items: Item[] = parseItems(lines.join("\n"));
    const bucket = await freshBucket(endpoint, "lines");
    const { deps } = setup(bucket, { maxBytes: 50_000 });
    const r = await deliverToSink({ sink: "s3", items, attempt: 1, firstAttemptAt: NOW }, deps);
    expect(r).toMatchObject({ delivered: lines.length, retried: 0, dead: 0 });
    const objects = await readBucket(endpoint, bucket, "", r.requests);
    expect(objects.length).toBe(r.requests);
    const uidOfLine = new Map(lines.map((l) => [l, (JSON.parse(l) as OcsfEvent).metadata.uid!]));
    const stored: string[] = [];
    for (const o of objects) {
      const text = ndjson(o);
      expect(text.endsWith("\n")).toBe(true);
      const got = text.slice(0, -1).split("\n");
      for (const line of got) expect(uidOfLine.has(line), line.slice(0, 80)).toBe(true);
      const order = got.map((l) => uidOfLine.get(l)!);
      expect(order).toEqual([...order].sort());
      stored.push(...got);
    }
    expect(stored.sort()).toEqual([...lines].sort());
  });
});

describe("s3 sink: batch.maxBytes", () => {
  it("splits a batch over maxBytes into several objects, each within the limit, every event once", async () => {
    expect([...partitionBytes.values()].some((b) => b > 3 * MAX_BYTES)).toBe(true); // some partitions must split
    const bucket = await freshBucket(endpoint, "maxbytes");
    const objects = await deliverAll(bucket, events);
    expect(objects.length).toBeGreaterThan(partitionBytes.size);
    const perPartition = new Map<string, number>();
    for (const o of objects) {
      const [, cls, day] = /^ocsf\/class_uid=(\d+)\/event_day=(\d{8})\/[0-9a-f]{28}\.ndjson\.gz$/.exec(o.key)!;
      const text = ndjson(o);
      expect(new TextEncoder().encode(text).length).toBeLessThanOrEqual(MAX_BYTES);
      for (const line of text.split("\n").filter(Boolean)) {
        const e = JSON.parse(line) as { class_uid: number; time: number };
        expect([e.class_uid, eventDay(e.time)]).toEqual([Number(cls), day]);
      }
      perPartition.set(`${cls}/${day}`, (perPartition.get(`${cls}/${day}`) ?? 0) + 1);
    }
    // a partition within the limit is one object; a larger one as few as the limit allows (and not many more)
    for (const [p, bytes] of partitionBytes) {
      const n = perPartition.get(p)!;
      if (bytes <= MAX_BYTES) expect(n, p).toBe(1);
      else {
        expect(n, p).toBeGreaterThanOrEqual(Math.ceil(bytes / MAX_BYTES));
        expect(n, p).toBeLessThanOrEqual(2 * Math.ceil(bytes / MAX_BYTES) + 1); // greedy: two neighbours hold more than the limit
      }
    }
    expect(uidsIn(objects)).toEqual(uids);
  });

  it("the keys depend on the events, not their order: the batch again, reversed, overwrites the same objects", async () => {
    const bucket = await freshBucket(endpoint, "maxbytes-again");
    const first = await deliverAll(bucket, events);
    const again = await deliverAll(bucket, [...events].reverse());
    expect(again.map((o) => o.key)).toEqual(first.map((o) => o.key));
    expect(uidsIn(again)).toEqual(uids);
  });

  it("a split batch retried after a failure (503, then a dropped connection) ends with the same keys as a clean run, each event once", async () => {
    const clean = (await deliverAll(await freshBucket(endpoint, "maxbytes-clean"), events)).map((o) => o.key);
    const bucket = await freshBucket(endpoint, "maxbytes-retry");
    // two objects go through, the third gets 503 (the rest of the attempt waits); in the first retry
    // round the connection drops once
    await gateControl.script(gate, bucket, [{ delayMs: 0 }, { delayMs: 0 }, s3Error(503, "SlowDown"), { drop: true }]);
    const { deps, sent, map } = setup(bucket);
    const first = await deliverToSink({ sink: "s3", items: itemsOf(events), attempt: 1, firstAttemptAt: NOW }, deps);
    expect(first.requests).toBe(3);
    expect(first.delivered).toBeGreaterThan(0);
    expect(first.retried).toBe(events.length - first.delivered);
    expect(sent.length).toBe(clean.length - 2); // one retry message per object not written
    expect(await drainScheduled(deps, sent)).toBe(2);
    const stored = await readBucket(endpoint, bucket, "", clean.length);
    expect(stored.map((o) => o.key)).toEqual(clean);
    expect(uidsIn(stored)).toEqual(uids);
    expect([...map.keys()].filter((k) => k.startsWith("dlq/"))).toEqual([]);
    const log = (await gateControl.state(gate, bucket)).log.map((l) => l.action);
    expect(log.slice(0, 4)).toEqual(["forwarded", "forwarded", "scripted", "dropped"]);
  });
});
