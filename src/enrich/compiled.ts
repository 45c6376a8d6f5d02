// The stored form of a refreshed feed (R2 `intel/<feed>.txt`): a header line, then one normalized
// indicator per line, `<kind> <value>[ <confidence>]`. Written by the Cron refresh after a feed parsed
// cleanly; read by every isolate straight into an IntelSet, line by line, without re-parsing the
// feed's own format and without building a string per indicator.
//
//   #tributary-intel 1 {"feed":"abuse-ips","source":"https://...","fetched_at":"...","format":"plain","count":2}
//   ipv4 203.0.113.7
//   cidr4 198.51.100.0/24 90
//   domain evil.example
import type { FeedConfig } from "../config/enrich";
import type { Classified } from "./indicator";
import { parseIPv4, parseCidr, parseIPv6Groups } from "./ip";
import { IntelSetBuilder, type IndicatorKind, type IntelSet, type HashedKind } from "./intel-set";
import { LineCarry, parseFeed, rejectReason, textPieces, type ParseStats } from "./feeds";

export const COMPILED_MAGIC = "#tributary-intel 1 ";

export interface CompiledHeader {
  feed: string;
  source?: string;
  fetched_at: string;
  format: string;
  count: number;
}

/** Accumulates compiled lines in chunks (no array of a million strings). */
export class CompiledWriter {
  private readonly chunks: string[] = [];
  private cur: string[] = [];
  count = 0;

  add(c: Classified, confidence?: number): void {
    this.cur.push(confidence === undefined ? `${c.kind} ${c.value}` : `${c.kind} ${c.value} ${confidence}`);
    this.count++;
    if (this.cur.length === 8192) {
      this.chunks.push(this.cur.join("\n"));
      this.cur = [];
    }
  }

  finish(header: Omit<CompiledHeader, "count">): string {
    return this.finishParts(header).join("");
  }

  /** The file as pieces (header line first), each ending with a line break: for a streamed upload. */
  finishParts(header: Omit<CompiledHeader, "count">): string[] {
    if (this.cur.length) this.chunks.push(this.cur.join("\n"));
    this.cur = [];
    const h: CompiledHeader = { ...header, count: this.count };
    const parts = [`${COMPILED_MAGIC}${JSON.stringify(h)}\n`];
    for (const c of this.chunks) parts.push(`${c}\n`);
    this.chunks.length = 0;
    return parts;
  }
}

/** Parses a downloaded feed and compiles it; throws with the reason when it must not replace the last good set. */
export function compileFeed(
  text: string,
  feed: FeedConfig,
  meta: { source?: string; fetchedAt: string },
  now = Date.now(),
): { text: string; stats: ParseStats } {
  const w = new CompiledWriter();
  const stats = parseFeed(text, feed, (c, conf) => w.add(c, conf), now);
  const reason = rejectReason(stats, feed.maxInvalidRatio);
  if (reason) throw new Error(reason);
  return { text: w.finish({ feed: feed.name, source: meta.source, fetched_at: meta.fetchedAt, format: feed.format }), stats };
}

/** The header of a compiled file (its first line, or the whole text's first line). */
export function readCompiledHeader(text: string): CompiledHeader {
  if (!text.startsWith(COMPILED_MAGIC)) throw new Error("not a compiled intel file (missing #tributary-intel header)");
  const nl = text.indexOf("\n");
  return JSON.parse(text.slice(COMPILED_MAGIC.length, nl < 0 ? text.length : nl)) as CompiledHeader;
}

const HASHED = new Set<string>(["domain", "url", "md5", "sha1", "sha256"]);
const groups = new Uint16Array(8);

/**
 * Reads a compiled file pushed in pieces of any size (a decoded R2 stream), adding each complete line
 * to the builder: the whole file is never held in memory at once.
 */
export class CompiledReader {
  private readonly pieces = new LineCarry((text, end) => this.lines(text, end));
  private header: CompiledHeader | undefined;

  constructor(private readonly b: IntelSetBuilder) {}

  push(chunk: string): void {
    this.pieces.push(chunk);
  }

  end(): CompiledHeader {
    this.pieces.end();
    if (!this.header) throw new Error("not a compiled intel file (empty)");
    return this.header;
  }

  /** Lines of text[0, end). */
  private lines(text: string, end: number): void {
    let pos = 0;
    if (!this.header) {
      const nl = text.indexOf("\n");
      this.header = readCompiledHeader(nl < 0 || nl > end ? text.slice(0, end) : text.slice(0, nl));
      pos = nl < 0 || nl > end ? end : nl + 1;
    }
    while (pos < end) {
      let e = text.indexOf("\n", pos);
      if (e < 0 || e > end) e = end;
      const sp = text.indexOf(" ", pos);
      if (sp > pos && sp < e) {
        const kind = text.slice(pos, sp) as IndicatorKind;
        let vEnd = text.indexOf(" ", sp + 1);
        let conf: number | undefined;
        if (vEnd < 0 || vEnd > e) vEnd = e;
        else conf = Number(text.slice(vEnd + 1, e));
        addCompiled(this.b, kind, text, sp + 1, vEnd, conf);
      }
      pos = e + 1;
    }
  }
}

/** Adds the indicators of a compiled file (whole text) to a builder. Returns the header. */
export function loadCompiled(text: string, b: IntelSetBuilder): CompiledHeader {
  const r = new CompiledReader(b);
  r.push(text);
  return r.end();
}

/** Same, from a byte stream (an R2 object body), decoded and read piece by piece. */
export async function loadCompiledStream(body: ReadableStream<Uint8Array>, b: IntelSetBuilder): Promise<CompiledHeader> {
  const r = new CompiledReader(b);
  for await (const piece of textPieces(body, Infinity, "")) r.push(piece);
  return r.end();
}

function addCompiled(b: IntelSetBuilder, kind: IndicatorKind, text: string, a: number, z: number, conf: number | undefined): void {
  if (kind === "ipv4") {
    const ip = parseIPv4(text, a, z);
    if (ip >= 0) b.addIPv4(ip, conf);
  } else if (HASHED.has(kind)) {
    b.addHashed(kind as Exclude<HashedKind, "ipv6">, text, conf, a, z);
  } else if (kind === "ipv6") {
    if (parseIPv6Groups(text.slice(a, z), groups)) b.addIPv6(groups, conf);
  } else if (kind === "cidr4" || kind === "cidr6") {
    const c = parseCidr(text.slice(a, z));
    if (c?.v === 4) b.addCidr4(c.start, c.prefix, conf);
    else if (c?.v === 6) b.addCidr6(c.start, c.prefix, conf);
  }
}

/** Adds one normalized indicator (from a feed parser) to a builder. */
export function addClassified(b: IntelSetBuilder, c: Classified, conf?: number): void {
  addCompiled(b, c.kind, c.value, 0, c.value.length, conf);
}

/** Builds a set straight from a feed's own text (inline indicators, raw R2 files). */
export function buildFromFeedText(text: string, feed: FeedConfig, now = Date.now()): { set: IntelSet; stats: ParseStats } {
  const b = new IntelSetBuilder(feed.confidence);
  const stats = parseFeed(text, feed, (c, conf) => addClassified(b, c, conf), now);
  return { set: b.build(), stats };
}

/** Builds a set from a compiled file. */
export function buildFromCompiled(text: string, defaultConfidence: number): { set: IntelSet; header: CompiledHeader } {
  const b = new IntelSetBuilder(defaultConfidence);
  const header = loadCompiled(text, b);
  return { set: b.build(), header };
}
