import type { JsonObject } from "./json";

/** A record that cannot be mapped; the message names the reason and is returned to the sender. */
export class NormalizeError extends Error {
  override name = "NormalizeError";
}

/** At most this many characters of text taken from a record (key names, values) are quoted in a reason. */
export const QUOTE_MAX = 200;

/**
 * Text taken from a record, for a reason sent back to the sender: cut at `max` characters (never inside
 * a surrogate pair) with a marker saying how many were left out, so an answer cannot grow with the
 * sender's key names or values. The quarantine keeps the record itself.
 */
export function quoted(text: string, max = QUOTE_MAX): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]!) ? max - 1 : max;
  return `${text.slice(0, end)}…(+${text.length - end} chars)`;
}

/**
 * A record's first `n` key names (or the first `n` of the names given), for a reason: each cut at 40
 * characters, the list at QUOTE_MAX.
 */
export function keyList(rec: JsonObject | readonly string[], n = 5): string {
  const keys: string[] = [];
  if (Array.isArray(rec)) for (const k of rec.slice(0, n)) keys.push(quoted(k, 40));
  else
    for (const k in rec) {
      if (keys.length === n) break;
      keys.push(quoted(k, 40));
    }
  return keys.length ? quoted(keys.join(", ")) : "none";
}
