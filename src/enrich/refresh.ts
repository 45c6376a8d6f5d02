// Feed refresh, run by the Cron Trigger (src/index.ts `scheduled`): downloads every feed that has a
// `url`, parses it in its format, and only when it parsed cleanly and holds indicators stores the
// compiled set in R2 (intel/<feed>.txt), replacing the previous one. Anything else (HTTP error, time-out,
// oversize, garbage, an empty list) leaves the last good set in place. Isolates pick the new object up
// within intel.reloadSeconds (./load.ts). I/O lives here and in ./load.ts only.
import type { Config } from "../config/schema";
import type { FeedConfig, IntelConfig } from "../config/enrich";
import { resolveSecret } from "../config/load";
import { CompiledWriter } from "./compiled";
import { feedTextParser, feedCaps, textPieces, rejectReason, type FeedCaps, type ParseStats } from "./feeds";
import { feedKey, type EnrichBucket } from "./load";
import { log } from "../ops/log";

export interface FeedRefresh {
  feed: string;
  ok: boolean;
  /** "updated", "not modified" or the reason the last good set was kept. */
  status: string;
  indicators?: number;
  invalid?: number;
}

export interface RefreshOptions {
  fetch?: typeof fetch;
  now?: number;
  /** Per-feed download time limit (ms). */
  timeoutMs?: number;
}

/** The feed URL without credentials or query string (it may hold an API key): what we record. */
export function publicSource(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return "(invalid url)";
  }
}

function bodyStream(res: Response, gunzip: boolean): ReadableStream<Uint8Array> | undefined {
  if (!res.body) return undefined;
  return gunzip ? res.body.pipeThrough(new DecompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>) : res.body;
}

/**
 * Parses the download into compiled lines as it arrives, in every format: plain and CSV line by line,
 * MISP and STIX one JSON element at a time (./json-stream.ts): the feed text is never whole in memory,
 * only the compiled lines are kept. maxBytes caps the (gunzipped) body.
 */
async function compileDownload(res: Response, f: FeedConfig, caps: FeedCaps, gunzip: boolean, now: number): Promise<{ w: CompiledWriter; stats: ParseStats }> {
  const w = new CompiledWriter();
  const p = feedTextParser(f, (c, conf) => w.add(c, conf), now, caps.maxElementChars);
  const len = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(len) && len > caps.maxBytes) throw new Error(`feed is ${len} bytes, more than ${caps.capName} ${caps.maxBytes}`);
  const stream = bodyStream(res, gunzip);
  if (stream) for await (const piece of textPieces(stream, caps.maxBytes, caps.capName)) p.push(piece);
  const stats = p.end();
  const reason = rejectReason(stats, f.maxInvalidRatio);
  if (reason) throw new FeedRejected(reason);
  return { w, stats };
}

class FeedRejected extends Error {}

interface FixedLengthStreamCtor {
  new (length: number): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
}

/** Uploads the pieces; in workerd as a FixedLengthStream (one piece encoded at a time), else as one string. */
async function putParts(bucket: EnrichBucket, key: string, parts: string[], options: Parameters<EnrichBucket["put"]>[2]): Promise<void> {
  const FLS = (globalThis as { FixedLengthStream?: FixedLengthStreamCtor }).FixedLengthStream;
  if (!FLS) {
    await bucket.put(key, parts.join(""), options);
    return;
  }
  const enc = new TextEncoder();
  let bytes = 0;
  // eslint-disable-next-line no-control-regex
  for (const p of parts) bytes += /[^\x00-\x7f]/.test(p) ? enc.encode(p).byteLength : p.length;
  const { readable, writable } = new FLS(bytes);
  const done = bucket.put(key, readable, options);
  const writer = writable.getWriter();
  for (let i = 0; i < parts.length; i++) {
    await writer.write(enc.encode(parts[i]!));
    parts[i] = ""; // let the piece go as soon as it is sent
  }
  await writer.close();
  await done;
}

async function refreshOne(
  bucket: EnrichBucket,
  f: FeedConfig & { url: string },
  env: Record<string, unknown>,
  intel: IntelConfig,
  opts: Required<RefreshOptions>,
): Promise<FeedRefresh> {
  const key = feedKey(f.name);
  const headers: Record<string, string> = { accept: "*/*", "user-agent": "tributary-feed-refresh" };
  for (const [k, ref] of Object.entries(f.headers ?? {})) {
    const v = resolveSecret(ref, env);
    if (v === undefined) return { feed: f.name, ok: false, status: `header ${k}: secret not set` };
    headers[k] = v;
  }
  const prev = await bucket.head(key);
  // conditional GET: the source's ETag, and its Last-Modified for servers that send no ETag (a server
  // with both uses If-None-Match and ignores If-Modified-Since, RFC 9110 13.1.3)
  const prevEtag = prev?.customMetadata?.source_etag;
  if (prevEtag) headers["if-none-match"] = prevEtag;
  const prevModified = prev?.customMetadata?.source_last_modified;
  if (prevModified) headers["if-modified-since"] = prevModified;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), opts.timeoutMs);
  let compiled: { w: CompiledWriter; stats: ParseStats };
  let sourceEtag: string | null;
  let sourceModified: string | null;
  try {
    const res = await opts.fetch(f.url, { headers, signal: ctl.signal });
    if (res.status === 304 && prev) {
      await res.body?.cancel();
      return { feed: f.name, ok: true, status: "not modified" };
    }
    if (!res.ok) {
      await res.body?.cancel();
      return { feed: f.name, ok: false, status: `HTTP ${res.status} from ${publicSource(f.url)}` };
    }
    sourceEtag = res.headers.get("etag");
    sourceModified = res.headers.get("last-modified");
    const gz = /\.gz$/i.test(new URL(f.url).pathname) && !res.headers.get("content-encoding");
    compiled = await compileDownload(res, f, feedCaps(f, intel), gz, opts.now);
  } catch (e) {
    const err = e as Error;
    if (err instanceof FeedRejected || err.name === "FeedParseError") return { feed: f.name, ok: false, status: `not a usable ${f.format} feed: ${err.message}` };
    return { feed: f.name, ok: false, status: `download failed: ${err.name === "AbortError" ? `timed out after ${opts.timeoutMs} ms` : err.message}` };
  } finally {
    clearTimeout(timer);
  }
  const fetchedAt = new Date(opts.now).toISOString();
  const meta: Record<string, string> = {
    feed: f.name,
    format: f.format,
    fetched_at: fetchedAt,
    indicators: String(compiled.stats.indicators),
    source: publicSource(f.url),
  };
  if (sourceEtag) meta.source_etag = sourceEtag;
  if (sourceModified) meta.source_last_modified = sourceModified;
  const parts = compiled.w.finishParts({ feed: f.name, source: publicSource(f.url), fetched_at: fetchedAt, format: f.format });
  await putParts(bucket, key, parts, { customMetadata: meta, httpMetadata: { contentType: "text/plain; charset=utf-8" } });
  return { feed: f.name, ok: true, status: "updated", indicators: compiled.stats.indicators, invalid: compiled.stats.invalid };
}

/** Refreshes every feed with a url; one feed's failure never stops the others. */
export async function refreshFeeds(env: { ARCHIVE?: EnrichBucket }, cfg: Config, options: RefreshOptions = {}): Promise<FeedRefresh[]> {
  const intel = cfg.enrich.intel;
  const feeds = (intel?.feeds ?? []).filter((f): f is FeedConfig & { url: string } => f.url !== undefined);
  if (feeds.length === 0) return [];
  const bucket = env.ARCHIVE;
  if (!bucket) return feeds.map((f) => ({ feed: f.name, ok: false, status: "no ARCHIVE bucket bound" }));
  const opts: Required<RefreshOptions> = { fetch: options.fetch ?? ((input, init) => fetch(input, init)), now: options.now ?? Date.now(), timeoutMs: options.timeoutMs ?? 30_000 };
  const out: FeedRefresh[] = [];
  for (const f of feeds) {
    let r: FeedRefresh;
    try {
      r = await refreshOne(bucket, f, env as Record<string, unknown>, intel!, opts);
    } catch (e) {
      r = { feed: f.name, ok: false, status: `refresh failed: ${(e as Error).message}` };
    }
    log(r.ok ? "info" : "warn", r.ok ? "intel feed refreshed" : "intel feed refresh failed; last good set kept", { ...r });
    out.push(r);
  }
  await bucket.put("intel/_refresh.json", JSON.stringify({ at: new Date(opts.now).toISOString(), feeds: out }, null, 1), {
    httpMetadata: { contentType: "application/json" },
  });
  return out;
}
