// Request body decoding (HTTP only, no knowledge of records): Content-Type and Content-Encoding
// checks, streamed gzip/deflate decompression with byte caps, strict UTF-8.
//
// Caps are enforced while streaming, so a gzip bomb stops after `maxDecompressedBytes` of output
// and a lying or missing Content-Length stops after `maxBodyBytes` of input.
import { Inflate } from "fflate";
import type { Limits } from "../config/schema";
import type { Framing, BadLine } from "./decode";
import { base64 } from "../sinks/batch";
import { adler32, crc32 } from "./checksum";
import { lookup } from "../normalize/json";

export class BodyError extends Error {
  override name = "BodyError";
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
  }
}

export type Encoding = "gzip" | "deflate";

export interface BodyFormat {
  /** How to split the text into records (see ./decode). */
  framing: Framing;
  /** Content codings to undo, in the order they must be undone. */
  encodings: Encoding[];
}

// Media types (lower case, without parameters) and how their bodies are framed.
const FRAMINGS: Record<string, Framing> = {
  "application/json": "json",
  "text/json": "json",
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "application/x-jsonlines": "ndjson",
  "application/jsonlines": "ndjson",
  "application/jsonl": "ndjson",
  "application/json-seq": "ndjson",
  "application/x-json-stream": "ndjson",
  "text/plain": "text",
  "application/octet-stream": "sniff",
  "": "sniff",
};
/** Media types that mean "a gzip file" (a relay posting a CloudTrail .json.gz as is). */
const GZIP_TYPES = new Set(["application/gzip", "application/x-gzip"]);

const ACCEPTED_TYPES = "application/json, application/x-ndjson (or application/jsonl, application/json-seq), text/plain (Falco json_output: false), application/gzip";

/** Reads Content-Type, Content-Encoding and Content-Length; throws BodyError (413/415) before any byte is read. */
export function bodyFormat(headers: Headers, limits: Limits): BodyFormat {
  const length = headers.get("content-length");
  if (length !== null && /^\d+$/.test(length.trim()) && Number(length) > limits.maxBodyBytes) {
    throw new BodyError(413, `body is ${length} bytes, more than limits.maxBodyBytes (${limits.maxBodyBytes}): send smaller batches`);
  }
  const encodings: Encoding[] = [];
  const ce = headers.get("content-encoding");
  if (ce !== null) {
    const codings = ce.split(",").map((s) => s.trim().toLowerCase());
    if (codings.length > 3) throw new BodyError(415, `Content-Encoding "${ce}" stacks too many codings`);
    for (const coding of codings) {
      if (coding === "" || coding === "identity") continue;
      if (coding === "gzip" || coding === "x-gzip") encodings.push("gzip");
      else if (coding === "deflate") encodings.push("deflate");
      else throw new BodyError(415, `Content-Encoding "${coding}" is not supported: send the body uncompressed (identity), gzip or deflate`);
    }
    encodings.reverse(); // the last coding applied is the first to undo (RFC 9110 8.4)
  }
  const ctHeader = headers.get("content-type") ?? "";
  const ct = ctHeader.split(";")[0]!.trim().toLowerCase();
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(ctHeader)?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8" && charset !== "us-ascii") {
    throw new BodyError(415, `charset "${charset}" is not supported: send UTF-8`);
  }
  let framing = lookup(FRAMINGS, ct);
  if (framing === undefined) {
    if (GZIP_TYPES.has(ct)) {
      encodings.push("gzip");
      framing = "sniff";
    } else if (/^application\/[a-z0-9.+-]+\+json$/.test(ct)) {
      framing = "json"; // structured syntax suffix, e.g. application/cloudevents+json
    } else {
      const hint = ct === "application/x-www-form-urlencoded" ? " (curl --data sends this by default: add -H 'content-type: application/json')" : "";
      throw new BodyError(415, `Content-Type "${ct}" is not supported${hint}: send ${ACCEPTED_TYPES}`);
    }
  }
  return { framing, encodings };
}

/** A zlib stream starts with CMF/FLG: compression method 8 and a header checksum (RFC 1950). */
function isZlibHeader(b: Uint8Array): boolean {
  return b.length >= 2 && (b[0]! & 0x0f) === 8 && ((b[0]! << 8) | b[1]!) % 31 === 0;
}

/** Input is fed to the inflater this many bytes at a time: one step yields at most ~1032x as much output. */
const STEP = 32 * 1024;

interface Stage {
  push(chunk: Uint8Array): void;
  /** The input has ended: throws Truncated unless the stream is complete. */
  end(): void;
}

/** Pushes `d` into `s` at most STEP bytes at a time. */
function pushSteps(s: Stage, d: Uint8Array): void {
  if (d.byteLength <= STEP) return s.push(d);
  for (let i = 0; i < d.byteLength; i += STEP) s.push(d.subarray(i, i + STEP));
}

/** A compressed stream that ends before it is complete (cut short, or a trailer missing). */
class Truncated extends Error {}

const EMPTY = new Uint8Array(0);

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.byteLength === 0 ? b : concat([a, b], a.byteLength + b.byteLength);
}

/**
 * fflate 0.8's inflater state, read (never written) to tell where a deflate stream ends, as fflate's own
 * Gunzip does: `s.f` is set once the final block has begun, `s.l` while a block is being decoded, `s.p` is
 * the bit position of the end in `p`, the input not yet consumed. fflate does not say so itself: an
 * inflater given its last input with `final` does not always throw when the stream is incomplete (input
 * used up on a byte boundary, or between blocks), and its Gunzip/Unzlib do not check the trailers.
 */
interface InflateState {
  s: { f?: number; l?: unknown; p?: number };
  p: Uint8Array;
}

/** One raw deflate stream (RFC 1951). `push` returns the input after the stream's end once it has ended. */
class Deflate {
  private readonly inflate: Inflate;
  constructor(out: (d: Uint8Array) => void) {
    this.inflate = new Inflate((d) => {
      if (d.byteLength > 0) out(d);
    });
  }
  push(chunk: Uint8Array): Uint8Array | undefined {
    this.inflate.push(chunk, false);
    const { s, p } = this.inflate as unknown as InflateState;
    return s.f && !s.l ? p.subarray(((s.p ?? 0) + 7) >> 3) : undefined;
  }
}

/** The longest gzip header taken (FEXTRA holds up to 64 KB; the name and comment are short in practice). */
const MAX_GZIP_HEADER = 256 * 1024;

/** Length of the gzip member header at the start of `b` (RFC 1952 2.3), or -1 if it is not all there yet. */
function gzipHeaderLength(b: Uint8Array): number {
  const n = gzipHeaderIn(b);
  // held bytes are copied on each push until the header is complete: bound them
  if (n < 0 && b.length > MAX_GZIP_HEADER) throw new Error(`invalid gzip data (a header longer than ${MAX_GZIP_HEADER} bytes)`);
  return n;
}

function gzipHeaderIn(b: Uint8Array): number {
  if ((b.length > 0 && b[0] !== 0x1f) || (b.length > 1 && b[1] !== 0x8b)) throw new Error("invalid gzip data (no gzip header)");
  if (b.length > 2 && b[2] !== 8) throw new Error(`invalid gzip data (compression method ${b[2]}, not deflate)`);
  if (b.length < 10) return -1;
  const flg = b[3]!;
  let at = 10;
  if (flg & 4) {
    if (b.length < 12) return -1;
    at += 2 + (b[10]! | (b[11]! << 8)); // FEXTRA
  }
  for (const bit of [8, 16]) {
    if (!(flg & bit)) continue; // FNAME, FCOMMENT: zero-terminated
    const z = b.indexOf(0, at);
    if (z < 0) return -1;
    at = z + 1;
  }
  if (flg & 2) at += 2; // FHCRC
  return at <= b.length ? at : -1;
}

const le32 = (b: Uint8Array, i: number) => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
const be32 = (b: Uint8Array, i: number) => ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
const hex = (n: number) => n.toString(16).padStart(8, "0");

/**
 * A container around deflate data: a header, the deflate stream, a trailer checked against what was
 * inflated. gzip repeats it (multi-member); zlib and raw deflate are one stream, with nothing after it.
 */
interface Container {
  name: string;
  /** Header length, -1 while incomplete (throws if the bytes cannot start one). */
  header(b: Uint8Array): number;
  trailerBytes: number;
  start(): void;
  update(d: Uint8Array): void;
  /** Throws if the trailer does not match the data. */
  check(trailer: Uint8Array): void;
  multiMember: boolean;
}

function gzipContainer(): Container {
  let crc = 0;
  let size = 0;
  return {
    name: "gzip",
    header: gzipHeaderLength,
    trailerBytes: 8,
    multiMember: true,
    start() {
      crc = 0;
      size = 0;
    },
    update(d) {
      crc = crc32(crc, d);
      size = (size + d.byteLength) % 0x1_0000_0000;
    },
    check(t) {
      if (le32(t, 0) !== crc) throw new Error(`gzip CRC-32 mismatch (trailer ${hex(le32(t, 0))}, data ${hex(crc)}): the stream is corrupt`);
      if (le32(t, 4) !== size) throw new Error(`gzip ISIZE mismatch (trailer ${le32(t, 4)}, data ${size} bytes mod 2^32): the stream is corrupt`);
    },
  };
}

function zlibContainer(): Container {
  let adler = 1;
  return {
    name: "zlib",
    header(b) {
      if (b.length < 2) return -1;
      if (b[1]! & 0x20) throw new Error("invalid zlib data (a preset dictionary is required)");
      return 2;
    },
    trailerBytes: 4,
    multiMember: false,
    start() {
      adler = 1;
    },
    update(d) {
      adler = adler32(adler, d);
    },
    check(t) {
      if (be32(t, 0) !== adler) throw new Error(`zlib Adler-32 mismatch (trailer ${hex(be32(t, 0))}, data ${hex(adler)}): the stream is corrupt`);
    },
  };
}

const rawContainer = (): Container => ({ name: "deflate", header: () => 0, trailerBytes: 0, multiMember: false, start() {}, update() {}, check() {} });

/**
 * Parses a container as its bytes arrive and hands the inflated data to `out`; `end` throws Truncated
 * unless the input ended right after a complete stream (every gzip member's CRC-32 and ISIZE, zlib's
 * Adler-32 checked; raw deflate must have had its final block). An empty input is an empty body.
 */
function unpack(c: Container, out: (d: Uint8Array) => void): Stage {
  let phase: "header" | "data" | "trailer" | "done" = "header";
  let held: Uint8Array = EMPTY; // header or trailer bytes so far
  let streams = 0;
  let deflate: Deflate | undefined;
  return {
    push(chunk) {
      while (chunk.byteLength > 0) {
        if (phase === "done") throw new Error(`data after the end of the ${c.name} stream`);
        if (phase === "data") {
          const rest = deflate!.push(chunk);
          if (rest === undefined) return;
          chunk = rest;
          phase = "trailer";
          if (c.trailerBytes === 0) {
            streams++; // raw deflate: its final block ends it
            phase = "done";
          }
          continue;
        }
        held = join(held, chunk);
        if (phase === "header") {
          const n = c.header(held);
          if (n < 0) return;
          chunk = held.subarray(n);
          c.start();
          deflate = new Deflate((d) => {
            c.update(d);
            out(d);
          });
          phase = "data";
        } else {
          if (held.byteLength < c.trailerBytes) return;
          c.check(held);
          chunk = held.subarray(c.trailerBytes);
          streams++;
          phase = c.multiMember ? "header" : "done";
        }
        held = EMPTY;
      }
    },
    end() {
      if (phase === "done" || (phase === "header" && held.byteLength === 0)) return;
      const where = phase === "header" ? `a ${c.name} header` : phase === "data" ? "the deflate data" : `the ${c.name} trailer`;
      throw new Truncated(`the input ends inside ${where}${streams > 0 ? ` of member ${streams + 1}` : ""}`);
    },
  };
}

/**
 * One decoding stage. HTTP's "deflate" is zlib (RFC 1950; Vector's `compression: zlib`), but some
 * clients send raw deflate under that name: the first two bytes tell them apart.
 */
function stage(enc: Encoding, next: Stage): Stage {
  const emit = (d: Uint8Array) => pushSteps(next, d); // a stage never hands the next one more than STEP bytes at once
  const done = (s: Stage): Stage => ({
    push: s.push,
    end() {
      s.end();
      next.end();
    },
  });
  if (enc === "gzip") return done(unpack(gzipContainer(), emit));
  let inner: Stage | undefined;
  let held: Uint8Array = EMPTY; // bytes seen before the two that decide the format
  const choose = (all: Uint8Array) => (inner = unpack(isZlibHeader(all) ? zlibContainer() : rawContainer(), emit));
  return done({
    push(c) {
      if (!inner) {
        const all = join(held, c);
        if (all.byteLength < 2) {
          held = all;
          return;
        }
        c = all;
        choose(all);
      }
      inner!.push(c);
    },
    end() {
      if (!inner && held.byteLength > 0) choose(held).push(held);
      inner?.end();
    },
  });
}

/** A stream of one chunk (for a body that had to be buffered first, e.g. to check its HMAC). */
export function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      if (bytes.byteLength > 0) c.enqueue(bytes);
      c.close();
    },
  });
}

function tooLarge(limits: Limits): BodyError {
  return new BodyError(413, `body is larger than limits.maxBodyBytes (${limits.maxBodyBytes} bytes): send smaller batches`);
}

/** How much of a refused body is still read and discarded before it is cancelled (see release). */
export interface Drain {
  bytes: number;
  ms: number;
}

/** The drain in local development (wrangler dev, TRIBUTARY_DEV=true); none in production. */
export const DEV_DRAIN: Drain = { bytes: 64 << 20, ms: 5000 };

export function drainFor(env: { TRIBUTARY_DEV?: string }): Drain | undefined {
  return env.TRIBUTARY_DEV === "true" ? DEV_DRAIN : undefined;
}

/**
 * Stops reading a body that is refused before its end (413, corrupt gzip, bad UTF-8). With a drain
 * the rest is first read and discarded, up to `drain.bytes` more or `drain.ms`, and only cancelled
 * past that: under wrangler dev, cancelling a request body that was not read to its end makes the dev
 * proxy answer the next request with "503 Your worker restarted mid-request" (cloudflare/workers-sdk
 * issue #15709). Production Workers do not need it, so there the body is cancelled at once.
 */
export async function release(reader: ReadableStreamDefaultReader<Uint8Array>, drain?: Drain): Promise<void> {
  if (drain) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), drain.ms)));
    try {
      for (let n = 0; n <= drain.bytes; ) {
        const r = await Promise.race([reader.read(), late]);
        if (r === "late") break;
        if (r.done) return;
        n += r.value.byteLength;
      }
    } catch {
      return; // the body failed: nothing left to read
    } finally {
      clearTimeout(timer);
    }
  }
  await reader.cancel().catch(() => undefined);
}

/** Reads the raw body (as sent, still compressed) into memory, up to maxBodyBytes (see release for `drain`). */
export async function readBytes(stream: ReadableStream<Uint8Array> | null, limits: Limits, drain?: Drain): Promise<Uint8Array> {
  if (!stream) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > limits.maxBodyBytes) {
      await release(reader, drain);
      throw tooLarge(limits);
    }
    parts.push(value);
  }
  return concat(parts, n);
}

class Stop extends Error {}

/** A decoded body; `bad` (NDJSON and text framings only) maps 1-based line numbers to lines that are not text. */
export interface BodyText {
  text: string;
  bad?: Map<number, BadLine>;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function newlines(s: string): number {
  let n = 0;
  for (let i = s.indexOf("\n"); i >= 0; i = s.indexOf("\n", i + 1)) n++;
  return n;
}

/** Shown in the text in place of a line that is kept aside (never blank, so framing still counts the line). */
function placeholder(lossy: string): string {
  return lossy.trim() === "" ? "\uFFFD" : lossy;
}

/**
 * Line-aligned UTF-8 decoding for NDJSON and Falco text bodies: bytes are decoded up to the last newline
 * of what has arrived (one TextDecoder call per chunk, as for other bodies); only a block that is not valid
 * UTF-8 is decoded again line by line, so one bad line is kept aside (its bytes in base64) and the others
 * decode. A newline byte never occurs inside a UTF-8 sequence, so the blocks split no character.
 */
class LineDecoder {
  private readonly strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  private readonly lossy = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  readonly parts: string[] = [];
  readonly bad = new Map<number, BadLine>();
  private carry: Uint8Array[] = [];
  private carryBytes = 0;
  /** Newlines decoded so far; counted only once a line has been set aside. */
  private lines: number | undefined;
  private started = false;

  push(chunk: Uint8Array): void {
    const nl = chunk.lastIndexOf(10);
    if (nl < 0) {
      this.hold(chunk);
      return;
    }
    const head = chunk.subarray(0, nl + 1);
    if (this.carryBytes === 0) this.block(head);
    else {
      this.hold(head);
      this.block(this.takeCarry());
    }
    if (nl + 1 < chunk.byteLength) this.hold(chunk.subarray(nl + 1));
  }

  /** The end of the body: the last line, if it has no newline. */
  end(): void {
    if (this.carryBytes > 0) this.block(this.takeCarry());
  }

  /** The stream broke off (a truncated gzip/deflate body): the incomplete last line is reported, with `reason`. */
  cut(reason: string): void {
    const tail = this.takeCarry();
    const line = this.lineCount() + 1;
    let raw: string | undefined;
    try {
      raw = this.strict.decode(tail);
    } catch {
      raw = undefined;
    }
    this.bad.set(line, raw !== undefined ? { reason, raw } : { reason, rawBase64: base64(tail) });
    this.parts.push(placeholder(this.lossy.decode(tail)));
  }

  private hold(b: Uint8Array): void {
    this.carry.push(b);
    this.carryBytes += b.byteLength;
  }

  private takeCarry(): Uint8Array {
    const all = concat(this.carry, this.carryBytes);
    this.carry = [];
    this.carryBytes = 0;
    return all;
  }

  private lineCount(): number {
    return (this.lines ??= this.parts.reduce((n, p) => n + newlines(p), 0));
  }

  private block(bytes: Uint8Array): void {
    if (!this.started) {
      this.started = true;
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3); // a leading BOM is dropped
    }
    try {
      const s = this.strict.decode(bytes);
      this.parts.push(s);
      if (this.lines !== undefined) this.lines += newlines(s);
      return;
    } catch {
      // some line of this block is not UTF-8: decode it line by line
    }
    let line = this.lineCount();
    for (let start = 0; start < bytes.byteLength; ) {
      const nl = bytes.indexOf(10, start);
      const stop = nl < 0 ? bytes.byteLength : nl + 1;
      const body = bytes.subarray(start, nl < 0 ? stop : nl);
      line++;
      try {
        this.parts.push(this.strict.decode(bytes.subarray(start, stop)));
      } catch {
        this.bad.set(line, { reason: `line is not valid UTF-8 (${body.byteLength} bytes; kept in the quarantine as base64)`, rawBase64: base64(body) });
        this.parts.push(placeholder(this.lossy.decode(body)) + (nl < 0 ? "" : "\n"));
      }
      start = stop;
    }
    this.lines = endsWithNewline(bytes) ? line : line - 1;
  }
}

/** Whether a block ends with a newline (else its last line has none, and is not counted as a newline). */
function endsWithNewline(bytes: Uint8Array): boolean {
  return bytes.byteLength > 0 && bytes[bytes.byteLength - 1] === 10;
}

/**
 * Decompresses (streaming) and decodes the body as strict UTF-8 (a leading BOM is dropped).
 * Throws BodyError: 413 past maxBodyBytes (raw) or maxDecompressedBytes (decoded), 400 for a
 * corrupt gzip/deflate stream or bytes that are not UTF-8; a body refused before its end is drained
 * by `drain` first (see release).
 *
 * NDJSON and text framings (by Content-Type) are decoded line by line: a line that is not UTF-8 is
 * set aside in `bad` (its bytes in base64) and the others are kept; a gzip/deflate stream that ends
 * early (anywhere: header, deflate data or trailer) keeps the complete lines decompressed before the
 * cut and sets the incomplete last one aside with a reason naming the truncation; a trailer that does
 * not match (gzip CRC-32/ISIZE, zlib Adler-32) is a 400 for the body. Other bodies (one JSON document or array) stay all or nothing:
 * a body cut in the middle of a UTF-8 sequence ends with U+FFFD (reported like any cut record).
 *
 * Inflating is done here in small steps (fflate), not with DecompressionStream: workerd's
 * DecompressionStream inflates everything written to it into an unbounded buffer, whether or not
 * the output is read, so a 1.5 MB gzip bomb grows the isolate past 1 GB before any cap can act (it
 * would check the trailers, as the Compression Streams spec asks, but fflate plus ./checksum does too).
 */
export async function readBody(stream: ReadableStream<Uint8Array> | null, format: BodyFormat, limits: Limits, drain?: Drain): Promise<BodyText> {
  if (!stream) return { text: "" };
  const lines = format.framing === "ndjson" || format.framing === "text" ? new LineDecoder() : undefined;
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  const parts: string[] = lines ? lines.parts : [];
  let out = 0;
  let failure: BodyError | undefined;
  const sink: Stage = {
    push(chunk) {
      out += chunk.byteLength;
      if (out > limits.maxDecompressedBytes) {
        failure = new BodyError(413, `body is larger than limits.maxDecompressedBytes (${limits.maxDecompressedBytes} bytes) once decompressed: send smaller batches`);
        throw new Stop();
      }
      if (lines) return lines.push(chunk);
      try {
        parts.push(decoder.decode(chunk, { stream: true }));
      } catch {
        failure = new BodyError(400, `body is not valid UTF-8 (invalid byte sequence within bytes ${out - chunk.byteLength}-${out} of the decoded body)`);
        throw new Stop();
      }
    },
    end() {},
  };
  let head = sink;
  for (let i = format.encodings.length - 1; i >= 0; i--) head = stage(format.encodings[i]!, head);
  const what = format.encodings.length ? `${format.encodings.join(" + ")} body could not be decompressed` : "body could not be read";
  const reader = stream.getReader();
  let raw = 0;
  let truncated: string | undefined;
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        throw new BodyError(400, `body could not be read: ${(e as Error).message || String(e)}`);
      }
      if (r.done) {
        head.end();
        break;
      }
      raw += r.value.byteLength;
      if (raw > limits.maxBodyBytes) {
        failure = tooLarge(limits);
        throw new Stop();
      }
      pushSteps(head, r.value);
    }
  } catch (e) {
    await release(reader, drain);
    if (failure) throw failure;
    if (e instanceof BodyError) throw e;
    const msg = (e as Error).message || String(e);
    // a compressed NDJSON/text body cut short: keep the complete lines (all that was inflated has been handed out)
    if (lines && e instanceof Truncated) truncated = `body ends mid-record: the ${format.encodings.join(" + ")} stream is truncated (${msg}) after ${out} decompressed bytes; this line is incomplete and anything after it is missing`;
    else throw new BodyError(400, `${what}: ${msg}`);
  }
  if (!lines) {
    try {
      parts.push(decoder.decode());
    } catch {
      parts.push("\uFFFD"); // the body ends inside a multi-byte character
    }
  } else if (truncated !== undefined) lines.cut(truncated);
  else lines.end();
  const text = parts.length === 1 ? parts[0]! : parts.join("");
  return lines && lines.bad.size > 0 ? { text, bad: lines.bad } : { text };
}

/** The body as strict UTF-8 text (see readBody); any line set aside is a 400 for the whole body. */
export async function readText(stream: ReadableStream<Uint8Array> | null, format: BodyFormat, limits: Limits): Promise<string> {
  const b = await readBody(stream, format, limits);
  if (b.bad) {
    const [line, first] = b.bad.entries().next().value!;
    throw new BodyError(400, `line ${line}: ${first.reason}`);
  }
  return b.text;
}
