import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { IntelSetBuilder, hash64, hashOut, hashDomainSuffixes, hashHexDigest, suffixHi, suffixLo, suffixStart, suffixFolded, HASHED_KIND_CODE } from "../../src/enrich/intel-set";
import { parseIPv4, parseIPv6, parseCidr, canonicalIPv6, formatIPv6, formatIPv6Groups, parseIp, mappedIPv4 } from "../../src/enrich/ip";
import { addClassified } from "../../src/enrich/compiled";
import { classify, urlKey, normalizeDomain, fastUrlKey, urlSpan, urlHost, hostSpan } from "../../src/enrich/indicator";
import { lookup, type LoadedFeed } from "../../src/enrich/intel";

function feedOf(values: string[], confidence = 80): LoadedFeed {
  const b = new IntelSetBuilder(confidence);
  for (const v of values) {
    const c = classify(v, "auto");
    if (!c) throw new Error(`not an indicator: ${v}`);
    addClassified(b, c);
  }
  return { name: "t", set: b.build(), severityRaise: 1 };
}

const ask = (f: LoadedFeed, kind: "ip" | "host" | "url" | "hash", value: string) => lookup([f], { path: "x", kind, value });

describe("ip parsing", () => {
  it("parses IPv4 strictly", () => {
    expect(parseIPv4("1.2.3.4")).toBe(0x01020304);
    expect(parseIPv4("255.255.255.255")).toBe(0xffffffff);
    for (const bad of ["1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "a.b.c.d", "", "1.2.3.4 ", "1234.1.1.1"]) expect(parseIPv4(bad), bad).toBe(-1);
  });
  it("parses IPv6 forms to the same value", () => {
    const a = parseIPv6("2001:db8::1");
    expect(a).toBe(0x20010db8000000000000000000000001n);
    expect(parseIPv6("2001:0db8:0000:0000:0000:0000:0000:0001")).toBe(a);
    expect(parseIPv6("[2001:DB8::1]")).toBe(a);
    expect(parseIPv6("2001:db8::1%eth0")).toBe(a);
    expect(parseIPv6("::")).toBe(0n);
    expect(parseIPv6("::ffff:1.2.3.4")).toBe(0xffff01020304n);
    expect(mappedIPv4("::ffff:1.2.3.4")).toBe(0x01020304);
    for (const bad of ["1::2::3", "2001:db8:::1", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", ":1", "1:", "g::1"]) expect(parseIPv6(bad), bad).toBeUndefined();
    expect(formatIPv6(a!)).toBe("2001:db8::1");
    expect(canonicalIPv6("2001:db8::1")).toBe("20010db8000000000000000000000001");
  });
  it("clears host bits of CIDRs", () => {
    expect(parseCidr("10.1.2.3/8")).toEqual({ v: 4, start: 0x0a000000, prefix: 8 });
    expect(parseCidr("2001:db8::1/32")).toEqual({ v: 6, start: 0x20010db8n << 96n, prefix: 32 });
    expect(parseCidr("10.0.0.0/33")).toBeUndefined();
    expect(parseIp("::ffff:10.0.0.1")).toEqual({ v: 4, ip: 0x0a000001 });
  });
  it("round-trips random IPv6 addresses through format and parse", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (v) => parseIPv6(formatIPv6(v)) === v),
      { numRuns: 500 },
    );
  });
  it("writes IPv6 groups in RFC 5952 form, as the WHATWG URL serializer does (zero runs drawn often)", () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (gs) => {
        const g = Uint16Array.from(gs);
        const whatwg = new URL(`http://[${gs.map((x) => x.toString(16)).join(":")}]/`).hostname.slice(1, -1);
        return formatIPv6Groups(g) === whatwg && formatIPv6(parseIPv6(whatwg)!) === whatwg;
      }),
      { numRuns: 2000 },
    );
    expect(formatIPv6Groups(new Uint16Array(8))).toBe("::");
    expect(formatIPv6Groups(Uint16Array.from([1, 0, 0, 0, 0, 0, 0, 0]))).toBe("1::");
    expect(formatIPv6Groups(Uint16Array.from([0x2001, 0xdb8, 0, 1, 0, 0, 0, 1]))).toBe("2001:db8:0:1::1");
  });
});

describe("IntelSet lookups", () => {
  const f = feedOf([
    "203.0.113.66",
    "198.51.100.0/24",
    "198.51.100.128/25",
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "2001:db8:dead::/48",
    "2001:db8:beef::1",
    "evil.example",
    "login.phish.example",
    "http://files.evil.example:8080/x86_64",
    "https://dl.badcorp.example/payload.sh?id=7",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "a9993e364706816aba3e25717850c26c9cd0d89d",
    "5d41402abc4b2a76b9719d911017c592",
  ]);

  it("matches exact IPv4 and misses its neighbours", () => {
    expect(ask(f, "ip", "203.0.113.66")[0]).toMatchObject({ kind: "ipv4", indicator: "203.0.113.66", confidence: 80 });
    expect(ask(f, "ip", "203.0.113.65")).toEqual([]);
    expect(ask(f, "ip", "203.0.113.67")).toEqual([]);
  });

  it("answers the most specific CIDR for nested blocks", () => {
    expect(ask(f, "ip", "198.51.100.5")[0]?.indicator).toBe("198.51.100.0/24");
    expect(ask(f, "ip", "198.51.100.200")[0]?.indicator).toBe("198.51.100.128/25");
    expect(ask(f, "ip", "198.51.101.0")).toEqual([]);
    expect(ask(f, "ip", "10.1.2.3")[0]?.indicator).toBe("10.1.2.0/24");
    expect(ask(f, "ip", "10.1.3.3")[0]?.indicator).toBe("10.1.0.0/16");
    expect(ask(f, "ip", "10.200.0.1")[0]?.indicator).toBe("10.0.0.0/8");
    expect(ask(f, "ip", "11.0.0.0")).toEqual([]);
    expect(ask(f, "ip", "9.255.255.255")).toEqual([]);
  });

  it("matches IPv6 exactly (any spelling) and by block; IPv4-mapped addresses as IPv4", () => {
    expect(ask(f, "ip", "2001:0db8:beef:0:0:0:0:1")[0]).toMatchObject({ kind: "ipv6" });
    expect(ask(f, "ip", "2001:db8:beef::2")).toEqual([]);
    expect(ask(f, "ip", "2001:db8:dead:1::42")[0]?.indicator).toBe("2001:db8:dead::/48");
    expect(ask(f, "ip", "2001:db8:deae::1")).toEqual([]);
    expect(ask(f, "ip", "::ffff:203.0.113.66")[0]?.kind).toBe("ipv4");
  });

  it("matches domains and their subdomains, not siblings or parents", () => {
    expect(ask(f, "host", "evil.example")[0]?.indicator).toBe("evil.example");
    expect(ask(f, "host", "a.b.EVIL.example.")[0]?.indicator).toBe("evil.example");
    expect(ask(f, "host", "notevil.example")).toEqual([]);
    expect(ask(f, "host", "phish.example")).toEqual([]);
    expect(ask(f, "host", "x.login.phish.example")[0]?.indicator).toBe("login.phish.example");
    expect(ask(f, "host", "example")).toEqual([]);
  });

  it("matches URLs regardless of scheme, default port and fragment; with or without the query", () => {
    expect(ask(f, "url", "https://files.evil.example:8080/x86_64#frag")[0]?.indicator).toBe("files.evil.example:8080/x86_64");
    // another port is another URL: no URL hit (only the host's domain evil.example, see below)
    expect(ask(f, "url", "http://files.evil.example/x86_64").map((h) => h.kind)).toEqual(["domain"]);
    expect(ask(f, "url", "http://DL.badcorp.example:443/payload.sh?id=7")[0]?.kind).toBe("url");
    expect(ask(f, "url", "https://dl.badcorp.example/payload.sh?id=8")).toEqual([]);
    expect(ask(f, "url", "http://files.evil.example:8080/x86_64?cache=1")[0]?.indicator).toBe("files.evil.example:8080/x86_64");
  });

  it("matches a URL's host as a domain (and its parents) or an address, named with the indicator's own type", () => {
    const host = (url: string) => ask(f, "url", url).map((h) => [h.kind, h.indicator, h.urlHost]);
    expect(host("https://evil.example/x")).toEqual([["domain", "evil.example", "evil.example"]]);
    expect(host("https://dl.cdn.EVIL.example./x?y=1")).toEqual([["domain", "evil.example", "dl.cdn.EVIL.example."]]);
    expect(host("http://user:pw@x.login.phish.example:8443/a")).toEqual([["domain", "login.phish.example", "x.login.phish.example"]]);
    expect(host("evil.example")).toEqual([["domain", "evil.example", "evil.example"]]);
    expect(host("http://203.0.113.66:8080/stage2")).toEqual([["ipv4", "203.0.113.66", "203.0.113.66"]]);
    expect(host("http://198.51.100.200/")).toEqual([["cidr4", "198.51.100.128/25", "198.51.100.200"]]);
    expect(host("http://[2001:DB8:beef::1]:8443/x")).toEqual([["ipv6", "2001:db8:beef::1", "2001:DB8:beef::1"]]);
    expect(host("https://[2001:db8:dead:7::1]/x")).toEqual([["cidr6", "2001:db8:dead::/48", "2001:db8:dead:7::1"]]);
    expect(host("http://[::ffff:203.0.113.66]/")).toEqual([["ipv4", "203.0.113.66", "::ffff:203.0.113.66"]]);
    // the URL itself listed: that hit alone (one per feed), no second one for its host
    expect(host("http://files.evil.example:8080/x86_64")).toEqual([["url", "files.evil.example:8080/x86_64", undefined]]);
    // the domain or address elsewhere in the URL is no hit: path, query, fragment, credentials
    for (const miss of [
      "https://cdn.example/evil.example/x",
      "https://cdn.example/?u=https://evil.example/",
      "https://cdn.example/#evil.example",
      "https://evil.example@cdn.example/",
      "https://cdn.example\\evil.example",
      "http://notevil.example/",
      "http://203.0.113.67/203.0.113.66",
      "http://[2001:db8:beef::2]/",
      "/evil.example/x",
      "javascript:alert('http://evil.example/')",
      "http://[2001:db8:beef::1/",
    ]) expect(ask(f, "url", miss), miss).toEqual([]);
  });

  it("matches SHA-256, SHA-1 and MD5 in any case", () => {
    expect(ask(f, "hash", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")[0]?.kind).toBe("sha256");
    expect(ask(f, "hash", "a9993e364706816aba3e25717850c26c9cd0d89d")[0]?.kind).toBe("sha1");
    expect(ask(f, "hash", "5d41402abc4b2a76b9719d911017c592")[0]?.kind).toBe("md5");
    expect(ask(f, "hash", "5d41402abc4b2a76b9719d911017c593")).toEqual([]);
    // the same hex as a different algorithm length is a different indicator
    expect(ask(f, "hash", "e3b0c44298fc1c149afbf4c8996fb924")).toEqual([]);
  });

  it("counts what it holds and keeps the highest confidence of duplicates", () => {
    expect(f.set.counts).toMatchObject({ ipv4: 1, cidr4: 5, cidr6: 1, domain: 2, url: 2, sha256: 1, sha1: 1, md5: 1 });
    const b = new IntelSetBuilder(50);
    b.addIPv4(parseIPv4("1.1.1.1"), 30);
    b.addIPv4(parseIPv4("1.1.1.1"), 90);
    b.addIPv4(parseIPv4("1.1.1.2"));
    const s = b.build();
    expect(s.lookupIPv4(parseIPv4("1.1.1.1"))?.confidence).toBe(90);
    expect(s.lookupIPv4(parseIPv4("1.1.1.2"))?.confidence).toBe(50);
    expect(s.counts.ipv4).toBe(2);
  });

  it("agrees with a naive scan on random IPv4 addresses and CIDRs (nested, overlapping, duplicated)", () => {
    const cidr = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }));
    fc.assert(
      fc.property(fc.array(cidr, { maxLength: 60 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 40 }), (blocks, probes) => {
        const b = new IntelSetBuilder(80);
        const norm = blocks.map(([ip, p]) => {
          const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
          return { start: (ip & mask) >>> 0, prefix: p };
        });
        for (const n of norm) b.addCidr4(n.start, n.prefix);
        const s = b.build();
        // probe the block edges and random addresses
        const pts = [...probes, ...norm.flatMap((n) => [n.start, n.start + 2 ** (32 - n.prefix) - 1, n.start - 1, n.start + 2 ** (32 - n.prefix)])].filter(
          (x) => x >= 0 && x <= 0xffffffff,
        );
        for (const ip of pts) {
          let best: { start: number; prefix: number } | undefined;
          for (const n of norm) {
            const end = n.start + 2 ** (32 - n.prefix) - 1;
            if (ip >= n.start && ip <= end && (!best || n.prefix > best.prefix)) best = n;
          }
          const got = s.lookupIPv4(ip);
          if (!best) {
            if (got !== undefined) return false;
          } else {
            const want = best.prefix === 32 ? undefined : best;
            if (!got) return false;
            if (want && got.indicator !== `${[24, 16, 8, 0].map((sh) => (want.start >>> sh) & 255).join(".")}/${want.prefix}`) return false;
          }
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it("large sets (first-level index) answer like a plain Set and a naive block scan", () => {
    let x = 12345;
    const rnd = () => ((x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0);
    const b = new IntelSetBuilder(80);
    const exact = new Set<number>();
    const blocks24 = new Set<number>();
    const blocks16 = new Set<number>();
    for (let i = 0; i < 20_000; i++) {
      const ip = rnd();
      exact.add(ip);
      b.addIPv4(ip);
    }
    for (let i = 0; i < 10_000; i++) {
      const net = (rnd() & 0xffffff00) >>> 0;
      blocks24.add(net);
      b.addCidr4(net, 24);
      if (i % 10 === 0) {
        const n16 = (net & 0xffff0000) >>> 0;
        blocks16.add(n16);
        b.addCidr4(n16, 16);
      }
    }
    const s = b.build();
    const probes = [...[...exact].slice(0, 500), ...[...blocks24].slice(0, 500).map((n) => n + 7), ...Array.from({ length: 3000 }, rnd)];
    for (const ip of probes) {
      const got = s.lookupIPv4(ip);
      if (exact.has(ip)) expect(got?.kind).toBe("ipv4");
      else if (blocks24.has((ip & 0xffffff00) >>> 0)) expect(got?.indicator.endsWith("/24")).toBe(true);
      else if (blocks16.has((ip & 0xffff0000) >>> 0)) expect(got?.indicator.endsWith("/16")).toBe(true);
      else expect(got).toBeUndefined();
    }
  });

  it("never misses a hashed indicator it was given (random domains)", () => {
    const label = fc.stringMatching(/^[a-z0-9]{1,12}$/);
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(label, label), { minLength: 1, maxLength: 200 }), (pairs) => {
        const names = pairs.map(([a, b]) => `${a}.${b}.test`);
        const f2 = feedOf(names);
        return names.every((n) => ask(f2, "host", `www.${n}`).length === 1);
      }),
      { numRuns: 50 },
    );
  });
});

describe("indicator normalization", () => {
  it("classifies and normalizes", () => {
    expect(classify("hxxp://evil[.]example/a", "auto")).toEqual({ kind: "url", value: "evil.example/a" });
    expect(classify("EVIL.Example.", "auto")).toEqual({ kind: "domain", value: "evil.example" });
    expect(classify("1.2.3.4/32", "auto")).toEqual({ kind: "ipv4", value: "1.2.3.4" });
    expect(classify("1.2.3.4", "domain")).toBeUndefined();
    expect(classify("evil.example", "ip")).toBeUndefined();
    expect(normalizeDomain("bücher.example")).toBe("xn--bcher-kva.example");
    expect(normalizeDomain("localhost")).toBeUndefined();
    expect(urlKey("HTTP://User:pw@Example.COM:80/a/b?x=1#top")).toBe("example.com/a/b?x=1");
  });
});

describe("fast lookup paths give the general paths' keys", () => {
  // characters that matter to URL parsing and domain rules, mixed with ordinary ones
  const tricky = [..."abcXYZ019-_.:/?#@%'\"\\ <>^|`{}[]~!$&()*+,;=\t", "xn--", "/./", "/../", "%2e", "é", "\u3002"];
  const piece = fc.oneof(fc.constantFrom(...tricky), fc.stringMatching(/^[a-z0-9]{1,6}$/));
  const text = fc.array(piece, { maxLength: 14 }).map((a) => a.join(""));
  const scheme = fc.constantFrom("", "http://", "https://", "HTTP://", "Https://", "ftp://", "hxxp://", "//", "http:///");
  // mostly plain URLs (host labels, path, query, fragment), each part sometimes holding a tricky piece
  const part = (re: RegExp) => fc.oneof({ arbitrary: fc.stringMatching(re), weight: 6 }, { arbitrary: text, weight: 1 });
  const plain = fc
    .tuple(scheme, fc.array(part(/^[a-z0-9_-]{1,8}$/), { minLength: 1, maxLength: 4 }), fc.array(part(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{0,8}$/), { maxLength: 4 }), fc.option(part(/^[A-Za-z0-9=&%/?._-]{0,10}$/)), fc.option(text))
    .map(([sc, host, path, q, frag]) => `${sc}${host.join(".")}/${path.join("/")}${q === null ? "" : `?${q}`}${frag === null ? "" : `#${frag}`}`);
  const url = fc.oneof(plain, fc.tuple(scheme, text).map(([a, b]) => a + b));

  it("fastUrlKey: whenever it answers, its span is urlKey's key; it answers the plain URLs", () => {
    fc.assert(
      fc.property(url, (s) => {
        if (!fastUrlKey(s)) return true;
        const [start, end, q, hostEnd] = [urlSpan[0]!, urlSpan[1]!, urlSpan[2]!, urlSpan[3]!];
        const key = urlKey(s);
        // its host span is urlHost's (the intel enricher takes it from here when fastUrlKey answered)
        if (!urlHost(s) || hostSpan[0] !== start || hostSpan[1] !== hostEnd || hostSpan[2] !== 0) return false;
        return s.slice(start, end) === key && (q < 0 ? !key.includes("?") : q - start === key.indexOf("?"));
      }),
      { numRuns: 20_000 },
    );
    for (const [s, key] of [
      ["https://evil.example/a/b.sh?x=1&y=%20#frag", "evil.example/a/b.sh?x=1&y=%20"],
      ["http://cdn-7.evil_host.example/payload", "cdn-7.evil_host.example/payload"],
      ["evil.example/x", "evil.example/x"],
    ] as const) {
      expect(fastUrlKey(s), s).toBe(true);
      expect(s.slice(urlSpan[0], urlSpan[1])).toBe(key);
      expect(urlKey(s)).toBe(key);
    }
    // left to urlKey: upper-case host, port, credentials, dot segments, escapes in the path, IP hosts, punycode, empty query
    for (const s of ["0x0/", "http://a.0x7f/x", "http://0x/", "http://Evil.example/a", "http://e.example:8080/a", "http://u@e.example/a", "http://e.example/a/../b", "http://e.example/%2e", "http://10.0.0.1/a", "http://xn--bcher-kva.example/", "http://e.example/a?", "http://e.example"]) {
      expect(fastUrlKey(s), s).toBe(false);
    }
  });

  it("urlHost: the host as WHATWG URL parses it, for plain host names; found where it stands", () => {
    fc.assert(
      fc.property(url, fc.constantFrom("", "u@", "u:p@", "a@b@"), fc.constantFrom("", ":8080", ":"), (s0, cred, port) => {
        const m = /^([a-z]+:\/\/)?([^/?#]*)(.*)$/i.exec(s0)!;
        const s = `${m[1] ?? ""}${cred}${m[2]}${port}${m[3]}`;
        // special schemes only (and none, read as http): a non-special one (hxxp:) takes '\\' as a host character
        if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) && !/^(https?|ftp|wss?):/i.test(s)) return true;
        if (!urlHost(s)) return true;
        const h = s.slice(hostSpan[0], hostSpan[1]);
        if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/i.test(h) || /^[\d.]+$|0x/i.test(h)) return true; // escapes, punycode, numbers: not compared
        let parsed: string;
        try {
          parsed = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `http://${s}`).hostname;
        } catch {
          return true;
        }
        return parsed === h.toLowerCase();
      }),
      { numRuns: 50_000 },
    );
    const span = (s: string) => (urlHost(s) ? [s.slice(hostSpan[0], hostSpan[1]), hostSpan[2]] : undefined);
    expect(span("  HTTPS://u:p@Dl.Evil.example:443/a?b#c ")).toEqual(["Dl.Evil.example", 0]);
    expect(span("http://[2001:db8::1]:8080")).toEqual(["2001:db8::1", 1]);
    expect(span("1.2.3.4:80/x")).toEqual(["1.2.3.4", 0]);
    for (const none of ["/api/v1/pods", "http://", "http:///x", "http://u@/x", "http://:80/", "1http://a.example/", "http://[::1]x/"]) expect(span(none), none).toBeUndefined();
  });

  it("hashDomainSuffixes: the hash64 of every suffix of normalizeDomain's name, or 0 exactly when it is no domain", () => {
    const name = fc.oneof(text, fc.array(fc.stringMatching(/^[a-zA-Z0-9_-]{0,8}$/), { minLength: 1, maxLength: 6 }).map((l) => l.join(".")));
    fc.assert(
      fc.property(name, (s) => {
        const count = hashDomainSuffixes(s);
        const norm = normalizeDomain(s);
        if (count < 0) return true; // not in normal form: the caller normalizes first
        if (count === 0) return norm === undefined;
        if (norm === undefined || count !== norm.split(".").length - 1) return false;
        for (let k = 0; k < count; k++) {
          hash64(HASHED_KIND_CODE.domain, norm, suffixStart[k]!);
          if (hashOut[0] !== suffixHi[k] || hashOut[1] !== suffixLo[k]) return false;
        }
        return suffixStart[count - 1] === 0 && suffixFolded === (norm !== s);
      }),
      { numRuns: 20_000 },
    );
    expect(hashDomainSuffixes("a.b.Evil.example")).toBe(3);
    // a name inside a longer string (a URL's host): the same hashes, positions in that string
    expect(hashDomainSuffixes("http://a.b.Evil.example/x", 7, 23)).toBe(3);
    expect([suffixStart[0], suffixStart[2]]).toEqual([11, 7]);
    hash64(HASHED_KIND_CODE.domain, "evil.example");
    expect([suffixHi[0], suffixLo[0]]).toEqual([hashOut[0], hashOut[1]]);
    expect(hashDomainSuffixes("http://10.0.0.1/x", 7, 15)).toBe(0);
    expect(hashDomainSuffixes("evil.example.")).toBe(-1);
    expect(hashDomainSuffixes("10.0.0.1")).toBe(0);
  });

  it("hashHexDigest: hash64 of the lowercase digest, refusing anything not hex", () => {
    fc.assert(
      fc.property(fc.oneof(fc.stringMatching(/^[0-9a-fA-F]{32,64}$/), fc.string({ maxLength: 64 })), (s) => {
        const ok = hashHexDigest(HASHED_KIND_CODE.sha256, s);
        if (ok !== /^[0-9a-f]*$/i.test(s)) return false;
        if (!ok) return true;
        const [hi, lo] = [hashOut[0], hashOut[1]];
        hash64(HASHED_KIND_CODE.sha256, s.toLowerCase());
        return hashOut[0] === hi && hashOut[1] === lo;
      }),
      { numRuns: 5_000 },
    );
  });

  it("lookups name the listed indicator in normal form whatever the event's case or spacing", () => {
    const f = feedOf(["evil.example", "44d88612fea8a8f36de82e1278abb02f", "bad.example/drop.sh"]);
    expect(ask(f, "host", "WWW.Evil.Example").map((h) => h.indicator)).toEqual(["evil.example"]);
    expect(ask(f, "host", "*.evil.example.").map((h) => h.indicator)).toEqual(["evil.example"]);
    expect(ask(f, "hash", " 44D88612FEA8A8F36DE82E1278ABB02F\n").map((h) => h.indicator)).toEqual(["44d88612fea8a8f36de82e1278abb02f"]);
    expect(ask(f, "url", "https://bad.example/drop.sh?id=7#x").map((h) => h.indicator)).toEqual(["bad.example/drop.sh"]);
    expect(ask(f, "url", "HTTPS://BAD.example/drop.sh").map((h) => h.indicator)).toEqual(["bad.example/drop.sh"]);
    expect(ask(f, "host", "example")).toEqual([]);
  });
});
