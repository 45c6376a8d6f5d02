// Packs routed events into queue messages and sends them within Cloudflare Queues' limits:
// a message holds at most ~100 KB (limit 128 KB incl. metadata), one sendBatch call at most 100
// messages and ~230 KB (limit 256 KB). Events with the same sink set share messages.
//
// Sizes are counted as the queue counts them: messages go as `contentType: "json"`, so a line's
// quotes and backslashes are escaped (one more byte each) and non-ASCII text costs its UTF-8 bytes.
//
// An event too large to ride in a message (e.g. a Kubernetes RequestResponse audit event of several
// hundred KB) is written to R2 first, at `spill/<metadata.uid>.json`, and the message carries its
// key in `spill` instead (`messageLines` reads them back for the consumer).
import type { RoutedEvent } from "../pipeline";
import { stableHex } from "../normalize/uid";
import { utf8Length } from "../sinks/batch";

export const MAX_MESSAGE_BYTES = 100_000;
export const MAX_BATCH_BYTES = 230_000;
export const MAX_BATCH_MESSAGES = 100;
/** Events whose serialized size is above this are spilled to R2 (the message keeps ~2 KB for other lines). */
export const MAX_INLINE_EVENT_BYTES = MAX_MESSAGE_BYTES - 2_000;
export const SPILL_PREFIX = "spill/";

/** The body of one queue message: events for one set of sinks. */
export interface EventsMessage {
  v: 1;
  sinks: string[];
  /** Events in this message: the lines of `ndjson` plus the keys in `spill`. */
  count: number;
  /** OCSF events, one JSON object per line ("" when every event of the message was spilled). */
  ndjson: string;
  /** R2 keys of events stored out of line because they are too large for a message (optional). */
  spill?: string[];
}

export interface Producer {
  sendBatch(messages: Iterable<{ body: EventsMessage; contentType?: "json" | "v8" | "text" | "bytes" }>): Promise<unknown>;
}

/** Where spilled events go (the ARCHIVE bucket). */
export interface SpillStore {
  put(key: string, value: string, options?: { httpMetadata?: { contentType?: string } }): Promise<unknown>;
}
export interface SpillSource {
  get(key: string): Promise<{ text(): Promise<string> } | null>;
}

const NON_ASCII = /[^\x00-\x7f]/;

/** Bytes a line adds to a message once the message is JSON-encoded (separator included). */
export function lineBytes(line: string): number {
  const escaped = JSON.stringify(line).length - 2 + 2; // minus the quotes, plus the escaped "\n" separator
  // JSON.stringify leaves non-ASCII characters as they are: they cost their UTF-8 bytes
  return NON_ASCII.test(line) ? escaped + utf8Length(line) - line.length : escaped;
}

function countOf(s: string, ch: string): number {
  let n = 0;
  for (let i = s.indexOf(ch); i >= 0; i = s.indexOf(ch, i + 1)) n++;
  return n;
}

/** Scratch space for jsonLineBytes: the line's UTF-8 bytes, read 4 at a time. */
const scratch = new Uint8Array(96 * 1024);
const scratchWords = new Uint32Array(scratch.buffer);
const utf8 = new TextEncoder();

/**
 * lineBytes of a line that JSON.stringify wrote: such text holds no control character and no lone
 * surrogate (both come out escaped), so escaping it again only adds a backslash before each quote and
 * backslash. The line is encoded to UTF-8 natively (its length is the byte count) and the quotes and
 * backslashes are counted four bytes at a time: about a quarter of the cost of escaping it again.
 */
export function jsonLineBytes(line: string): number {
  const r = utf8.encodeInto(line, scratch);
  const n = r.written;
  if (r.read !== line.length || n + 4 > scratch.length) {
    // too long for the scratch space (a line to be spilled, or a large one): count with indexOf
    const escaped = line.length + countOf(line, '"') + countOf(line, "\\") + 2;
    return NON_ASCII.test(line) ? escaped + utf8Length(line) - line.length : escaped;
  }
  scratch.fill(0, n, n + 4); // the last word's bytes past the end
  let q = 0;
  for (let i = 0, words = (n + 3) >>> 2; i < words; i++) {
    const x = scratchWords[i]!;
    // per byte: 0x80 where it equals '"' (0x22) or '\\' (0x5c), by the exact zero-byte test on x ^ c
    const a = x ^ 0x22222222;
    const b = x ^ 0x5c5c5c5c;
    const za = ~((((a & 0x7f7f7f7f) + 0x7f7f7f7f) | a) & 0x80808080) & 0x80808080;
    const zb = ~((((b & 0x7f7f7f7f) + 0x7f7f7f7f) | b) & 0x80808080) & 0x80808080;
    q += Math.imul((za >>> 7) + (zb >>> 7), 0x01010101) >>> 24; // sum of the per-byte counts (at most 8)
  }
  return n + q + 2; // plus the escaped "\n" separator
}

function messageOverhead(sinks: string[]): number {
  return 64 + sinks.reduce((a, s) => a + s.length + 3, 0);
}

interface Group {
  sinks: string[];
  lines: string[];
  spill: string[];
  bytes: number;
}

/** Sink-set -> message accumulator. Pure: spilled events are handed back for the caller to store. */
export class Packer {
  private groups = new Map<string, Group>();

  /**
   * Adds one event. Returns messages that are full, and (when the event is too large for a message)
   * the spill object to write before any message referencing it is sent.
   */
  add(ev: RoutedEvent, out: EventsMessage[]): { key: string; line: string } | undefined {
    if (ev.sinks.length === 0) return undefined;
    const key = ev.sinks.length === 1 ? ev.sinks[0]! : ev.sinks.join("\u0000");
    const line = JSON.stringify(ev.event);
    const bytes = jsonLineBytes(line);
    let spill: { key: string; line: string } | undefined;
    let cost = bytes;
    if (bytes > MAX_INLINE_EVENT_BYTES) {
      const uid = ev.event.metadata.uid;
      spill = { key: `${SPILL_PREFIX}${typeof uid === "string" && /^[\w-]+$/.test(uid) ? uid : stableHex(line)}.json`, line };
      cost = spill.key.length + 3;
    }
    let g = this.groups.get(key);
    if (g && g.bytes + cost > MAX_MESSAGE_BYTES) {
      out.push(toMessage(g));
      g = undefined;
    }
    if (!g) {
      g = { sinks: ev.sinks, lines: [], spill: [], bytes: messageOverhead(ev.sinks) };
      this.groups.set(key, g);
    }
    if (spill) g.spill.push(spill.key);
    else g.lines.push(line);
    g.bytes += cost;
    return spill;
  }

  /** The partly filled messages (call once at the end). */
  flush(out: EventsMessage[]): void {
    for (const g of this.groups.values()) if (g.lines.length || g.spill.length) out.push(toMessage(g));
    this.groups.clear();
  }
}

/** Sizes of the messages the Packer built, counted line by line as they were added (see messageBytes). */
const packedBytes = new WeakMap<EventsMessage, number>();

function toMessage(g: Group): EventsMessage {
  const m: EventsMessage = { v: 1, sinks: g.sinks, count: g.lines.length + g.spill.length, ndjson: g.lines.join("\n") };
  if (g.spill.length) m.spill = g.spill;
  packedBytes.set(m, g.bytes);
  return m;
}

/** Groups events by sink set and packs them into messages (spilled events are left out). */
export function pack(events: RoutedEvent[]): EventsMessage[] {
  const p = new Packer();
  const out: EventsMessage[] = [];
  for (const e of events) p.add(e, out);
  p.flush(out);
  return out;
}

/**
 * Serialized size of a message as the queue counts it. For a message the Packer built, the sum it
 * kept while adding the lines (the same number: lineBytes of the joined lines is the sum of their
 * lineBytes), so the whole ~100 KB text is not escaped a second time.
 */
export function messageBytes(m: EventsMessage): number {
  const packed = packedBytes.get(m);
  if (packed !== undefined) return packed;
  let n = messageOverhead(m.sinks) + (m.spill ? m.spill.reduce((a, k) => a + k.length + 3, 0) : 0);
  if (m.ndjson) n += lineBytes(m.ndjson);
  return n;
}

/**
 * Streams events to the queue: messages are sent as soon as a sendBatch call is full, so a large
 * request never holds all its serialized events at once. `sent` counts the events in messages the
 * queue has taken (after a failure, those are on the queue even though the request failed).
 */
export class Enqueuer {
  sent = 0;
  private packer = new Packer();
  private ready: EventsMessage[] = [];
  private batch: EventsMessage[] = [];
  private batchBytes = 0;

  constructor(
    private queue: Producer,
    private store: SpillStore,
  ) {}

  async add(events: RoutedEvent[]): Promise<void> {
    for (const ev of events) {
      const spill = this.packer.add(ev, this.ready);
      if (spill) await this.store.put(spill.key, spill.line, { httpMetadata: { contentType: "application/json" } });
    }
    await this.drain(false);
  }

  /** Sends already packed messages (and everything still held). */
  async sendMessages(messages: EventsMessage[]): Promise<void> {
    this.ready.push(...messages);
    await this.finish();
  }

  /** Sends everything still held. */
  async finish(): Promise<void> {
    this.packer.flush(this.ready);
    await this.drain(true);
  }

  private async drain(all: boolean): Promise<void> {
    for (const m of this.ready) {
      const s = messageBytes(m);
      if (this.batch.length > 0 && (this.batch.length >= MAX_BATCH_MESSAGES || this.batchBytes + s > MAX_BATCH_BYTES)) await this.send();
      this.batch.push(m);
      this.batchBytes += s;
    }
    this.ready = [];
    if (all && this.batch.length > 0) await this.send();
  }

  private async send(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    await this.queue.sendBatch(batch.map((body) => ({ body, contentType: "json" as const })));
    for (const m of batch) this.sent += m.count;
  }
}

const NO_SPILL: SpillStore = { put: () => Promise.reject(new Error("no spill store")) };

/** Sends messages in as few sendBatch calls as the limits allow. Throws what the queue throws. */
export async function sendAll(queue: Producer, messages: EventsMessage[]): Promise<void> {
  await new Enqueuer(queue, NO_SPILL).sendMessages(messages);
}

/**
 * Every event line of a message, spilled ones read back from R2 (for the consumer). Throws when a
 * spilled object is missing, so the message is retried rather than silently shortened.
 */
export async function messageLines(m: EventsMessage, bucket: SpillSource): Promise<string[]> {
  const lines = m.ndjson ? m.ndjson.split("\n").filter((l) => l !== "") : [];
  for (const key of m.spill ?? []) {
    const obj = await bucket.get(key);
    if (!obj) throw new Error(`spilled event ${key} is missing from the bucket`);
    lines.push(await obj.text());
  }
  return lines;
}
