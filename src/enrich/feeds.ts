// Threat-intel feed parsers: plain lists, CSV, MISP JSON (feed export / REST search output) and STIX
// 2.1 bundles of indicators with simple patterns. Pure: text in, normalized indicators out through a
// callback (a million-line feed never becomes a million objects).
import type { FeedConfig } from "../config/enrich";
import { classify, type Classified, type WantedType } from "./indicator";

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

/** Parses a feed in its configured format. Throws FeedParseError when the text is not that format at all. */
export function parseFeed(text: string, feed: FeedOptions, emit: Emit, now = Date.now()): ParseStats {
  switch (feed.format) {
    case "plain":
      return parsePlain(text, feed.type, emit);
    case "csv":
      return parseCsv(text, feed, emit);
    case "misp":
      return parseMisp(text, feed.type, feed.mispToIdsOnly, emit);
    case "stix":
      return parseStix(text, feed.type, emit, now);
  }
}

/** Calls fn(text, start, end) for every line of text (without the line break), no array of lines. */
export function eachLine(text: string, fn: (text: string, start: number, end: number) => void): void {
  let start = 0;
  const n = text.length;
  while (start < n) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = n;
    const e = end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
    fn(text, start, e);
    start = end + 1;
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

export function parsePlain(text: string, type: WantedType, emit: Emit): ParseStats {
  const p = plainParser(type, emit);
  eachLine(text, p.line);
  return p.stats;
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

export function parseCsv(text: string, feed: Pick<FeedConfig, "type" | "csv">, emit: Emit): ParseStats {
  const p = csvParser(feed, emit);
  eachLine(text, p.line);
  return p.stats;
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

/**
 * Largest MISP / STIX JSON feed parsed (characters). These are parsed as one document: the text, its
 * JSON tree (2-2.3x the text) and the set are alive at once, about 0.6-1.2 MB per 1,000 indicators
 * (BENCHMARKS.md). 20 MB keeps that near 60 MB of the isolate's 128 MB; a bigger feed is refused (the
 * last good set stays) rather than running the isolate out of memory. Use plain or CSV feeds, which
 * stream, for larger lists.
 */
export const JSON_FEED_MAX_CHARS = 20_000_000;

function parseJsonFeed(text: string, what: string): unknown {
  if (text.length > JSON_FEED_MAX_CHARS) {
    throw new FeedParseError(`${what} JSON of ${text.length} characters is over the ${JSON_FEED_MAX_CHARS} parsed whole (memory); split the feed or use a plain/CSV export`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FeedParseError(`not ${what} JSON: ${(e as Error).message}`);
  }
}

export function parseMisp(text: string, type: WantedType, toIdsOnly: boolean, emit: Emit): ParseStats {
  const st = newStats();
  const root = parseJsonFeed(text, "MISP");
  const attributes: unknown[] = [];
  // a loop, not push(...list): spreading an event's 100,000+ attributes overflows the call stack
  const add = (list: unknown[]) => {
    for (const a of list) attributes.push(a);
  };
  let shaped = false;
  const fromEvent = (ev: unknown) => {
    if (!isObj(ev)) return;
    const e = isObj(ev.Event) ? ev.Event : ev;
    if (Array.isArray(e.Attribute)) {
      shaped = true;
      add(e.Attribute);
    }
    if (Array.isArray(e.Object)) {
      shaped = true;
      for (const o of e.Object) if (isObj(o) && Array.isArray(o.Attribute)) add(o.Attribute);
    }
  };
  if (Array.isArray(root)) root.forEach(fromEvent);
  else if (isObj(root)) {
    const r = root.response;
    if (Array.isArray(r)) r.forEach(fromEvent);
    else if (isObj(r)) fromEvent(r);
    else fromEvent(root);
  }
  if (!shaped) throw new FeedParseError("not a MISP feed: no Event.Attribute, Event.Object or response found");
  for (const a of attributes) {
    if (!isObj(a) || typeof a.type !== "string" || typeof a.value !== "string") {
      invalid(st, "attribute without a type and a string value");
      continue;
    }
    if (a.deleted === true || (toIdsOnly && a.to_ids !== true && a.to_ids !== "1")) {
      st.skipped++;
      continue;
    }
    const kinds = MISP_TYPES[a.type];
    if (!kinds) {
      st.skipped++;
      continue;
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
  return st;
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

export function parseStix(text: string, type: WantedType, emit: Emit, now = Date.now()): ParseStats {
  const st = newStats();
  const root = parseJsonFeed(text, "STIX");
  let objects: unknown[];
  if (isObj(root) && root.type === "bundle" && Array.isArray(root.objects)) objects = root.objects;
  else if (Array.isArray(root)) objects = root;
  else if (isObj(root) && root.type === "indicator") objects = [root];
  else throw new FeedParseError("not a STIX 2.1 bundle: expected {\"type\": \"bundle\", \"objects\": [...]}");
  for (const o of objects) {
    if (!isObj(o) || o.type !== "indicator") continue; // identities, relationships, malware...
    if (o.revoked === true || (o.pattern_type !== undefined && o.pattern_type !== "stix")) {
      st.skipped++;
      continue;
    }
    if (typeof o.valid_until === "string") {
      const until = Date.parse(o.valid_until);
      if (Number.isFinite(until) && until < now) {
        st.skipped++;
        continue;
      }
    }
    if (typeof o.pattern !== "string") {
      invalid(st, `indicator ${String(o.id)} has no pattern`);
      continue;
    }
    const parts = simpleStixPattern(o.pattern);
    if (!parts) {
      st.skipped++;
      continue;
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
  return st;
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
