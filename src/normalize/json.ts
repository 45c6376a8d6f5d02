// JSON helpers shared by the whole pipeline.
//
// Falco's `evt.time` (and a few other kernel counters) are integers beyond 2^53: a plain
// JSON.parse silently rounds them. `parseJson` keeps every integer literal of 16 digits or
// more as its exact decimal string, so no value is ever changed on the way through.
// The fast path (no long digit run anywhere in the text) is a plain JSON.parse.

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** A run of 16 or more digits (with its sign): the only candidates for quoting. */
const LONG_DIGITS = /-?\d{16,}/g;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSON.parse that keeps integers outside the safe range as exact decimal strings. */
export function parseJson(text: string): Json {
  const at = longDigitRunAt(text);
  if (at < 0) return JSON.parse(text) as Json;
  return JSON.parse(quoteLongIntegers(text, at)) as Json;
}

const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * Where the first run of 16 or more consecutive digits starts, or -1. Any such run covers a position p
 * with p % 16 === 15, so only every 16th character is read, plus the neighbours of the digits found there.
 */
export function longDigitRunAt(text: string): number {
  const n = text.length;
  for (let p = 15; p < n; p += 16) {
    if (!isDigit(text.charCodeAt(p))) continue;
    let a = p;
    while (a > 0 && isDigit(text.charCodeAt(a - 1))) a--;
    let b = p;
    while (b - a < 15 && b + 1 < n && isDigit(text.charCodeAt(b + 1))) b++;
    if (b - a >= 15) return a;
  }
  return -1;
}

/** True when the text holds 16 or more consecutive digits. */
export function hasLongDigitRun(text: string): boolean {
  return longDigitRunAt(text) >= 0;
}

/** True when the quote at `at` is escaped (an odd run of backslashes before it). */
function escapedQuote(text: string, at: number): boolean {
  let n = 0;
  while (at - n - 1 >= 0 && text.charCodeAt(at - n - 1) === 92 /* \ */) n++;
  return (n & 1) === 1;
}

function isNumberChar(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 46 /* . */ || c === 101 /* e */ || c === 69 /* E */ || c === 43 /* + */ || c === 45 /* - */;
}

/**
 * Rewrites integer literals (outside strings) that cannot be held exactly by a double into
 * string literals. Literals with a fraction or exponent are left alone (they are floats anyway).
 *
 * The native regex engine finds the runs of 16+ digits; only the quotes before each run are
 * visited (indexOf), to know whether the run sits inside a string. Text without such a run is
 * returned as is without a character loop.
 */
export function quoteLongIntegers(text: string, from = 0): string {
  let out = "";
  let last = 0;
  let scanned = 0; // quotes before this index have been counted
  let inString = false;
  // `from`: where the first run of 16+ digits starts (longDigitRunAt), one back for its sign
  LONG_DIGITS.lastIndex = from > 0 ? from - 1 : 0;
  for (let m = LONG_DIGITS.exec(text); m !== null; m = LONG_DIGITS.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    for (let q = text.indexOf('"', scanned); q >= 0 && q < start; q = text.indexOf('"', scanned)) {
      if (!inString || !escapedQuote(text, q)) inString = !inString;
      scanned = q + 1;
    }
    if (inString) continue;
    // a run touching other number characters (a float, or malformed text): the full tokenizer decides
    if ((start > 0 && isNumberChar(text.charCodeAt(start - 1))) || (end < text.length && isNumberChar(text.charCodeAt(end)))) {
      return quoteLongIntegersByChar(text);
    }
    const lit = m[0];
    if (Number.isSafeInteger(Number(lit))) continue;
    out += text.slice(last, start) + '"' + lit + '"';
    last = end;
  }
  return last === 0 ? text : out + text.slice(last);
}

/**
 * The character-by-character tokenizer: the reference behaviour, used when a digit run touches
 * other number characters (a float's long fraction or exponent, or malformed text).
 */
export function quoteLongIntegersByChar(text: string): string {
  let out = "";
  let last = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      // skip the string
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i += 2;
        else if (d === 34) {
          i++;
          break;
        } else i++;
      }
      continue;
    }
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      const start = i;
      if (c === 45) i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d >= 48 && d <= 57) i++;
        else break;
      }
      const next = i < n ? text.charCodeAt(i) : 0;
      const isFloat = next === 46 /* . */ || next === 101 /* e */ || next === 69 /* E */;
      if (!isFloat) {
        const lit = text.slice(start, i);
        const digits = c === 45 ? lit.length - 1 : lit.length;
        if (digits >= 16 && !Number.isSafeInteger(Number(lit))) {
          out += text.slice(last, start) + '"' + lit + '"';
          last = i;
        }
      } else {
        // consume the rest of the number
        while (i < n) {
          const d = text.charCodeAt(i);
          if ((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) i++;
          else break;
        }
      }
      continue;
    }
    i++;
  }
  return last === 0 ? text : out + text.slice(last);
}

/**
 * o[k] = v as an own data property, also for the key "__proto__": JSON.parse makes a sender's "__proto__"
 * key an own property, but a plain assignment of it would set the object's prototype instead (the key
 * vanishes from the output and every later lookup in `o` sees the sender's object). Use it wherever keys
 * come from input (copies of records, unmapped rests, label maps).
 */
export function setOwn(o: { [k: string]: unknown }, k: string, v: unknown): void {
  if (k === "__proto__") Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/** The prototype of bareObject()'s objects: empty, frozen, itself without a prototype. */
const BARE_PROTO: object = Object.freeze(Object.create(null) as object);

/**
 * An empty object to hold keys that come from input (marks, label maps): no key ("__proto__",
 * "constructor", "toString") finds anything it was not given, and "__proto__" is set as an own key, as on
 * Object.create(null). Not Object.create(null) itself: V8 makes those hash-table dictionaries, slow to fill
 * and to read; an object whose prototype is a null-prototype object keeps fast properties.
 */
export function bareObject<T extends object>(): T {
  return Object.create(BARE_PROTO) as T;
}

/** table[key] when it is the table's own entry: an input string such as "constructor" or "__proto__" finds nothing (not Object.prototype's members). */
export function lookup<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** The value at `keys` through objects and arrays, own keys only (so "constructor" finds nothing); undefined when absent. */
export function ownAt(v: unknown, keys: readonly string[]): unknown {
  for (const key of keys) {
    if (typeof v !== "object" || v === null || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** Reads a nested value by a dotted path of own keys. */
export function get(obj: Json | undefined, ...path: string[]): Json | undefined {
  let cur: Json | undefined = obj;
  for (const k of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

export function str(v: Json | undefined): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

export function int(v: Json | undefined): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === "string" && /^-?\d+$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

/**
 * An ISO 8601 / RFC 3339 date-time: date, "T" (or a space), time with an optional fraction of any length,
 * then "Z", an offset "+02:00" / "+0200" / "+02", or nothing (read as UTC: every source here writes UTC).
 */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/**
 * Milliseconds since the epoch from an ISO 8601 / RFC 3339 date-time string, or undefined. Stricter than
 * Date.parse, which takes "1" as 2001-01-01, "2026-02-30" as March 2 and a bare "2024" or "Tue Mar 05 2024"
 * as dates, and reads a time without a zone in the host's time zone: those are undefined here (the caller
 * falls back, and keeps the text). A leap second (23:59:60, RFC 3339 allows it) is read as the last
 * millisecond of its minute (…:59.999), so it stays on its day and after every other instant of the minute.
 * The fraction is truncated to milliseconds (the precision of OCSF timestamp_t).
 */
export function isoToMs(v: Json | undefined): number | undefined {
  if (typeof v !== "string" || v.length > 64) return undefined;
  const m = ISO_DATE_TIME.exec(v);
  if (!m) return undefined;
  const y = Number(m[1]), mo = Number(m[2]), d = Number(m[3]), h = Number(m[4]), mi = Number(m[5]), s = Number(m[6]);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 60) return undefined;
  const ms = s === 60 ? 999 : Number((m[7] ?? "").slice(0, 3).padEnd(3, "0"));
  let offsetMin = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11] ?? "0");
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const t = Date.UTC(y, mo - 1, d, h, mi, Math.min(s, 59), ms);
  // Date.UTC reads the years 0-99 as 1900-1999: those have their date set again (the time of day stays)
  return (y < 100 ? new Date(t).setUTCFullYear(y, mo - 1, d) : t) - offsetMin * 60_000;
}

function daysInMonth(y: number, mo: number): number {
  if (mo !== 2) return mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
}

/** An object literal with optional members -> a JsonObject without the undefined ones. */
export function obj(o: { [k: string]: Json | undefined }): JsonObject {
  const out: JsonObject = {};
  for (const k in o) {
    const v = o[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * The object without its undefined members (so JSON output and schema checks stay clean): a new
 * object with the same key order. Not `delete`, which turns objects into slow dictionaries.
 */
export function compact<T extends object>(o: T): T {
  const out = {} as T;
  for (const k in o) {
    const v = o[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}
