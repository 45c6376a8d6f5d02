// Shared request building for the HTTP sinks: packing serialized events into requests under a
// count and byte limit, UTF-8 sizes, gzip, header merging, base64, event field lookup, name
// templates. Pure but for gzip, which the runtime's CompressionStream does (native zlib): cheaper
// than fflate in JavaScript for request bodies and objects alike (bench/sinks.ts, bench/run.ts notes).
import { strToU8 } from "fflate";
import { z } from "zod";
import type { SecretRef } from "../config/secret";
import { type OcsfEvent, labelValue } from "../normalize/ocsf";
import { lookup, ownAt } from "../normalize/json";
import type { SinkRequest } from "./types";
import { eventFileTime } from "./file-time";

export const compressionSchema = z.enum(["none", "gzip"]);
export type Compression = z.infer<typeof compressionSchema>;

/** Extra request headers from config (names are case-insensitive; config values win). */
export const headersSchema = z.record(z.string().min(1), z.string()).optional();

/** A base URL without trailing slashes, e.g. "https://splunk.example.com:8088". */
export const baseUrlSchema = z.url().transform((u) => u.replace(/\/+$/, ""));

/** UTF-8 byte length of a string, without encoding it. */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 2 UTF-16 units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

export interface PackLimits {
  /** Largest request body (bytes, uncompressed). */
  maxBytes: number;
  /** Most items per request. */
  maxEvents: number;
  /** Bytes every request adds around its items (wrapper object, brackets). */
  overhead?: number;
  /** Bytes between two items (",", "\n"). */
  separator?: number;
}

/**
 * Splits items, in order, into runs that fit the limits: at most maxEvents items and
 * overhead + sizes + separators <= maxBytes. An item that alone exceeds maxBytes gets a run of its
 * own (the caller decides whether to send it or leave it out).
 */
export function pack<T>(items: T[], size: (item: T) => number, limits: PackLimits): T[][] {
  const overhead = limits.overhead ?? 0;
  const sep = limits.separator ?? 0;
  const runs: T[][] = [];
  let run: T[] = [];
  let bytes = overhead;
  for (const item of items) {
    const s = size(item);
    const add = run.length === 0 ? s : s + sep;
    if (run.length > 0 && (run.length >= limits.maxEvents || bytes + add > limits.maxBytes)) {
      runs.push(run);
      run = [];
      bytes = overhead;
      bytes += s;
    } else bytes += add;
    run.push(item);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/**
 * Each event's JSON text by index: the delivered line when the delivery passed `lines` (see
 * SinkDriver.encode: JSON.stringify of the event, as the queues carried it), else JSON.stringify of
 * the event here (the same text).
 */
export function jsonTextOf(events: readonly OcsfEvent[], lines: readonly string[] | undefined): (i: number) => string {
  return lines?.length === events.length ? (i) => lines[i]! : (i) => JSON.stringify(events[i]);
}

/**
 * JSON.stringify of `{...fields, [key]: value}` given `json` = JSON.stringify(value): the fields' text
 * with the value's text spliced in as the last member, so the value is not serialized again.
 */
export function withLastMember(fields: Record<string, unknown>, key: string, json: string): string {
  const head = JSON.stringify(fields);
  return `${head.slice(0, -1)}${head === "{}" ? "" : ","}${JSON.stringify(key)}:${json}}`;
}

/** gzip (RFC 1952, one member) of a text's UTF-8 bytes (or of bytes), by the runtime's CompressionStream. */
export function gzipText(text: string | Uint8Array): Promise<Uint8Array> {
  return gzipStream(new Blob([text]).stream());
}

/** gzip (RFC 1952, one member) of a stream's bytes, by the runtime's CompressionStream. */
async function gzipStream(src: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(src.pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
}

/**
 * gzipText of `count` lines, each followed by "\n", fed to the compressor about 64 KB at a time: the
 * same bytes as gzipText of the joined text, without the whole text as one string (a storage object
 * of a full queue batch is ~10 MB of lines).
 */
export function gzipLines(count: number, lineAt: (k: number) => string): Promise<Uint8Array> {
  const enc = new TextEncoder();
  let k = 0;
  const src = new ReadableStream<Uint8Array>({
    pull(c) {
      if (k >= count) return c.close();
      const part: string[] = [];
      let n = 0;
      while (k < count && n < 65536) {
        const l = lineAt(k++);
        part.push(l);
        n += l.length + 1;
      }
      c.enqueue(enc.encode(part.join("\n") + "\n"));
    },
  });
  return gzipStream(src);
}

/**
 * Request body from text: gzip-compressed (gzipText) when asked, and then the content-encoding header
 * set (at once, before the body is ready).
 */
export async function encodeBody(text: string | Uint8Array, compression: Compression, headers: Record<string, string>): Promise<string | Uint8Array> {
  if (compression !== "gzip") return text;
  headers["content-encoding"] = "gzip";
  return gzipText(text);
}

/**
 * One POST request per run of packed items: the run's body text (bodyOf) through encodeBody, under a
 * copy of `headers` merged with the configured ones (mergeHeaders); `events` are the items' `i`.
 */
export function postRuns<T extends { i: number }>(
  runs: T[][],
  url: string,
  headers: Record<string, string>,
  cfg: { compression: Compression; headers?: Record<string, string> },
  bodyOf: (run: T[]) => string | Uint8Array,
): Promise<SinkRequest[]> {
  return Promise.all(
    runs.map(async (run): Promise<SinkRequest> => {
      const h = { ...headers };
      const body = await encodeBody(bodyOf(run), cfg.compression, h);
      return { events: run.map((x) => x.i), url, method: "POST", headers: mergeHeaders(h, cfg.headers), body };
    }),
  );
}

/** Lower-cases header names and lets the configured headers override the computed ones. */
export function mergeHeaders(computed: Record<string, string>, configured: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(computed)) out[k.toLowerCase()] = v;
  if (configured) for (const [k, v] of Object.entries(configured)) out[k.toLowerCase()] = v;
  return out;
}

/** Standard base64 of bytes (btoa exists in Node and workerd). */
export function base64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** Bytes of a standard base64 string; throws on invalid input. */
export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** `Basic base64(user:password)`, UTF-8 safe. */
export function basicAuth(username: string, password: string): string {
  return `Basic ${base64(strToU8(`${username}:${password}`))}`;
}

/**
 * The value at a dotted path in an event ("metadata.log_name", "evidences.0.process.name"). Own keys only:
 * "constructor" or "__proto__" in a path finds a sender's key of that name, never Object.prototype's members.
 */
export function fieldAt(e: OcsfEvent, path: string): unknown {
  return ownAt(e, path.split("."));
}

/** A field as text: strings as they are, numbers and booleans printed, anything else undefined. */
export function textAt(e: OcsfEvent, path: string): string | undefined {
  const v = fieldAt(e, path);
  if (typeof v === "string") return v === "" ? undefined : v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

/**
 * The host a SIEM should file the event under (Splunk `host`, Datadog `hostname`): device.hostname, else
 * for a Kubernetes audit event (product "Kubernetes": it comes from the cluster's API server, not a node)
 * the cluster name when known (the context enricher's `k8s.cluster:<name>` label), else none
 * (CloudTrail events name no host, the AWS service answers, and none is made up).
 */
export function hostOf(e: OcsfEvent): string | undefined {
  const host = textAt(e, "device.hostname");
  if (host !== undefined || e.metadata.product.name !== "Kubernetes") return host;
  return labelValue(e.metadata.labels, "k8s.cluster:");
}

/** The last ms whose nanoseconds fit a fixed64 (2^64 - 1 ns, in the year 2554). */
const MAX_NANOS_MS = 18_446_744_073_709;

/**
 * Epoch ms -> unix nanoseconds as a decimal string (Loki's timestamps, OTLP's fixed64 times in JSON): exact, no
 * float past 2^53; sub-millisecond digits dropped; "0" for a time before the epoch, not a number, or past what
 * a fixed64 holds (a sensor clock at 9999: its digits would make a receiver refuse the whole request).
 */
export function unixNanos(ms: number): string {
  const t = Number.isFinite(ms) && ms <= MAX_NANOS_MS ? Math.max(0, Math.trunc(ms)) : 0;
  return t === 0 ? "0" : `${t}000000`;
}

/**
 * Epoch ms -> ISO 8601 text ("2026-01-01T00:00:00.000Z"), or undefined for a time no Date holds: not a number,
 * or more than 8.64e15 ms (±275,760 years) from the epoch, where toISOString throws. A replayed or backfilled
 * event can carry such a time (a sensor clock at 1e300); one such event must not fail its whole request.
 */
export function isoTime(ms: number): string | undefined {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The event's uid (metadata.uid) when it has one. */
export function eventUid(e: OcsfEvent): string | undefined {
  return typeof e.metadata.uid === "string" && e.metadata.uid !== "" ? e.metadata.uid : undefined;
}

const pad2 = (n: number): string => String(n).padStart(2, "0");

/** The longest a name part taken from an event may be (after nameSafe). */
export const MAX_NAME_PART = 64;

/**
 * Event text made safe for a name (an Elasticsearch index, a Splunk source/sourcetype, a Datadog
 * ddsource/service): letters, digits, "_" and "-" kept, anything else (space, "/", "..", ",", "*", "#", ":",
 * control characters) becomes "_", cut to MAX_NAME_PART. A Falco alert's `source` (log_name) is whatever
 * the sender wrote: it must not pick another index or break the request.
 */
export function nameSafe(s: string): string {
  return (s.length <= MAX_NAME_PART ? s : s.slice(0, MAX_NAME_PART)).replace(/[^A-Za-z0-9_-]/g, "_");
}

/** What {tenant} stands for in an event without metadata.tenant_uid. */
export const NO_TENANT = "none";

/** Placeholders allowed in name templates (index names, sourcetypes, ddsource, ...); values from the event go through nameSafe. */
const TEMPLATE_VARS: Record<string, (e: OcsfEvent) => string> = {
  class_uid: (e) => String(e.class_uid),
  category_uid: (e) => String(e.category_uid),
  log_name: (e) => nameSafe(e.metadata.log_name ?? "unknown"),
  log_provider: (e) => nameSafe(e.metadata.log_provider ?? "unknown"),
  product: (e) => nameSafe(e.metadata.product.name.toLowerCase().replace(/\s+/g, "_")),
  // the sender's tenant (the ingest credential's); "none" for events ingested without one (auth not required)
  tenant: (e) => nameSafe(typeof e.metadata.tenant_uid === "string" && e.metadata.tenant_uid !== "" ? e.metadata.tenant_uid : NO_TENANT),
  // the day the event is filed under: its time, or its receipt day for a wrong sensor clock (file-time.ts)
  yyyy: (e) => String(new Date(eventFileTime(e)).getUTCFullYear()),
  mm: (e) => pad2(new Date(eventFileTime(e)).getUTCMonth() + 1),
  dd: (e) => pad2(new Date(eventFileTime(e)).getUTCDate()),
};

const PLACEHOLDER = /\{([a-z_]+)\}/g;

/** A name template: text with {class_uid}, {category_uid}, {log_name}, {log_provider}, {product}, {tenant}, {yyyy}, {mm}, {dd}. */
export const templateSchema = z
  .string()
  .min(1)
  .refine((t) => [...t.matchAll(PLACEHOLDER)].every((m) => Object.hasOwn(TEMPLATE_VARS, m[1]!)), {
    message: `unknown placeholder; use ${Object.keys(TEMPLATE_VARS).map((k) => `{${k}}`).join(", ")}`,
  });

/** Expands a name template for one event. */
export function expand(template: string, e: OcsfEvent): string {
  if (!template.includes("{")) return template;
  return template.replace(PLACEHOLDER, (m, name: string) => lookup(TEMPLATE_VARS, name)?.(e) ?? m);
}

/** A sink setting's secret whose env binding is missing or empty (thrown by secretValue while encoding). */
export class MissingSecretError extends Error {
  override name = "MissingSecretError";
  constructor(
    /** The setting, e.g. "auth.password". */
    readonly setting: string,
    /** The env binding it names. */
    readonly binding: string,
    sink: string,
  ) {
    super(`${sink}: ${setting} is not set (env binding ${binding} is missing or empty)`);
  }
}

/**
 * A secret's value: a literal string, or the env binding `{ env: NAME }` names. Throws a clear error
 * (MissingSecretError) when it is missing. (Same rule as resolveSecret in ../config/load, which
 * drivers cannot import: load -> schema -> sink registry -> driver would be an import cycle.)
 */
export function secretValue(ref: SecretRef, env: Record<string, unknown>, sink: string, what: string): string {
  if (typeof ref === "string") return ref;
  const v = env[ref.env];
  if (typeof v !== "string" || v === "") throw new MissingSecretError(what, ref.env, sink);
  return v;
}
