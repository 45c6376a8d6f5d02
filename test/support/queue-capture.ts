// A stand-in for the EVENTS queue producer in worker tests: keeps a copy of every message body sent.
import { decodeMessage, type EventsMessage } from "../../src/deliver/enqueue";

/** A body handed to the EVENTS producer, read back as the consumer reads it (text, or the older object). */
export function queued(body: unknown): EventsMessage {
  const m = decodeMessage(body);
  if (!m) throw new Error(`not an EVENTS message: ${String(body).slice(0, 80)}`);
  return structuredClone(m);
}

export function captureQueue() {
  const sent: EventsMessage[] = [];
  return {
    sent,
    async sendBatch(msgs: Iterable<{ body: unknown }>) {
      for (const m of msgs) sent.push(queued(m.body));
    },
    async send(body: unknown) {
      sent.push(queued(body));
    },
  };
}
