// Request body decoding (HTTP only, no knowledge of records): Content-Type and Content-Encoding
// checks, streamed gzip/deflate decompression with byte caps, strict UTF-8.
//
// Caps are enforced while streaming, so a gzip bomb stops after `maxDecompressedBytes` of output
// and a lying or missing Content-Length stops after `maxBodyBytes` of input.
import type { Limits } from "../config/schema";
import type { Framing } from "./decode";

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
  const ct = (headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  let framing = FRAMINGS[ct];
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

/**
 * Undoes one deflate coding. HTTP's "deflate" is zlib (RFC 1950; what Vector's `compression: zlib`
 * sends), but some clients send raw deflate under that name: the first two bytes tell them apart.
 */
async function inflate(stream: ReadableStream<Uint8Array>): Promise<ReadableStream<Uint8Array>> {
  const reader = stream.getReader();
  let first = await reader.read();
  while (!first.done && first.value.byteLength === 0) first = await reader.read();
  const head = first.done ? new Uint8Array(0) : first.value;
  const replay = new ReadableStream<Uint8Array>({
    start(c) {
      if (head.byteLength > 0) c.enqueue(head);
      if (first.done) c.close();
    },
    async pull(c) {
      const r = await reader.read();
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return replay.pipeThrough(new DecompressionStream(isZlibHeader(head) ? "deflate" : "deflate-raw"));
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

/** Counts bytes going through; errors the stream once more than `max` have passed. */
function capped(stream: ReadableStream<Uint8Array>, max: number, onExceeded: () => BodyError): ReadableStream<Uint8Array> {
  let n = 0;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        n += chunk.byteLength;
        if (n > max) c.error(onExceeded());
        else c.enqueue(chunk);
      },
    }),
  );
}

function tooLarge(limits: Limits): BodyError {
  return new BodyError(413, `body is larger than limits.maxBodyBytes (${limits.maxBodyBytes} bytes): send smaller batches`);
}

/** Reads the raw body (as sent, still compressed) into memory, up to maxBodyBytes. */
export async function readBytes(stream: ReadableStream<Uint8Array> | null, limits: Limits): Promise<Uint8Array> {
  if (!stream) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > limits.maxBodyBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limits);
    }
    parts.push(value);
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Decompresses (streaming) and decodes the body as strict UTF-8 (a leading BOM is dropped).
 * Throws BodyError: 413 past maxBodyBytes (raw) or maxDecompressedBytes (decoded), 400 for a
 * corrupt gzip/deflate stream or bytes that are not UTF-8. A body cut in the middle of a UTF-8
 * sequence ends with U+FFFD, so the cut record is reported like any other cut record.
 */
export async function readText(stream: ReadableStream<Uint8Array> | null, format: BodyFormat, limits: Limits): Promise<string> {
  if (!stream) return "";
  let failure: BodyError | undefined;
  let s = capped(stream, limits.maxBodyBytes, () => (failure = tooLarge(limits)));
  for (const enc of format.encodings) s = enc === "gzip" ? s.pipeThrough(new DecompressionStream("gzip")) : await inflate(s);
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  const parts: string[] = [];
  let out = 0;
  const reader = s.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      out += value.byteLength;
      if (out > limits.maxDecompressedBytes) {
        failure = new BodyError(413, `body is larger than limits.maxDecompressedBytes (${limits.maxDecompressedBytes} bytes) once decompressed: send smaller batches`);
        break;
      }
      try {
        parts.push(decoder.decode(value, { stream: true }));
      } catch {
        failure = new BodyError(400, `body is not valid UTF-8 (invalid byte sequence within bytes ${out - value.byteLength}-${out} of the decoded body)`);
        break;
      }
    }
  } catch (e) {
    if (failure) throw failure;
    const what = format.encodings.length ? `${format.encodings.join(" + ")} body could not be decompressed` : "body could not be read";
    throw new BodyError(400, `${what}: ${(e as Error).message || String(e)}`);
  }
  if (failure) {
    await reader.cancel().catch(() => undefined);
    throw failure;
  }
  try {
    parts.push(decoder.decode());
  } catch {
    parts.push("\uFFFD"); // the body ends inside a multi-byte character
  }
  return parts.length === 1 ? parts[0]! : parts.join("");
}
