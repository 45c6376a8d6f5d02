// Where an event with a wrong sensor clock is filed: object keys (event_day / eventDay) and {yyyy}{mm}{dd}
// name templates use fileTime, so one absurd time makes no absurd partition or index; the event keeps its time.
import { describe, it, expect } from "vitest";
import { FILE_TIME_MIN, fileTime } from "../../src/sinks/file-time";
import { classDayOf, encodeNdjsonObjects, eventDay } from "../../src/sinks/objects";
import { archiveLine, buildArchiveObjects } from "../../src/deliver/archive";
import { expand } from "../../src/sinks/batch";
import type { OcsfEvent } from "../../src/normalize/ocsf";

const received = Date.UTC(2026, 11, 6, 12, 34, 56, 789);
const day = (t: number) => eventDay(fileTime(t, received));

function event(time: number, uid: string, loggedTime: number | undefined = received): OcsfEvent {
  return {
    class_uid: 2004,
    category_uid: 2,
    activity_id: 1,
    type_uid: 200401,
    severity_id: 5,
    time,
    metadata: { version: "1.3.0", uid, product: { name: "Falco", vendor_name: "Falco" }, ...(loggedTime === undefined ? {} : { logged_time: loggedTime }) },
  } as OcsfEvent;
}

describe("fileTime", () => {
  it("keeps the event's own day: on time, late by days (a flushed buffer), hours ahead (clock skew), old backfills", () => {
    expect(day(received)).toBe("20261206");
    expect(day(received - 5 * 86_400_000)).toBe("20261201");
    expect(day(received + 3 * 3_600_000)).toBe("20261206");
    expect(day(received + 23 * 3_600_000)).toBe("20261207");
    expect(day(Date.UTC(2014, 2, 25, 21, 8, 14))).toBe("20140325");
    expect(day(FILE_TIME_MIN)).toBe("20000101");
  });

  it("files a wrong sensor clock under the receipt day: before 2000, 0, negative, over a day ahead, 9999, beyond, NaN", () => {
    for (const t of [FILE_TIME_MIN - 1, Date.UTC(1999, 11, 31, 23, 59, 59), 0, -1000, -62198755200000, received + 25 * 3_600_000, Date.UTC(2038, 0, 19, 3, 14, 8), Date.UTC(9999, 11, 31), 568971820800000, 8.64e15, Number.NaN]) {
      expect([t, day(t)]).toEqual([t, "20261206"]);
    }
  });

  it("without a usable receipt time: a time outside 2000..9999 files under 2000-01-01, never a ragged day", () => {
    expect(eventDay(fileTime(Date.UTC(2038, 0, 19)))).toBe("20380119");
    for (const lt of [undefined, "x", 0, Number.NaN, 8.64e15]) {
      for (const t of [-1000, 0, 568971820800000, Number.NaN]) expect(eventDay(fileTime(t, lt))).toBe("20000101");
    }
  });
});

describe("partitions and names of events with absurd times", () => {
  const good = event(received - 5 * 86_400_000, "good");
  const absurd = [event(Date.UTC(9999, 11, 31, 23, 59, 59, 999), "y9999"), event(568971820800000, "y20000"), event(-1000, "neg"), event(0, "zero"), event(Date.UTC(2038, 0, 19), "y2038")];

  it("S3/R2 keys and staged partitions: the receipt day, 8 digits; the good event keeps its own day", async () => {
    const reqs = await encodeNdjsonObjects([good, ...absurd], "ocsf");
    expect(reqs.map((r) => [r.url.replace(/[0-9a-f]+\.ndjson\.gz$/, "*"), r.events])).toEqual([
      ["ocsf/class_uid=2004/event_day=20261201/*", [0]],
      ["ocsf/class_uid=2004/event_day=20261206/*", [1, 2, 3, 4, 5]],
    ]);
    expect([good, ...absurd].map(classDayOf)).toEqual(["2004/20261201", ...absurd.map(() => "2004/20261206")]);
    expect(absurd.map((e) => e.time)).toEqual([Date.UTC(9999, 11, 31, 23, 59, 59, 999), 568971820800000, -1000, 0, Date.UTC(2038, 0, 19)]); // unchanged
  });

  it("archive keys from the NDJSON lines (logged_time read from the line)", () => {
    const objs = buildArchiveObjects([good, ...absurd].map((e) => archiveLine(JSON.stringify(e))), "batch");
    expect(objs.map((o) => [o.key.replace(/[0-9a-f]+\.ndjson\.gz$/, "*"), o.count])).toEqual([
      ["ocsf/class_uid=2004/event_day=20261201/*", 1],
      ["ocsf/class_uid=2004/event_day=20261206/*", 5],
    ]);
  });

  it("{yyyy}.{mm}.{dd} in an index name", () => {
    expect([good, ...absurd].map((e) => expand("ocsf-{class_uid}-{yyyy}.{mm}.{dd}", e))).toEqual(["ocsf-2004-2026.12.01", ...absurd.map(() => "ocsf-2004-2026.12.06")]);
  });
});
