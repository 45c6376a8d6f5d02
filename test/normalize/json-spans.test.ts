// The JSON span scanner (src/normalize/json-spans.ts) and its use for raw_data: array elements, container
// records (EventList items, CloudTrail Records[], EventBridge detail) keep their exact text.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { arraySpans, elementTexts, memberText, objectSpans, valueEnd } from "../../src/normalize/json-spans";
import { unwrap, type Unwrapped } from "../../src/normalize/detect";
import { parseJson, type Json } from "../../src/normalize/json";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { fixture } from "../support/fixtures";

describe("json-spans scanner", () => {
  it("finds element texts through strings holding brackets, escaped quotes, backslashes and Unicode", () => {
    const parts = [
      '"]},{["',
      '"a \\" ] still a string"',
      '"ends in a backslash \\\\"',
      '{"k":"\\"}","n":[1,[2,{"x":"]"}]]}',
      '"ünïcødé 😀 \\ud83d\\ude00 \\u005d"',
      "-1.5e+10",
      "12345678901234567890",
      "true",
      "false",
      "null",
      "[]",
      "{}",
      '{ "a" : [ ] , "b" : { } }',
    ];
    const text = ` [ ${parts.join(" ,\n\t")}\r\n ] `;
    expect(elementTexts(text)).toEqual(parts);
    const whole = JSON.parse(text) as Json[];
    elementTexts(text)!.forEach((t, i) => expect(JSON.parse(t)).toEqual(whole[i]));
  });

  it("empty and one-element arrays; a text that is not an array has no element texts", () => {
    expect(elementTexts("[]")).toEqual([]);
    expect(elementTexts("[ \n ]")).toEqual([]);
    expect(elementTexts("[7]")).toEqual(["7"]);
    expect(elementTexts('{"a":1}')).toBeUndefined();
    expect(arraySpans('x["a"]', 1)).toEqual([2, 5]);
  });

  it("valueEnd: each kind of value", () => {
    expect(valueEnd('"a\\\\"b', 0)).toBe(5);
    expect(valueEnd('"\\\\\\""x', 0)).toBe(6);
    expect(valueEnd("123,4", 0)).toBe(3);
    expect(valueEnd("null]", 0)).toBe(4);
    expect(valueEnd('{"a":"}"} tail', 0)).toBe(9);
  });

  it("member texts: escaped keys are decoded, the last of duplicate keys wins (as JSON.parse)", () => {
    const text = '{ "a\\u0062" : [1, 2] , "x": "}" , "x" :{"y":"{"} }';
    expect(objectSpans(text, 0).map((m) => [m.key, text.slice(m.start, m.end)])).toEqual([
      ["ab", "[1, 2]"],
      ["x", '"}"'],
      ["x", '{"y":"{"}'],
    ]);
    expect(memberText(text, "x")).toBe('{"y":"{"}');
    expect(memberText(text, "ab")).toBe("[1, 2]");
    expect(memberText(text, "none")).toBeUndefined();
    expect(memberText("[1]", "a")).toBeUndefined();
    expect(objectSpans("{}", 0)).toEqual([]);
  });
});

/** Serializes a value with varied whitespace, \u escapes and long integers, from a cycle of choices. */
function serialize(v: Json, choices: number[]): string {
  let k = 0;
  const next = () => choices[k++ % choices.length]!;
  const WS = ["", " ", "\n", "\t ", "\r\n  "];
  const ws = () => WS[next() % WS.length]!;
  const str = (s: string) => {
    let out = '"';
    for (const ch of s) {
      const c = ch.codePointAt(0)!;
      if (ch === '"' || ch === "\\" || c < 0x20) out += JSON.stringify(ch).slice(1, -1);
      else if (next() % 5 === 0 && c <= 0xffff) out += "\\u" + c.toString(16).padStart(4, "0");
      else out += ch;
    }
    return out + '"';
  };
  const walk = (x: Json): string => {
    if (x === null || typeof x === "boolean") return String(x);
    if (typeof x === "number") return next() % 4 === 0 && Number.isInteger(x) ? `${x < 0 ? "-" : ""}9007199254740993${Math.abs(x) % 1000}` : JSON.stringify(x);
    if (typeof x === "string") return str(x);
    if (Array.isArray(x)) return `[${ws()}${x.map((y) => walk(y) + ws()).join(`,${ws()}`)}]`;
    return `{${ws()}${Object.keys(x)
      .map((key) => `${str(key)}${ws()}:${ws()}${walk(x[key]!)}${ws()}`)
      .join(`,${ws()}`)}}`;
  };
  return ws() + walk(v) + ws();
}

const value = fc.jsonValue({ maxDepth: 4, stringUnit: "grapheme" }) as fc.Arbitrary<Json>;
const choices = fc.array(fc.nat(), { minLength: 1, maxLength: 50 });

describe("json-spans property", () => {
  it("element slices re-parse to the elements of JSON.parse of the whole (and of parseJson)", () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 8 }), choices, (arr, ch) => {
        const text = serialize(arr, ch);
        const texts = elementTexts(text)!;
        const whole = JSON.parse(text) as Json[];
        const exact = parseJson(text) as Json[];
        expect(texts).toHaveLength(whole.length);
        texts.forEach((t, i) => {
          expect(t).toBe(t.trim());
          expect(JSON.parse(t)).toEqual(whole[i]);
          expect(parseJson(t)).toEqual(exact[i]);
        });
      }),
      { numRuns: 300 },
    );
  });

  it("member slices re-parse to the members of JSON.parse of the whole", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: "grapheme", maxLength: 6 }), value, { maxKeys: 6 }), choices, (o, ch) => {
        const text = serialize(o, ch);
        const whole = JSON.parse(text) as Record<string, Json>;
        const start = text.indexOf("{");
        expect(new Set(objectSpans(text, start).map((m) => m.key))).toEqual(new Set(Object.keys(whole)));
        for (const key of Object.keys(whole)) expect(JSON.parse(memberText(text, key)!)).toEqual(whole[key]);
      }),
      { numRuns: 300 },
    );
  });
});

const rawOf = (rs: Unwrapped[]) => rs.map((r) => r.raw);

describe("unwrap with the value's text", () => {
  const k8s = [fixture("k8s-audit/falco-trace__create_secret.json").trim(), fixture("k8s-audit/falco-trace__attach_pod.json").trim()];

  it("EventList items, Records[], EventBridge detail, a container inside an array: each record its exact slice", () => {
    const list = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},\n "items": [\n${k8s.join(",\n")}\n]}`;
    expect(rawOf(unwrap(parseJson(list), "", [], 0, list))).toEqual(k8s);

    const trail = fixture("cloudtrail/records__iam-create-user__aws-docs.json");
    const recs = unwrap(parseJson(trail), "", [], 0, trail.trim());
    expect(recs.length).toBeGreaterThan(0);
    recs.forEach((r) => {
      expect(trail).toContain(r.raw!);
      expect(parseJson(r.raw!)).toEqual(r.record);
    });

    const eb = fixture("cloudtrail/eventbridge__s3-createbucket__aws-cwe-docs.json");
    const [d] = unwrap(parseJson(eb), "", [], 0, eb.trim());
    expect(eb).toContain(d!.raw!);
    expect(d!.raw!.startsWith("{")).toBe(true);
    expect(parseJson(d!.raw!)).toEqual(d!.record);

    // (an array inside an array is a record, not a container: test/routes/decode.test.ts)
    const nested = `[{"kind":"EventList","items":[${k8s[0]}]}, ${k8s[1]}]`;
    expect(rawOf(unwrap(parseJson(nested), "", [], 0, nested))).toEqual(k8s);
  });

  it("without a text, or a text that does not match the value, no raw", () => {
    expect(rawOf(unwrap(parseJson(`[${k8s[0]}]`), "", []))).toEqual([undefined]);
    expect(rawOf(unwrap(parseJson(`[${k8s[0]},${k8s[1]}]`), "", [], 0, `[${k8s[0]}]`))).toEqual([undefined, undefined]);
  });
});

describe("raw_data through frame and runPipeline", () => {
  const falco = fixture("falco/terminal-shell-in-container__falco-docs.json").trim();
  const ctx = { ocsfVersion: "1.3.0", receivedAt: 0 };
  const run = (text: string, ct: string, rawData: boolean) => {
    const f = frame(text, ct, { texts: rawData });
    return runPipeline(f.values, f.paths, f.textLines, { ctx: { ...ctx, rawData } }, f.texts).events.map((e) => e.event);
  };

  it("an array of Falco alerts: raw_data is each element's slice, the long evt.time a bare number; uids as without raw_data", () => {
    const body = `[\n  ${falco},\n  ${falco.replace('"Critical"', '"Warning"')}\n]`;
    const on = run(body, "application/json", true);
    const off = run(body, "application/json", false);
    expect(on.map((e) => e.raw_data)).toEqual(elementTexts(body));
    expect(on[0]!.raw_data).toBe(falco);
    expect(falco).toMatch(/"evt\.time":\s*1685022245478445995\b/);
    expect(off.every((e) => e.raw_data === undefined)).toBe(true);
    expect(on.map((e) => e.metadata.uid)).toEqual(off.map((e) => e.metadata.uid));
    const { raw_data: _drop, ...rest } = on[1]!;
    expect(rest).toEqual(off[1]);
  });

  it("a record without its text (no texts given) still gets the written-out record", () => {
    const f = frame(falco, "application/json");
    const [ev] = runPipeline(f.values, f.paths, f.textLines, { ctx: { ...ctx, rawData: true } }).events;
    expect(JSON.parse(ev!.event.raw_data!)).toEqual(parseJson(falco));
  });
});
