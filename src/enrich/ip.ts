// IP address and CIDR parsing for the intel sets: IPv4 as an unsigned 32-bit number, IPv6 as a
// BigInt (and a canonical 32-hex-digit string for exact matches). Hand-written: these run on the hot
// path for every IP in every event, so no allocation for IPv4 and no regular expressions.

/** Parses dotted-quad IPv4 (`1.2.3.4`) in s[start, end) to an unsigned 32-bit number, or -1. */
export function parseIPv4(s: string, start = 0, end = s.length): number {
  let out = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 3) return -1;
      part = part * 10 + (c - 48);
      digits++;
    } else if (c === 46) {
      if (digits === 0 || part > 255 || dots === 3) return -1;
      out = out * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || part > 255) return -1;
  return out * 256 + part;
}

export function formatIPv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

const tailScratch = new Uint16Array(8);

/**
 * Parses an IPv6 address (with `::`, an embedded IPv4 tail, optional brackets and zone id) into its
 * 8 16-bit groups; returns false when it is not one. No allocation unless brackets or a zone id.
 */
export function parseIPv6Groups(input: string, groups: Uint16Array): boolean {
  let s = input;
  if (s.charCodeAt(0) === 91 /* [ */ && s.charCodeAt(s.length - 1) === 93) s = s.slice(1, -1);
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  const n = s.length;
  if (n < 2 || n > 45) return false;
  let nHead = 0;
  let nTail = 0;
  let inTail = false;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    inTail = true;
    i = 2;
  }
  while (i < n) {
    let j = i;
    let v = 0;
    while (j < n && j - i < 5) {
      const h = hexVal(s.charCodeAt(j));
      if (h < 0) break;
      v = v * 16 + h;
      j++;
    }
    if (j < n && s.charCodeAt(j) === 46 /* . */) {
      // IPv4 tail: two groups
      const v4 = parseIPv4(s, i, n);
      if (v4 < 0 || nHead + nTail > 6) return false;
      if (inTail) {
        tailScratch[nTail++] = v4 >>> 16;
        tailScratch[nTail++] = v4 & 0xffff;
      } else {
        groups[nHead++] = v4 >>> 16;
        groups[nHead++] = v4 & 0xffff;
      }
      i = n;
      break;
    }
    const len = j - i;
    if (len === 0 || len > 4 || nHead + nTail >= 8) return false;
    if (inTail) tailScratch[nTail++] = v;
    else groups[nHead++] = v;
    i = j;
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < n && s.charCodeAt(i) === 58) {
      if (inTail) return false;
      inTail = true;
      i++;
    } else if (i === n) return false;
  }
  const total = nHead + nTail;
  if (inTail ? total > 7 : total !== 8) return false;
  for (let k = nHead; k < 8; k++) groups[k] = 0;
  for (let k = 0; k < nTail; k++) groups[8 - nTail + k] = tailScratch[k]!;
  return true;
}

const scratch = new Uint16Array(8);

/** IPv6 -> BigInt (128 bits), or undefined. */
export function parseIPv6(s: string): bigint | undefined {
  return parseIPv6Groups(s, scratch) ? groupsToBigInt(scratch) : undefined;
}

/** Canonical form: 32 lowercase hex digits (for display and tests; lookups hash the groups). */
export function canonicalIPv6(s: string): string | undefined {
  if (!parseIPv6Groups(s, scratch)) return undefined;
  let out = "";
  for (let k = 0; k < 8; k++) out += scratch[k]!.toString(16).padStart(4, "0");
  return out;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:1.2.3.4), or -1. */
export function mappedIPv4(s: string): number {
  if (!parseIPv6Groups(s, scratch)) return -1;
  for (let k = 0; k < 5; k++) if (scratch[k] !== 0) return -1;
  if (scratch[5] !== 0xffff) return -1;
  return (scratch[6]! * 65536 + scratch[7]!) >>> 0;
}

export function formatIPv6(v: bigint): string {
  const g = new Uint16Array(8);
  for (let k = 0; k < 8; k++) g[k] = Number((v >> BigInt((7 - k) * 16)) & 0xffffn);
  return formatIPv6Groups(g);
}

/** An IPv6 address given as its 8 groups, in RFC 5952 text (lower-case hex, the longest zero run as `::`). */
export function formatIPv6Groups(g: Uint16Array): string {
  // the longest run of two or more zero groups, the first of equal runs
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      out += "::";
      i += bestLen - 1;
      continue;
    }
    if (out !== "" && !out.endsWith(":")) out += ":";
    out += g[i]!.toString(16);
  }
  return out;
}

export type ParsedIp =
  | { v: 4; ip: number }
  | { v: 6; groups: Uint16Array };

/** An IP address in either family (IPv4-mapped IPv6 counts as IPv4); IPv6 as its 8 groups. */
export function parseIp(s: string): ParsedIp | undefined {
  const v4 = parseIPv4(s);
  if (v4 >= 0) return { v: 4, ip: v4 };
  if (s.indexOf(":") < 0 || !parseIPv6Groups(s, scratch)) return undefined;
  if (scratch[0] === 0 && scratch[1] === 0 && scratch[2] === 0 && scratch[3] === 0 && scratch[4] === 0 && scratch[5] === 0xffff) {
    return { v: 4, ip: (scratch[6]! * 65536 + scratch[7]!) >>> 0 };
  }
  return { v: 6, groups: scratch.slice() };
}

/** The 128-bit value of 8 IPv6 groups. */
export function groupsToBigInt(g: Uint16Array): bigint {
  let v = 0n;
  for (let k = 0; k < 8; k += 2) v = (v << 32n) | BigInt(g[k]! * 65536 + g[k + 1]!);
  return v;
}

export type ParsedCidr =
  | { v: 4; start: number; prefix: number }
  | { v: 6; start: bigint; prefix: number };

/** `a.b.c.d/n` or `x::/n`, host bits cleared; undefined when it is not a CIDR. */
export function parseCidr(s: string): ParsedCidr | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const bits = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  const addr = s.slice(0, slash);
  const v4 = parseIPv4(addr);
  if (v4 >= 0) {
    if (prefix > 32) return undefined;
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    return { v: 4, start: (v4 & mask) >>> 0, prefix };
  }
  const v6 = parseIPv6(addr);
  if (v6 === undefined || prefix > 128) return undefined;
  const hostBits = BigInt(128 - prefix);
  return { v: 6, start: (v6 >> hostBits) << hostBits, prefix };
}
