// A stand-in for the EVENTS queue producer in worker tests: keeps a copy of every message body sent.
import type { EventsMessage } from "../../src/deliver/enqueue";

export function captureQueue() {
  const sent: EventsMessage[] = [];
  return {
    sent,
    async sendBatch(msgs: Iterable<{ body: EventsMessage }>) {
      for (const m of msgs) sent.push(structuredClone(m.body));
    },
    async send(body: EventsMessage) {
      sent.push(structuredClone(body));
    },
  };
}
