import { describe, it, expect } from "vitest";
import plainIps from "./samples/plain-ips.txt?raw";
import plainDomains from "./samples/plain-domains.txt?raw";
import urlhausCsv from "./samples/urlhaus.csv?raw";
import hashesCsv from "./samples/hashes-scored.csv?raw";
import mispEvent from "./samples/misp-event.json?raw";
import stixBundle from "./samples/stix-bundle.json?raw";
import { feedTextParser, parseFeed, rejectReason, simpleStixPattern, FeedParseError, type ParseStats } from "../../src/enrich/feeds";
import { compileFeed, buildFromCompiled, readCompiledHeader, CompiledReader } from "../../src/enrich/compiled";
import { IntelSetBuilder } from "../../src/enrich/intel-set";
import { feedSchema, type FeedConfig } from "../../src/config/enrich";
import type { Classified } from "../../src/enrich/indicator";

function feed(over: Partial<FeedConfig> & { name?: string }): FeedConfig {
  return feedSchema.parse({ name: "t", indicators: ["x"], ...over }) as FeedConfig;
}

function parse(text: string, f: FeedConfig, now = Date.parse("2025-06-02T00:00:00Z")): { out: [string, string, number | undefined][]; st: ParseStats } {
  const out: [string, string, number | undefined][] = [];
  const st = parseFeed(text, f, (c: Classified, conf) => out.push([c.kind, c.value, conf]), now);
  return { out, st };
}

/** text cut into pieces of `size` characters (a line, even a CR LF, falls across pieces). */
function piecesOf(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

const PIECE_SIZES = [1, 2, 3, 7, 64, 4096];

describe("text in pieces", () => {
  it("plain and CSV feeds pushed in pieces of any size parse as the whole text does (LF and CR LF)", () => {
    for (const [text, f] of [
      [plainIps, feed({ format: "plain" })],
      [plainDomains, feed({ format: "plain", type: "domain" })],
      [urlhausCsv, feed({ format: "csv" })],
      [hashesCsv, feed({ format: "csv" })],
    ] as const) {
      for (const body of [text, text.replace(/\n/g, "\r\n")]) {
        const whole = parse(body, f);
        expect(whole.st.indicators).toBeGreaterThan(0);
        for (const size of PIECE_SIZES) {
          const out: [string, string, number | undefined][] = [];
          const p = feedTextParser(f, (c: Classified, conf) => out.push([c.kind, c.value, conf]), Date.parse("2025-06-02T00:00:00Z"));
          for (const piece of piecesOf(body, size)) p.push(piece);
          expect({ out, st: p.end() }).toEqual(whole);
        }
      }
    }
  });

  it("a compiled file pushed in pieces of any size loads as the whole text does", () => {
    const f = feed({ format: "csv" });
    const c = compileFeed(urlhausCsv, f, { fetchedAt: "2025-06-02T00:00:00.000Z" }, Date.parse("2025-06-02T00:00:00Z"));
    const whole = buildFromCompiled(c.text, f.confidence);
    expect(whole.set.size).toBe(c.stats.indicators);
    for (const size of PIECE_SIZES) {
      const b = new IntelSetBuilder(f.confidence);
      const r = new CompiledReader(b);
      for (const piece of piecesOf(c.text, size)) r.push(piece);
      expect(r.end()).toEqual(whole.header);
      expect(b.build().counts).toEqual(whole.set.counts);
    }
  });
});

describe("plain lists", () => {
  it("reads IPs, CIDRs (with trailing comments), IPv6 and hosts-file lines; skips comments", () => {
    const { out, st } = parse(plainIps, feed({ format: "plain" }));
    expect(out.map(([k, v]) => `${k} ${v}`)).toEqual([
      "ipv4 203.0.113.66",
      "cidr4 198.51.100.0/24",
      "cidr4 198.51.100.128/25",
      "cidr4 192.0.2.0/28",
      "cidr6 2001:db8:dead::/48",
      "ipv6 2001:db8:beef::1",
      "domain malware.example.net",
    ]);
    expect(st).toMatchObject({ indicators: 7, invalid: 0 });
  });

  it("normalizes domains (wildcards, trailing dots, punycode) and honours the feed type", () => {
    const { out } = parse(plainDomains, feed({ format: "plain", type: "domain" }));
    expect(out.map(([, v]) => v)).toEqual(["evil.example", "phish.example.org", "c2.badcorp.example", "xn--80ak6aa92e.example"]);
    const { st } = parse(plainIps, feed({ format: "plain", type: "domain" }));
    expect(st.indicators).toBe(1); // only the hosts-file line
    expect(st.invalid).toBe(6);
  });

  it("refuses garbage (an HTML error page served with 200)", () => {
    const html = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>Bad Gateway</h1>\n</body></html>\n";
    const { st } = parse(html, feed({ format: "plain" }));
    expect(st.indicators).toBe(0);
    expect(rejectReason(st, 0.1)).toMatch(/no indicators found/);
  });

  it("refuses a list where too many lines are not indicators", () => {
    const { st } = parse("1.2.3.4\n5.6.7.8\nnot an ip at all\n%%%\n", feed({ format: "plain" }));
    expect(st.indicators).toBe(2);
    expect(rejectReason(st, 0.1)).toMatch(/2 of 4 entries are not indicators/);
    expect(rejectReason(st, 0.6)).toBeUndefined();
  });
});

describe("CSV", () => {
  it("finds the URL column from an abuse.ch-style commented header", () => {
    const { out, st } = parse(urlhausCsv, feed({ format: "csv" }));
    expect(out.map(([k, v]) => `${k} ${v}`)).toEqual([
      "url 203.0.113.9/bins/mips",
      "url dl.badcorp.example/payload.sh?id=7",
      "url files.evil.example:8080/x86_64",
    ]);
    expect(st.invalid).toBe(0);
  });

  it("reads a named column and per-row confidence; counts the bad row", () => {
    const { out, st } = parse(hashesCsv, feed({ format: "csv" }));
    expect(out).toEqual([
      ["sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 95],
      ["sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", 60],
    ]);
    expect(st.invalid).toBe(1);
    expect(st.samples[0]).toBe("not-a-hash");
  });

  it("takes an explicit column by index without a header, and quoted fields with delimiters inside", () => {
    const text = '"x, y",203.0.113.1\n"a ""quoted"" b",198.51.100.0/30\n';
    const { out } = parse(text, feed({ format: "csv", csv: { column: 1, header: false, delimiter: "," } }));
    expect(out.map(([, v]) => v)).toEqual(["203.0.113.1", "198.51.100.0/30"]);
    expect(() => parse("ip\n1.2.3.4\n", feed({ format: "csv", csv: { column: "indicator", delimiter: "," } }))).toThrow(/column "indicator" is not in the header/);
  });
});

describe("MISP", () => {
  it("reads IDS attributes of the event and its objects, composite types split", () => {
    const { out, st } = parse(mispEvent, feed({ format: "misp" }));
    expect(out.map(([k, v]) => `${k} ${v}`)).toEqual([
      "ipv4 203.0.113.200",
      "ipv4 198.51.100.77",
      "domain pool.miner.example",
      "url pool.miner.example/xmrig.tar.gz",
      "sha256 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
      "md5 5d41402abc4b2a76b9719d911017c592",
      "sha1 a9993e364706816aba3e25717850c26c9cd0d89d",
    ]);
    expect(st.skipped).toBe(2); // the comment and the non-IDS ip-src
  });

  it("also reads REST search output and can keep non-IDS attributes", () => {
    const rest = JSON.stringify({ response: { Attribute: [{ type: "ip-src", value: "192.0.2.55", to_ids: false }] } });
    expect(parse(rest, feed({ format: "misp" })).out).toEqual([]);
    expect(parse(rest, feed({ format: "misp", mispToIdsOnly: false })).out).toEqual([["ipv4", "192.0.2.55", undefined]]);
    expect(() => parse('{"hello": 1}', feed({ format: "misp" }))).toThrow(FeedParseError);
    expect(() => parse("<html>", feed({ format: "misp" }))).toThrow(/not MISP JSON/);
  });

  it("reads an event with 300,000 attributes (more than a spread call's arguments fit on the stack)", () => {
    const n = 300_000;
    const attrs = Array.from({ length: n }, (_, i) => `{"type":"ip-dst","value":"10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}"}`);
    const text = `{"Event":{"Attribute":[${attrs.join(",")}],"Object":[{"Attribute":[${attrs.slice(0, n / 2).join(",")}]}]}}`;
    let count = 0;
    let last = "";
    const st = parseFeed(text, feed({ format: "misp", mispToIdsOnly: false }), (c) => {
      count++;
      last = c.value;
    });
    expect(st.indicators).toBe(n + n / 2);
    expect(count).toBe(n + n / 2);
    expect(last).toBe("10.2.73.239"); // the 150,000th object attribute: index 149,999
  });

  it("reads MISP and STIX JSON past the old 20,000,000-character whole-document cap (streamed), refuses an element over maxElementChars", () => {
    const pad = " ".repeat(20_000_001);
    const misp = `{"Event":{"Attribute":[{"type":"ip-dst","to_ids":true,"value":"203.0.113.9"},${pad}{"type":"domain","to_ids":true,"value":"evil.example"}]}}`;
    expect(parse(misp, feed({ format: "misp" })).out).toEqual([
      ["ipv4", "203.0.113.9", undefined],
      ["domain", "evil.example", undefined],
    ]);
    expect(parse(`${stixBundle}${pad}`, feed({ format: "stix" })).st.indicators).toBe(6);
    const big = `{"type":"indicator","pattern":"[ipv4-addr:value = '203.0.113.1']","pad":"${"x".repeat(2000)}"}`;
    const bundle = `{"type":"bundle","objects":[${big}]}`;
    expect(parseFeed(bundle, feed({ format: "stix" }), () => {}, 0, 2100).indicators).toBe(1);
    expect(() => parseFeed(bundle, feed({ format: "stix" }), () => {}, 0, 1000)).toThrow(/^STIX JSON: a value of more than \d+ characters is over the 1000 allowed for one element$/);
    expect(() => parseFeed(misp.replace("evil.example", "x".repeat(1001)), feed({ format: "misp" }), () => {}, 0, 1000)).toThrow(FeedParseError);
  });

  it("refuses truncated and malformed MISP JSON with the position", () => {
    expect(() => parse(mispEvent.slice(0, mispEvent.length - 10), feed({ format: "misp" }))).toThrow(/^not MISP JSON: the JSON text ends early/);
    expect(() => parse('{"Event":{"Attribute":[{"type":"ip-dst","value":"1.2.3.4"} {"type":"x"}]}}', feed({ format: "misp" }))).toThrow('not MISP JSON: expected "," or "]", found "{" at character 59');
    expect(() => parse('{"Event":{"Attribute":[{"type":"ip-dst",value:"1.2.3.4"}]}}', feed({ format: "misp" }))).toThrow(/^not MISP JSON: .*JSON/);
    expect(() => parse(`${mispEvent} trailing`, feed({ format: "misp" }))).toThrow(/after the JSON value/);
    expect(() => parse("", feed({ format: "misp" }))).toThrow(/no JSON value/);
  });
});

describe("STIX 2.1", () => {
  it("reads simple patterns, per-indicator confidence; skips AND patterns, expired, revoked and non-STIX patterns", () => {
    const { out, st } = parse(stixBundle, feed({ format: "stix" }));
    expect(out).toEqual([
      ["ipv4", "203.0.113.5", 90],
      ["domain", "login.phish.example", 70],
      ["domain", "secure-update.example", 70],
      ["sha256", "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9", undefined],
      ["cidr4", "192.0.2.128/25", 85],
      ["url", "cdn.badcorp.example/stage2.bin", 80],
    ]);
    expect(st.skipped).toBe(4);
  });

  it("understands the comparison forms it claims to, and nothing more", () => {
    expect(simpleStixPattern("[file:hashes.MD5 = '5d41402abc4b2a76b9719d911017c592']")).toEqual([{ kind: "hash", value: "5d41402abc4b2a76b9719d911017c592" }]);
    expect(simpleStixPattern("[ipv6-addr:value = '2001:db8::1' OR ipv4-addr:value = '192.0.2.1']")).toHaveLength(2);
    expect(simpleStixPattern("[url:value = 'http://x.example/it\\'s']")).toEqual([{ kind: "url", value: "http://x.example/it's" }]);
    expect(simpleStixPattern("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '5.6.7.8']")).toBeUndefined();
    expect(simpleStixPattern("[domain-name:value LIKE '%.evil.example']")).toBeUndefined();
    expect(simpleStixPattern("[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS")).toBeUndefined();
    expect(() => parse('{"type":"x"}', feed({ format: "stix" }))).toThrow(/not a STIX 2.1 bundle/);
    // "type" after "objects" (key order is free): still a bundle; an "objects" list in a non-bundle is refused
    expect(parse(`{"objects":[{"type":"indicator","pattern":"[ipv4-addr:value = '192.0.2.9']"}],"type":"bundle"}`, feed({ format: "stix" })).out).toEqual([["ipv4", "192.0.2.9", undefined]]);
    expect(() => parse(`{"objects":[],"type":"x"}`, feed({ format: "stix" }))).toThrow(/not a STIX 2.1 bundle/);
    // a lone indicator object and a bare list
    expect(parse(`{"type":"indicator","confidence":60,"pattern":"[domain-name:value = 'a.example']"}`, feed({ format: "stix" })).out).toEqual([["domain", "a.example", 60]]);
    expect(parse(`[{"type":"indicator","pattern":"[domain-name:value = 'b.example']"}]`, feed({ format: "stix" })).out).toEqual([["domain", "b.example", undefined]]);
  });
});

describe("compiled form", () => {
  it("round-trips every format through the stored text into a set", () => {
    for (const [text, format] of [
      [plainIps, "plain"],
      [urlhausCsv, "csv"],
      [mispEvent, "misp"],
      [stixBundle, "stix"],
    ] as const) {
      const f = feed({ name: `f-${format}`, format, url: "https://feeds.example/x?key=secret" });
      const c = compileFeed(text, f, { source: "https://feeds.example/x", fetchedAt: "2025-06-02T00:00:00.000Z" }, Date.parse("2025-06-02T00:00:00Z"));
      const h = readCompiledHeader(c.text);
      expect(h).toMatchObject({ feed: `f-${format}`, format, count: c.stats.indicators });
      const { set } = buildFromCompiled(c.text, f.confidence);
      expect(set.size).toBe(c.stats.indicators);
    }
  });

  it("refuses to compile an empty feed", () => {
    expect(() => compileFeed("# nothing today\n", feed({ format: "plain" }), { fetchedAt: "x" })).toThrow(/no indicators/);
  });
});
