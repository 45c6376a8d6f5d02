// A buffered storage sink's queue messages redelivered in another batch than the first time (docs/delivery.md,
// "Buffered storage sinks"), inside workerd against s3rver; every uid must end up in exactly one Parquet row:
//   - a message the consumer retried (another of its sinks could not be settled) after the buffered sink had
//     staged it leaves a per-message marker (stage-done/<sink>/msg/<id>); batched later with a new message,
//     after its first object was compacted, it stages nothing for the sink; the new message stages;
//   - messages redelivered without such a marker (the consumer died before acking) and staged again in
//     another group are written once by the compaction (uid dedupe across the group's staged objects).
// The compaction's `now` is chosen (never the wall clock); loops are bounded by the fixture's size.
import { env } from "cloudflare:test";
import { describe, it, expect, inject, beforeAll } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { pack, type EventsMessage } from "../../src/deliver/enqueue";
import { settledKey } from "../../src/deliver/stage";
import { freshBucket, readBucket } from "../support/s3-read";
import { readParquet } from "../support/lake-read";
import { keys, uids, largestLakePartition, lakeForPartition } from "../support/staged";
import { runBatch, EVENTS_QUEUE } from "../support/delivery";

const s3Endpoint = inject("s3Endpoint");
const WINDOW = 300_000;

let part: OcsfEvent[];
beforeAll(() => {
  part = largestLakePartition();
});

let n = 0;
const setup = (bucket: string) => lakeForPartition(`bufmsg${++n}${Date.now().toString(36)}`, bucket, s3Endpoint, part);

/** One EVENTS message per list of events (as ingest packs them), each for `sinks`. */
function messagesFor(events: readonly OcsfEvent[], sinks: string[]): EventsMessage[] {
  return pack(events.map((event) => ({ event, sinks })));
}

/** Every uid of the bucket's Parquet files with how many rows carry it. */
async function rowCounts(bucket: string, files: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (const f of await readBucket(s3Endpoint, bucket, "", files)) for (const u of uids(await readParquet(f.bytes))) seen.set(u, (seen.get(u) ?? 0) + 1);
  return seen;
}

/** The Worker's ARCHIVE with dead-letter puts failing: a delivery to an unknown sink then cannot be settled (the consumer retries its message). */
function deadLettersFailing(): R2Bucket {
  const base = env.ARCHIVE;
  return {
    head: (k: string) => base.head(k),
    get: (k: string) => base.get(k),
    list: (o?: R2ListOptions) => base.list(o),
    delete: (k: string | string[]) => base.delete(k),
    put: (k: string, v: Parameters<R2Bucket["put"]>[1], o?: R2PutOptions) => (k.startsWith("dlq/") ? Promise.reject(new Error("R2 refused the dead letter")) : base.put(k, v, o)),
  } as unknown as R2Bucket;
}

describe("a buffered sink's message redelivered in another batch", () => {
  it("retried by the consumer after the sink staged it: its marker makes the later batch (with a new message) stage only the new events; each uid in one Parquet row", async () => {
    expect(part.length).toBeGreaterThanOrEqual(3);
    const bucket = await freshBucket(s3Endpoint, "bufmsgretry");
    const { sink, e, compact } = setup(bucket);
    const third = Math.ceil(part.length / 3);
    const [a, b, c] = [part.slice(0, third), part.slice(third, 2 * third), part.slice(2 * third)];
    // A also goes to a sink that is not configured, whose dead letter cannot be written: A is retried
    const msgA = messagesFor(a, [sink, "ghost"]);
    const msgB = messagesFor(b, [sink]);
    const idsA = msgA.map((_, i) => `${sink}-a${i}`);
    const idsB = msgB.map((_, i) => `${sink}-b${i}`);
    const broken = { ...e, ARCHIVE: deadLettersFailing() } as unknown as Env;
    const first = await runBatch(EVENTS_QUEUE, [...msgA, ...msgB], broken, [...idsA, ...idsB]);
    expect(first.retried.sort()).toEqual([...idsA].sort());
    expect(first.acked.sort()).toEqual([...idsB].sort());
    expect(await keys(`stage/${sink}/`)).toHaveLength(1);
    expect(await keys(`stage-done/${sink}/msg/`)).toEqual(idsA.map((id) => settledKey(sink, id)).sort());

    // the window passed: A and B written
    expect((await compact(Date.now() + WINDOW + 1000))[0]).toMatchObject({ objects: 1, delivered: a.length + b.length, duplicates: 0 });

    // A comes back batched with a new message C (its ghost sink still failing): only C is staged
    const msgC = messagesFor(c, [sink]);
    const idsC = msgC.map((_, i) => `${sink}-c${i}`);
    const again = await runBatch(EVENTS_QUEUE, [...msgA, ...msgC], broken, [...idsA, ...idsC], 2);
    expect(again.retried.sort()).toEqual([...idsA].sort());
    expect(again.acked.sort()).toEqual([...idsC].sort());
    const staged = await keys(`stage/${sink}/`);
    expect(staged).toHaveLength(1);
    expect((await env.ARCHIVE.head(staged[0]!))!.customMetadata!.events).toBe(String(c.length));

    expect((await compact(Date.now() + WINDOW + 2000))[0]).toMatchObject({ objects: 1, delivered: c.length, duplicates: 0 });
    const seen = await rowCounts(bucket, 2);
    expect([...seen].filter(([, k]) => k !== 1)).toEqual([]);
    expect([...seen.keys()].sort()).toEqual(uids(part));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
  });

  it("redelivered without a marker (the consumer died before acking) and staged again in another group before the compaction: written once, counted as duplicates", async () => {
    const bucket = await freshBucket(s3Endpoint, "bufmsgdedupe");
    const { sink, e, compact } = setup(bucket);
    const third = Math.ceil(part.length / 3);
    const [a, b, c] = [part.slice(0, third), part.slice(third, 2 * third), part.slice(2 * third)];
    const [msgA, msgB, msgC] = [a, b, c].map((x) => messagesFor(x, [sink]));
    const idsA = msgA!.map((_, i) => `${sink}-a${i}`);
    await runBatch(EVENTS_QUEUE, [...msgA!, ...msgB!], e, [...idsA, ...msgB!.map((_, i) => `${sink}-b${i}`)]);
    const redo = await runBatch(EVENTS_QUEUE, [...msgA!, ...msgC!], e, [...idsA, ...msgC!.map((_, i) => `${sink}-c${i}`)], 2);
    expect(redo.retried).toEqual([]);
    expect(await keys(`stage/${sink}/`)).toHaveLength(2);

    const [r] = await compact(Date.now() + WINDOW + 1000);
    expect(r).toMatchObject({ objects: 2, delivered: part.length, duplicates: a.length, dead: 0, retried: 0 });
    const seen = await rowCounts(bucket, 1);
    expect([...seen].filter(([, k]) => k !== 1)).toEqual([]);
    expect([...seen.keys()].sort()).toEqual(uids(part));
    expect(await keys(`stage/${sink}/`)).toEqual([]);
  });
});
