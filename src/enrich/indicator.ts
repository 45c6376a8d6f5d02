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

/** The URL key without its query string (a second lookup for URLs with parameters). */
export function stripQuery(key: string): string | undefined {
  const q = key.indexOf("?");
  return q < 0 ? undefined : key.slice(0, q);
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
