// A 100k-line NDJSON body (Vector-sized batch of Falco alerts): accepted whole, on the real queue.
import { env } from "cloudflare:test";
import { it, expect } from "vitest";
import { fixture } from "../support/fixtures";
import type { EventsMessage, Producer } from "../../src/deliver/enqueue";
import { queued } from "../support/queue-capture";
import { call, post } from "./helpers";

const LINES = 100_000;

/** Forwards to the real queue binding and counts what it took. */
class CountingQueue implements Producer {
  events = 0;
  messages = 0;
  calls = 0;
  maxMessageBytes = 0;
  async sendBatch(batch: Iterable<{ body: string | EventsMessage; contentType?: "json" | "v8" | "text" | "bytes" }>): Promise<void> {
    const list = [...batch];
    this.calls++;
    await env.EVENTS.sendBatch(list);
    for (const m of list) {
      this.events += queued(m.body).count;
      this.messages++;
      this.maxMessageBytes = Math.max(this.maxMessageBytes, new TextEncoder().encode(typeof m.body === "string" ? m.body : JSON.stringify(m.body)).byteLength);
    }
  }
}

it(`accepts a ${LINES}-line NDJSON body and puts every event on the queue`, async () => {
  const alert = JSON.parse(fixture("falco/falcosidekick-test-event__falcosidekick-test.json")) as Record<string, unknown>;
  const t0 = Date.UTC(2026, 5, 1);
  const parts: string[] = [];
  for (let i = 0; i < LINES; i++) parts.push(JSON.stringify({ ...alert, time: new Date(t0 + i).toISOString() }));
  const body = parts.join("\n") + "\n";
  expect(body.length).toBeGreaterThan(16_000_000); // above the default maxBodyBytes: this test raises the limits
  const queue = new CountingQueue();
  const config = { limits: { maxBodyBytes: 64_000_000, maxDecompressedBytes: 64_000_000 } };
  const r = await call(post("/v1/events", body, { "content-type": "application/x-ndjson" }), { config, queue });
  expect(r.status).toBe(202);
  expect(r.body).toEqual({ accepted: LINES, rejected: 0, errors: [] });
  expect(queue.events).toBe(LINES);
  expect(queue.maxMessageBytes).toBeLessThanOrEqual(128_000);
  expect(queue.messages).toBeLessThan(LINES / 50); // packed, not one message per event
});
