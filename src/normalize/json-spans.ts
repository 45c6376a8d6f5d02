// Where the parts of a JSON text sit in it: the start/end offsets of an array's elements and of an
// object's member values, so a record inside a body (array element, EventList item, CloudTrail
// Records[] entry, EventBridge detail) can be kept as its exact original text (ocsf.rawData).
//
// A small hand-written scanner: it tracks only string/escape state and bracket depth, and expects
// text that JSON.parse has already accepted (it does not validate). Used only when raw_data is on,
// so the hot path never pays for it.

const QUOTE = 34;
const BACKSLASH = 92;

function isWs(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** First index at or after `i` that is not JSON whitespace. */
export function skipWs(text: string, i: number): number {
  while (i < text.length && isWs(text.charCodeAt(i))) i++;
  return i;
}

/** Index just after the string literal whose opening quote is at `at`. */
function stringEnd(text: string, at: number): number {
  let q = text.indexOf('"', at + 1);
  while (q >= 0) {
    let n = 0; // backslashes right before the quote: an odd run escapes it
    while (text.charCodeAt(q - n - 1) === BACKSLASH) n++;
    if ((n & 1) === 0) return q + 1;
    q = text.indexOf('"', q + 1);
  }
  return text.length;
}

/** Index just after the JSON value that starts at `at` (its first character, not whitespace). */
export function valueEnd(text: string, at: number): number {
  const n = text.length;
  const c = text.charCodeAt(at);
  if (c === QUOTE) return stringEnd(text, at);
  if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
    let depth = 0;
    let i = at;
    while (i < n) {
      const d = text.charCodeAt(i);
      if (d === QUOTE) {
        i = stringEnd(text, i);
        continue;
      }
      if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d /* } */ || d === 0x5d /* ] */) {
        if (--depth === 0) return i + 1;
      }
      i++;
    }
    return n;
  }
  // number, true, false, null: up to the next delimiter
  let i = at + 1;
  while (i < n) {
    const d = text.charCodeAt(i);
    if (d === 0x2c /* , */ || d === 0x5d || d === 0x7d || isWs(d)) break;
    i++;
  }
  return i;
}

/**
 * The elements of the array whose `[` is at `at`, as flat [start0, end0, start1, end1, ...] offsets
 * (end exclusive): `text.slice(start, end)` is the element's exact text.
 */
export function arraySpans(text: string, at: number): number[] {
  const out: number[] = [];
  let i = skipWs(text, at + 1);
  if (text.charCodeAt(i) === 0x5d) return out;
  while (i < text.length) {
    const end = valueEnd(text, i);
    out.push(i, end);
    i = skipWs(text, end);
    if (text.charCodeAt(i) !== 0x2c) break; // "]" (or the end of a text that was not an array)
    i = skipWs(text, i + 1);
  }
  return out;
}

export interface MemberSpan {
  /** The member's key, decoded. */
  key: string;
  /** Offsets of its value: `text.slice(start, end)`. */
  start: number;
  end: number;
}

/** The members of the object whose `{` is at `at`, in text order (duplicates kept). */
export function objectSpans(text: string, at: number): MemberSpan[] {
  const out: MemberSpan[] = [];
  let i = skipWs(text, at + 1);
  while (i < text.length && text.charCodeAt(i) === QUOTE) {
    const keyEnd = stringEnd(text, i);
    const lit = text.slice(i + 1, keyEnd - 1);
    const key = lit.includes("\\") ? (JSON.parse(`"${lit}"`) as string) : lit;
    i = skipWs(text, keyEnd);
    i = skipWs(text, i + 1); // past ":"
    const end = valueEnd(text, i);
    out.push({ key, start: i, end });
    i = skipWs(text, end);
    if (text.charCodeAt(i) !== 0x2c) break;
    i = skipWs(text, i + 1);
  }
  return out;
}

/** The exact text of member `key` of the object text (the last one, as JSON.parse keeps), or undefined. */
export function memberText(text: string, key: string): string | undefined {
  const at = skipWs(text, 0);
  if (text.charCodeAt(at) !== 0x7b) return undefined;
  const members = objectSpans(text, at);
  for (let k = members.length - 1; k >= 0; k--) {
    const m = members[k]!;
    if (m.key === key) return text.slice(m.start, m.end);
  }
  return undefined;
}

/** The exact texts of the elements of an array text, or undefined when the text is not an array. */
export function elementTexts(text: string): string[] | undefined {
  const at = skipWs(text, 0);
  if (text.charCodeAt(at) !== 0x5b) return undefined;
  const spans = arraySpans(text, at);
  const out: string[] = new Array<string>(spans.length / 2);
  for (let k = 0; k < spans.length; k += 2) out[k / 2] = text.slice(spans[k], spans[k + 1]);
  return out;
}
