// wrangler.toml: both queue consumers hand messages they cannot settle to a dead-letter queue (without
// one Cloudflare deletes them at max_retries), and the Worker consumes that queue.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { parse } from "smol-toml";
import { isDeadLetterQueue } from "../../src/deliver/queue-dlq";
import { redeliverSeconds } from "../../src/deliver/backoff";

interface Consumer {
  queue: string;
  max_retries?: number;
  dead_letter_queue?: string;
}
const toml = parse(readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8")) as unknown as { queues: { consumers: Consumer[]; producers: { queue: string }[] } };
const consumers = toml.queues.consumers;

describe("wrangler.toml queue consumers", () => {
  it("EVENTS and DELIVERIES declare a dead-letter queue and enough retries for an outage of hours", () => {
    for (const name of ["tributary-events", "tributary-deliveries"]) {
      const c = consumers.find((x) => x.queue === name)!;
      expect(c, name).toBeDefined();
      expect(c.dead_letter_queue, name).toBe("tributary-events-dlq");
      // Cloudflare allows at most 100 retries; the backoff over them must last longer than a day
      expect(c.max_retries!).toBeLessThanOrEqual(100);
      let kept = 0;
      for (let a = 1; a <= c.max_retries!; a++) kept += redeliverSeconds(a);
      expect(kept).toBeGreaterThan(24 * 3600);
    }
  });

  it("the Worker consumes the dead-letter queue, which the queue handler recognizes by its name", () => {
    const dlqs = new Set(consumers.map((c) => c.dead_letter_queue).filter((q): q is string => !!q));
    for (const q of dlqs) {
      expect(consumers.map((c) => c.queue)).toContain(q);
      expect(isDeadLetterQueue(q)).toBe(true);
      // the DLQ consumer itself has no DLQ (it only writes to R2) and retries long
      expect(consumers.find((c) => c.queue === q)).toMatchObject({ max_retries: 60 });
      expect(consumers.find((c) => c.queue === q)!.dead_letter_queue).toBeUndefined();
    }
    for (const c of consumers) if (c.queue !== "tributary-events-dlq") expect(isDeadLetterQueue(c.queue)).toBe(false);
  });
});
