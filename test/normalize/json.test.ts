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
