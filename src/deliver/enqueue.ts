// Packs routed events into queue messages and sends them within Cloudflare Queues' limits:
// a message holds at most ~100 KB of NDJSON (limit 128 KB incl. metadata), one sendBatch call
// at most 100 messages and ~230 KB (limit 256 KB). Events with the same sink set share messages.
import type { RoutedEvent } from "../pipeline";

export const MAX_MESSAGE_BYTES = 100_000;
export const MAX_BATCH_BYTES = 230_000;
export const MAX_BATCH_MESSAGES = 100;

/** The body of one queue message: events for one set of sinks, as NDJSON text. */
export interface EventsMessage {
  v: 1;
  sinks: string[];
  count: number;
  ndjson: string;
}

export interface Producer {
  sendBatch(messages: Iterable<{ body: EventsMessage; contentType?: "json" | "v8" | "text" | "bytes" }>): Promise<unknown>;
}

/** Groups events by sink set and packs them into messages of at most MAX_MESSAGE_BYTES. */
export function pack(events: RoutedEvent[]): EventsMessage[] {
  const groups = new Map<string, { sinks: string[]; lines: string[]; bytes: number }>();
  const out: EventsMessage[] = [];
  for (const { event, sinks } of events) {
    if (sinks.length === 0) continue;
    const key = sinks.join("\u0000");
    const line = JSON.stringify(event);
    let g = groups.get(key);
    if (g && g.bytes + line.length + 1 > MAX_MESSAGE_BYTES && g.lines.length > 0) {
      out.push({ v: 1, sinks: g.sinks, count: g.lines.length, ndjson: g.lines.join("\n") });
      g = undefined;
    }
    if (!g) {
      g = { sinks, lines: [], bytes: 0 };
      groups.set(key, g);
    }
    g.lines.push(line);
    g.bytes += line.length + 1;
  }
  for (const g of groups.values()) if (g.lines.length) out.push({ v: 1, sinks: g.sinks, count: g.lines.length, ndjson: g.lines.join("\n") });
  return out;
}

/** Rough serialized size of a message (UTF-16 length of its text is a safe upper bound for ASCII-heavy JSON). */
function size(m: EventsMessage): number {
  return m.ndjson.length + 64 + m.sinks.reduce((a, s) => a + s.length + 3, 0);
}

/** Sends messages in as few sendBatch calls as the limits allow. Throws what the queue throws. */
export async function sendAll(queue: Producer, messages: EventsMessage[]): Promise<void> {
  let batch: EventsMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    const s = size(m);
    if (batch.length > 0 && (batch.length >= MAX_BATCH_MESSAGES || bytes + s > MAX_BATCH_BYTES)) {
      await queue.sendBatch(batch.map((body) => ({ body, contentType: "json" as const })));
      batch = [];
      bytes = 0;
    }
    batch.push(m);
    bytes += s;
  }
  if (batch.length) await queue.sendBatch(batch.map((body) => ({ body, contentType: "json" as const })));
}
