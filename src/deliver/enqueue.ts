// Packs routed events into queue messages and sends them within Cloudflare Queues' limits:
// a message holds at most ~100 KB (limit 128 KB incl. metadata), one sendBatch call at most 100
// messages and ~230 KB (limit 256 KB). Events with the same sink set share messages.
//
// On the queue a message is text (`contentType: "text"`): a JSON header line
// `{"v":2,"sinks":[...],"count":N[,"spill":[...]]}`, then the events' NDJSON lines. The queue takes
// text as its UTF-8 bytes, so that is what the Packer counts (exactly, per line, as it adds them);
// the runtime does not walk or escape the ~100 KB of events again, as it did with `contentType:
// "json"` (the object {v: 1, sinks, count, ndjson}, still read by the consumer: messages sent before
// the change may be in flight).
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

/** One queue message's content: events for one set of sinks (on the queue as text: see encodeMessage). */
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

/** What goes to the queue: the message as text (encodeMessage); tests may hand in other bodies. */
export interface Producer {
  sendBatch(messages: Iterable<{ body: string | EventsMessage; contentType?: "json" | "v8" | "text" | "bytes" }>): Promise<unknown>;
}

/** Sends EVENTS message texts (encodeMessage) as one sendBatch call, as text: ingest, and the spool's drain. */
export function sendTexts(queue: Producer, texts: readonly string[]): Promise<unknown> {
  return queue.sendBatch(texts.map((body) => ({ body, contentType: "text" as const })));
}

/** Where spilled events go (the ARCHIVE bucket). */
export interface SpillStore {
  put(key: string, value: string, options?: { httpMetadata?: { contentType?: string } }): Promise<unknown>;
}
export interface SpillSource {
  get(key: string): Promise<{ text(): Promise<string> } | null>;
}

/** The message as the queue carries it (`contentType: "text"`): a header line, then the NDJSON lines. */
export function encodeMessage(m: EventsMessage): string {
  return m instanceof PackedMessage ? m.text : `${headerLine(m.sinks, m.count, m.spill)}\n${m.ndjson}`;
}

function headerLine(sinks: string[], count: number, spill: string[] | undefined): string {
  return JSON.stringify(spill?.length ? { v: 2, sinks, count, spill } : { v: 2, sinks, count });
}

const isStrings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === "string");

/**
 * A queue message body as an EventsMessage: the text of encodeMessage, or the object that ingest sent
 * with `contentType: "json"` before (messages in flight during a deploy). undefined for anything else.
 */
export function decodeMessage(body: unknown): EventsMessage | undefined {
  if (typeof body === "string") {
    const nl = body.indexOf("\n");
    if (nl < 0 || body.charCodeAt(0) !== 0x7b) return undefined;
    let head: { v?: unknown; sinks?: unknown; count?: unknown; spill?: unknown };
    try {
      head = JSON.parse(body.slice(0, nl)) as typeof head;
    } catch {
      return undefined;
    }
    if (typeof head !== "object" || head === null || head.v !== 2 || !isStrings(head.sinks) || typeof head.count !== "number") return undefined;
    if (head.spill !== undefined && !isStrings(head.spill)) return undefined;
    const m: EventsMessage = { v: 1, sinks: head.sinks, count: head.count, ndjson: body.slice(nl + 1) };
    if (head.spill?.length) m.spill = head.spill;
    return m;
  }
  if (typeof body !== "object" || body === null) return undefined;
  const m = body as Partial<EventsMessage>;
  return m.v === 1 && isStrings(m.sinks) && typeof m.ndjson === "string" ? (m as EventsMessage) : undefined;
}

/** Scratch space for lineBytes: lines are encoded into it to learn their UTF-8 size. */
const scratch = new Uint8Array(96 * 1024);
const utf8 = new TextEncoder();

/**
 * Bytes a line adds to a message on the queue: its UTF-8 size and the newline before it. The line is
 * encoded natively into scratch space (`written` is the size); what does not fit is counted in JavaScript.
 * Lone surrogates count 3 bytes, as the runtime writes them (U+FFFD).
 */
export function lineBytes(line: string): number {
  const r = utf8.encodeInto(line, scratch);
  return r.read === line.length ? r.written + 1 : r.written + utf8Length(line.slice(r.read)) + 1;
}

/** An upper bound of the header line's bytes (count up to 10 digits, the spill keys counted apart). */
function messageOverhead(sinks: string[]): number {
  let n = 64;
  for (const s of sinks) n += utf8Length(JSON.stringify(s)) + 1;
  return n;
}

/** Bytes a spilled event's key adds to the header ("key",). Keys are ASCII (see Packer.add). */
const spillKeyBytes = (key: string) => key.length + 3;

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
    const bytes = lineBytes(line);
    let spill: { key: string; line: string } | undefined;
    let cost = bytes;
    if (bytes > MAX_INLINE_EVENT_BYTES) {
      const uid = ev.event.metadata.uid;
      spill = { key: `${SPILL_PREFIX}${typeof uid === "string" && /^[\w-]+$/.test(uid) ? uid : stableHex(line)}.json`, line };
      cost = spillKeyBytes(spill.key);
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

/**
 * A message the Packer built. It also keeps, in private fields (no members of the message: not in JSON,
 * equality or copies), its queue text, written once (`ndjson` is a slice of it, no copy), and its size,
 * counted line by line as the lines were added (see messageBytes). Was two WeakMaps keyed by the message:
 * their sets cost about a tenth of the packer's work beyond JSON.stringify (bench: 0.2–0.5 µs per event).
 * Members in the order of a plain EventsMessage literal: {v, sinks, count, ndjson[, spill]}.
 */
class PackedMessage implements EventsMessage {
  readonly v = 1;
  sinks: string[];
  count: number;
  ndjson: string;
  declare spill?: string[];
  readonly #text: string;
  readonly #bytes: number;
  constructor(g: Group, count: number, text: string, ndjsonAt: number) {
    this.sinks = g.sinks;
    this.count = count;
    this.ndjson = text.slice(ndjsonAt);
    if (g.spill.length) this.spill = g.spill;
    this.#text = text;
    this.#bytes = g.bytes;
  }
  get text(): string {
    return this.#text;
  }
  get bytes(): number {
    return this.#bytes;
  }
}

function toMessage(g: Group): EventsMessage {
  const count = g.lines.length + g.spill.length;
  const head = headerLine(g.sinks, count, g.spill);
  // one flat string for the header and the lines: the runtime would otherwise flatten head + ndjson
  g.lines.unshift(head);
  const text = g.lines.length > 1 ? g.lines.join("\n") : `${head}\n`;
  return new PackedMessage(g, count, text, head.length + 1);
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
 * Bytes of a message on the queue (encodeMessage), counted from above: the header's bound plus each
 * line's exact size. For a message the Packer built, the sum it kept while adding the lines (the same
 * number), so the ~100 KB text is not measured a second time.
 */
export function messageBytes(m: EventsMessage): number {
  if (m instanceof PackedMessage) return m.bytes;
  let n = messageOverhead(m.sinks);
  for (const k of m.spill ?? []) n += spillKeyBytes(k);
  // the lines' sizes and separators: the text's UTF-8 size, plus the newline after the header
  if (m.ndjson) n += lineBytes(m.ndjson);
  return n;
}

/**
 * Where a batch goes when the queue refuses it (ingest: the R2 spool, ./spool.ts): the queue texts of
 * its messages, exactly as sendBatch was given them, and the events they carry. Throws when it cannot
 * keep them either.
 */
export type Fallback = (texts: string[], events: number, cause: unknown) => Promise<void>;

/**
 * Streams events to the queue: messages are sent as soon as a sendBatch call is full, so a large
 * request never holds all its serialized events at once. `sent` counts the events in messages the
 * queue has taken (after a failure, those are on the queue even though the request failed).
 * With a `fallback`, the first refused batch and every later one go to it instead (the queue is not
 * asked again within this Enqueuer); `spooled` counts their events and `refusal` keeps the queue's error.
 */
export class Enqueuer {
  sent = 0;
  spooled = 0;
  refusal: unknown;
  private packer = new Packer();
  private ready: EventsMessage[] = [];
  private batch: EventsMessage[] = [];
  private batchBytes = 0;

  constructor(
    private queue: Producer,
    private store: SpillStore,
    private fallback?: Fallback,
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
    const texts = batch.map(encodeMessage);
    let events = 0;
    for (const m of batch) events += m.count;
    if (this.refusal === undefined) {
      try {
        await sendTexts(this.queue, texts);
        this.sent += events;
        return;
      } catch (e) {
        if (!this.fallback) throw e;
        this.refusal = e ?? new Error("queue refused");
      }
    }
    await this.fallback!(texts, events, this.refusal);
    this.spooled += events;
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
