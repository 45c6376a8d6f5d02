// parseJson / quoteLongIntegers: integers beyond 2^53 (Falco evt.time in ns) survive as exact decimal strings.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { parseJson, quoteLongIntegers, str, int, isoToMs, obj, get } from "../../src/normalize/json";

describe("quoteLongIntegers", () => {
  it("quotes integers that a double cannot hold exactly", () => {
    expect(quoteLongIntegers('{"t":1618082841038853452}')).toBe('{"t":"1618082841038853452"}');
    expect(quoteLongIntegers("[9007199254740993,1]")).toBe('["9007199254740993",1]');
  });
  it("leaves safe integers alone, including 16-digit ones", () => {
    expect(quoteLongIntegers('{"a":9007199254740991,"b":1234567890123456}')).toBe('{"a":9007199254740991,"b":1234567890123456}');
    expect(quoteLongIntegers('{"a":42}')).toBe('{"a":42}');
  });
  it("quotes negative long integers with their sign", () => {
    expect(quoteLongIntegers('{"a":-9223372036854775808,"b":-5}')).toBe('{"a":"-9223372036854775808","b":-5}');
  });
  it("leaves floats and exponents alone (they are doubles anyway)", () => {
    const text = '{"a":12345678901234567890.5,"b":1.2345678901234567890,"c":12345678901234567890e3,"d":-1E+25,"e":0.000000000000000001}';
    expect(quoteLongIntegers(text)).toBe(text);
  });
  it("never touches digits inside strings, keys, or after escaped quotes", () => {
    const text = '{"12345678901234567890":"id 12345678901234567890","s":"say \\"12345678901234567890\\" twice","p":"C:\\\\","n":12345678901234567890}';
    expect(quoteLongIntegers(text)).toBe(
      '{"12345678901234567890":"id 12345678901234567890","s":"say \\"12345678901234567890\\" twice","p":"C:\\\\","n":"12345678901234567890"}',
    );
  });
  it("handles a number at the very end of the text and unicode escapes", () => {
    expect(quoteLongIntegers("12345678901234567890")).toBe('"12345678901234567890"');
    expect(quoteLongIntegers('["\\u0022",12345678901234567890]')).toBe('["\\u0022","12345678901234567890"]');
  });
});

describe("parseJson", () => {
  it("keeps evt.time exact, and parses everything else like JSON.parse", () => {
    expect(parseJson('{"output_fields":{"evt.time":1685022245478445995,"proc.pid":42,"x":[1.5,null,true]}}')).toEqual({
      output_fields: { "evt.time": "1685022245478445995", "proc.pid": 42, x: [1.5, null, true] },
    });
  });
  it("takes the fast path when there is no long digit run (same result as JSON.parse)", () => {
    const text = '{"a":"b","c":[1,2,3],"d":{"e":-1.5e3}}';
    expect(parseJson(text)).toEqual(JSON.parse(text));
  });
  it("still rejects invalid JSON", () => {
    expect(() => parseJson('{"a":12345678901234567890')).toThrow();
    expect(() => parseJson("{nope}")).toThrow();
  });
  it("property: any integer round-trips exactly (as a number when safe, else as its decimal string)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }), fc.string(), (n, s) => {
        const text = `{"s":${JSON.stringify(s)},"n":${n.toString()}}`;
        const v = parseJson(text) as { n: number | string; s: string };
        expect(v.s).toBe(s);
        if (Number.isSafeInteger(Number(n))) expect(v.n).toBe(Number(n));
        else expect(v.n).toBe(n.toString());
      }),
      { numRuns: 500 },
    );
  });
  it("property: any JSON text parses like JSON.parse, except unsafe integer literals which become their digits", () => {
    // what parseJson should give: JSON.parse, with every integer literal beyond 2^53 as its decimal text
    // (fc.json writes such numbers with JSON.stringify, whose digits String() reproduces below 1e21)
    const expected = (v: unknown): unknown => {
      if (typeof v === "number") return Number.isInteger(v) && !Number.isSafeInteger(v) && Math.abs(v) < 1e21 ? String(v) : v;
      if (Array.isArray(v)) return v.map(expected);
      if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expected(x)]));
      return v;
    };
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(parseJson(text)).toEqual(expected(JSON.parse(text)));
      }),
      { numRuns: 300 },
    );
  });
});

describe("small helpers", () => {
  it("str, int, isoToMs, obj, get", () => {
    expect([str("a"), str(1), str(true), str(null), str([])]).toEqual(["a", "1", "true", undefined, undefined]);
    expect([int(3.9), int("-12"), int("12345678901234567890"), int("1.5"), int(null)]).toEqual([3, -12, undefined, undefined, undefined]);
    expect(isoToMs("2023-05-25T13:44:05.478445995Z")).toBe(Date.UTC(2023, 4, 25, 13, 44, 5, 478));
    expect(isoToMs("not a time")).toBeUndefined();
    expect(obj({ a: 1, b: undefined, c: null })).toEqual({ a: 1, c: null });
    expect(get({ a: { b: { c: 1 } } }, "a", "b", "c")).toBe(1);
    expect(get({ a: 1 }, "a", "b")).toBeUndefined();
  });
});

describe("isoToMs: the date-times sources send, and what Date.parse would wrongly take", () => {
  it("reads offsets, a missing zone as UTC, long fractions and a leap second", () => {
    expect(isoToMs("2016-08-04T16:17:57.881781397+0000")).toBe(Date.UTC(2016, 7, 4, 16, 17, 57, 881)); // Falco text alert
    expect(isoToMs("2024-01-01T10:00:00+02:00")).toBe(Date.UTC(2024, 0, 1, 8));
    expect(isoToMs("2024-01-01T10:00:00-05:30")).toBe(Date.UTC(2024, 0, 1, 15, 30));
    expect(isoToMs("2024-01-01T10:00:00")).toBe(Date.UTC(2024, 0, 1, 10));
    expect(isoToMs("2024-01-01 10:00:00.5")).toBe(Date.UTC(2024, 0, 1, 10, 0, 0, 500));
    expect(isoToMs("2018-10-26T13:18:34.902123Z")).toBe(Date.UTC(2018, 9, 26, 13, 18, 34, 902)); // k8s audit, microseconds
    expect(isoToMs("2014-03-25T21:08:14Z")).toBe(Date.UTC(2014, 2, 25, 21, 8, 14)); // CloudTrail, no fraction
    // 23:59:60 is the last millisecond of its day: same event_day, after every other instant of the minute
    expect(isoToMs("2016-12-31T23:59:60Z")).toBe(Date.UTC(2016, 11, 31, 23, 59, 59, 999));
    expect(isoToMs("2016-12-31T23:59:60.5Z")).toBe(Date.UTC(2016, 11, 31, 23, 59, 59, 999));
    expect(isoToMs("2024-02-29T00:00:00Z")).toBe(Date.UTC(2024, 1, 29));
    expect(isoToMs("0050-01-01T00:00:00Z")).toBe(new Date("0050-01-01T00:00:00Z").getTime()); // not 1950
    expect(isoToMs("0000-02-29T12:30:00.25+01:00")).toBe(new Date("0000-02-29T11:30:00.250Z").getTime()); // year 0 is a leap year, 1900 is not
  });

  it("is undefined for what is not a calendar date-time", () => {
    for (const s of ["1", "2024", "Tue Mar 05 2024", "2026-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T10:61:00Z", "2024-01-01T10:00:00+25:00", "2024-01-01", ""]) {
      expect([s, isoToMs(s)]).toEqual([s, undefined]);
    }
    expect(isoToMs(1700000000000)).toBeUndefined();
  });
});
