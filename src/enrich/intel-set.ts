// Compact threat-intel indicator set for one feed: O(log n) lookups over sorted typed arrays, so a
// million indicators take a few tens of MB instead of the hundreds a Set<string> of them would.
//
//   IPv4 addresses      sorted Uint32Array, binary search
//   IPv4/IPv6 CIDRs     disjoint intervals built from the (nested or disjoint) blocks, each interval
//                       pointing at the most specific block covering it; binary search
//   domains, URLs,      64-bit seeded hashes of the normalized text (kind mixed into the seed), sorted
//   hashes, IPv6 addrs  as (hi, lo) Uint32 pairs; binary search. The seed is random per isolate, so
//                       nobody can craft a value that collides with an indicator; a chance collision
//                       needs ~2^64 / n tries.
// Per-indicator confidence lives in a parallel Uint8Array, only when some indicator has its own.
import { formatIPv4, formatIPv6 } from "./ip";

export type IndicatorKind = "ipv4" | "ipv6" | "cidr4" | "cidr6" | "domain" | "url" | "md5" | "sha1" | "sha256";
export type HashedKind = "ipv6" | "domain" | "url" | "md5" | "sha1" | "sha256";

export const HASHED_KIND_CODE: Record<HashedKind, number> = { ipv6: 1, domain: 2, url: 3, md5: 4, sha1: 5, sha256: 6 };

// ---------------------------------------------------------------------------------------------
// 64-bit string hash (two 32-bit lanes, cyrb53-style mixing), seeded per isolate.

// Drawn on first use: Workers refuse random values in the global scope.
let SEED = 0;
let seeded = false;
function seed(): number {
  if (!seeded) {
    const w = new Uint32Array(1);
    crypto.getRandomValues(w);
    SEED = w[0]!;
    seeded = true;
  }
  return SEED;
}

/**
 * Result of the last hash64-family call, [hi, lo] (avoids allocating a pair per lookup). A typed array,
 * not two exported variables: writing module bindings in the hot loops cost several times the hashing.
 */
export const hashOut = new Uint32Array(2);

/** The final mix of (a, b) into hashOut. */
function finish(a: number, b: number): void {
  let h1 = Math.imul(a ^ (a >>> 16), 2246822507);
  h1 ^= Math.imul(b ^ (b >>> 13), 3266489909);
  let h2 = Math.imul(b ^ (b >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  hashOut[0] = h2 >>> 0;
  hashOut[1] = h1 >>> 0;
}

/**
 * Hashes s[start, end) with the kind mixed in; sets hashOut. The characters are mixed from the
 * last to the first, so one right-to-left pass over a domain yields the hash of every suffix
 * (hashDomainSuffixes) with the same result as hashing each suffix on its own.
 */
export function hash64(kind: number, s: string, start = 0, end = s.length): void {
  const sd = seeded ? SEED : seed();
  let h1 = (0xdeadbeef ^ sd ^ Math.imul(kind, 0x9e3779b1)) | 0;
  let h2 = (0x41c6ce57 ^ sd ^ Math.imul(kind, 0x85ebca77)) | 0;
  for (let i = end - 1; i >= start; i--) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  finish(h1, h2);
}

/** hash64 over the 8 groups of an IPv6 address (same mixing, the groups as the characters). */
export function hash64Groups(kind: number, g: Uint16Array): void {
  const sd = seeded ? SEED : seed();
  let h1 = (0xdeadbeef ^ sd ^ Math.imul(kind, 0x9e3779b1)) | 0;
  let h2 = (0x41c6ce57 ^ sd ^ Math.imul(kind, 0x85ebca77)) | 0;
  for (let i = 0; i < 8; i++) {
    const c = g[i]!;
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  finish(h1, h2);
}

// Character tables for the lookups' one-pass scans: a table read instead of range tests keeps the
// loops free of branches the CPU cannot predict (hex digits and letters come in random order).
/** Hex digits (either case) -> 1. */
const HEX = new Uint8Array(128);
for (const ch of "0123456789abcdefABCDEF") HEX[ch.charCodeAt(0)] = 1;
/** Domain characters -> the character lowercased, | 0x100 when it is not a digit; '.' -> 46; else 0. */
const DOMAIN_CHAR = new Uint16Array(128);
for (const ch of "abcdefghijklmnopqrstuvwxyz-_") DOMAIN_CHAR[ch.charCodeAt(0)] = ch.charCodeAt(0) | 0x100;
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZ") DOMAIN_CHAR[ch.charCodeAt(0)] = (ch.charCodeAt(0) | 0x20) | 0x100;
for (const ch of "0123456789") DOMAIN_CHAR[ch.charCodeAt(0)] = ch.charCodeAt(0);
DOMAIN_CHAR[46] = 46;

/**
 * Validates s as a hex digest and hashes it as hash64 hashes its lowercase form (A-F folded on the fly:
 * no lowercase copy). false = not hex (hashOut then undefined).
 */
export function hashHexDigest(kind: number, s: string): boolean {
  const sd = seeded ? SEED : seed();
  let h1 = (0xdeadbeef ^ sd ^ Math.imul(kind, 0x9e3779b1)) | 0;
  let h2 = (0x41c6ce57 ^ sd ^ Math.imul(kind, 0x85ebca77)) | 0;
  for (let i = s.length - 1; i >= 0; i--) {
    const c = s.charCodeAt(i);
    if (c >= 128 || HEX[c] === 0) return false;
    const f = c | 0x20; // digits keep their 0x20 bit; A-F become a-f
    h1 = Math.imul(h1 ^ f, 2654435761);
    h2 = Math.imul(h2 ^ f, 1597334677);
  }
  finish(h1, h2);
  return true;
}

/** Hashes of a domain's suffixes from the last hashDomainSuffixes call: [0] is the least specific. */
export const suffixHi = new Uint32Array(128);
export const suffixLo = new Uint32Array(128);
/** Where each suffix starts in the string. */
export const suffixStart = new Uint16Array(128);
/** Whether the last hashDomainSuffixes call folded upper-case letters (the name is then not lowercase). */
export let suffixFolded = false;

/** Records the hash of (a, b) as suffix k. */
function suffix(a: number, b: number, k: number): void {
  finish(a, b);
  suffixHi[k] = hashOut[0]!;
  suffixLo[k] = hashOut[1]!;
}

/**
 * One right-to-left pass over a domain name already in normal form but for ASCII case (A-Z are folded
 * as hashed, as normalizeDomain would lowercase them): records the hash64 of every suffix that has at
 * least two labels (evil.com, b.evil.com, a.b.evil.com; never the bare top-level label) in the
 * suffix* arrays and returns their count. 0 = not a domain (no dot, a numeric last label, a label
 * over 63 characters); -1 = not in normal form (a wildcard, a trailing or doubled dot, other
 * characters, non-ASCII, too short or long): normalizeDomain it first. The name is s[start, end) (a
 * URL's host where it stands); suffixStart holds positions in s, so end must be at most 65,535.
 */
export function hashDomainSuffixes(s: string, start = 0, end = s.length): number {
  const n = end - start;
  if (n < 3 || n > 253 || end > 0xffff) return -1;
  const sd = seeded ? SEED : seed();
  const kind = HASHED_KIND_CODE.domain;
  let h1 = (0xdeadbeef ^ sd ^ Math.imul(kind, 0x9e3779b1)) | 0;
  let h2 = (0x41c6ce57 ^ sd ^ Math.imul(kind, 0x85ebca77)) | 0;
  let count = 0;
  let labelEnd = end; // the current label is s[i + 1, labelEnd)
  let dots = 0;
  let topNonDigit = 0; // the last (top-level) label has a character that is not a digit
  let folded = 0;
  for (let i = end - 1; i >= start; i--) {
    const c = s.charCodeAt(i);
    const t = c < 128 ? DOMAIN_CHAR[c]! : 0;
    if (t === 0) return -1;
    const f = t & 0xff;
    if (f === 46) {
      const len = labelEnd - i - 1;
      if (len === 0) return -1;
      if (len > 63) return 0;
      if (dots === 0 && topNonDigit === 0) return 0; // an IPv4 address or garbage
      if (dots > 0) {
        suffix(h1, h2, count);
        suffixStart[count++] = i + 1;
      }
      dots++;
      labelEnd = i;
    } else if (dots === 0) topNonDigit |= t & 0x100;
    folded |= f ^ c;
    h1 = Math.imul(h1 ^ f, 2654435761);
    h2 = Math.imul(h2 ^ f, 1597334677);
  }
  if (labelEnd === start) return -1;
  if (labelEnd - start > 63) return 0;
  if (dots === 0) return 0;
  suffix(h1, h2, count);
  suffixStart[count++] = start;
  suffixFolded = folded !== 0;
  return count;
}

// ---------------------------------------------------------------------------------------------
// Growable typed arrays for the builder.

class GrowU32 {
  a = new Uint32Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Uint32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
}

class GrowU8 {
  a = new Uint8Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Uint8Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
}

const PACK = 2 ** 21;

/**
 * Order of indexes 0..n-1 by key[i] ascending (ties in index order). Sorts packed doubles
 * (key * 2^21 + index) natively when n < 2^21; a comparator sort beyond that.
 */
function orderBy(key: Uint32Array, n: number): Uint32Array {
  const order = new Uint32Array(n);
  if (n < PACK) {
    const packed = new Float64Array(n);
    for (let i = 0; i < n; i++) packed[i] = key[i]! * PACK + i;
    packed.sort();
    for (let i = 0; i < n; i++) {
      const p = packed[i]!;
      order[i] = p - Math.floor(p / PACK) * PACK;
    }
    return order;
  }
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((x, y) => key[x]! - key[y]! || x - y);
  return order;
}

/** Lower bound: first index i in [0, n) with a[i] >= v. */
function lowerBound(a: Uint32Array, n: number, v: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Last index i with a[i] <= v, or -1. */
function floorIndex(a: Uint32Array, n: number, v: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * First-level index over a sorted Uint32Array: start[b] = first position whose key >> 16 >= b, so a
 * search touches one 65,537-entry table and then a range of ~n/65536 keys instead of log2(n) cache
 * misses over the whole array. 256 KB per indexed array; only built for large arrays.
 */
const INDEX_MIN = 1 << 13;

function buildIndex(a: Uint32Array): Uint32Array | undefined {
  const n = a.length;
  if (n < INDEX_MIN) return undefined;
  const idx = new Uint32Array(65537);
  let pos = 0;
  for (let b = 0; b < 65536; b++) {
    const floor = b * 65536;
    while (pos < n && a[pos]! < floor) pos++;
    idx[b] = pos;
  }
  idx[65536] = n;
  return idx;
}

/** lowerBound through the index (same result). */
function lowerBoundIx(a: Uint32Array, idx: Uint32Array | undefined, v: number): number {
  if (!idx) return lowerBound(a, a.length, v);
  const b = v >>> 16;
  let lo = idx[b]!;
  let hi = idx[b + 1]!;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** floorIndex through the index (same result). */
function floorIndexIx(a: Uint32Array, idx: Uint32Array | undefined, v: number): number {
  if (!idx) return floorIndex(a, a.length, v);
  const b = v >>> 16;
  let lo = idx[b]!;
  let hi = idx[b + 1]!;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

// ---------------------------------------------------------------------------------------------

export interface IntelHit {
  kind: IndicatorKind;
  /** The indicator as the feed listed it (normalized): the address, the block, the domain suffix... */
  indicator: string;
  confidence: number;
}

/** Counts per kind (for logs, docs and the bench). */
export type IntelCounts = Record<IndicatorKind, number>;

interface Cidr6Set {
  /** Interval starts/ends, ascending, as BigInt. */
  ivStart: bigint[];
  ivEnd: bigint[];
  /** Index of the block (in starts/prefixes) covering the interval. */
  ivRef: Int32Array;
  starts: bigint[];
  prefixes: Uint8Array;
  conf: Uint8Array;
}

export class IntelSet {
  constructor(
    readonly defaultConfidence: number,
    private readonly ip4: Uint32Array,
    private readonly ip4Conf: Uint8Array | undefined,
    // CIDR4: sorted blocks and the disjoint intervals over them
    private readonly c4Start: Uint32Array,
    private readonly c4Prefix: Uint8Array,
    private readonly c4Conf: Uint8Array | undefined,
    private readonly iv4Start: Uint32Array,
    private readonly iv4End: Uint32Array,
    private readonly iv4Ref: Uint32Array,
    private readonly c6: Cidr6Set | undefined,
    // hashed strings
    private readonly hHi: Uint32Array,
    private readonly hLo: Uint32Array,
    private readonly hConf: Uint8Array | undefined,
    readonly counts: IntelCounts,
  ) {
    this.ip4Ix = buildIndex(ip4);
    this.iv4Ix = buildIndex(iv4Start);
    this.hIx = buildIndex(hHi);
  }

  private readonly ip4Ix: Uint32Array | undefined;
  private readonly iv4Ix: Uint32Array | undefined;
  private readonly hIx: Uint32Array | undefined;

  get size(): number {
    let n = 0;
    for (const v of Object.values(this.counts)) n += v;
    return n;
  }

  /** Exact IPv4 address, then the most specific IPv4 block. */
  lookupIPv4(ip: number): IntelHit | undefined {
    const n = this.ip4.length;
    if (n > 0) {
      const i = lowerBoundIx(this.ip4, this.ip4Ix, ip);
      if (i < n && this.ip4[i] === ip) {
        return { kind: "ipv4", indicator: formatIPv4(ip), confidence: this.ip4Conf ? this.ip4Conf[i]! : this.defaultConfidence };
      }
    }
    const m = this.iv4Start.length;
    if (m === 0) return undefined;
    const j = floorIndexIx(this.iv4Start, this.iv4Ix, ip);
    if (j < 0 || ip > this.iv4End[j]!) return undefined;
    const ref = this.iv4Ref[j]!;
    return {
      kind: "cidr4",
      indicator: `${formatIPv4(this.c4Start[ref]!)}/${this.c4Prefix[ref]!}`,
      confidence: this.c4Conf ? this.c4Conf[ref]! : this.defaultConfidence,
    };
  }

  get hasCidr6(): boolean {
    return this.c6 !== undefined && this.c6.ivStart.length > 0;
  }

  /** Most specific IPv6 block covering ip (exact IPv6 addresses are hashed: hash64Groups + lookupHash). */
  lookupIPv6Cidr(ip: bigint): IntelHit | undefined {
    const c = this.c6;
    if (!c || c.ivStart.length === 0) return undefined;
    let lo = 0;
    let hi = c.ivStart.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c.ivStart[mid]! <= ip) lo = mid + 1;
      else hi = mid;
    }
    const j = lo - 1;
    if (j < 0 || ip > c.ivEnd[j]!) return undefined;
    const ref = c.ivRef[j]!;
    return { kind: "cidr6", indicator: `${formatIPv6(c.starts[ref]!)}/${c.prefixes[ref]!}`, confidence: c.conf[ref]! };
  }

  /** Looks up the hash set by the (hi, lo) of the last hash64() call. Returns the confidence or -1. */
  lookupHash(hi: number, lo: number): number {
    const n = this.hHi.length;
    if (n === 0) return -1;
    let i = lowerBoundIx(this.hHi, this.hIx, hi);
    for (; i < n && this.hHi[i] === hi; i++) {
      if (this.hLo[i] === lo) return this.hConf ? this.hConf[i]! : this.defaultConfidence;
    }
    return -1;
  }

  /** Hashes value as kind and looks it up. */
  lookupHashed(kind: Exclude<HashedKind, "ipv6">, value: string): number {
    hash64(HASHED_KIND_CODE[kind], value);
    return this.lookupHash(hashOut[0]!, hashOut[1]!);
  }

  /** Bytes held by the typed arrays (the bench's estimate; the heap measurement is the real number). */
  get byteSize(): number {
    let b = this.ip4.byteLength + this.c4Start.byteLength + this.c4Prefix.byteLength + this.iv4Start.byteLength * 3;
    b += this.hHi.byteLength * 2;
    b += (this.ip4Conf?.byteLength ?? 0) + (this.c4Conf?.byteLength ?? 0) + (this.hConf?.byteLength ?? 0);
    for (const ix of [this.ip4Ix, this.iv4Ix, this.hIx]) b += ix?.byteLength ?? 0;
    return b;
  }
}

// ---------------------------------------------------------------------------------------------

/** Collects a feed's indicators (already parsed and normalized), then builds the IntelSet. */
export class IntelSetBuilder {
  private readonly ip4 = new GrowU32();
  private readonly ip4Conf = new GrowU8();
  private readonly c4Start = new GrowU32();
  private readonly c4Prefix = new GrowU8();
  private readonly c4Conf = new GrowU8();
  private readonly c6: { start: bigint; prefix: number; conf: number }[] = [];
  private readonly hHi = new GrowU32();
  private readonly hLo = new GrowU32();
  private readonly hConf = new GrowU8();
  private ownConf = false;
  readonly counts: IntelCounts = { ipv4: 0, ipv6: 0, cidr4: 0, cidr6: 0, domain: 0, url: 0, md5: 0, sha1: 0, sha256: 0 };

  constructor(readonly defaultConfidence: number) {}

  private conf(c: number | undefined): number {
    if (c === undefined) return this.defaultConfidence;
    if (c !== this.defaultConfidence) this.ownConf = true;
    return c;
  }

  addIPv4(ip: number, confidence?: number): void {
    this.ip4.push(ip);
    this.ip4Conf.push(this.conf(confidence));
  }

  addCidr4(start: number, prefix: number, confidence?: number): void {
    if (prefix === 32) return this.addIPv4(start, confidence);
    this.c4Start.push(start);
    this.c4Prefix.push(prefix);
    this.c4Conf.push(this.conf(confidence));
  }

  addCidr6(start: bigint, prefix: number, confidence?: number): void {
    this.c6.push({ start, prefix, conf: this.conf(confidence) });
  }

  /** An exact IPv6 address, by its 8 groups. */
  addIPv6(groups: Uint16Array, confidence?: number): void {
    hash64Groups(HASHED_KIND_CODE.ipv6, groups);
    this.pushHash(confidence);
    this.counts.ipv6++;
  }

  private pushHash(confidence: number | undefined): void {
    this.hHi.push(hashOut[0]!);
    this.hLo.push(hashOut[1]!);
    this.hConf.push(this.conf(confidence));
  }

  /** A hashed indicator: value must already be normalized (see indicator.ts). */
  addHashed(kind: Exclude<HashedKind, "ipv6">, value: string, confidence?: number, start = 0, end = value.length): void {
    hash64(HASHED_KIND_CODE[kind], value, start, end);
    this.pushHash(confidence);
    this.counts[kind]++;
  }

  build(): IntelSet {
    const own = this.ownConf;
    // --- IPv4 exact: sort, dedupe (max confidence) ---
    const e4 = sortDedupe(this.ip4.a, undefined, this.ip4Conf.a, this.ip4.n);
    this.counts.ipv4 = e4.p.length;

    // --- IPv4 CIDR: sort by (start, prefix: outer first), dedupe, build intervals ---
    const b4 = sortDedupe(this.c4Start.a, this.c4Prefix.a, this.c4Conf.a, this.c4Start.n);
    const cs = b4.p;
    const cp = Uint8Array.from(b4.s);
    const m = cs.length;
    this.counts.cidr4 = m;
    const iv = buildIntervals(
      m,
      (i) => cs[i]!,
      (i) => cs[i]! + 2 ** (32 - cp[i]!) - 1,
    );

    // --- IPv6 CIDR ---
    let c6: Cidr6Set | undefined;
    if (this.c6.length > 0) {
      const sorted = [...this.c6].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.prefix - b.prefix));
      const uniq: typeof sorted = [];
      for (const b of sorted) {
        const last = uniq[uniq.length - 1];
        if (last && last.start === b.start && last.prefix === b.prefix) {
          if (b.conf > last.conf) last.conf = b.conf;
        } else uniq.push({ ...b });
      }
      const iv6 = buildIntervals6(uniq);
      c6 = {
        ...iv6,
        starts: uniq.map((b) => b.start),
        prefixes: Uint8Array.from(uniq.map((b) => b.prefix)),
        conf: Uint8Array.from(uniq.map((b) => b.conf)),
      };
      this.counts.cidr6 = uniq.length;
    }

    // --- hashed strings: sort by (hi, lo), dedupe ---
    const hs = sortDedupe(this.hHi.a, this.hLo.a, this.hConf.a, this.hHi.n);

    return new IntelSet(
      this.defaultConfidence,
      e4.p,
      own ? e4.c : undefined,
      cs,
      cp,
      own ? b4.c : undefined,
      iv.start,
      iv.end,
      iv.ref,
      c6,
      hs.p,
      hs.s,
      own ? hs.c : undefined,
      { ...this.counts },
    );
  }
}

/**
 * Sorts entries by (primary, secondary) and merges duplicates (keeping the highest confidence).
 * Ties on primary are rare for hashes and small for CIDR starts, so they are fixed with a comparator.
 */
function sortDedupe(
  primary: Uint32Array,
  secondary: Uint32Array | Uint8Array | undefined,
  conf: Uint8Array,
  n: number,
): { p: Uint32Array; s: Uint32Array; c: Uint8Array } {
  const order = orderBy(primary, n);
  if (secondary) {
    for (let i = 0; i < n; ) {
      let j = i + 1;
      while (j < n && primary[order[j]!] === primary[order[i]!]) j++;
      if (j - i > 1) order.set(Array.from(order.subarray(i, j)).sort((x, y) => secondary[x]! - secondary[y]!), i);
      i = j;
    }
  }
  const p = new Uint32Array(n);
  const s = new Uint32Array(secondary ? n : 0);
  const c = new Uint8Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const o = order[i]!;
    const a = primary[o]!;
    const b = secondary ? secondary[o]! : 0;
    const cf = conf[o]!;
    if (m > 0 && p[m - 1] === a && (!secondary || s[m - 1] === b)) {
      if (cf > c[m - 1]!) c[m - 1] = cf;
      continue;
    }
    p[m] = a;
    if (secondary) s[m] = b;
    c[m++] = cf;
  }
  return { p: p.slice(0, m), s: s.slice(0, secondary ? m : 0), c: c.slice(0, m) };
}

/**
 * CIDR blocks are either nested or disjoint. Given blocks sorted by (start asc, prefix asc), produce
 * disjoint intervals [start, end] each pointing at the innermost block that covers it.
 */
function buildIntervals(
  m: number,
  startOf: (i: number) => number,
  endOf: (i: number) => number,
): { start: Uint32Array; end: Uint32Array; ref: Uint32Array } {
  const start = new GrowU32();
  const end = new GrowU32();
  const ref = new GrowU32();
  const stack: number[] = [];
  let pos = 0; // next uncovered position (may reach 2^32)
  const emit = (a: number, b: number, r: number) => {
    if (a > b) return;
    start.push(a);
    end.push(b);
    ref.push(r);
  };
  for (let i = 0; i < m; i++) {
    const s = startOf(i);
    while (stack.length > 0 && endOf(stack[stack.length - 1]!) < s) {
      const top = stack.pop()!;
      emit(pos, endOf(top), top);
      pos = endOf(top) + 1;
    }
    if (stack.length > 0) emit(pos, s - 1, stack[stack.length - 1]!);
    pos = s;
    stack.push(i);
  }
  while (stack.length > 0) {
    const top = stack.pop()!;
    emit(pos, endOf(top), top);
    pos = endOf(top) + 1;
  }
  return { start: start.a.slice(0, start.n), end: end.a.slice(0, end.n), ref: ref.a.slice(0, ref.n) };
}

function buildIntervals6(blocks: { start: bigint; prefix: number }[]): { ivStart: bigint[]; ivEnd: bigint[]; ivRef: Int32Array } {
  const ivStart: bigint[] = [];
  const ivEnd: bigint[] = [];
  const ref: number[] = [];
  const endOf = (i: number) => blocks[i]!.start + (1n << BigInt(128 - blocks[i]!.prefix)) - 1n;
  const emit = (a: bigint, b: bigint, r: number) => {
    if (a > b) return;
    ivStart.push(a);
    ivEnd.push(b);
    ref.push(r);
  };
  const stack: number[] = [];
  let pos = 0n;
  blocks.forEach((b, i) => {
    while (stack.length > 0 && endOf(stack[stack.length - 1]!) < b.start) {
      const top = stack.pop()!;
      emit(pos, endOf(top), top);
      pos = endOf(top) + 1n;
    }
    if (stack.length > 0) emit(pos, b.start - 1n, stack[stack.length - 1]!);
    pos = b.start;
    stack.push(i);
  });
  while (stack.length > 0) {
    const top = stack.pop()!;
    emit(pos, endOf(top), top);
    pos = endOf(top) + 1n;
  }
  return { ivStart, ivEnd, ivRef: Int32Array.from(ref) };
}
