// The compaction's plan (src/deliver/compact.ts): staged objects read from their listing, packed whole
// into files within maxEvents / maxBytes, and which groups (class and event day) are due: all of a
// group once its oldest object is `seconds` old, else only its full files. Also the buffer policy a
// sink entry resolves to, and how long a failing group waits before its events are dead-lettered.
import { describe, it, expect } from "vitest";
import { dueGroups, giveUpMs, packFiles, stagedObject, type StagedObject } from "../../src/deliver/compact";
import { bufferPolicy, resolveSinks } from "../../src/deliver/sinks";
import { parseConfig } from "../../src/config/load";

const T0 = Date.UTC(2026, 11, 6, 10, 0, 0);
let seq = 0;
const obj = (partition: string, events: number, staged: number, bytes = events * 100): StagedObject => ({ key: `stage/s/${partition}/${String(++seq).padStart(4, "0")}.ndjson`, partition, events, bytes, staged });
const policy = { seconds: 300, maxEvents: 10, maxBytes: 10_000 };

describe("stagedObject", () => {
  it("reads partition, events and staged time from a listed object; other keys are not staged objects", () => {
    const uploaded = new Date(T0);
    expect(stagedObject({ key: "stage/lake/2004/20261206/abc.ndjson", size: 512, uploaded, customMetadata: { events: "7", staged: String(T0 - 5) } }, "stage/lake/")).toEqual({
      key: "stage/lake/2004/20261206/abc.ndjson",
      partition: "2004/20261206",
      events: 7,
      bytes: 512,
      staged: T0 - 5,
    });
    // no staged metadata: the upload time
    expect(stagedObject({ key: "stage/lake/2004/20261206/abc.ndjson", size: 1, uploaded }, "stage/lake/")?.staged).toBe(T0);
    expect(stagedObject({ key: "stage/lake/2004/abc.ndjson", size: 1, uploaded }, "stage/lake/")).toBeUndefined();
    expect(stagedObject({ key: "stage/lake2/2004/20261206/abc.ndjson", size: 1, uploaded }, "stage/lake/")).toBeUndefined();
  });
});

describe("packFiles", () => {
  it("packs objects whole, in order, up to maxEvents and maxBytes; an object over the limits is a file of its own", () => {
    const [a, b, c, d, e] = [obj("1/1", 4, 1), obj("1/1", 6, 2), obj("1/1", 1, 3), obj("1/1", 25, 4), obj("1/1", 2, 5, 9_950)];
    expect(packFiles([a, b, c, d, e], policy)).toEqual([[a, b], [c], [d], [e]]);
    expect(packFiles([], policy)).toEqual([]);
  });
});

describe("dueGroups", () => {
  it("nothing is due inside the window while no file is full", () => {
    const list = [obj("2004/20261206", 3, T0), obj("2004/20261206", 3, T0 + 1000)];
    expect(dueGroups(list, policy, T0 + 299_999)).toEqual([]);
  });

  it("a group whose oldest object is `seconds` old is written whole, oldest object first", () => {
    const newer = obj("2004/20261206", 3, T0 + 1000);
    const older = obj("2004/20261206", 3, T0);
    const other = obj("1007/20261206", 1, T0 + 100_000);
    expect(dueGroups([newer, other, older], policy, T0 + 300_000)).toEqual([{ partition: "2004/20261206", files: [[older, newer]], oldest: T0 }]);
  });

  it("before the window only full files are written (maxEvents or maxBytes reached); the rest waits", () => {
    const [a, b, c] = [obj("2004/20261206", 6, T0), obj("2004/20261206", 6, T0 + 1), obj("2004/20261206", 2, T0 + 2)];
    // a alone (a+b is 12 > 10), then b+c (8) is not full
    expect(dueGroups([a, b, c], policy, T0 + 10)).toEqual([{ partition: "2004/20261206", files: [[a]], oldest: T0 }]);
    const full = [obj("3/20261206", 10, T0)];
    expect(dueGroups(full, policy, T0)).toEqual([{ partition: "3/20261206", files: [full], oldest: T0 }]);
    const big = [obj("4/20261206", 1, T0, 10_000)];
    expect(dueGroups(big, policy, T0)).toHaveLength(1);
  });

  it("several due groups come oldest first", () => {
    const list = [obj("2/20261206", 1, T0 + 50), obj("1/20261206", 1, T0 + 10), obj("3/20261205", 1, T0)];
    expect(dueGroups(list, policy, T0 + 400_000).map((g) => g.partition)).toEqual(["3/20261205", "1/20261206", "2/20261206"]);
  });
});

describe("buffer policy", () => {
  const lake = { type: "security_lake", bucket: "lake-bucket", accessKeyId: "a", secretAccessKey: "s", accountId: "external", sources: { "2004": "findings" } };
  const s3 = { type: "s3", bucket: "s3-bucket", accessKeyId: "a", secretAccessKey: "s" };

  it("security_lake buffers by default (300 s, its 1,000 events / 2.5 MB per file); s3 and r2 only when asked; false or 0 s writes per batch", () => {
    const sinks = resolveSinks(
      parseConfig({
        sinks: {
          lake,
          off: { ...lake, buffer: false },
          zero: { ...lake, buffer: { seconds: 0 } },
          s3,
          s3buf: { ...s3, buffer: { seconds: 60, maxEvents: 5000 } },
          r2buf: { type: "r2", binding: "ARCHIVE", buffer: {} },
        },
        routes: [{ sinks: ["lake"] }],
      }),
    );
    expect(sinks.get("lake")!.buffer).toEqual({ seconds: 300, maxEvents: 1000, maxBytes: 2_500_000 });
    expect(sinks.get("off")!.buffer).toBeUndefined();
    expect(sinks.get("zero")!.buffer).toBeUndefined();
    expect(sinks.get("s3")!.buffer).toBeUndefined();
    // s3/r2 batch.maxBytes (50 MB) is cut to MAX_BUFFER_BYTES: a compaction holds one object's events in memory
    expect(sinks.get("s3buf")!.buffer).toEqual({ seconds: 60, maxEvents: 5000, maxBytes: 10_000_000 });
    expect(sinks.get("r2buf")!.buffer).toEqual({ seconds: 300, maxEvents: 100_000, maxBytes: 10_000_000 });
    expect(bufferPolicy("security_lake", undefined, { maxEvents: 7, maxBytes: 9 }, false)).toBeUndefined();
  });

  it("an HTTP sink cannot buffer; bad buffer values name their field", () => {
    expect(() => parseConfig({ sinks: { hook: { type: "webhook", url: "https://example.com/x", buffer: { seconds: 60 } } } })).toThrow(/sinks\.hook\.buffer: a webhook sink cannot buffer/);
    expect(() => parseConfig({ sinks: { lake: { ...lake, buffer: { seconds: 90_000 } } } })).toThrow(/sinks\.lake\.buffer/);
    expect(() => parseConfig({ sinks: { lake: { ...lake, buffer: { window: 60 } } } })).toThrow(/sinks\.lake\.buffer/);
    expect(() => parseConfig({ sinks: { lake: { ...lake, buffer: { maxBytes: 20_000_000 } } } })).toThrow(/sinks\.lake\.buffer\.maxBytes: .*at most 10000000 bytes/);
  });
});

describe("giveUpMs", () => {
  it("is the sink's retry schedule without jitter (5 s doubling to 1 h, 10 attempts: 2,555 s), at least a minute per attempt", () => {
    expect(giveUpMs({ maxAttempts: 10, baseSeconds: 5, maxSeconds: 3600 })).toBe(2_555_000);
    expect(giveUpMs({ maxAttempts: 3, baseSeconds: 1, maxSeconds: 3600 })).toBe(180_000);
  });
});
