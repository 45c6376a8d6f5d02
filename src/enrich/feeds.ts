// Threat-intel feed parsers: plain lists, CSV, MISP JSON (feed export / REST search output) and STIX
// 2.1 bundles of indicators with simple patterns. Pure: text in (whole, or in pieces as it streams),
// normalized indicators out through a callback (a million-line feed never becomes a million objects).
import type { FeedConfig, IntelConfig } from "../config/enrich";
import { classify, type Classified, type WantedType } from "./indicator";
import { JsonScanner, JsonScanError, type JsonContainer } from "./json-stream";
import { lookup } from "../normalize/json";

export type Emit = (c: Classified, confidence?: number) => void;

export interface ParseStats {
  /** Indicators emitted. */
  indicators: number;
  /** Data lines / entries that should have been an indicator but were not one. */
  invalid: number;
  /** Entries deliberately left out (comments, to_ids false, revoked or expired, unsupported patterns). */
  skipped: number;
  /** First few reasons for invalid entries. */
  samples: string[];
}

export class FeedParseError extends Error {
  override name = "FeedParseError";
}

type FeedOptions = Pick<FeedConfig, "format" | "type" | "csv" | "mispToIdsOnly">;

function newStats(): ParseStats {
  return { indicators: 0, invalid: 0, skipped: 0, samples: [] };
}

function invalid(st: ParseStats, what: string): void {
  st.invalid++;
  if (st.samples.length < 5) st.samples.push(what.length > 120 ? `${what.slice(0, 120)}...` : what);
}

/** A line parser for the formats that can be read as they stream in (plain, CSV); undefined for JSON ones. */
export function lineParser(feed: FeedOptions, emit: Emit): LineParser | undefined {
  if (feed.format === "plain") return plainParser(feed.type, emit);
  if (feed.format === "csv") return csvParser(feed, emit);
  return undefined;
}

/** Parses a feed's whole text in its configured format. Throws FeedParseError when the text is not that format at all. */
export function parseFeed(text: string, feed: FeedOptions, emit: Emit, now = Date.now(), maxElementChars = JSON_ELEMENT_MAX_CHARS): ParseStats {
  const p = feedTextParser(feed, emit, now, maxElementChars);
  p.push(text);
  return p.end();
}

/** Calls fn(text, start, end) for every line of text[0, upTo) (without the line break), no array of lines. */
export function eachLine(text: string, fn: (text: string, start: number, end: number) => void, upTo = text.length): void {
  let start = 0;
  const n = upTo;
  while (start < n) {
    let end = text.indexOf("\n", start);
    if (end < 0 || end > n) end = n;
    const e = end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
    fn(text, start, e);
    start = end + 1;
  }
}

/**
 * Text pushed in pieces of any size, handed on in whole lines: each push gives lines(text, end) the
 * lines complete so far, text[0, end) (end is the last newline); the part after it is carried to the
 * next piece, and end() gives what is left, lines(rest, rest.length).
 */
export class LineCarry {
  private carry = "";

  constructor(private readonly lines: (text: string, end: number) => void) {}

  push(piece: string): void {
    const text = this.carry === "" ? piece : this.carry + piece;
    const last = text.lastIndexOf("\n");
    if (last < 0) {
      this.carry = text;
      return;
    }
    this.carry = text.slice(last + 1);
    this.lines(text, last);
  }

  end(): void {
    if (this.carry === "") return;
    const rest = this.carry;
    this.carry = "";
    this.lines(rest, rest.length);
  }
}

const HOSTS_SINKS = new Set(["0.0.0.0", "127.0.0.1", "::", "::1"]);

// ---------------------------------------------------------------------------------------------
// plain: one indicator per line; `#`, `;` and `//` comments; hosts-file lines ("0.0.0.0 evil.com");
// trailing comments ("1.2.3.0/24 ; SBL123", "evil.com # phishing").

/** A line-oriented parser: fed one line at a time (text[a, b)), so a feed can be parsed as it streams in. */
export interface LineParser {
  line(text: string, a: number, b: number): void;
  readonly stats: ParseStats;
}

export function plainParser(type: WantedType, emit: Emit): LineParser {
  const st = newStats();
  return {
    stats: st,
    line(text, a, b) {
      let line = text.slice(a, b).trim();
      if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
      if (line === "" || line.startsWith("#") || line.startsWith(";") || line.startsWith("//")) return;
      const cut = line.search(/\s[#;]|\s\/\/|;/);
      if (cut >= 0) line = line.slice(0, cut).trim();
      const tokens = line.split(/\s+/);
      let token = tokens[0]!;
      if (tokens.length >= 2 && HOSTS_SINKS.has(token)) token = tokens[1]!;
      else if (tokens.length > 1) return invalid(st, line);
      const c = classify(token, type);
      if (!c) return invalid(st, token);
      st.indicators++;
      emit(c);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CSV (RFC 4180 fields, one record per line). Header: explicit, or detected (the first row has no
// indicator in it), or abuse.ch style: the last `#` comment line before the data.

export function splitCsvLine(line: string, delim: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  while (i <= n) {
    if (line[i] === '"') {
      let v = "";
      i++;
      while (i < n) {
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            v += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += line[i++];
      }
      out.push(v);
      while (i < n && line[i] !== delim) i++;
      i++;
    } else {
      let j = line.indexOf(delim, i);
      if (j < 0) j = n;
      out.push(line.slice(i, j).trim());
      i = j + 1;
    }
  }
  return out;
}

const INDICATOR_COLUMNS = /^(indicator|ioc|value|ip|ip_?address|ipaddress|address|dst_?ip|src_?ip|network|cidr|domain|hostname|host|fqdn|url|hash|sha256|sha256_hash|sha1|sha1_hash|md5|md5_hash)$/i;
const CONFIDENCE_COLUMNS = /^(confidence|score|confidence_level)$/i;

function columnIndex(header: string[] | undefined, col: string | number | undefined): number | undefined {
  if (col === undefined) return undefined;
  if (typeof col === "number") return col;
  const i = header?.findIndex((h) => h.toLowerCase() === col.toLowerCase()) ?? -1;
  if (i < 0) throw new FeedParseError(`CSV column "${col}" is not in the header (${(header ?? []).join(", ") || "no header"})`);
  return i;
}

export function csvParser(feed: Pick<FeedConfig, "type" | "csv">, emit: Emit): LineParser {
  const st = newStats();
  const delim = feed.csv?.delimiter ?? ",";
  let header: string[] | undefined;
  let lastComment: string | undefined;
  let col: number | undefined;
  let confCol: number | undefined;
  let decided = false;

  const decide = (first: string[]) => {
    decided = true;
    const explicitHeader = feed.csv?.header;
    const firstIsHeader = explicitHeader ?? !first.some((f) => classify(f, feed.type) !== undefined);
    if (firstIsHeader) header = first;
    else if (explicitHeader === undefined && lastComment !== undefined) {
      const h = splitCsvLine(lastComment.replace(/^#\s*/, ""), delim);
      if (h.length === first.length) header = h;
    }
    col = columnIndex(header, feed.csv?.column);
    if (col === undefined && header) {
      const i = header.findIndex((h) => INDICATOR_COLUMNS.test(h));
      if (i >= 0) col = i;
    }
    if (col === undefined) {
      const sample = firstIsHeader ? undefined : first;
      const i = sample ? sample.findIndex((f) => classify(f, feed.type) !== undefined) : -1;
      col = i >= 0 ? i : 0;
    }
    confCol = columnIndex(header, feed.csv?.confidenceColumn);
    if (confCol === undefined && header) {
      const i = header.findIndex((h) => CONFIDENCE_COLUMNS.test(h));
      if (i >= 0) confCol = i;
    }
    return firstIsHeader;
  };

  const line = (text: string, a: number, b: number) => {
    let line = text.slice(a, b);
    if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      lastComment = line;
      return;
    }
    const fields = splitCsvLine(line, delim);
    if (!decided && decide(fields)) return;
    const v = fields[col!];
    if (v === undefined || v === "") return invalid(st, line);
    const c = classify(v, feed.type);
    if (!c) return invalid(st, v);
    let conf: number | undefined;
    if (confCol !== undefined) {
      const n = Number(fields[confCol]);
      if (fields[confCol] !== undefined && fields[confCol] !== "" && Number.isFinite(n)) conf = clampConfidence(n);
    }
    st.indicators++;
    emit(c, conf);
  };
  return { stats: st, line };
}

function clampConfidence(n: number): number {
  return Math.max(0, Math.min(100, Math.round(n)));
}

// ---------------------------------------------------------------------------------------------
// MISP JSON: a feed event file {"Event": {...}}, a REST search result {"response": [{"Event"}]} or
// {"response": {"Attribute": [...]}}, a list of events, or {"Attribute": [...]}. Attributes are read
// from the event and from its objects.

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const LBRACKET = 91;
const LBRACE = 123;

/** MISP attribute type -> the kinds of its value parts ("a|b" composite types split on '|'). */
const MISP_TYPES: Record<string, (WantedType | null)[]> = {
  "ip-src": ["ip"],
  "ip-dst": ["ip"],
  "ip-src|port": ["ip", null],
  "ip-dst|port": ["ip", null],
  domain: ["domain"],
  hostname: ["domain"],
  "domain|ip": ["domain", "ip"],
  "hostname|port": ["domain", null],
  url: ["url"],
  md5: ["hash"],
  sha1: ["hash"],
  sha256: ["hash"],
  "filename|md5": [null, "hash"],
  "filename|sha1": [null, "hash"],
  "filename|sha256": [null, "hash"],
};

/** The longest single element (MISP attribute or object, STIX object) read from a JSON feed, by default. */
export const JSON_ELEMENT_MAX_CHARS = 1_000_000;

/** The MISP attribute `a` (one parsed array element): counted, skipped or emitted. */
export function mispAttribute(a: unknown, st: ParseStats, type: WantedType, toIdsOnly: boolean, emit: Emit): void {
  if (!isObj(a) || typeof a.type !== "string" || typeof a.value !== "string") {
    invalid(st, "attribute without a type and a string value");
    return;
  }
  if (a.deleted === true || (toIdsOnly && a.to_ids !== true && a.to_ids !== "1")) {
    st.skipped++;
    return;
  }
  const kinds = lookup(MISP_TYPES, a.type);
  if (!kinds) {
    st.skipped++;
    return;
  }
  const parts = kinds.length > 1 ? a.value.split("|") : [a.value];
  let any = false;
  kinds.forEach((k, i) => {
    if (k === null || parts[i] === undefined) return;
    if (type !== "auto" && type !== k) return;
    const c = classify(parts[i]!, k);
    if (!c) return invalid(st, `${a.type} ${a.value as string}`);
    any = true;
    st.indicators++;
    emit(c);
  });
  if (!any && type !== "auto") st.skipped++;
}

/**
 * The MISP document walk for the incremental scanner: the event and its objects are entered, never
 * held; each element of the event's `Attribute` array and of each `Object[].Attribute` is read alone. Shapes: {"Event": {...}}, {"response": [{"Event"}...]}, {"response": {"Attribute": [...]}},
 * a list of events, {"Attribute": [...]}.
 */
function mispWalk(type: WantedType, toIdsOnly: boolean, emit: Emit, st: ParseStats): { root: JsonContainer; finish(): void } {
  let shaped = false;
  const attribute = (text: string) => mispAttribute(JSON.parse(text), st, type, toIdsOnly, emit);
  const attributes: JsonContainer = { enter: () => "capture", value: (_k, text) => attribute(text) };
  const object: JsonContainer = { enter: (key, first) => (key === "Attribute" && first === LBRACKET ? attributes : "skip") };
  const objects: JsonContainer = { enter: (_k, first) => (first === LBRACE ? object : "skip") };
  const event: JsonContainer = {
    enter(key, first) {
      if (key === "Attribute" && first === LBRACKET) {
        shaped = true;
        return attributes;
      }
      if (key === "Object" && first === LBRACKET) {
        shaped = true;
        return objects;
      }
      return key === "Event" && first === LBRACE ? event : "skip";
    },
  };
  const events: JsonContainer = { enter: (_k, first) => (first === LBRACE ? event : "skip") };
  const top: JsonContainer = {
    enter(key, first) {
      if (key === "response") return first === LBRACKET ? events : first === LBRACE ? event : "skip";
      return event.enter(key, first);
    },
  };
  const root: JsonContainer = { enter: (_k, first) => (first === LBRACKET ? events : first === LBRACE ? top : "skip") };
  return {
    root,
    finish() {
      if (!shaped) throw new FeedParseError("not a MISP feed: no Event.Attribute, Event.Object or response found");
    },
  };
}

// ---------------------------------------------------------------------------------------------
// STIX 2.1: a bundle (or a bare list / single object) of `indicator` objects whose `pattern` is one or
// more `[object:path = 'value']` comparisons joined by OR. Patterns with AND, FOLLOWEDBY, other
// operators or qualifiers are skipped (they need more than one observation to match).

const STIX_PATH_KIND: Record<string, WantedType> = {
  "ipv4-addr:value": "ip",
  "ipv6-addr:value": "ip",
  "domain-name:value": "domain",
  "url:value": "url",
  "network-traffic:dst_ref.value": "ip",
  "network-traffic:src_ref.value": "ip",
};

const COMPARISON = /([a-z0-9-]+):([A-Za-z0-9_.'-]+)\s*=\s*'((?:[^'\\]|\\.)*)'/g;

/** The (kind, value) pairs of a simple STIX pattern, or undefined when the pattern is not simple. */
export function simpleStixPattern(pattern: string): { kind: WantedType; value: string }[] | undefined {
  const out: { kind: WantedType; value: string }[] = [];
  const rest = pattern.replace(COMPARISON, (_m, obj: string, path: string, value: string) => {
    const key = `${obj}:${path}`;
    let kind: WantedType | undefined = STIX_PATH_KIND[key];
    if (!kind && obj === "file" && /^hashes\./i.test(path)) kind = "hash";
    if (kind) out.push({ kind, value: value.replace(/\\(.)/g, "$1") });
    return " ";
  });
  // what remains must be only brackets, whitespace and OR
  if (out.length === 0 || !/^[\s[\]()]*(OR[\s[\]()]*)*$/.test(rest)) return undefined;
  return out;
}

/** The STIX object `o` (one parsed element of a bundle's `objects`): counted, skipped or emitted. */
export function stixObject(o: unknown, st: ParseStats, type: WantedType, emit: Emit, now: number): void {
  if (!isObj(o) || o.type !== "indicator") return; // identities, relationships, malware...
  if (o.revoked === true || (o.pattern_type !== undefined && o.pattern_type !== "stix")) {
    st.skipped++;
    return;
  }
  if (typeof o.valid_until === "string") {
    const until = Date.parse(o.valid_until);
    if (Number.isFinite(until) && until < now) {
      st.skipped++;
      return;
    }
  }
  if (typeof o.pattern !== "string") {
    invalid(st, `indicator ${String(o.id)} has no pattern`);
    return;
  }
  const parts = simpleStixPattern(o.pattern);
  if (!parts) {
    st.skipped++;
    return;
  }
  const conf = typeof o.confidence === "number" ? clampConfidence(o.confidence) : undefined;
  for (const p of parts) {
    if (type !== "auto" && type !== p.kind) continue;
    const c = classify(p.value, p.kind);
    if (!c) {
      invalid(st, `${String(o.id)}: ${p.value}`);
      continue;
    }
    st.indicators++;
    emit(c, conf);
  }
}

/**
 * The STIX document walk for the incremental scanner: each element of a bundle's `objects` (or of a
 * bare list) is read alone; the bundle's other members (type, id, spec_version) are kept, together at
 * most maxChars, to check that it is a bundle, or to read a lone indicator object. An `objects` array
 * is read as it comes, so a document with one that turns out not to be a bundle is refused at the end.
 */
function stixWalk(type: WantedType, emit: Emit, st: ParseStats, now: number, maxChars: number): { root: JsonContainer; finish(): void } {
  const objects: JsonContainer = { enter: () => "capture", value: (_k, text) => stixObject(JSON.parse(text), st, type, emit, now) };
  let shape: "list" | "object" | "other" = "other";
  let sawObjects = false;
  const kept = new Map<string, unknown>();
  let keptChars = 0;
  const top: JsonContainer = {
    enter(key, first) {
      if (key === "objects" && first === LBRACKET) {
        sawObjects = true;
        return objects;
      }
      return "capture";
    },
    value(key, text) {
      keptChars += text.length;
      if (keptChars > maxChars) throw new JsonScanError(`the bundle's members besides "objects" are over the ${maxChars} characters allowed for one element`, "limit");
      kept.set(key!, JSON.parse(text));
    },
  };
  const root: JsonContainer = {
    enter(_k, first) {
      if (first === LBRACKET) {
        shape = "list";
        return objects;
      }
      if (first === LBRACE) {
        shape = "object";
        return top;
      }
      return "skip";
    },
  };
  return {
    root,
    finish() {
      if (shape === "list" || (shape === "object" && kept.get("type") === "bundle" && sawObjects)) return;
      if (shape === "object" && kept.get("type") === "indicator" && !sawObjects) {
        stixObject(Object.fromEntries(kept), st, type, emit, now);
        return;
      }
      throw new FeedParseError('not a STIX 2.1 bundle: expected {"type": "bundle", "objects": [...]}');
    },
  };
}

/** A feed parser fed the text in pieces of any size (a decoded download or R2 body). */
export interface FeedTextParser {
  push(text: string): void;
  /** The text ended: the totals. Throws FeedParseError when it was not the format at all. */
  end(): ParseStats;
}

/**
 * A parser for the feed's format that reads its text as it streams in: plain and CSV line by line,
 * MISP and STIX with the incremental JSON scanner (./json-stream.ts), one element at a time, each at
 * most maxElementChars. Neither the text nor a JSON tree of it is ever whole in memory.
 */
export function feedTextParser(feed: FeedOptions, emit: Emit, now = Date.now(), maxElementChars = JSON_ELEMENT_MAX_CHARS): FeedTextParser {
  const lp = lineParser(feed, emit);
  if (lp) {
    const pieces = new LineCarry((text, end) => eachLine(text, lp.line, end));
    return {
      push: (piece) => pieces.push(piece),
      end() {
        pieces.end();
        return lp.stats;
      },
    };
  }
  const st = newStats();
  const what = feed.format === "misp" ? "MISP" : "STIX";
  const walk = feed.format === "misp" ? mispWalk(feed.type, feed.mispToIdsOnly, emit, st) : stixWalk(feed.type, emit, st, now, maxElementChars);
  const scanner = new JsonScanner(walk.root, maxElementChars);
  const guard = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      if (e instanceof JsonScanError && e.kind === "limit") throw new FeedParseError(`${what} JSON: ${e.message}`);
      if (e instanceof JsonScanError || e instanceof SyntaxError) throw new FeedParseError(`not ${what} JSON: ${e.message}`);
      throw e;
    }
  };
  return {
    push: (text) => guard(() => scanner.push(text)),
    end() {
      guard(() => scanner.end());
      walk.finish();
      return st;
    },
  };
}

/** How much of a feed is read: the byte cap of its format (and the config key that sets it), the longest JSON element. */
export interface FeedCaps {
  maxBytes: number;
  capName: "maxFeedBytes" | "maxJsonFeedBytes";
  maxElementChars: number;
}

export function feedCaps(feed: Pick<FeedConfig, "format">, intel: Pick<IntelConfig, "maxFeedBytes" | "maxJsonFeedBytes" | "maxJsonElementChars">): FeedCaps {
  const json = feed.format === "misp" || feed.format === "stix";
  return {
    maxBytes: json ? intel.maxJsonFeedBytes : intel.maxFeedBytes,
    capName: json ? "maxJsonFeedBytes" : "maxFeedBytes",
    maxElementChars: intel.maxJsonElementChars,
  };
}

/** The decoded text of a byte stream, piece by piece (UTF-8 split across pieces is kept whole); throws past maxBytes. */
export async function* textPieces(stream: ReadableStream<Uint8Array>, maxBytes: number, capName: string): AsyncGenerator<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new Error(`feed is more than ${capName} ${maxBytes}`);
    }
    yield decoder.decode(value, { stream: true });
  }
  yield decoder.decode();
}

/** Why a parse result must not replace the last good set, or undefined when it is acceptable. */
export function rejectReason(st: ParseStats, maxInvalidRatio: number): string | undefined {
  if (st.indicators === 0) {
    return `no indicators found${st.invalid ? ` (${st.invalid} invalid entries, e.g. ${JSON.stringify(st.samples[0])})` : ""}`;
  }
  const ratio = st.invalid / (st.invalid + st.indicators);
  if (ratio > maxInvalidRatio) {
    return `${st.invalid} of ${st.invalid + st.indicators} entries are not indicators (more than ${Math.round(maxInvalidRatio * 100)}%), e.g. ${JSON.stringify(st.samples[0])}`;
  }
  return undefined;
}
