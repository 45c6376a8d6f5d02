// Deterministic, synchronous identifiers for events (no I/O, no async crypto on the hot path).
// Four independently seeded cyrb53 hashes give 128 bits (122 after version/variant), formatted as a UUID (version 8, RFC 9562
// "custom"), so the same input always yields the same uid and SIEMs can deduplicate re-deliveries.
import { sha256 } from "@noble/hashes/sha2.js";
import type { Json } from "./json";

/** cyrb53 (a fast 53-bit string hash) under a seed. */
export function cyrb53(s: string, seed: number): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0").slice(-width);
}

/** Low 32 bits of cyrb53 (its h1 after mixing), from the two running states. */
function low32(h1: number, h2: number): number {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  return h1 >>> 0;
}

/** Character codes of the hex digits. */
const HEX = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
/** The hex digit of n's 4 bits at `shift`, as a character code. */
const hd = (n: number, shift: number) => HEX[(n >>> shift) & 15]!;

// the four seeds' initial states (0xdeadbeef ^ seed, 0x41c6ce57 ^ seed)
const SEEDS = [0x9e3779b9, 0x85ebca6b, 0xc2b2ae35, 0x27d4eb2f];
const [A1, B1, C1, D1] = SEEDS.map((s) => 0xdeadbeef ^ s) as [number, number, number, number];
const [A2, B2, C2, D2] = SEEDS.map((s) => 0x41c6ce57 ^ s) as [number, number, number, number];

/** The four running states (a1, a2, b1, b2, c1, c2, d1, d2) of the hash in progress. */
const H = new Int32Array(8);

function start(): void {
  H[0] = A1; H[1] = A2; H[2] = B1; H[3] = B2; H[4] = C1; H[5] = C2; H[6] = D1; H[7] = D2;
}

/**
 * Hashes the characters of s into H: as they are, or (`escaped`) as JSON.stringify writes them inside a
 * string literal. The states live in local variables through the loop; only escapes go through H.
 */
function hashChars(s: string, escaped: boolean): void {
  let a1 = H[0]!, a2 = H[1]!, b1 = H[2]!, b2 = H[3]!, c1 = H[4]!, c2 = H[5]!, d1 = H[6]!, d2 = H[7]!;
  const n = s.length;
  for (let i = 0; i < n; ) {
    const ch = s.charCodeAt(i);
    if (escaped && (ch < 32 || ch === 34 || ch === 92 || (ch & 0xf800) === 0xd800)) {
      H[0] = a1; H[1] = a2; H[2] = b1; H[3] = b2; H[4] = c1; H[5] = c2; H[6] = d1; H[7] = d2;
      i = putSpecial(s, i);
      a1 = H[0]!; a2 = H[1]!; b1 = H[2]!; b2 = H[3]!; c1 = H[4]!; c2 = H[5]!; d1 = H[6]!; d2 = H[7]!;
      continue;
    }
    a1 = Math.imul(a1 ^ ch, 2654435761);
    a2 = Math.imul(a2 ^ ch, 1597334677);
    b1 = Math.imul(b1 ^ ch, 2654435761);
    b2 = Math.imul(b2 ^ ch, 1597334677);
    c1 = Math.imul(c1 ^ ch, 2654435761);
    c2 = Math.imul(c2 ^ ch, 1597334677);
    d1 = Math.imul(d1 ^ ch, 2654435761);
    d2 = Math.imul(d2 ^ ch, 1597334677);
    i++;
  }
  H[0] = a1; H[1] = a2; H[2] = b1; H[3] = b2; H[4] = c1; H[5] = c2; H[6] = d1; H[7] = d2;
}

/**
 * A stable UUID-shaped id for any string: the low 32 bits of cyrb53 under four seeds, as 32 hex digits
 * with the version (8) and variant bits set. The four hashes are computed in one pass over the string.
 */
export function stableUid(s: string): string {
  start();
  hashChars(s, false);
  return uidOf();
}

/** The UUID text of the four running hash states in H (see stableUid). */
function uidOf(): string {
  const a = low32(H[0]!, H[1]!);
  const b = low32(H[2]!, H[3]!);
  const c = low32(H[4]!, H[5]!);
  const d = low32(H[6]!, H[7]!);
  // hex digits 0-7: a; 8-15: b (digit 12 becomes the version 8); 16-23: c (digit 16 becomes the variant); 24-31: d.
  // One flat string from character codes: a template of table lookups made ~20 intermediate strings.
  return String.fromCharCode(
    hd(a, 28), hd(a, 24), hd(a, 20), hd(a, 16), hd(a, 12), hd(a, 8), hd(a, 4), hd(a, 0), 45,
    hd(b, 28), hd(b, 24), hd(b, 20), hd(b, 16), 45,
    56, hd(b, 8), hd(b, 4), hd(b, 0), 45,
    HEX[((c >>> 28) & 0x3) | 0x8]!, hd(c, 24), hd(c, 20), hd(c, 16), 45,
    hd(c, 12), hd(c, 8), hd(c, 4), hd(c, 0), hd(d, 28), hd(d, 24), hd(d, 20), hd(d, 16), hd(d, 12), hd(d, 8), hd(d, 4), hd(d, 0),
  );
}

/**
 * The scope of a tenant's uids when tenants are kept apart (NormalizeContext.uidScope; set by the ingest layer
 * when more than one tenant can send). Length-prefixed, so no tenant's scope followed by a uid reads as another
 * tenant's (or the credential-less sender's, `-`) scope and uid.
 */
export function tenantUidScope(tenant: string | undefined): string {
  return tenant === undefined ? "tenant:-\n" : `tenant:${tenant.length}:${tenant}\n`;
}

/**
 * metadata.uid from the uid a record gives (the source's own id, or a hash of the record): as it is without a
 * scope (one tenant: unchanged), else the first 128 bits of SHA-256 of scope and uid as a version-8 UUID, so one record sent by two tenants has two
 * uids and one tenant's copy cannot take the place of another's where sinks deduplicate (Elasticsearch `_id`,
 * object and dead-letter keys). The source's own id stays where OCSF puts it (finding_info.uid, api.request.uid).
 */
export function scopedUid(uid: string, scope: string | undefined): string {
  if (scope === undefined) return uid;
  // SHA-256, not stableUid's cyrb53: the uid may be the sender's own (a Falco uuid, a CloudTrail eventID), and a
  // tenant must not be able to craft one whose scoped uid is another tenant's. Synchronous (normalizers are pure
  // and sync), only with several tenants (~1-2 µs per event).
  const d = sha256(UTF8.encode(scope + uid));
  d[6] = (d[6]! & 0x0f) | 0x80; // version 8 (custom)
  d[8] = (d[8]! & 0x3f) | 0x80; // RFC 9562 variant
  let hex = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) hex += "-";
    hex += HEX_PAIRS[d[i]!]!;
  }
  return hex;
}

const UTF8 = new TextEncoder();
const HEX_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** The longest sender-supplied id used as metadata.uid (UTF-16 units: at most 384 bytes of UTF-8, under Elasticsearch's 512-byte `_id`). */
export const MAX_SENDER_UID = 128;

/**
 * Whether a sender's id (a Falco/Falcosidekick `uuid`) can be metadata.uid as it is: not empty, at most
 * MAX_SENDER_UID characters, no control characters (C0, DEL, C1). Anything else is not an id a SIEM can
 * key on (Elasticsearch refuses an `_id` over 512 bytes, or empty): the normalizer derives the uid instead.
 */
export function plausibleUid(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return s !== "" && s.length <= MAX_SENDER_UID && !/[\u0000-\u001f\u007f-\u009f]/.test(s);
}

/** Short stable hex digest (for object keys and fingerprints). */
export function stableHex(s: string): string {
  return hex(cyrb53(s, 7), 14) + hex(cyrb53(s, 13), 14);
}

// ---------------------------------------------------------------------------------------------------------
// stableUid(JSON.stringify(v)) without writing the JSON text: the characters JSON.stringify would write are
// hashed while walking the value (same order: own keys as for-in lists them; same escapes; numbers as
// String(n)). Saves the record's text on Falco alerts without a uuid (their uid hashes the whole record).

/** Hashes one character code into H. */
function put(ch: number): void {
  H[0] = Math.imul(H[0]! ^ ch, 2654435761);
  H[1] = Math.imul(H[1]! ^ ch, 1597334677);
  H[2] = Math.imul(H[2]! ^ ch, 2654435761);
  H[3] = Math.imul(H[3]! ^ ch, 1597334677);
  H[4] = Math.imul(H[4]! ^ ch, 2654435761);
  H[5] = Math.imul(H[5]! ^ ch, 1597334677);
  H[6] = Math.imul(H[6]! ^ ch, 2654435761);
  H[7] = Math.imul(H[7]! ^ ch, 1597334677);
}

/** JSON.stringify's short escapes (\b \t \n \f \r) by character code, else 0. */
const SHORT_ESCAPE = new Int32Array(32);
SHORT_ESCAPE[8] = 98;
SHORT_ESCAPE[9] = 116;
SHORT_ESCAPE[10] = 110;
SHORT_ESCAPE[12] = 102;
SHORT_ESCAPE[13] = 114;

/** A \uXXXX escape (lower-case hex, as JSON.stringify writes it). */
function putUnicodeEscape(c: number): void {
  put(92);
  put(117);
  put(HEX[(c >>> 12) & 15]!);
  put(HEX[(c >>> 8) & 15]!);
  put(HEX[(c >>> 4) & 15]!);
  put(HEX[c & 15]!);
}

/** The character at s[i] that JSON.stringify escapes (or a surrogate, which it may); returns the next index. */
function putSpecial(s: string, i: number): number {
  const ch = s.charCodeAt(i);
  if (ch === 34 || ch === 92) {
    put(92);
    put(ch);
  } else if (ch < 32) {
    const short = SHORT_ESCAPE[ch]!;
    if (short !== 0) {
      put(92);
      put(short);
    } else putUnicodeEscape(ch);
  } else if (ch <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
    // a well-formed surrogate pair: both halves as they are
    put(ch);
    put(s.charCodeAt(i + 1));
    return i + 2;
  } else putUnicodeEscape(ch); // a lone surrogate
  return i + 1;
}

/** Hashes `before` (a character code, or -1 for none), s as JSON.stringify writes it (quoted, escaped), then `after` (or -1). */
function putString(s: string, before: number, after: number): void {
  if (before >= 0) put(before);
  put(34);
  hashChars(s, true);
  put(34);
  if (after >= 0) put(after);
}

/** Hashes what JSON.stringify(v) writes; false for a value it writes nothing for (undefined). */
function putJson(v: Json | undefined): boolean {
  if (typeof v === "string") putString(v, -1, -1);
  else if (typeof v === "number") hashChars(Number.isFinite(v) ? String(v) : "null", false);
  else if (typeof v === "boolean") hashChars(v ? "true" : "false", false);
  else if (v === null) hashChars("null", false);
  else if (Array.isArray(v)) {
    put(91);
    for (let i = 0; i < v.length; i++) {
      if (i > 0) put(44);
      if (!putJson(v[i])) hashChars("null", false);
    }
    put(93);
  } else if (typeof v === "object") {
    put(123);
    let first = true;
    for (const k in v) {
      const x = v[k];
      if (x === undefined || !Object.prototype.hasOwnProperty.call(v, k)) continue;
      putString(k, first ? -1 : 44, 58); // [,]"key":
      first = false;
      putJson(x);
    }
    put(125);
  } else return false;
  return true;
}

/** stableUid(JSON.stringify(v)) for a JSON value, without writing its text. */
export function stableUidOfJson(v: Json): string {
  start();
  putJson(v);
  return uidOf();
}
