// Security Lake's default object bound (src/sinks/index.ts): its Parquet is built in the consumer's
// memory, so a full queue batch of one class is split into objects of at most 1,000 events / 2.5 MB
// of JSON instead of the storage sinks' one object per class and day; a sink's `batch` still wins.
import { describe, it, expect } from "vitest";
import { splitBatch, type Item } from "../../src/deliver/attempt";
import { resolveSinks } from "../../src/deliver/sinks";
import { parseConfig } from "../../src/config/load";
import { defaultBatch } from "../../src/sinks/index";
import { encodeParquet } from "../../src/sinks/security-lake";
import { parquetMetadata } from "hyparquet";
import { fixtureEvents, NOW } from "../support/siem-servers";

const lake = (batch?: Record<string, number>) =>
  resolveSinks(
    parseConfig({
      sinks: { lake: { type: "security_lake", bucket: "lake-bucket", accessKeyId: "AKIA", secretAccessKey: "s", accountId: "external", sources: { "2004": "falco" }, ...(batch ? { batch } : {}) } },
    }),
  ).get("lake")!;

/** `n` copies of the fixtures' Falco detections, one class and day, uids of their own. */
function falcoBatch(n: number): Item[] {
  const base = fixtureEvents().filter((e) => e.class_uid === 2004);
  expect(base.length).toBeGreaterThan(0);
  return Array.from({ length: n }, (_, k) => {
    const e = structuredClone(base[k % base.length]!);
    e.metadata.uid = `u${String(k).padStart(5, "0")}`;
    e.time = NOW + k;
    return { event: e, line: JSON.stringify(e) };
  });
}

describe("security_lake default batch", () => {
  it("is 1,000 events / 2,500,000 bytes, below the other storage sinks'", () => {
    expect(defaultBatch("security_lake")).toEqual({ maxEvents: 1000, maxBytes: 2_500_000 });
    expect(defaultBatch("s3")).toEqual({ maxEvents: 100_000, maxBytes: 50_000_000 });
    expect(lake().batch).toEqual({ maxEvents: 1000, maxBytes: 2_500_000 });
  });

  it("splits a full batch of one class and day into bounded objects, each a readable Parquet file; a configured batch wins", () => {
    const items = falcoBatch(2500);
    const chunks = splitBatch(lake(), items);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.flat().sort((a, b) => a - b)).toEqual(items.map((_, i) => i));
    for (const c of chunks) {
      expect(c.length).toBeLessThanOrEqual(1000);
      expect(c.reduce((n, i) => n + items[i]!.line.length + 1, 0)).toBeLessThanOrEqual(2_500_000);
    }
    const first = encodeParquet(chunks[0]!.map((i) => items[i]!.event), 2004);
    expect(Number(parquetMetadata(first.buffer.slice(first.byteOffset, first.byteOffset + first.byteLength) as ArrayBuffer).num_rows)).toBe(chunks[0]!.length);
    expect(splitBatch(lake({ maxEvents: 100_000, maxBytes: 50_000_000 }), items)).toHaveLength(1);
  });
});
