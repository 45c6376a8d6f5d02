// Archive objects (Node): grouping by class and event day, and the native gzip (CompressionStream)
// read back by fflate, as GET /v1/archive and the tests read the archive.
import { describe, it, expect } from "vitest";
import { gunzipSync, gzipSync, strFromU8, strToU8 } from "fflate";
import { ARCHIVE_PREFIX, archiveLine, buildArchiveObjects, gzipText } from "../../src/deliver/archive";

const day = Date.UTC(2026, 10, 22, 12);

describe("archive objects", () => {
  it("one object per class and event day, its NDJSON in input order, keys from the batch key", () => {
    const lines = [
      { class_uid: 2004, time: day, n: 1 },
      { class_uid: 6003, time: day, n: 2 },
      { class_uid: 2004, time: day + 86_400_000, n: 3 },
      { class_uid: 2004, time: day + 1, n: 4 },
    ].map((e) => archiveLine(JSON.stringify(e)));
    const objs = buildArchiveObjects(lines, "batch-1");
    expect(objs.map((o) => [o.key.replace(/[0-9a-f]+\.ndjson\.gz$/, "*"), o.count])).toEqual([
      ["ocsf/class_uid=2004/event_day=20261122/*", 2],
      ["ocsf/class_uid=6003/event_day=20261122/*", 1],
      ["ocsf/class_uid=2004/event_day=20261123/*", 1],
    ]);
    expect(objs[0]!.ndjson).toBe(`${lines[0]!.line}\n${lines[3]!.line}\n`);
    expect(buildArchiveObjects(lines, "batch-1").map((o) => o.key)).toEqual(objs.map((o) => o.key));
    expect(buildArchiveObjects(lines, "batch-2").map((o) => o.key)).not.toEqual(objs.map((o) => o.key));
  });

  it("writes under ARCHIVE_PREFIX (what a backfill lists) by default, the same keys as the prefix spelled out", () => {
    const lines = [archiveLine(JSON.stringify({ class_uid: 2004, time: day }))];
    const keys = buildArchiveObjects(lines, "b").map((o) => o.key);
    expect(ARCHIVE_PREFIX).toBe("ocsf/");
    expect(keys).toEqual(buildArchiveObjects(lines, "b", "ocsf").map((o) => o.key));
    expect(keys[0]!.startsWith(`${ARCHIVE_PREFIX}class_uid=2004/event_day=20261122/`)).toBe(true);
  });

  it("gzipText is gzip that fflate reads back to the same text (ASCII, non-ASCII, empty, ~1 MB)", async () => {
    const big = Array.from({ length: 4000 }, (_, i) => JSON.stringify({ i, m: `événement ${i} 中 😀 "q" \\ ${"x".repeat(i % 300)}` })).join("\n") + "\n";
    for (const text of ["", "{}\n", '{"a":"é中😀"}\n', big]) {
      const gz = await gzipText(text);
      expect([gz[0], gz[1], gz[2]]).toEqual([0x1f, 0x8b, 8]); // gzip magic, deflate
      expect(strFromU8(gunzipSync(gz))).toBe(text);
    }
    // about as small as fflate's level-6 gzip that the archive used before
    expect((await gzipText(big)).length).toBeLessThan(gzipSync(strToU8(big), { level: 6 }).length * 1.1);
  });
});
