// Framing (pure): layouts, items in body order, record checks.
import { describe, it, expect, vi, afterEach } from "vitest";
import fc from "fast-check";
import { layout, items, itemsOf, frame, invalidJsonReason, countLines, countRecords, checkRecord, utf8Length, oversize, KEEP_CHARS, type Item, type Framing } from "../../src/routes/decode";
import { recordCount, unwrap, EmptyContainers, type Unwrapped } from "../../src/normalize/detect";
import { runPipeline } from "../../src/pipeline";
import { parseJson } from "../../src/normalize/json";
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

  it("unwraps a container line over maxRecordBytes (CloudTrail file, EventList, array): its records are measured one by one, not the line", () => {
    const rec = parseJson(fixture("cloudtrail/record__start-logging__aws-docs.json"));
    const size = JSON.stringify(rec).length;
    const max = 3 * size; // a file of 8 records is over it, each record under it
    const file = JSON.stringify({ Records: Array.from({ length: 8 }, () => rec) });
    const big = { ...(rec as object), requestParameters: { blob: "x".repeat(max) } };
    const withBig = JSON.stringify({ Records: [rec, rec, rec, big, rec] });
    const list = JSON.stringify({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items: Array.from({ length: 4 }, () => rec) });
    const array = JSON.stringify(Array.from({ length: 4 }, () => rec));
    const plain = JSON.stringify(big); // one record over the limit: refused as before
    const extra = JSON.stringify({ Records: [rec, rec, rec, rec], a: 1, b: 2 }); // no CloudTrail file (3 keys): one record
    const text = [file, withBig, list, array, plain, extra, "[not json" + "x".repeat(max)].join("\n");
    const opts = { maxRecordBytes: max };
    const l = layout(text, "ndjson", opts);
    const got = [...itemsOf(text, l, opts)];
    expect(got.map((x) => [x.type, x.path])).toEqual([
      ["value", "line 1"],
      ["value", "line 2"],
      ["value", "line 3"],
      ["value", "line 4"],
      ["error", "line 5"],
      ["error", "line 6"],
      ["error", "line 7"],
    ]);
    // no raw: like an array element's, the records have no text of their own (the ingest loop estimates each)
    for (const x of got.slice(0, 4)) expect(x).not.toHaveProperty("raw");
    for (const x of got.slice(4)) expect(x).toMatchObject({ reason: expect.stringMatching(/^record is \d+ bytes, more than limits\.maxRecordBytes/) as unknown as string });
    // what the ingest loop does with them: unwrap, then checkRecord with the limit (admit)
    const res = runPipeline(
      got.flatMap((x) => (x.type === "value" ? [x.value] : [])),
      got.flatMap((x) => (x.type === "value" ? [x.path] : [])),
      [],
      { ctx: { ocsfVersion: "1.3.0", receivedAt: 0 }, admit: (r) => checkRecord(r, 64, max) },
    );
    expect(res.total).toBe(8 + 5 + 4 + 4);
    expect(res.events).toHaveLength(20);
    expect(res.errors.map((e) => [e.index, e.path])).toEqual([[11, "line 2.Records[3]"]]);
    expect(res.errors[0]!.reason).toMatch(/limits\.maxRecordBytes/);
    // the maxRecords pre-count agrees: 21 records, and 3 errors
    expect(countRecords(text, l, opts)).toBe(21 + 3);
    expect(countRecords(text, l, opts)).toBe(counted(text, "ndjson", max));
    // with texts (ocsf.rawData): the line's text, so each record's raw_data is its own slice
    const [first] = itemsOf(text, l, { ...opts, texts: true });
    expect(first).toMatchObject({ type: "value", path: "line 1", text: file });
    expect(unwrap(first!.type === "value" ? first!.value : null, "line 1", [], 0, file).map((u) => u.raw)).toEqual(Array.from({ length: 8 }, () => JSON.stringify(rec)));
  });

  describe("a line over maxRecordBytes is parsed once for the maxRecords count and its items (ingest calls countRecords, then itemsOf)", () => {
    afterEach(() => vi.restoreAllMocks());
    const rec = parseJson(fixture("cloudtrail/record__start-logging__aws-docs.json"));
    const max = 3 * JSON.stringify(rec).length;
    /** JSON.parse calls given a text at least `len` long (parseJson may hand it a quoted copy: never shorter). */
    const parsesOf = (spy: { mock: { calls: unknown[][] } }, len: number) => spy.mock.calls.filter(([t]) => typeof t === "string" && t.length >= len).length;

    it("counted and yielded from one parse: containers (a CloudTrail file, an EventList) and a line refused for its size", () => {
      const file = JSON.stringify({ Records: Array.from({ length: 8 }, () => rec) });
      const list = JSON.stringify({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items: Array.from({ length: 5 }, () => rec) });
      const extra = JSON.stringify({ Records: Array.from({ length: 4 }, () => rec), a: 1, b: 2 }); // no container: refused whole
      const small = JSON.stringify({ Records: [rec] }); // under the limit
      const text = [file, list, extra, small].join("\n");
      const opts = { maxRecordBytes: max };
      const expected = [...itemsOf(text, layout(text, "ndjson", opts), opts)];
      const spy = vi.spyOn(JSON, "parse");
      const l = layout(text, "ndjson", opts);
      expect(countRecords(text, l, opts)).toBe(8 + 5 + 1 + 1);
      expect(countRecords(text, l, opts)).toBe(15); // counting again parses nothing again
      const got = [...itemsOf(text, l, opts)];
      expect(parsesOf(spy, Math.min(file.length, list.length, extra.length))).toBe(3); // file, list, extra: once each
      expect(got).toEqual(expected);
      expect(got.map((x) => [x.type, x.path])).toEqual([
        ["value", "line 1"],
        ["value", "line 2"],
        ["error", "line 3"],
        ["value", "line 4"],
      ]);
      // what was kept is taken when yielded: a second pass over the same layout parses again, and yields the same
      expect([...itemsOf(text, l, opts)]).toEqual(expected);
      expect(parsesOf(spy, Math.min(file.length, list.length, extra.length))).toBe(6);
    });

    it("keeps at most KEEP_CHARS of such lines parsed (bounded memory): the lines past it are parsed again when yielded, with the same items", () => {
      const records = Math.ceil(1_100_000 / JSON.stringify(rec).length);
      const file = JSON.stringify({ Records: Array.from({ length: records }, () => rec) });
      const big = { maxRecordBytes: 1_000_000 };
      const n = Math.floor(KEEP_CHARS / file.length) + 2; // two lines past the bound
      const text = Array.from({ length: n }, () => file).join("\n");
      const spy = vi.spyOn(JSON, "parse");
      const l = layout(text, "ndjson", big);
      countRecords(text, l, big);
      expect(l.kind === "lines" ? [l.parsed?.size, l.keptChars] : []).toEqual([n - 2, (n - 2) * file.length]);
      const got = [...itemsOf(text, l, big)];
      expect(parsesOf(spy, file.length)).toBe(n + 2);
      expect(got).toHaveLength(n);
      expect(got.every((x) => x.type === "value" && (x.value as { Records: unknown[] }).Records.length === records)).toBe(true);
    });

    it("a maxRecords refusal of such a line costs one parse, and no item is read", () => {
      const file = JSON.stringify({ Records: Array.from({ length: 12 }, () => rec) });
      const text = `{"rule":"r","output":"o"}\n${file}\n`;
      const opts = { maxRecordBytes: max };
      const maxRecords = 12;
      const spy = vi.spyOn(JSON, "parse");
      const l = layout(text, "ndjson", opts);
      const declared = countRecords(text, l, opts);
      expect(declared).toBe(13);
      expect(declared > maxRecords).toBe(true); // ingest answers 413 here (test/routes/limits.worker.test.ts)
      expect(parsesOf(spy, file.length)).toBe(1);
    });
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

describe("containers: one level of arrays; every element of a batch is records or an empty container", () => {
  const a = fixture("falco/terminal-shell-in-container__falco-docs.json").trim();
  /** What the ingest loop makes of a body: record paths (which are arrays), empty containers, and countRecords. */
  function accounted(text: string, framing: Framing = "json") {
    const empty = new EmptyContainers(100);
    const records: Unwrapped[] = [];
    const l = layout(text, framing);
    for (const it of itemsOf(text, l)) if (it.type === "value") unwrap(it.value, it.path, records, 0, undefined, empty);
    return { records: records.map((r) => r.path), arrays: records.filter((r) => Array.isArray(r.record)).map((r) => r.path), empty: empty.paths, count: countRecords(text, l) };
  }

  it("[[a,a],[],[[a]]]: an element array is a container, an array inside it a record (rejected), [] an empty container", () => {
    expect(accounted(`[[${a},${a}],[],[[${a}]]]`)).toEqual({ records: ["[0][0]", "[0][1]", "[2][0]"], arrays: ["[2][0]"], empty: ["[1]"], count: 3 });
  });

  it('[a,{foo},a,"str",null,[]]: five records (three of them rejected by the pipeline), the [] at index 5 listed', () => {
    expect(accounted(`[${a},{"foo":1},${a},"str",null,[]]`)).toEqual({ records: ["[0]", "[1]", "[2]", "[3]", "[4]"], arrays: [], empty: ["[5]"], count: 5 });
  });

  it("the same rule for NDJSON lines and a whole body; empty EventList / Records are listed with their member", () => {
    const lines = [`[${a},[${a}]]`, "[]", '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}', '{"Records":[]}', '[{"Records":[]},[]]'];
    expect(accounted(lines.join("\n"), "ndjson")).toEqual({
      records: ["line 1[0]", "line 1[1]", "line 5[1]"],
      arrays: ["line 1[1]", "line 5[1]"],
      empty: ["line 2", "line 3.items", "line 4.Records", "line 5[0].Records"],
      count: 3,
    });
    expect(accounted('{"Records":[]}')).toEqual({ records: [], arrays: [], empty: ["Records"], count: 0 });
    expect(accounted(`{"Records":[[${a}],${a}]}`)).toEqual({ records: [".Records[0]", ".Records[1]"], arrays: [".Records[0]"], empty: [], count: 2 });
    // the body's array is split by the framing: an empty body array has no element to list (the answer's 400 says so)
    expect(accounted("[]")).toEqual({ records: [], arrays: [], empty: [], count: 0 });
  });

  it("property: every element of a body array is accounted for (its records or an empty container), recordCount = unwrap().length", () => {
    const rec = fc.oneof(fc.constant(a), fc.json({ maxDepth: 2 }));
    const arr = (inner: fc.Arbitrary<string>, max: number) => fc.array(inner, { maxLength: max }).map((x) => `[${x.join(",")}]`);
    const element = fc.oneof(
      rec,
      arr(rec, 3),
      arr(arr(rec, 2), 2),
      arr(rec, 3).map((x) => `{"kind":"EventList","items":${x}}`),
      arr(rec, 3).map((x) => `{"Records":${x}}`),
    );
    fc.assert(
      fc.property(fc.array(element, { minLength: 1, maxLength: 6 }), (parts) => {
        const body = `[${parts.join(",")}]`;
        const got = accounted(body);
        expect(got.count).toBe(got.records.length);
        const elements = JSON.parse(body) as unknown[];
        elements.forEach((_, i) => {
          const own = (p: string) => p === `[${i}]` || p.startsWith(`[${i}][`) || p.startsWith(`[${i}].`);
          expect(got.records.some(own) || got.empty.some(own), `${body} element ${i}`).toBe(true);
        });
        for (const v of elements) expect(recordCount(v as never)).toBe(unwrap(v as never, "", []).length);
      }),
      { numRuns: 300 },
    );
  });

  it("EmptyContainers counts them all and keeps the first `max` paths", () => {
    const empty = new EmptyContainers(2);
    for (let i = 0; i < 5; i++) unwrap([], `line ${i + 1}`, [], 0, undefined, empty);
    expect([empty.count, empty.paths]).toEqual([5, ["line 1", "line 2"]]);
  });

  it("runPipeline: an array inside an array or container is rejected as such, on detection and on an explicit route", () => {
    const empty = new EmptyContainers(10);
    const ctx = { ocsfVersion: "1.3.0", receivedAt: 0 };
    for (const kind of [undefined, "falco"] as const) {
      const rec = parseJson(a);
      const res = runPipeline([[rec, [rec]], []], ["[0]", "[1]"], [], { ctx, kind, empty });
      expect(res.total).toBe(2);
      expect(res.events).toHaveLength(1);
      expect(res.errors.map((e) => [e.index, e.path])).toEqual([[1, "[0][1]"]]);
      expect(res.errors[0]!.reason).toMatch(/^an array inside an array or container is not unwrapped/);
    }
    expect(empty.paths).toEqual(["[1]", "[1]"]);
  });
});

describe("invalidJsonReason: never quotes the record (V8's message does)", () => {
  const reason = (t: string): string => {
    try {
      JSON.parse(t);
    } catch (e) {
      return invalidJsonReason(e, t);
    }
    throw new Error("parsed");
  };
  it("names the kind of error and where, for each of V8's message shapes", () => {
    const cases: [string, string][] = [
      ['{"password":S3cretPW}', "Unexpected token at position 12 (line 1 column 13)"],
      ['{"a":1,"password":S3cretPW, "b": 2222222}', "Unexpected token at position 18 (line 1 column 19)"],
      ['S3cretPWxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', "Unexpected token at position 0 (line 1 column 1)"],
      ['{"a":1,\n"p":S3cretPWxxxxxxxxxxxxxxxxxxxxxx}', "Unexpected token at position 12 (line 2 column 5)"],
      ['{"b":', "Unexpected end of JSON input at position 5 (line 1 column 6)"],
      ['{"b":1}x', "Unexpected non-whitespace character after JSON at position 7 (line 1 column 8)"],
      ["{a:1}", "Expected property name or '}' at position 1 (line 1 column 2)"],
      ['{"a":"\\q"}', "Bad escaped character at position 7 (line 1 column 8)"],
      // lines counted by "\n" only (a "\r" is in the line), and the end of input after a last "\n" is the line after it
      ['[1111111111,\r\n2,\n\nxxxxxxxxxxxxxxxxxxxxxxxxx]', "Unexpected token at position 18 (line 4 column 1)"],
      ['{"a":\n', "Unexpected end of JSON input at position 6 (line 2 column 1)"],
      // the whole (short) text quoted by V8: no position in the message, none guessed
      ['{"a":S3cret}', "Unexpected token"],
    ];
    for (const [text, want] of cases) expect(reason(text), text).toBe(`invalid JSON: ${want}`);
  });
  it("a message of another shape: a fixed text, nothing of the message", () => {
    expect(invalidJsonReason(new SyntaxError('"S3cretPW" is not valid JSON'), '"S3cretPW"')).toBe("invalid JSON (the parser's message is not repeated: it quotes the record)");
    expect(invalidJsonReason("not an error", "x")).not.toContain("x");
  });
  it("frame's errors: the record's text is not in the reason", () => {
    const f = frame('{"ok":1}\n{"password":S3cretPW}\n', "ndjson");
    expect(f.errors).toEqual([{ index: 1, path: "line 2", reason: "invalid JSON: Unexpected token at position 12 (line 1 column 13)" }]);
    const body = layout('{"a":1,\n"password":S3cretPW}\nx', "json");
    expect(body).toEqual({ kind: "broken", reason: "invalid JSON: Unexpected token at position 19 (line 2 column 12)" });
  });
});
