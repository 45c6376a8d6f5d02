// Staging (src/deliver/stage.ts) through deliverToSink, with the in-memory R2 of the delivery tests: a
// buffered sink's events become one staged object per class and event day whose key depends on the
// events' uids, not their order; a failed put is a retry on DELIVERIES (backoff), staged on the retry;
// a delivery that may have been staged before takes its object back when the compaction's marker is there.
import { describe, it, expect } from "vitest";
import { deliverToSink } from "../../src/deliver/deliver";
import { doneKey, stageKey } from "../../src/deliver/stage";
import { parseConfig } from "../../src/config/load";
import type { Item } from "../../src/deliver/attempt";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { classDayOf } from "../../src/sinks/objects";
import { memoryDeps, drainScheduled } from "../support/memory-delivery";

const T0 = Date.UTC(2026, 11, 6, 10, 0, 0);
const DAY = 86_400_000;

function item(uid: string, classUid: number, time: number): Item {
  const event = { class_uid: classUid, time, metadata: { uid, version: "1.3.0", product: { name: "t" } } } as unknown as OcsfEvent;
  return { event, line: JSON.stringify(event) };
}

const cfg = parseConfig({
  sinks: { lake: { type: "security_lake", bucket: "lake-bucket", accessKeyId: "a", secretAccessKey: "s", accountId: "external", sources: { "2004": "findings", "1007": "procs" } } },
  routes: [{ sinks: ["lake"] }],
});

describe("staging a buffered sink's delivery", () => {
  it("one object per class and event day, holding the lines; nothing is sent to the sink; the key does not depend on order", async () => {
    const { deps, map, sent } = memoryDeps(cfg, {}, T0);
    const items = [item("a", 2004, T0), item("b", 1007, T0), item("c", 2004, T0 + 1), item("d", 2004, T0 + DAY)];
    const r = await deliverToSink({ sink: "lake", items, attempt: 1, firstAttemptAt: T0 }, deps);
    expect(r).toMatchObject({ delivered: 0, staged: 4, retried: 0, dead: 0, requests: 0 });
    expect(sent).toEqual([]);
    const staged = [...map.keys()].filter((k) => k.startsWith("stage/lake/")).sort();
    expect(staged).toHaveLength(3);
    const first = stageKey("lake", classDayOf(items[0]!.event), [items[2]!, items[0]!]);
    expect(staged).toContain(first);
    expect(map.get(first)!.body).toBe(`${items[0]!.line}\n${items[2]!.line}\n`);
    expect(map.get(first)!.customMetadata).toEqual({ events: "2", staged: String(T0) });
  });

  it("an event of a class the sink cannot write (no custom source, no Parquet schema) is dead-lettered at once with the sink's reason, not staged", async () => {
    const lake = parseConfig({
      sinks: { lake: { type: "security_lake", bucket: "lake-bucket", accessKeyId: "a", secretAccessKey: "s", accountId: "external", sources: { "2004": "findings", "7": "nothing" } } },
      routes: [{ sinks: ["lake"] }],
    });
    const { deps, map, sent } = memoryDeps(lake, {}, T0);
    const items = [item("a", 2004, T0), item("b", 4001, T0), item("c", 4001, T0 + DAY), item("d", 7, T0)];
    const r = await deliverToSink({ sink: "lake", items, attempt: 1, firstAttemptAt: T0 }, deps);
    expect(r).toMatchObject({ delivered: 0, staged: 1, retried: 0, dead: 3, requests: 0 });
    expect(sent).toEqual([]);
    expect([...map.keys()].filter((k) => k.startsWith("stage/"))).toEqual([stageKey("lake", classDayOf(items[0]!.event), [items[0]!])]);
    const dead = r.deadLetters.map((k) => JSON.parse(map.get(k)!.body as string) as { reason: string; events: OcsfEvent[] });
    expect(dead.map((d) => [d.reason, d.events.map((e) => e.metadata.uid)])).toEqual([
      ['no Security Lake custom source for class_uid 4001: add it to this sink\'s "sources"', ["b", "c"]],
      [expect.stringMatching(/^class_uid 7 has no Parquet schema \(supported: /), ["d"]],
    ]);
  });

  it("a failed put is a retry on DELIVERIES; the retry stages the events", async () => {
    const { deps, map, sent } = memoryDeps(cfg, {}, T0);
    const put = deps.archive.put.bind(deps.archive);
    let failing = true;
    deps.archive.put = (async (key: string, ...rest: unknown[]) => {
      if (failing && key.startsWith("stage/")) throw new Error("R2 put failed: 503");
      return (put as (k: string, ...r: unknown[]) => Promise<unknown>)(key, ...rest);
    }) as R2Bucket["put"];
    const items = [item("a", 2004, T0), item("b", 2004, T0)];
    const r = await deliverToSink({ sink: "lake", items, attempt: 1, firstAttemptAt: T0 }, deps);
    expect(r).toMatchObject({ staged: 0, retried: 2, dead: 0 });
    expect(r.down?.reason).toMatch(/^staging in R2 failed: R2 put failed: 503/);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body).toMatchObject({ sink: "lake", attempt: 2 });
    expect([...map.keys()].filter((k) => k.startsWith("stage/"))).toEqual([]);
    failing = false;
    expect(await drainScheduled(deps, sent)).toBe(1);
    expect([...map.keys()].filter((k) => k.startsWith("stage/"))).toEqual([stageKey("lake", classDayOf(items[0]!.event), items)]);
  });

  it("a retry or redelivery whose events a compaction wrote already (the marker there) stages nothing; a first delivery only puts", async () => {
    const { deps, map } = memoryDeps(cfg, {}, T0);
    let heads = 0;
    const head = deps.archive.head.bind(deps.archive);
    deps.archive.head = ((key: string) => (heads++, head(key))) as R2Bucket["head"];
    const items = [item("a", 2004, T0), item("b", 2004, T0)];
    const key = stageKey("lake", classDayOf(items[0]!.event), items);
    await deps.archive.put(doneKey(key), "");
    expect(doneKey(key)).toBe(`stage-done/${key.slice("stage/".length)}`);
    for (const job of [{ attempt: 2 }, { attempt: 1, redelivered: true }]) {
      const r = await deliverToSink({ sink: "lake", items, firstAttemptAt: T0, ...job }, deps);
      expect(r).toMatchObject({ staged: 2, retried: 0, dead: 0 });
      expect(map.has(key)).toBe(false);
    }
    expect(heads).toBe(2);
    // a first delivery does not look (the marker is not consulted: the hot path is the put)
    await deliverToSink({ sink: "lake", items, attempt: 1, firstAttemptAt: T0 }, deps);
    expect(heads).toBe(2);
    expect(map.has(key)).toBe(true);
  });
});
