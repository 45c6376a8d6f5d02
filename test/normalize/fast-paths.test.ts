// The hot-path rewrites keep their outputs: stableUid (one pass for the four hashes, table hex) equals
// the four separate cyrb53 hashes it replaced; stableUidOfJson (hashing while walking) equals stableUid of
// JSON.stringify's text, and the regex-driven quoteLongIntegers equals the
// character-by-character tokenizer, on generated strings and JSON-like texts; bareObject holds input keys
// as Object.create(null) does; the hand-written checks (shortContainerId, the ATT&CK tag pre-check) answer
// as the regexes they replaced.
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { stableUid, stableUidOfJson, cyrb53 } from "../../src/normalize/uid";
import { quoteLongIntegers, quoteLongIntegersByChar, parseJson, hasLongDigitRun, longDigitRunAt, bareObject, type Json } from "../../src/normalize/json";
import { shortContainerId } from "../../src/correlate/keys";
import { mayName, TAG_PATTERNS } from "../../src/enrich/attack";
import { fixtures } from "../support/fixtures";

// the previous implementation (four separate cyrb53 hashes), kept here as the reference
const hex = (n: number, w: number) => n.toString(16).padStart(w, "0").slice(-w);
function referenceUid(s: string): string {
  const h = [0x9e3779b9, 0x85ebca6b, 0xc2b2ae35, 0x27d4eb2f].map((seed) => hex(cyrb53(s, seed) % 4294967296, 8)).join("");
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

describe("stableUid", () => {
  it("equals the four-hash reference", () => {
    for (const s of ["", "a", "falco:Terminal shell in container", "x".repeat(5000)]) expect(stableUid(s)).toBe(referenceUid(s));
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), (s) => stableUid(s) === referenceUid(s)),
      { numRuns: 5000 },
    );
  });
});

describe("stableUidOfJson", () => {
  const same = (v: Json) => expect(stableUidOfJson(v)).toBe(stableUid(JSON.stringify(v)));
  it("equals stableUid(JSON.stringify(v)) on generated JSON (any UTF-16 unit: escapes, lone surrogates)", () => {
    const cases: Json[] = [null, true, false, 0, -0, 1.5e300, -12.25e-7, "", {}, [], [[]], { a: {} }, "\u0000\b\t\n\f\r\u001f\"\\/\u007f\u2028", "\ud800", "\udc00x", "a\ud83d\ude00\ud83d"];
    for (const v of cases) same(v);
    // keys JSON.parse keeps in their own order: integer-like first, an own "__proto__"
    same(parseJson('{"b":1,"2":2,"1":[3,{"__proto__":4,"":5}],"a":"\\u00e9"}'));
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: "binary", maxDepth: 4 }), (v) => stableUidOfJson(v as Json) === stableUid(JSON.stringify(v))),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: fc.constantFrom("a", "\"", "\\", "\n", "\u0001", "\ud800", "\udc00", "\ud83d\ude00", "é"), maxDepth: 3 }), (v) => stableUidOfJson(v as Json) === stableUid(JSON.stringify(v))),
      { numRuns: 3000 },
    );
  });
  it("equals it on every fixture record", () => {
    let n = 0;
    for (const f of fixtures) {
      const values = f.name.endsWith(".ndjson") ? f.text.split("\n").filter((l) => l.trim() !== "").map(parseJson) : [parseJson(f.text)];
      for (const v of values) {
        same(v);
        n++;
      }
    }
    expect(n).toBeGreaterThan(80);
  });
});

const numTok = fc.oneof(
  fc.bigInt({ min: -(10n ** 22n), max: 10n ** 22n }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  fc.constantFrom("12345678901234567890.5", "1.2345678901234567890", "12345678901234567890e3", "1e-12345678901234567", "-1E+25", "0.000000000000000001", "-12345678901234567890"),
);
const strTok = fc
  .array(fc.constantFrom("a", "\\\\", '\\"', "1", "2", "3", "4", "5", "6", "7", "8", "9", "0", " "), { maxLength: 30 })
  .map((a) => `"${a.join("")}"`);
const tok = fc.oneof(numTok, strTok, fc.constantFrom("[", "]", "{", "}", ",", ":", '"', "\\", "-", ".", "e", "true"));

describe("quoteLongIntegers", () => {
  it("equals the character-by-character tokenizer on JSON and on malformed text", () => {
    fc.assert(
      fc.property(fc.array(tok, { maxLength: 30 }), fc.array(fc.oneof(numTok, strTok), { maxLength: 8 }), (toks, values) => {
        for (const text of [toks.join(""), `[${values.join(",")}]`, `{${values.map((v, i) => `"k${i}":${v}`).join(",")}}`]) {
          const ref = quoteLongIntegersByChar(text);
          expect(quoteLongIntegers(text)).toBe(ref);
          const at = longDigitRunAt(text);
          if (at >= 0) expect(quoteLongIntegers(text, at)).toBe(ref);
        }
      }),
      { numRuns: 5000 },
    );
  });
  it("parseJson keeps a Falco evt.time exact and strings untouched", () => {
    expect(parseJson('{"s":"1618082841038853452","t":1618082841038853452,"q":"\\"","u":12345678901234567890.5}')).toEqual({
      s: "1618082841038853452",
      t: "1618082841038853452",
      q: '"',
      u: 12345678901234567890.5,
    });
  });
});

describe("hasLongDigitRun", () => {
  it("is true exactly when 16 consecutive digits appear", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom("1", "9", "0", "a", '"', " ", "-"), { maxLength: 120 }), fc.nat(40), fc.nat(120), (chars, run, at) => {
        const base = chars.join("");
        const text = base.slice(0, at) + "7".repeat(run) + base.slice(at);
        expect(hasLongDigitRun(text)).toBe(/\d{16}/.test(text));
        expect(longDigitRunAt(text)).toBe(/\d{16}/.test(text) ? /\d{16}/.exec(text)!.index : -1);
      }),
      { numRuns: 5000 },
    );
  });
});

describe("bareObject", () => {
  it("holds input keys as Object.create(null) does (no inherited member found, __proto__ an own key, same key order)", () => {
    const keys = fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "0", "1", "10", "a", "b", "", "length");
    fc.assert(
      fc.property(fc.array(fc.tuple(keys, fc.integer()), { maxLength: 12 }), (sets) => {
        const ref = Object.create(null) as Record<string, number>;
        const bare = bareObject<Record<string, number>>();
        for (const [k, v] of sets) {
          ref[k] = v;
          bare[k] = v;
        }
        for (const k of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "0", "1", "10", "a", "b", "", "length", "x"]) expect(bare[k]).toBe(ref[k]);
        expect(Object.entries(bare)).toEqual(Object.entries(ref));
        const forIn: string[] = [];
        for (const k in bare) forIn.push(k);
        expect(forIn).toEqual(Object.keys(ref));
        expect(JSON.stringify(bare)).toBe(JSON.stringify(ref));
      }),
      { numRuns: 2000 },
    );
  });
});

// the regex each hand-written check replaced (kept here as the reference)
function referenceShortContainerId(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  const bare = id.replace(/^[\w.-]+:\/\//, "").toLowerCase();
  return /^[0-9a-f]{12,}$/.test(bare) ? bare.slice(0, 12) : undefined;
}
/** Characters around each pattern's edges, plus a few outside ASCII whose case mappings are special (K, İ, ſ). */
const edgy = (chars: string[]) => fc.array(fc.constantFrom(...chars), { maxLength: 24 }).map((a) => a.join(""));

describe("shortContainerId", () => {
  it("answers as the regex version", () => {
    const gen = fc.oneof(
      edgy(["a", "F", "0", "9", "g", ":", "/", ".", "-", "_", "\u212a", "\u0130", "\u017f"]),
      fc.tuple(edgy(["c", "r", "i", "-", ".", "_", "o", ":", "/", "A"]), fc.string({ unit: fc.constantFrom("0", "9", "a", "f", "A", "F", "g", "\u212a"), maxLength: 20 })).map(([a, b]) => `${a}://${b}`),
      fc.string({ unit: "binary", maxLength: 30 }),
      // ids of 10-20 hex digits of either case, behind a scheme or not, now and then one other character
      fc
        .tuple(
          fc.constantFrom("", "containerd://", "docker://", "cri-o://", "a.b_c://", "x y://", "://", "docker:/"),
          fc.string({ unit: fc.constantFrom("0", "9", "a", "f", "A", "F"), minLength: 10, maxLength: 20 }),
          fc.constantFrom("", "", "", "g", "\u212a", ":"),
          fc.nat(20),
        )
        .map(([scheme, hex, odd, at]) => scheme + hex.slice(0, at) + odd + hex.slice(at)),
    );
    fc.assert(
      fc.property(gen, (s) => shortContainerId(s) === referenceShortContainerId(s)),
      { numRuns: 20000 },
    );
  });
});

describe("ATT&CK tag pre-check", () => {
  it("rules out only tags that none of the tag patterns matches", () => {
    const gen = fc.oneof(
      edgy(["t", "T", "a", "A", "m", "M", "1", "0", ".", "_", "i", "r", "e", "c", "k", "\u212a", "\u0130", "\u017f"]),
      fc.string({ unit: "binary", maxLength: 20 }),
      fc.constantFrom("T1059", "ta0001", "attack.t1059", "mitre_execution", "Mitre:x", "k8s.pod:x", "container", ""),
    );
    fc.assert(
      fc.property(gen, (tag) => mayName(tag) || TAG_PATTERNS.every((re) => !re.test(tag))),
      { numRuns: 20000 },
    );
  });
});
