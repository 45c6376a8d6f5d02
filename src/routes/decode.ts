// Body framing: one JSON value, a JSON array, NDJSON / JSON lines / JSON text sequences (with or
// without a trailing newline), or Falco's plain-text output. Pure (string in, items out), so the
// CLI and the benchmarks run it too.
//
// `items` yields the body's parts in order, one at a time, so the ingest loop can hand records to
// the queue in windows instead of holding every parsed record of a 100k-line body at once.
import { type Json, parseJson } from "../normalize/json";
import { utf8Length } from "../sinks/batch";
import { arraySpans } from "../normalize/json-spans";
import { recordCount, isContainer } from "../normalize/detect";

export { utf8Length };

/** How the Content-Type says the body is framed; "sniff" when it does not say. */
export type Framing = "json" | "ndjson" | "text" | "sniff";

export type Item =
  /**
   * A parsed JSON value; `raw` is its text when the value is a whole line or the whole body; `text` is an
   * array element's exact slice of the body (only with FrameOptions.texts). A container line over
   * maxRecordBytes has no `raw` (its `text` with FrameOptions.texts): like an array element's, its
   * records have no text of their own to measure, so the caller estimates each one (checkRecord).
   */
  | { type: "value"; value: Json; path: string; raw?: string; text?: string }
  /** A plain-text line (Falco json_output: false). */
  | { type: "text"; line: string; path: string }
  /** A part of the body that is not a record (invalid JSON, too large, not UTF-8: then its bytes in `rawBase64`). */
  | { type: "error"; path: string; reason: string; raw: string; rawBase64?: string };

/** A line the body decoder set aside (not UTF-8, or cut by a truncated stream): its text or its bytes. */
export interface BadLine {
  reason: string;
  raw?: string;
  rawBase64?: string;
}

export interface FrameOptions {
  /**
   * Lines longer than this (bytes of UTF-8) are reported instead of parsed, except containers (an array,
   * an EventList, a CloudTrail file): those are parsed and yielded without `raw`, each record then measured
   * on its own as in a JSON array body.
   */
  maxRecordBytes?: number;
  /** Give array elements their exact text (`text`), for raw_data (ocsf.rawData): a scan of the body. */
  texts?: boolean;
  /** Lines set aside by the body decoder (1-based line number): reported as errors, never parsed. */
  bad?: ReadonlyMap<number, BadLine>;
}

function badItem(b: BadLine, path: string): Item {
  return { type: "error", path, reason: b.reason, raw: b.raw ?? "", rawBase64: b.rawBase64 };
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9 || c === 0xfeff;
}

function firstNonSpace(text: string, from = 0, to = text.length): number {
  for (let i = from; i < to; i++) if (!isSpace(text.charCodeAt(i))) return i;
  return -1;
}

/** Byte size of a text when it is over `max`, else undefined (cheap: exact bytes only when it matters). */
export function oversize(line: string, max: number | undefined): number | undefined {
  if (max === undefined || line.length * 3 <= max) return undefined;
  if (line.length > max) return utf8Length(line);
  const bytes = utf8Length(line);
  return bytes > max ? bytes : undefined;
}

/** Whether a rejection reason is a per-record size or depth limit (maxRecordBytes, maxDepth): a 413 when all are. */
export function isLimitReason(reason: string): boolean {
  return reason.startsWith("record is ") && /limits\.max(RecordBytes|Depth)\b/.test(reason);
}

function tooLargeReason(bytes: number, max: number): string {
  return `record is ${bytes} bytes, more than limits.maxRecordBytes (${max})`;
}

/** Characters V8 quotes on each side of the error in an "Unexpected token" message (kMaxContextCharacters). */
const CONTEXT = 10;

/**
 * Where in `text` a JSON.parse error is, from its message: "... at position N", the end for "Unexpected end of JSON
 * input", else found from the text V8 quotes around an unexpected token; undefined when not known.
 */
function errorPosition(message: string, text: string): number | undefined {
  const at = / at position (\d+)\b/.exec(message);
  if (at) return Number(at[1]);
  if (message === "Unexpected end of JSON input") return text.length;
  const m = /^Unexpected token .*?, (\.\.\.)?"([\s\S]*)"(\.\.\.)? is not valid JSON$/.exec(message);
  if (!m) return undefined;
  const [, before, snippet = "", after] = m;
  if (!before && after) return text.startsWith(snippet) ? snippet.length - CONTEXT : undefined;
  if (before && !after) return text.endsWith(snippet) ? text.length - snippet.length + CONTEXT : undefined;
  if (before && after) {
    const i = text.indexOf(snippet);
    return i < 0 ? undefined : i + CONTEXT;
  }
  return undefined; // the whole text quoted: no position in the message
}

/**
 * The reason for a record (or body) that is not valid JSON. Never V8's message as it is: that quotes the text around
 * the error ("..."password":S3cretPW}" is not valid JSON), a secret among it, and the reason is logged, kept in the
 * quarantine's metadata and answered. Only the kind of error (a fixed text of V8's, without quotes) and where it is.
 */
export function invalidJsonReason(e: unknown, text: string): string {
  const message = e instanceof Error ? e.message : "";
  const kind = /^([A-Za-z ,'{}[\]:-]{1,80}?)(?: in JSON)? at position \d+/.exec(message)?.[1] ?? (message.startsWith("Unexpected token") ? "Unexpected token" : message === "Unexpected end of JSON input" ? "Unexpected end of JSON input" : undefined);
  const pos = errorPosition(message, text);
  if (kind === undefined && pos === undefined) return "invalid JSON (the parser's message is not repeated: it quotes the record)";
  const what = kind ?? "Syntax error";
  if (pos === undefined || pos < 0 || pos > text.length) return `invalid JSON: ${what}`;
  // the line holding pos (a "\n" ends its line; past a last "\n", the empty line after it)
  let line = 1;
  let lineStart = 0;
  for (const b of lineBounds(text)) {
    if (pos <= b.end) break;
    line = b.line + 1;
    lineStart = b.end + 1;
  }
  return `invalid JSON: ${what} at position ${pos} (line ${line} column ${pos - lineStart + 1})`;
}

/** A text's lines in order: each line's 1-based number and bounds (`end` is the index of its "\n", or the text's length). */
function* lineBounds(text: string): Generator<{ line: number; start: number; end: number }> {
  let line = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    yield { line: ++line, start, end };
    start = end + 1;
  }
}

/** A JSON line's record text: without surrounding whitespace and a leading RS (RFC 7464); undefined for a blank line. */
function lineRecordText(text: string, start: number, end: number): string | undefined {
  let from = firstNonSpace(text, start, end);
  if (from < 0) return undefined;
  if (text.charCodeAt(from) === 0x1e) from++; // JSON text sequences (RFC 7464) start records with RS
  return text.slice(from, end).trimEnd();
}

/** Number of lines holding something other than whitespace (for the records-per-request check). */
export function countLines(text: string): number {
  let n = 0;
  for (const { start, end } of lineBounds(text)) if (firstNonSpace(text, start, end) >= 0) n++;
  return n;
}

/** A line that may be a container of several records (an array, an EventList, a CloudTrail file). */
const CONTAINER_HINT = /"(items|Records)"\s*:/;

/** Whether a line may be a container (is worth parsing to count or unwrap its records). */
function looksLikeContainer(raw: string): boolean {
  return raw.charCodeAt(0) === 0x5b || CONTAINER_HINT.test(raw);
}

/**
 * A line over maxRecordBytes that is a container (jsonLines unwraps it instead of refusing it), else undefined
 * (refused for its size, as any other line over the limit). Parsed once: countRecords keeps what it parsed
 * in the layout (`parsed`), and jsonLines takes it from there.
 */
function bigContainer(raw: string): Json | undefined {
  if (!looksLikeContainer(raw)) return undefined;
  try {
    const v = parseJson(raw);
    return isContainer(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** bigContainer of line `line`, from what countRecords kept of it (taken, so held no longer than needed), else parsed now. */
function takeBigContainer(l: LinesLayout, line: number, raw: string): Json | undefined {
  const kept = l.parsed;
  if (kept === undefined || !kept.has(line)) return bigContainer(raw);
  const v = kept.get(line);
  kept.delete(line);
  return v;
}

/**
 * How many records the body holds after containers are unwrapped: exactly the number of records the
 * ingest loop will count, known before anything is queued (so a maxRecords 413 never follows a partial
 * send). Only lines that look like containers (`[...]`, `"items":`, `"Records":`) are parsed here, of any
 * size: a container line over maxRecordBytes is unwrapped too (jsonLines), any other line is one record
 * (recordCount of a value that is no container is 1, so one rule fits both). What it parses of a line over
 * maxRecordBytes stays in the layout for itemsOf (LinesLayout.parsed): give both the same options.
 */
export function countRecords(text: string, l: Layout, opts: FrameOptions = {}): number {
  switch (l.kind) {
    case "empty":
      return 0;
    case "broken":
      return 1;
    case "text":
      return countLines(text);
    case "value":
      // a top-level array's elements are unwrapped one by one, each from depth 0 (as `itemsOf` yields them)
      return Array.isArray(l.value) ? l.value.reduce<number>((n, v) => n + recordCount(v), 0) : recordCount(l.value);
    case "lines": {
      let n = 0;
      for (const { line, start, end } of lineBounds(text)) {
        const raw = lineRecordText(text, start, end);
        if (raw === undefined) continue;
        if (opts.bad?.has(line)) n++;
        else if (raw !== "") n += looksLikeContainer(raw) ? lineCount(l, line, raw, opts.maxRecordBytes) : 1;
      }
      return n;
    }
  }
}

/**
 * How much line text (characters) countRecords keeps parsed for itemsOf, over all the body's lines: the
 * values are held from the count until yielded, at about their text's size again in heap, so a body of many
 * such lines keeps the first 8 MB's and parses the rest twice, as before. (A 20 MB body of 1.3 MB CloudTrail
 * files, live heap beside the text at its peak: ~1.4 MB parsing every line twice, ~8.4 MB with this bound.)
 */
export const KEEP_CHARS = 8_000_000;

/**
 * The records of a line that looks like a container: an invalid line is one record (one error), as is a
 * value that is no container. A line over maxRecordBytes is parsed here once for both passes: its value
 * (or undefined, when jsonLines refuses it) is kept in `l.parsed` for jsonLines.
 */
function lineCount(l: LinesLayout, line: number, raw: string, max: number | undefined): number {
  if (oversize(raw, max) !== undefined) {
    const kept = (l.parsed ??= new Map());
    if (kept.has(line)) {
      const v = kept.get(line);
      return v === undefined ? 1 : recordCount(v);
    }
    const v = bigContainer(raw);
    // kept within KEEP_CHARS of line text (bounded memory), the rest parsed again when yielded
    if ((l.keptChars ?? 0) + raw.length <= KEEP_CHARS) {
      kept.set(line, v);
      l.keptChars = (l.keptChars ?? 0) + raw.length;
    }
    return v === undefined ? 1 : recordCount(v);
  }
  try {
    return recordCount(parseJson(raw));
  } catch {
    return 1;
  }
}

function* jsonLines(text: string, l: LinesLayout, opts: FrameOptions): Generator<Item> {
  for (const { line, start, end } of lineBounds(text)) {
    const raw = lineRecordText(text, start, end);
    if (raw === undefined) continue;
    const path = `line ${line}`;
    const bad = opts.bad?.get(line);
    if (bad !== undefined) yield badItem(bad, path);
    else {
      const big = oversize(raw, opts.maxRecordBytes);
      if (big !== undefined) {
        // a whole log file or EventList on one line: its records are measured one by one, not the line
        const value = takeBigContainer(l, line, raw);
        if (value === undefined) yield { type: "error", path, reason: tooLargeReason(big, opts.maxRecordBytes!), raw };
        else yield opts.texts ? { type: "value", value, path, text: raw } : { type: "value", value, path };
      } else if (raw !== "") {
        let value: Json | undefined;
        let reason = "";
        try {
          value = parseJson(raw);
        } catch (e) {
          reason = invalidJsonReason(e, raw);
        }
        if (value !== undefined) yield { type: "value", value, path, raw };
        else yield { type: "error", path, reason, raw };
      }
    }
  }
}

function* textLines(text: string, bad?: ReadonlyMap<number, BadLine>): Generator<Item> {
  for (const { line, start, end } of lineBounds(text)) {
    const t = text.slice(start, end).trim();
    const b = t ? bad?.get(line) : undefined;
    if (b !== undefined) yield badItem(b, `line ${line}`);
    else if (t) yield { type: "text", line: t, path: `line ${line}` };
  }
}

/**
 * NDJSON. `parsed`: the lines over maxRecordBytes that countRecords parsed (line number -> the container,
 * or undefined when the line is refused for its size), so itemsOf does not parse them again; each is
 * taken when yielded (a second itemsOf parses it again). Up to KEEP_CHARS of line text are kept.
 */
export interface LinesLayout {
  kind: "lines";
  parsed?: Map<number, Json | undefined>;
  /** Characters of the lines kept in `parsed` (at most KEEP_CHARS). */
  keptChars?: number;
}

/** How a body is laid out, decided once before iterating its items. */
export type Layout =
  | { kind: "empty" }
  /** One JSON value per line. */
  | LinesLayout
  /** Falco plain-text lines. */
  | { kind: "text" }
  /** One JSON value (a top-level array yields its elements). */
  | { kind: "value"; value: Json }
  /** One value that does not parse (e.g. pretty-printed and cut): one error for the body. */
  | { kind: "broken"; reason: string };

/**
 * Decides the layout:
 * - "ndjson" framing: one JSON value per line;
 * - otherwise, a body starting with `{` or `[` is one JSON value, unless its first line is a
 *   complete value and more follows: then it is NDJSON sent as application/json (Vector
 *   `newline_delimited`, Tetragon export lines); a body whose first line is broken but whose second
 *   line parses is NDJSON too (the first line is reported, the others kept);
 * - a body that is not JSON is Falco text output under text/plain or no Content-Type, and
 *   invalid JSON lines under a JSON Content-Type.
 */
export function layout(text: string, framing: Framing, opts: FrameOptions = {}): Layout {
  const first = firstNonSpace(text);
  if (first < 0) return { kind: "empty" };
  if (framing === "ndjson") return { kind: "lines" };
  const c = text.charCodeAt(first);
  if (c !== 0x7b /* { */ && c !== 0x5b /* [ */) return framing === "text" || framing === "sniff" ? { kind: "text" } : { kind: "lines" };
  let nl = text.indexOf("\n", first);
  if (nl >= 0 && firstNonSpace(text, nl) < 0) nl = -1; // only whitespace after the first line
  if (nl >= 0) {
    // Several lines: NDJSON when the first line parses on its own (then the whole cannot be one value).
    const head = text.slice(first, nl).trim();
    if (oversize(head, opts.maxRecordBytes) === undefined && parsesAlone(head)) return { kind: "lines" };
  }
  try {
    return { kind: "value", value: parseJson(text) };
  } catch (e) {
    if (nl < 0) return { kind: "lines" }; // one line: reported as line 1
    const second = firstNonSpace(text, nl);
    let end = text.indexOf("\n", second);
    if (end < 0) end = text.length;
    if (parsesAlone(text.slice(second, end).trim())) return { kind: "lines" };
    return { kind: "broken", reason: invalidJsonReason(e, text) };
  }
}

/** The body's items in order, for a layout from `layout`. */
export function* itemsOf(text: string, l: Layout, opts: FrameOptions = {}): Generator<Item> {
  switch (l.kind) {
    case "empty":
      return;
    case "lines":
      return yield* jsonLines(text, l, opts);
    case "text":
      return yield* textLines(text, opts.bad);
    case "broken":
      yield { type: "error", path: "(body)", reason: l.reason, raw: text };
      return;
    case "value":
      if (Array.isArray(l.value)) {
        const spans = opts.texts ? arraySpans(text, firstNonSpace(text)) : undefined;
        const sliced = spans !== undefined && spans.length === 2 * l.value.length;
        for (let i = 0; i < l.value.length; i++) {
          if (sliced) yield { type: "value", value: l.value[i]!, path: `[${i}]`, text: text.slice(spans[2 * i], spans[2 * i + 1]) };
          else yield { type: "value", value: l.value[i]!, path: `[${i}]` };
        }
      } else yield { type: "value", value: l.value, path: "", raw: text.trim() };
  }
}

/** Splits a body into values, text lines and errors, in body order (see `layout`). */
export function items(text: string, framing: Framing, opts: FrameOptions = {}): Generator<Item> {
  return itemsOf(text, layout(text, framing, opts), opts);
}

function parsesAlone(line: string): boolean {
  const last = line.charCodeAt(line.length - 1);
  if (last !== 0x7d /* } */ && last !== 0x5d /* ] */) return false;
  try {
    parseJson(line);
    return true;
  } catch {
    return false;
  }
}

export interface FrameError {
  index: number;
  path: string;
  reason: string;
}

export interface Framed {
  /** JSON values in body order (a top-level array's elements are separate values). */
  values: Json[];
  /** Paths of the values, parallel to `values` ("" for a single body value, "line N" for NDJSON, "[i]" for array elements). */
  paths: string[];
  /** Plain-text lines (Falco json_output: false). */
  textLines: string[];
  errors: FrameError[];
  /** With FrameOptions.texts: each value's exact text, parallel to `values` (runPipeline's `texts`). */
  texts?: (string | undefined)[];
}

/** Everything at once (CLI, benchmarks); the Worker uses `items` to stream. */
export function frame(text: string, contentType: string, opts: FrameOptions = {}): Framed {
  const ct = contentType.split(";")[0]!.trim().toLowerCase();
  const framing: Framing = /ndjson|jsonl|jsonlines|json-seq|json-stream/.test(ct) ? "ndjson" : ct.startsWith("text/plain") ? "text" : ct === "" ? "sniff" : "json";
  const out: Framed = { values: [], paths: [], textLines: [], errors: [] };
  if (opts.texts) out.texts = [];
  let index = 0;
  for (const it of items(text, framing, opts)) {
    if (it.type === "value") {
      out.values.push(it.value);
      out.paths.push(it.path);
      out.texts?.push(it.raw ?? it.text);
    } else if (it.type === "text") out.textLines.push(it.line);
    else out.errors.push({ index, path: it.path, reason: it.reason });
    index++;
  }
  return out;
}

/**
 * Checks a parsed record against the depth limit and, when `maxBytes` is given, an estimate of its
 * JSON size (for records inside a larger body, whose own text is not at hand). Iterative, so a
 * deeply nested record cannot overflow the stack; stops at the first limit crossed.
 * Returns the reason to reject, or undefined.
 */
export function checkRecord(v: Json, maxDepth: number, maxBytes?: number): string | undefined {
  if (typeof v !== "object" || v === null) {
    if (maxBytes !== undefined && typeof v === "string" && v.length + 2 > maxBytes) return tooLargeReason(utf8Length(v) + 2, maxBytes);
    return undefined;
  }
  const stack: (Json[] | { [k: string]: Json })[] = [v];
  const depths: number[] = [1];
  let bytes = 0;
  while (stack.length > 0) {
    const x = stack.pop()!;
    const d = depths.pop()!;
    if (d > maxDepth) return `record is nested more than limits.maxDepth (${maxDepth}) levels deep`;
    if (Array.isArray(x)) {
      bytes += 1 + x.length;
      for (let i = 0; i < x.length; i++) {
        const y = x[i]!;
        if (typeof y === "object" && y !== null) {
          stack.push(y);
          depths.push(d + 1);
        } else if (maxBytes !== undefined) bytes += typeof y === "string" ? y.length + 2 : 6;
      }
    } else {
      bytes += 2;
      for (const k in x) {
        const y = x[k]!;
        bytes += k.length + 4;
        if (typeof y === "object" && y !== null) {
          stack.push(y);
          depths.push(d + 1);
        } else if (maxBytes !== undefined) bytes += typeof y === "string" ? y.length + 2 : 6;
      }
    }
    if (maxBytes !== undefined && bytes > maxBytes) return `record is more than ${maxBytes} bytes of JSON, more than limits.maxRecordBytes`;
  }
  return undefined;
}
