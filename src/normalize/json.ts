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

const LONG_DIGITS = /\d{16}/;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSON.parse that keeps integers outside the safe range as exact decimal strings. */
export function parseJson(text: string): Json {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text) as Json;
  return JSON.parse(quoteLongIntegers(text)) as Json;
}

/**
 * Rewrites integer literals (outside strings) that cannot be held exactly by a double into
 * string literals. Literals with a fraction or exponent are left alone (they are floats anyway).
 */
export function quoteLongIntegers(text: string): string {
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

/** Milliseconds since the epoch from an RFC 3339 string, or undefined. */
export function isoToMs(v: Json | undefined): number | undefined {
  if (typeof v !== "string") return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
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

/** Drops keys whose value is undefined (so JSON output and schema checks stay clean). */
export function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) {
    if (o[k] === undefined) delete o[k];
  }
  return o;
}
