// Framing (pure): layouts, items in body order, record checks.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { layout, items, itemsOf, frame, countLines, countRecords, checkRecord, utf8Length, oversize, type Item, type Framing } from "../../src/routes/decode";
import { recordCount, unwrap } from "../../src/normalize/detect";
import { fixture, fixtures } from "../support/fixtures";

const all = (text: string, framing: Parameters<typeof items>[1], max?: number): Item[] => [...items(text, framing, { maxRecordBytes: max })];

describe("layout", () => {
  it("tells one value, NDJSON, text and a broken value apart", () => {
    expect(layout("", "json").kind).toBe("empty");
    expect(layout(" \n\t", "sniff").kind).toBe("empty");
    expect(layout('{"a":1}', "json").kind).toBe("value");
    expect(layout('{"a":1}\n', "json").kind).toBe("value"); // trailing newline: still one value
    expect(layout('{"a":1}\n{"b":2}', "json").kind).toBe("lines"); // NDJSON under application/json
    expect(layout('{\n  "a": 1\n}\n', "json").kind).toBe("value"); // pretty-printed
    expect(layout('{"a":1}', "ndjson").kind).toBe("lines");
    expect(layout("12:00:00: Warning x", "text").kind).toBe("text");
    expect(layout("12:00:00: Warning x", "sniff").kind).toBe("text");
    expect(layout("12:00:00: Warning x", "json").kind).toBe("lines"); // reported as invalid JSON lines
    expect(layout('{\n  "a": ', "json")).toMatchObject({ kind: "broken" });
    expect(layout('{"cut": \n{"ok":1}\n', "json").kind).toBe("lines"); // broken first line, good second
    expect(layout(fixture("cloudtrail/record__start-logging__aws-docs.json"), "json").kind).toBe("value");
  });
});

describe("items", () => {
  it("yields array elements with their index as path", () => {
    const it = all('[{"a":1},{"b":2}]', "json");
    expect(it).toEqual([
      { type: "value", value: { a: 1 }, path: "[0]" },
      { type: "value", value: { b: 2 }, path: "[1]" },
    ]);
  });

  it("yields NDJSON lines with their line number, keeps good lines beside bad ones, skips blank lines", () => {
    const it = all('{"a":1}\r\n\n{"b":\n{"c":3}', "ndjson");
    expect(it.map((x) => [x.type, x.path])).toEqual([
      ["value", "line 1"],
      ["error", "line 3"],
      ["value", "line 4"],
    ]);
    expect(it[1]).toMatchObject({ raw: '{"b":', reason: expect.stringMatching(/^invalid JSON/) as unknown as string });
    expect(it[0]).toMatchObject({ raw: '{"a":1}' });
  });

  it("strips the RS of JSON text sequences (RFC 7464)", () => {
    expect(all('\u001e{"a":1}\n\u001e{"b":2}\n', "ndjson").map((x) => x.type)).toEqual(["value", "value"]);
  });

  it("reports lines over maxRecordBytes without parsing them (bytes, not UTF-16 units)", () => {
    const it = all(`{"a":"${"é".repeat(30)}"}\n{"b":1}`, "ndjson", 40);
    expect(it[0]).toMatchObject({ type: "error", path: "line 1", reason: "record is 68 bytes, more than limits.maxRecordBytes (40)" });
    expect(it[1]!.type).toBe("value");
  });

  it("keeps integers beyond 2^53 exact (Falco evt.time)", () => {
    const [v] = all('{"evt.time": 1684986413000123456}', "json");
    expect(v).toMatchObject({ value: { "evt.time": "1684986413000123456" } });
  });

  it("frame() keeps the CLI/bench shape", () => {
    const f = frame('{"a":1}\nnope\n{"b":2}', "application/x-ndjson");
    expect(f.values).toEqual([{ a: 1 }, { b: 2 }]);
    expect(f.paths).toEqual(["line 1", "line 3"]);
    expect(f.errors).toEqual([{ index: 1, path: "line 2", reason: expect.stringMatching(/^invalid JSON/) as unknown as string }]);
    expect(frame("12:00: Warning x\n", "text/plain").textLines).toEqual(["12:00: Warning x"]);
  });

  it("never throws on arbitrary text, whatever the framing", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), fc.constantFrom("json", "ndjson", "text", "sniff" as const), (text, framing) => {
        const out = all(text, framing, 100);
        for (const x of out) expect(["value", "text", "error"]).toContain(x.type);
      }),
      { numRuns: 500 },
    );
  });
});

describe("checkRecord", () => {
  it("measures depth iteratively (a flat object is depth 1)", () => {
    expect(checkRecord({ a: 1 }, 1)).toBeUndefined();
    expect(checkRecord({ a: { b: 1 } }, 1)).toMatch(/maxDepth \(1\)/);
    expect(checkRecord([[["x"]]], 3)).toBeUndefined();
    expect(checkRecord([[["x"]]], 2)).toMatch(/maxDepth/);
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(checkRecord(deep as never, 64)).toMatch(/maxDepth \(64\)/);
  });

  it("estimates size only when asked", () => {
    const rec = { s: "x".repeat(1000), n: [1, 2, 3] };
    expect(checkRecord(rec, 64)).toBeUndefined();
    expect(checkRecord(rec, 64, 2000)).toBeUndefined();
    expect(checkRecord(rec, 64, 900)).toMatch(/maxRecordBytes/);
    expect(checkRecord("y".repeat(50), 64, 10)).toMatch(/maxRecordBytes/);
  });
});

/** What the ingest loop counts: one per error or text line, the unwrapped records of each value. */
const counted = (text: string, framing: Framing, max?: number) => {
  let n = 0;
  for (const it of itemsOf(text, layout(text, framing, { maxRecordBytes: max }), { maxRecordBytes: max })) n += it.type === "value" ? unwrap(it.value, it.path, []).length : 1;
  return n;
};

describe("byte counting", () => {
  it("utf8Length matches TextEncoder, oversize only computes it near the limit", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (s) => {
        expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
      }),
    );
    expect(oversize("abc", 10)).toBeUndefined();
    expect(oversize("é".repeat(6), 10)).toBe(12);
    expect(oversize("x".repeat(11), 10)).toBe(11);
    expect(oversize("x".repeat(11), undefined)).toBeUndefined();
  });

  it("countRecords is the number of records the ingest loop counts (containers unwrapped), for any body", () => {
    const rec = fc.oneof(fc.constant('{"rule":"r","output":"o"}'), fc.constant('{"note":"has \\"items\\": inside a string"}'), fc.json({ maxDepth: 2 }));
    const part = fc.oneof(
      rec,
      fc.array(rec, { maxLength: 4 }).map((a) => `[${a.join(",")}]`),
      fc.array(fc.array(rec, { maxLength: 3 }).map((a) => `[${a.join(",")}]`), { maxLength: 3 }).map((a) => `[${a.join(",")}]`),
      fc.array(rec, { maxLength: 4 }).map((a) => `{"kind":"EventList","items":[${a.join(",")}]}`),
      fc.array(rec, { maxLength: 4 }).map((a) => `{"Records":[${a.join(",")}]}`),
      fc.array(rec, { maxLength: 4 }).map((a) => `{"Records":[${a.join(",")}],"a":1,"b":2}`),
      fc.constantFrom("", "   ", "\u001e{\"a\":1}", "\u001e", "not json", '{"items": [1,2', "[1,2"),
    );
    fc.assert(
      fc.property(fc.array(part, { maxLength: 8 }), fc.constantFrom<Framing>("json", "ndjson", "sniff", "text"), fc.option(fc.integer({ min: 5, max: 60 }), { nil: undefined }), fc.boolean(), (parts, framing, max, crlf) => {
        const text = parts.join(crlf ? "\r\n" : "\n");
        const opts = { maxRecordBytes: max };
        expect(countRecords(text, layout(text, framing, opts), opts)).toBe(counted(text, framing, max));
      }),
      { numRuns: 500 },
    );
    // one value: a whole-body EventList, nested arrays (two levels unwrapped), a CloudTrail file
    const one = (t: string) => countRecords(t, layout(t, "json"));
    expect(one('{"kind":"EventList","items":[{},{},{}]}')).toBe(3);
    expect(one("[[{},{}],[{}],{}]")).toBe(4);
    expect(one('{"Records":[{},{}]}\n{"Records":[{}]}')).toBe(3);
  });

  it("recordCount(v) is unwrap(v).length for every value of every fixture, and countRecords what the ingest loop counts", () => {
    let opened = 0;
    for (const f of fixtures) {
      expect(countRecords(f.text, layout(f.text, "sniff")), f.name).toBe(counted(f.text, "sniff"));
      for (const it of items(f.text, "sniff")) {
        if (it.type !== "value") continue;
        const records = unwrap(it.value, it.path, []);
        expect(recordCount(it.value), `${f.name} ${it.path}`).toBe(records.length);
        if (records.some((r) => r.path !== (it.path === "" ? "(body)" : it.path))) opened++;
      }
    }
    expect(opened).toBeGreaterThan(0); // the fixtures hold containers and envelopes (CloudTrail files, EventBridge events)
  });

  it("countLines counts lines with content", () => {
    expect(countLines("a\n\n  \nb\r\nc")).toBe(3);
    expect(countLines("")).toBe(0);
  });
});
