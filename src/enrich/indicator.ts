// Indicator normalization and classification, shared by the feed parsers (what a feed lists) and
// the intel enricher (what an event carries), so both sides produce the same lookup keys.
import { parseIPv4, parseCidr, formatIPv4, formatIPv6, parseIp, groupsToBigInt } from "./ip";
import type { IndicatorKind } from "./intel-set";

export type WantedType = "ip" | "domain" | "hash" | "url" | "auto";

export interface Classified {
  kind: IndicatorKind;
  /** Normalized text: dotted IPv4, `net/prefix` CIDR, compressed IPv6, lowercase domain/hash, URL key. */
  value: string;
}

const HASH_KIND: Record<number, IndicatorKind> = { 32: "md5", 40: "sha1", 64: "sha256" };

/** Lowercase hex digest of 32/40/64 digits -> md5/sha1/sha256. */
export function normalizeHash(s: string): Classified | undefined {
  const kind = HASH_KIND[s.length];
  if (!kind) return undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) | 0x20;
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return undefined;
  }
  return { kind, value: s.toLowerCase() };
}

/**
 * Lowercase domain without a trailing dot or a leading `*.`; at least two labels; letters, digits,
 * '-' and '_'; internationalized names converted to punycode.
 */
export function normalizeDomain(input: string): string | undefined {
  const fast = checkDomain(input);
  if (fast !== undefined) return fast ? input : undefined;
  let s = input.trim().toLowerCase();
  if (s.startsWith("*.")) s = s.slice(2);
  if (s.endsWith(".")) s = s.slice(0, -1);
  if (s.length < 3 || s.length > 253) return undefined;
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(s)) {
    try {
      s = new URL(`http://${s}/`).hostname;
    } catch {
      return undefined;
    }
  }
  let labelLen = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (labelLen === 0) return undefined;
      dots++;
      labelLen = 0;
    } else if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95) {
      if (++labelLen > 63) return undefined;
    } else return undefined;
  }
  if (dots === 0 || labelLen === 0) return undefined;
  // all-numeric last label: an IP address or garbage, not a domain
  if (/\.\d+$/.test(s)) return undefined;
  return s;
}

/**
 * Fast path for names already in normal form (lowercase ASCII, no wildcard or trailing dot): true =
 * valid, false = invalid, undefined = needs normalizing first.
 */
function checkDomain(s: string): boolean | undefined {
  const n = s.length;
  if (n < 3 || n > 253) return undefined;
  let labelLen = 0;
  let dots = 0;
  let digitsOnly = true;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (labelLen === 0) return undefined;
      dots++;
      labelLen = 0;
      digitsOnly = true;
    } else if ((c >= 97 && c <= 122) || c === 45 || c === 95) {
      if (++labelLen > 63) return false;
      digitsOnly = false;
    } else if (c >= 48 && c <= 57) {
      if (++labelLen > 63) return false;
    } else return undefined;
  }
  if (labelLen === 0) return undefined;
  return dots > 0 && !digitsOnly;
}

/**
 * URL lookup key: host (lowercase, punycode), port when not 80/443, path and query; no scheme (http
 * and https match alike), no fragment, no credentials. Inputs without a scheme are read as http.
 */
export function urlKey(input: string): string | undefined {
  let s = input.trim();
  if (s === "") return undefined;
  const schemeEnd = s.indexOf("://");
  if (schemeEnd < 0) {
    if (s.startsWith("/")) return undefined; // a path (an API request URI) names no host
    s = `http://${s}`;
  }
  else if (!/^[a-z][a-z0-9+.-]*$/i.test(s.slice(0, schemeEnd))) return undefined;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return undefined;
  }
  if (u.hostname === "") return undefined;
  const port = u.port === "" || u.port === "80" || u.port === "443" ? "" : `:${u.port}`;
  return `${u.hostname}${port}${u.pathname}${u.search}`;
}

/** Characters fastUrlKey lets through unchanged in a path (WHATWG URL leaves them as they are). */
const PATH_OK = new Uint8Array(128);
/** ... and in a query (of an http/https URL). */
const QUERY_OK = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/!$&()*+,;=:@") {
  PATH_OK[c.charCodeAt(0)] = 1;
  QUERY_OK[c.charCodeAt(0)] = 1;
}
PATH_OK["'".charCodeAt(0)] = 1; // percent-encoded in the query of special URLs, not in their path
QUERY_OK["%".charCodeAt(0)] = 1; // a path with % may hold an encoded dot segment: urlKey decides
QUERY_OK["?".charCodeAt(0)] = 1;

/** Host name characters: 1 a letter, '-' or '_'; 2 a digit; 3 '.'; 4 '/' (the host's end); else 0. */
const HOST_CHAR = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyz-_") HOST_CHAR[c.charCodeAt(0)] = 1;
for (const c of "0123456789") HOST_CHAR[c.charCodeAt(0)] = 2;
HOST_CHAR[46] = 3;
HOST_CHAR[47] = 4;

function isHexRun(s: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = s.charCodeAt(k);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * The span of the last fastUrlKey success: the key is s.slice([0], [1]); [2] = its '?' or -1; the host
 * is s.slice([0], [3]) (no port, credentials or address: fastUrlKey takes none).
 */
export const urlSpan = new Int32Array(4);

/**
 * urlKey without parsing, for the common plain URL: http/https (or no scheme), a lowercase ASCII host
 * name (no IP address, punycode, port or credentials) and a path free of dot segments, escapes and
 * characters URL would encode. Then the key is a span of the input itself (urlSpan), the same text
 * urlKey returns (property test); false = not that simple, ask urlKey.
 */
export function fastUrlKey(s: string): boolean {
  const n = s.length;
  const schemeEnd = s.indexOf("://");
  let hs = 0;
  if (schemeEnd >= 0) {
    if (schemeEnd !== 4 && schemeEnd !== 5) return false;
    if ((s.charCodeAt(0) | 0x20) !== 104 || (s.charCodeAt(1) | 0x20) !== 116 || (s.charCodeAt(2) | 0x20) !== 116 || (s.charCodeAt(3) | 0x20) !== 112) return false;
    if (schemeEnd === 5 && (s.charCodeAt(4) | 0x20) !== 115) return false;
    hs = schemeEnd + 3;
  }
  // host: labels of a-z 0-9 - _, the last one not all digits; ends at the first '/'
  // (table reads, not range tests: letters and digits come in no order the CPU can predict)
  let i = hs;
  let labelStart = hs;
  let nonDigit = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    const t = c < 128 ? HOST_CHAR[c]! : 0;
    if (t === 0) return false;
    if (t === 4) break;
    if (t === 3) {
      if (i === labelStart) return false;
      labelStart = i + 1;
      nonDigit = 0;
    } else nonDigit |= t & 1;
  }
  if (i === n || i === labelStart || nonDigit === 0) return false;
  // a last label "0x" + hex digits is a number to the WHATWG host parser ("0x0" → IPv4 0.0.0.0): urlKey decides
  if (i - labelStart >= 2 && s.charCodeAt(labelStart) === 48 && s.charCodeAt(labelStart + 1) === 120 && isHexRun(s, labelStart + 2, i)) return false;
  const xn = s.indexOf("xn--", hs);
  if (xn >= 0 && xn < i) return false;
  // path, then query; a fragment ends the key
  let q = -1;
  let end = n;
  for (let j = i; j < n; j++) {
    const c = s.charCodeAt(j);
    if (c === 35) {
      end = j;
      break;
    }
    if (q < 0) {
      if (c === 63) q = j;
      else if (c >= 128 || PATH_OK[c] === 0 || (c === 46 && s.charCodeAt(j - 1) === 47)) return false;
    } else if (c >= 128 || QUERY_OK[c] === 0) return false;
  }
  if (q === end - 1) return false; // an empty query: URL drops the '?'
  urlSpan[0] = hs;
  urlSpan[1] = end;
  urlSpan[2] = q;
  urlSpan[3] = i;
  return true;
}

/** URL scheme characters (RFC 3986): 2 a letter (may come first), 1 a digit, '+', '-' or '.'; else 0. */
const SCHEME_CHAR = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") SCHEME_CHAR[c.charCodeAt(0)] = 2;
for (const c of "0123456789+-.") SCHEME_CHAR[c.charCodeAt(0)] = 1;

function isScheme(s: string, from: number, to: number): boolean {
  if (to === from || (SCHEME_CHAR[s.charCodeAt(from)] ?? 0) !== 2) return false;
  for (let i = from + 1; i < to; i++) if ((SCHEME_CHAR[s.charCodeAt(i)] ?? 0) === 0) return false;
  return true;
}

/** The span of the last urlHost success: the host is s.slice([0], [1]); [2] = 1 when it was in [brackets]. */
export const hostSpan = new Int32Array(3);

/**
 * Finds the host of a URL where it stands (no copy, no `new URL()`): after the scheme's "://" (or from the
 * start for a URL without a scheme, as urlKey reads it), up to the first '/', '\\', '?' or '#'; without the
 * credentials before the last '@' and the ":port". A bracketed IPv6 host is given without its brackets
 * (hostSpan[2] = 1). false = no host (a bare path, an invalid scheme, an empty host).
 */
export function urlHost(s: string): boolean {
  let from = 0;
  let to = s.length;
  while (from < to && s.charCodeAt(from) <= 32) from++;
  while (to > from && s.charCodeAt(to - 1) <= 32) to--;
  const schemeEnd = s.indexOf("://", from);
  if (schemeEnd >= 0 && schemeEnd < to) {
    if (!isScheme(s, from, schemeEnd)) return false;
    from = schemeEnd + 3;
  } else if (s.charCodeAt(from) === 47) return false; // a path names no host
  // the authority ends at the path, query or fragment
  let end = from;
  let at = -1;
  for (; end < to; end++) {
    const c = s.charCodeAt(end);
    if (c === 47 || c === 92 || c === 63 || c === 35) break;
    if (c === 64) at = end;
  }
  let hs = at >= 0 ? at + 1 : from;
  let he = end;
  let bracketed = 0;
  if (s.charCodeAt(hs) === 91 /* [ */) {
    const close = s.indexOf("]", hs);
    if (close < 0 || close >= end) return false;
    const after = close + 1;
    if (after !== end && s.charCodeAt(after) !== 58) return false;
    hs++;
    he = close;
    bracketed = 1;
  } else {
    const colon = s.lastIndexOf(":", end - 1);
    if (colon >= hs) he = colon;
  }
  if (he <= hs) return false;
  hostSpan[0] = hs;
  hostSpan[1] = he;
  hostSpan[2] = bracketed;
  return true;
}


/** IPv4/IPv6 address or CIDR, normalized. */
export function normalizeIpOrCidr(s: string): Classified | undefined {
  if (s.indexOf("/") >= 0) {
    const c = parseCidr(s);
    if (!c) return undefined;
    if (c.v === 4) return c.prefix === 32 ? { kind: "ipv4", value: formatIPv4(c.start) } : { kind: "cidr4", value: `${formatIPv4(c.start)}/${c.prefix}` };
    return c.prefix === 128 ? { kind: "ipv6", value: formatIPv6(c.start) } : { kind: "cidr6", value: `${formatIPv6(c.start)}/${c.prefix}` };
  }
  const v4 = parseIPv4(s);
  if (v4 >= 0) return { kind: "ipv4", value: formatIPv4(v4) };
  const ip = parseIp(s);
  if (!ip) return undefined;
  return ip.v === 4 ? { kind: "ipv4", value: formatIPv4(ip.ip) } : { kind: "ipv6", value: formatIPv6(groupsToBigInt(ip.groups)) };
}

/** Undoes the usual "defanging" of indicators in threat reports: hxxp://, [.], (.), [:]. */
export function refang(s: string): string {
  if (s.indexOf("[") < 0 && s.indexOf("(") < 0 && !/^hxxp/i.test(s)) return s;
  return s
    .replace(/^hxxp/i, "http")
    .replace(/\[\.\]|\(\.\)|\[dot\]/gi, ".")
    .replace(/\[:\]/g, ":");
}

/**
 * Classifies one indicator string as the feed's `type` allows ("auto": any kind recognised).
 * Returns undefined when the string is not an indicator of an allowed kind.
 */
export function classify(raw: string, wanted: WantedType): Classified | undefined {
  const s = refang(raw.trim());
  if (s === "") return undefined;
  if (wanted === "ip" || wanted === "auto") {
    const ip = normalizeIpOrCidr(s);
    if (ip) return ip;
    if (wanted === "ip") return undefined;
  }
  if (wanted === "hash" || wanted === "auto") {
    const h = normalizeHash(s);
    if (h) return h;
    if (wanted === "hash") return undefined;
  }
  const looksUrl = s.includes("://") || s.includes("/");
  if (wanted === "url" || (wanted === "auto" && looksUrl)) {
    const k = urlKey(s);
    return k ? { kind: "url", value: k } : undefined;
  }
  const d = normalizeDomain(s);
  return d ? { kind: "domain", value: d } : undefined;
}
