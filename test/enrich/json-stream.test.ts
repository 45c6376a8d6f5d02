// The incremental JSON scanner (src/enrich/json-stream.ts) and the streamed MISP/STIX parsers on it:
// every chunk split of small documents (brackets and quotes inside strings, escaped quotes and
// backslashes, escaped keys, Unicode split across text pieces and across UTF-8 bytes), and fast-check
// properties: random chunking gives what the whole text gives, and what JSON.parse of the whole gives.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import mispEvent from "./samples/misp-event.json?raw";
import stixBundle from "./samples/stix-bundle.json?raw";
import { JsonScanner, JsonScanError, type JsonContainer } from "../../src/enrich/json-stream";
import { feedTextParser, parseFeed, mispAttribute, stixObject, FeedParseError, type ParseStats } from "../../src/enrich/feeds";
import { feedSchema, type FeedConfig } from "../../src/config/enrich";
import type { Classified } from "../../src/enrich/indicator";

/**
 * Test walk: a root array's elements are captured; in a root object, "items" (an array) is entered and
 * its elements captured, "meta" captured whole, "nested" entered as another such object, the rest skipped.
 */
function collector(): { root: JsonContainer; elements: unknown[]; meta: unknown[] } {
  const elements: unknown[] = [];
  const meta: unknown[] = [];
  const items: JsonContainer = { enter: () => "capture", value: (_k, t) => elements.push(JSON.parse(t)) };
  const obj: JsonContainer = {
    enter(key, first) {
      if (key === "items" && first === 91) return items;
      if (key === "nested" && first === 123) return obj;
      return key === "meta" ? "capture" : "skip";
    },
    value: (_k, t) => meta.push(JSON.parse(t)),
  };
  const root: JsonContainer = { enter: (_k, first) => (first === 91 ? items : first === 123 ? obj : "skip") };
  return { root, elements, meta };
}

/** What the collector should find, from JSON.parse of the whole text. */
function expected(text: string): { elements: unknown[]; meta: unknown[] } {
  const v = JSON.parse(text) as unknown;
  if (Array.isArray(v)) return { elements: v, meta: [] };
  const elements: unknown[] = [];
  const meta: unknown[] = [];
  const walk = (o: Record<string, unknown>) => {
    for (const [k, x] of Object.entries(o)) {
      if (k === "items" && Array.isArray(x)) elements.push(...(x as unknown[]));
      else if (k === "nested" && x && typeof x === "object" && !Array.isArray(x)) walk(x as Record<string, unknown>);
      else if (k === "meta") meta.push(x);
    }
  };
  walk(v as Record<string, unknown>);
  return { elements, meta };
}

function scan(pieces: string[], max = 1_000_000): { elements: unknown[]; meta: unknown[] } {
  const c = collector();
  const s = new JsonScanner(c.root, max);
  for (const p of pieces) s.push(p);
  s.end();
  return { elements: c.elements, meta: c.meta };
}

/** text cut at the given positions (taken modulo its length + 1). */
function chunked(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let prev = 0;
  for (const c of at) {
    pieces.push(text.slice(prev, c));
    prev = c;
  }
  pieces.push(text.slice(prev));
  return pieces;
}

const DOCS = [
  `[1, "a]b", {"k":"}{"}, [ "\\"", "\\\\" ], null, true, -2.5e3, "é😀", {"q":"\\\\\\"]"}, []]`,
  `{"skip": {"x": "]]]\\"[[[", "y": [1,{"z":"}"}]}, "items": [ {"a": "\\\\\\""}, "😀" , 3, false], "meta": "m}", "tail": "}"}`,
  `{"it\\u0065ms": ["\\u00e9\\ud83d\\ude00", {"]":"["}], "nested": {"meta": {"deep": ["x"]}, "items": [0.5, "𝄞"]}, "n": -0}`,
  `[]`,
  `{"items": []}`,
];

describe("JsonScanner", () => {
  it("finds the same elements for every split of each document into three pieces (compact and pretty-printed)", () => {
    let checked = 0;
    for (const compact of DOCS) {
      for (const text of [compact, JSON.stringify(JSON.parse(compact), null, 2), `\ufeff ${compact}\n`]) {
        const want = expected(text.replace(/^\ufeff/, ""));
        for (let i = 0; i <= text.length; i++) {
          for (let j = i; j <= text.length; j++) {
            expect(scan([text.slice(0, i), text.slice(i, j), text.slice(j)])).toEqual(want);
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(10_000);
  });

  it("decodes UTF-8 split anywhere between byte chunks (TextDecoder stream mode)", () => {
    for (const compact of DOCS) {
      const bytes = new TextEncoder().encode(compact);
      const want = expected(compact);
      for (let i = 0; i <= bytes.length; i++) {
        for (let j = i; j <= bytes.length; j += 3) {
          const d = new TextDecoder();
          const pieces = [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)].map((b) => d.decode(b, { stream: true }));
          pieces.push(d.decode());
          expect(scan(pieces)).toEqual(want);
        }
      }
    }
  });

  it("refuses every truncation, structure errors with their position, and captured values over the limit", () => {
    for (const text of DOCS) {
      for (let i = 0; i < text.length; i++) {
        expect(() => scan([text.slice(0, i)])).toThrow(JsonScanError);
      }
    }
    expect(() => scan(['{"items": [1 2]}'])).toThrow('expected "," or "]", found "2" at character 13');
    expect(() => scan(['{"items": [1]]'])).toThrow('expected "," or "}", found "]" at character 13');
    expect(() => scan(['{"items" [1]}'])).toThrow('expected ":", found "[" at character 9');
    expect(() => scan(["[1] [2]"])).toThrow('unexpected "[" after the JSON value at character 4');
    expect(() => scan(["<html>"])).toThrow('unexpected "<" at character 0');
    expect(() => scan(["{", '"items": [', '"abcdef', 'ghij"]}'], 8)).toThrow(expect.objectContaining({ kind: "limit" }));
    expect(scan(['{"items": [', '"abcdef', '"]}'], 8).elements).toEqual(["abcdef"]);
    // skipped values are not held: their size is not limited
    expect(scan([`{"skip": "${"x".repeat(100)}", "items": [1]}`], 8).elements).toEqual([1]);
  });

  it("property: random chunking of arbitrary JSON (full Unicode strings) yields the elements of JSON.parse", () => {
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue({ maxDepth: 3, stringUnit: "binary" }), { maxLength: 8 }),
        fc.constantFrom(undefined, 1, "\t"),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 6 }),
        (elements, space, wrap, cutsRaw) => {
          const text = wrap ? JSON.stringify({ head: elements, items: elements, meta: elements[0] ?? null }, null, space) : JSON.stringify(elements, null, space);
          expect(scan(chunked(text, cutsRaw))).toEqual(expected(text));
        },
      ),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// the MISP and STIX parsers on the scanner

const NOW = Date.parse("2025-06-02T00:00:00Z");
type Out = [string, string, number | undefined];

function feed(over: Partial<FeedConfig>): FeedConfig {
  return feedSchema.parse({ name: "t", indicators: ["x"], ...over }) as FeedConfig;
}

function streamed(pieces: string[], f: FeedConfig): { out: Out[]; st: ParseStats } {
  const out: Out[] = [];
  const p = feedTextParser(f, (c: Classified, conf) => out.push([c.kind, c.value, conf]), NOW);
  for (const x of pieces) p.push(x);
  return { out, st: p.end() };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The whole-document reading (JSON.parse of the text, then the element rules): the reference. */
function wholeDocument(text: string, f: FeedConfig): { out: Out[]; st: ParseStats } {
  const out: Out[] = [];
  const emit = (c: Classified, conf?: number) => out.push([c.kind, c.value, conf]);
  const st: ParseStats = { indicators: 0, invalid: 0, skipped: 0, samples: [] };
  const root = JSON.parse(text) as unknown;
  if (f.format === "stix") {
    const objects = isObj(root) ? (root.objects as unknown[]) : (root as unknown[]);
    for (const o of objects) stixObject(o, st, f.type, emit, NOW);
    return { out, st };
  }
  const fromEvent = (ev: unknown) => {
    if (!isObj(ev)) return;
    const e = isObj(ev.Event) ? ev.Event : ev;
    if (Array.isArray(e.Attribute)) for (const a of e.Attribute) mispAttribute(a, st, f.type, f.mispToIdsOnly, emit);
    if (Array.isArray(e.Object)) for (const o of e.Object) if (isObj(o) && Array.isArray(o.Attribute)) for (const a of o.Attribute) mispAttribute(a, st, f.type, f.mispToIdsOnly, emit);
  };
  if (Array.isArray(root)) root.forEach(fromEvent);
  else if (isObj(root) && Array.isArray(root.response)) root.response.forEach(fromEvent);
  else if (isObj(root) && isObj(root.response)) fromEvent(root.response);
  else fromEvent(root);
  return { out, st };
}

const sorted = (out: Out[]) => out.map((o) => JSON.stringify(o)).sort();
const counts = (st: ParseStats) => ({ indicators: st.indicators, invalid: st.invalid, skipped: st.skipped });

describe("streamed MISP and STIX feeds", () => {
  it("give the whole document's indicators for every split of the samples into two pieces", () => {
    for (const [text, format] of [
      [mispEvent, "misp"],
      [stixBundle, "stix"],
    ] as const) {
      const f = feed({ format });
      const whole = parseFeed(text, f, () => {}, NOW);
      const ref = wholeDocument(text, f);
      expect(counts(whole)).toEqual(counts(ref.st));
      for (let i = 0; i <= text.length; i++) {
        const r = streamed([text.slice(0, i), text.slice(i)], f);
        expect(r.out).toEqual(ref.out); // the samples list attributes before objects: same order too
        expect(counts(r.st)).toEqual(counts(ref.st));
      }
    }
  });

  // values: good ones, near misses, and strings made to trouble a scanner
  const tricky = fc.constantFrom('a"]}b', "\\", "\\\"", "[{", "é😀", "}\"{", "\u2028");
  const ip = fc.tuple(fc.nat(255), fc.nat(255)).map(([a, b]) => `203.0.${a}.${b}`);
  const domain = fc.tuple(fc.constantFrom("evil", "c2", "x-y", "bad"), fc.nat(50)).map(([w, n]) => `${w}${n}.example`);
  const hash = fc.stringMatching(/^[0-9a-f]{64}$/);
  const md5 = fc.stringMatching(/^[0-9a-f]{32}$/);
  const junk = fc.oneof(tricky, fc.string({ unit: "binary", maxLength: 12 }));
  const extra = fc.dictionary(fc.constantFrom("comment", "uuid", "Tag", "x]", 'q"'), fc.jsonValue({ maxDepth: 2, stringUnit: "binary" }), { maxKeys: 2 });

  const mispAttr = fc
    .tuple(
      fc.oneof(
        fc.tuple(fc.constantFrom("ip-dst", "ip-src"), ip),
        fc.tuple(fc.constant("ip-dst|port"), ip.map((v) => `${v}|443`)),
        fc.tuple(fc.constantFrom("domain", "hostname"), domain),
        fc.tuple(fc.constant("domain|ip"), fc.tuple(domain, ip).map(([d, i]) => `${d}|${i}`)),
        fc.tuple(fc.constant("url"), domain.map((d) => `http://${d}/a]b`)),
        fc.tuple(fc.constant("sha256"), hash),
        fc.tuple(fc.constant("filename|md5"), md5.map((h) => `a"b.exe|${h}`)),
        fc.tuple(fc.constantFrom("comment", "ip-dst", "domain", "weird"), junk),
      ),
      fc.constantFrom(true, false, "1", undefined),
      fc.constantFrom(false, true, undefined),
      extra,
    )
    .map(([[type, value], to_ids, deleted, more]) => ({ ...more, type, value, ...(to_ids === undefined ? {} : { to_ids }), ...(deleted === undefined ? {} : { deleted }) }));
  const mispEventArb = fc
    .tuple(fc.array(mispAttr, { maxLength: 6 }), fc.array(fc.array(mispAttr, { maxLength: 3 }), { maxLength: 2 }), extra, fc.boolean())
    .map(([attrs, objs, more, objectsFirst]) => {
      const Object = objs.map((a) => ({ name: "file", Attribute: a }));
      return objectsFirst ? { ...more, Object, Attribute: attrs } : { info: "x", ...more, Attribute: attrs, Object };
    });
  const mispDoc = fc.oneof(
    mispEventArb.map((e) => ({ Event: e })),
    fc.array(mispEventArb.map((e) => ({ Event: e })), { minLength: 1, maxLength: 3 }).map((r) => ({ response: r })),
    fc.array(mispAttr, { maxLength: 5 }).map((a) => ({ response: { Attribute: a } })),
    fc.array(mispEventArb, { minLength: 1, maxLength: 3 }),
  );

  const pattern = fc.oneof(
    ip.map((v) => `[ipv4-addr:value = '${v}']`),
    fc.tuple(domain, domain).map(([a, b]) => `[domain-name:value = '${a}'] OR [domain-name:value = '${b}']`),
    hash.map((h) => `[file:hashes.'SHA-256' = '${h}']`),
    domain.map((d) => `[url:value = 'http://${d}/it\\'s"]']`),
    fc.tuple(ip, ip).map(([a, b]) => `[ipv4-addr:value = '${a}' AND ipv4-addr:value = '${b}']`),
    junk.map((j) => `[domain-name:value = '${j.replace(/'/g, "")}']`),
  );
  const stixObj = fc.oneof(
    fc
      .tuple(pattern, fc.option(fc.integer({ min: -10, max: 120 })), fc.constantFrom(false, true), fc.constantFrom(undefined, "2020-01-01T00:00:00Z", "2030-01-01T00:00:00Z"), extra)
      .map(([p, conf, revoked, until, more]) => ({ ...more, type: "indicator", id: `indicator--${p.length}`, pattern: p, pattern_type: "stix", ...(conf === null ? {} : { confidence: conf }), ...(revoked ? { revoked } : {}), ...(until ? { valid_until: until } : {}) })),
    extra.map((more) => ({ ...more, type: "identity", name: "CTI ]} org" })),
  );
  const stixDoc = fc.tuple(fc.array(stixObj, { maxLength: 8 }), fc.boolean(), fc.boolean()).map(([objects, typeLast, bare]) => (bare ? objects : typeLast ? { id: "bundle--1", objects, type: "bundle" } : { type: "bundle", id: "bundle--1", objects }));

  for (const [format, doc] of [
    ["misp", mispDoc],
    ["stix", stixDoc],
  ] as const) {
    it(`property (${format}): random chunking gives the indicators and counts of the whole-document parse`, () => {
      fc.assert(
        fc.property(doc as fc.Arbitrary<unknown>, fc.constantFrom(undefined, 1), fc.array(fc.nat(), { maxLength: 10 }), fc.constantFrom("auto", "ip", "domain") as fc.Arbitrary<FeedConfig["type"]>, (value, space, cuts, type) => {
          const text = JSON.stringify(value, null, space);
          const f = feed({ format, type, mispToIdsOnly: true });
          let ref: { out: Out[]; st: ParseStats };
          try {
            ref = wholeDocument(text, f);
          } catch {
            return; // not a shape the reference walks (never generated)
          }
          const shapeless = format === "misp" && !/"(Attribute|Object)"\s*:\s*\[/.test(text);
          if (shapeless) {
            expect(() => streamed(chunked(text, cuts), f)).toThrow(FeedParseError);
            return;
          }
          const r = streamed(chunked(text, cuts), f);
          expect(sorted(r.out)).toEqual(sorted(ref.out));
          expect(counts(r.st)).toEqual(counts(ref.st));
          expect(counts(parseFeed(text, f, () => {}, NOW))).toEqual(counts(ref.st));
        }),
        { numRuns: 300 },
      );
    });
  }
});
