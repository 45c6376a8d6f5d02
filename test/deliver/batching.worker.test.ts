// Batching by time, count and bytes (docs/delivery.md, "Batching"), inside workerd: the time window of
// a sink's batch is the queue's consumer batch (max_batch_size / max_batch_timeout in wrangler.toml).
// The EVENTS messages of one queue batch, from several ingest requests, become one delivery per sink:
// one object per class and event day for a storage sink (s3 against s3rver, r2 on a binding); the
// next queue batch writes objects of its own; and batch.maxEvents splits a delivery by count.
import { env } from "cloudflare:test";
import { describe, it, expect, inject, beforeAll } from "vitest";
import { parse as parseToml } from "smol-toml";
import wranglerToml from "../../wrangler.toml?raw";
import deliveryDoc from "../../docs/delivery.md?raw";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { classDayOf } from "../../src/sinks/objects";
import type { EventsMessage } from "../../src/deliver/enqueue";
import { freshBucket, readBucket, ndjsonEvents, uidOfPlain } from "../support/s3-read";
import { readArchive } from "../support/archive";
import { uniqueFixtureEvents, eventsMessages, stubDeliveries, runBatch, EVENTS_QUEUE } from "../support/delivery";

const s3Endpoint = inject("s3Endpoint");

let events: OcsfEvent[];
beforeAll(() => {
  events = uniqueFixtureEvents();
});

let n = 0;
const label = (s: string) => `${s}${++n}${Date.now().toString(36)}`;

function setup(bucket: string, batch?: Record<string, number>) {
  const s3 = label("s3");
  const r2 = label("r2");
  const cfg = {
    sinks: {
      [s3]: { type: "s3", bucket, endpoint: s3Endpoint, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "S3_SECRET" }, ...(batch ? { batch } : {}) },
      [r2]: { type: "r2", binding: "ARCHIVE", prefix: `batching/${r2}`, ...(batch ? { batch } : {}) },
    },
    routes: [{ sinks: [s3, r2] }],
  };
  const deliveries = stubDeliveries();
  const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries, S3_SECRET: "S3RVER" } as unknown as Env;
  return { cfg, e, deliveries, r2Prefix: `batching/${r2}/` };
}

/** The EVENTS messages of `requests` ingest requests splitting `list` between them. */
function messagesOf(cfg: unknown, list: OcsfEvent[], requests: number): { msgs: EventsMessage[]; requestOf: Map<string, number> } {
  const msgs: EventsMessage[] = [];
  const requestOf = new Map<string, number>();
  const size = Math.ceil(list.length / requests);
  for (let r = 0; r < requests; r++) {
    const part = list.slice(r * size, (r + 1) * size);
    for (const x of part) requestOf.set(x.metadata.uid!, r);
    msgs.push(...eventsMessages(cfg, part));
  }
  return { msgs, requestOf };
}

const partitions = (list: OcsfEvent[]) => {
  const m = new Map<string, number>();
  for (const x of list) m.set(classDayOf(x), (m.get(classDayOf(x)) ?? 0) + 1);
  return m;
};
const partitionOfKey = (key: string) => {
  const [, cls, day] = /class_uid=(\d+)\/event_day=(\d{8})\//.exec(key)!;
  return `${cls}/${day}`;
};

describe("a sink's batch is the queue batch", () => {
  it("the messages of one queue batch (several ingest requests) give one object per class and event day per storage sink", async () => {
    const bucket = await freshBucket(s3Endpoint, "window");
    const { cfg, e, deliveries, r2Prefix } = setup(bucket);
    const { msgs, requestOf } = messagesOf(cfg, events, 5);
    expect(msgs.length).toBeGreaterThanOrEqual(5);
    const res = await runBatch(EVENTS_QUEUE, msgs, e);
    expect(res.acked).toHaveLength(msgs.length);
    expect(deliveries.sent).toEqual([]);
    const parts = partitions(events);

    const s3Objects = await readBucket(s3Endpoint, bucket, "", parts.size);
    const r2Objects = await readArchive(env.ARCHIVE, r2Prefix);
    for (const objects of [s3Objects.map((o) => ({ key: o.key, events: ndjsonEvents(o.bytes) })), r2Objects]) {
      // exactly one object per partition, holding all of that partition's events
      expect(objects.map((o) => partitionOfKey(o.key)).sort()).toEqual([...parts.keys()].sort());
      for (const o of objects) expect(o.events.length).toBe(parts.get(partitionOfKey(o.key)));
      expect(objects.flatMap((o) => o.events.map(uidOfPlain)).sort()).toEqual(events.map((x) => x.metadata.uid!).sort());
      // and the objects mix events of different requests: the batch, not the message, is the unit
      expect(objects.some((o) => new Set(o.events.map((x) => requestOf.get(uidOfPlain(x)))).size > 1)).toBe(true);
    }
  });

  it("the next queue batch writes objects of its own: the time window is one queue batch", async () => {
    const bucket = await freshBucket(s3Endpoint, "window2");
    const { cfg, e } = setup(bucket);
    const half = Math.ceil(events.length / 2);
    const [a, b] = [events.slice(0, half), events.slice(half)];
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, a), e);
    const first = await readBucket(s3Endpoint, bucket, "", partitions(a).size);
    expect(first).toHaveLength(partitions(a).size);
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, b), e);
    const all = await readBucket(s3Endpoint, bucket, "", partitions(a).size + partitions(b).size);
    // batch 1's objects are untouched; batch 2 added one object per partition of its own events,
    // also where batch 1 already had an object for that class and day
    expect(all).toHaveLength(partitions(a).size + partitions(b).size);
    for (const o of first) expect(all.find((x) => x.key === o.key)?.bytes).toEqual(o.bytes);
    const added = all.filter((o) => !first.some((f) => f.key === o.key));
    expect(added.map((o) => partitionOfKey(o.key)).sort()).toEqual([...partitions(b).keys()].sort());
    expect(added.flatMap((o) => ndjsonEvents(o.bytes)).map(uidOfPlain).sort()).toEqual(b.map((x) => x.metadata.uid!).sort());
  });

  it("batch.maxEvents splits a partition by count: ceil(events / maxEvents) objects, none over the limit", async () => {
    const MAX = 4;
    const bucket = await freshBucket(s3Endpoint, "count");
    const { cfg, e, deliveries, r2Prefix } = setup(bucket, { maxEvents: MAX });
    await runBatch(EVENTS_QUEUE, messagesOf(cfg, events, 3).msgs, e);
    expect(deliveries.sent).toEqual([]);
    const parts = partitions(events);
    const expected = [...parts.values()].reduce((s, c) => s + Math.ceil(c / MAX), 0);
    expect(expected).toBeGreaterThan(parts.size); // some partitions must split
    const s3Objects = (await readBucket(s3Endpoint, bucket, "", expected)).map((o) => ({ key: o.key, events: ndjsonEvents(o.bytes) }));
    const r2Objects = await readArchive(env.ARCHIVE, r2Prefix);
    for (const objects of [s3Objects, r2Objects]) {
      expect(objects).toHaveLength(expected);
      const perPartition = new Map<string, number>();
      for (const o of objects) {
        expect(o.events.length).toBeGreaterThan(0);
        expect(o.events.length).toBeLessThanOrEqual(MAX);
        perPartition.set(partitionOfKey(o.key), (perPartition.get(partitionOfKey(o.key)) ?? 0) + 1);
      }
      for (const [p, c] of parts) expect(perPartition.get(p), p).toBe(Math.ceil(c / MAX));
      expect(objects.flatMap((o) => o.events.map(uidOfPlain)).sort()).toEqual(events.map((x) => x.metadata.uid!).sort());
    }
  });
});

describe("the documented window is the configured one", () => {
  it("docs/delivery.md states the EVENTS and DELIVERIES consumer windows of wrangler.toml", () => {
    const { queues } = parseToml(wranglerToml) as { queues: { consumers: { queue: string; max_batch_size: number; max_batch_timeout: number }[] } };
    const consumer = (q: string) => queues.consumers.find((c) => c.queue === q)!;
    const row = (setting: string) => new RegExp(`^\\| [^|]+ \\| \`${setting}\` of the EVENTS consumer[^|]*\\| \`wrangler.toml\` \\| (\\d+)( s)? \\|$`, "m").exec(deliveryDoc)?.[1];
    expect(Number(row("max_batch_timeout"))).toBe(consumer("tributary-events").max_batch_timeout);
    expect(Number(row("max_batch_size"))).toBe(consumer("tributary-events").max_batch_size);
    const d = consumer("tributary-deliveries");
    expect(deliveryDoc).toContain(`DELIVERIES (\`max_batch_size\` ${d.max_batch_size}, \`max_batch_timeout\` ${d.max_batch_timeout} s)`);
  });
});
