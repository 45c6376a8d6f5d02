// Sink request slots (src/deliver/slots.ts): a shared bound on the requests in flight, and each
// request's timeout counted from when it has a slot, not from when its delivery began waiting.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { Slots } from "../../src/deliver/slots";
import { attemptDelivery, type Item } from "../../src/deliver/attempt";
import { resolveSinks } from "../../src/deliver/sinks";
import { parseConfig } from "../../src/config/load";
import { fixtureEvents, NOW } from "../support/siem-servers";

describe("Slots", () => {
  it("holds at most `size` at once and hands freed slots to waiters in arrival order", async () => {
    const slots = new Slots(2);
    const order: number[] = [];
    const gates: (() => void)[] = [];
    let inside = 0;
    let most = 0;
    const runs = [0, 1, 2, 3, 4].map((n) =>
      slots.use(async () => {
        order.push(n);
        inside++;
        most = Math.max(most, inside);
        await new Promise<void>((r) => gates.push(r));
        inside--;
      }),
    );
    // let the first two in; each release lets exactly the next waiter in
    for (let step = 0; step < 5; step++) {
      for (let spin = 0; spin < 20 && gates.length === 0; spin++) await Promise.resolve();
      gates.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    }
    await Promise.all(runs);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
    expect(slots.peak).toBe(2);
  });

  it("a release called twice frees one slot, and a failing holder still gives its slot back", async () => {
    const slots = new Slots(1);
    const release = await slots.acquire();
    release();
    release();
    await expect(slots.use(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    const a = await slots.acquire();
    let second = false;
    const b = slots.acquire().then((r) => {
      second = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 0));
    expect(second).toBe(false);
    a();
    (await b)();
    expect(second).toBe(true);
    expect(() => new Slots(0)).toThrow(RangeError);
  });
});

describe("attemptDelivery with shared slots", () => {
  const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
  const DELAY_MS = 60;
  let server: Server;
  let url: string;
  let inFlight = 0;
  let mostInFlight = 0;
  let received = 0;
  beforeAll(async () => {
    // a slow sink: every request is answered 204 after DELAY_MS; counts the requests open at once
    server = createServer((req, res) => {
      inFlight++;
      received++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      req.resume();
      req.on("end", () =>
        setTimeout(() => {
          inFlight--;
          res.writeHead(204).end();
        }, DELAY_MS),
      );
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("10 slow sinks: the bound holds and no request times out merely from waiting for a slot", async () => {
    const items: Item[] = fixtureEvents()
      .slice(0, 4)
      .map((event) => ({ event, line: JSON.stringify(event) }));
    const TIMEOUT_MS = 1000;
    const sinks = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`hook${i}`, { type: "webhook", url, secret: { env: "SECRET" }, timeoutMs: TIMEOUT_MS, batch: { maxEvents: 1 } }]));
    const resolved = [...resolveSinks(parseConfig({ sinks })).values()];
    expect(resolved).toHaveLength(10);
    const slots = new Slots(2);
    // 10 sinks x 4 requests through 2 slots: 20 rounds of at least DELAY_MS each, so the last
    // requests wait longer than TIMEOUT_MS for their slot (a timer started before the slot would fire:
    // with the timer at the start of attemptDelivery this test fails with "timeout: no answer within")
    const reports = await Promise.all(resolved.map((s) => attemptDelivery(s, items, { env: { SECRET }, now: NOW, slots })));
    for (const r of reports) {
      expect(r.retry).toEqual([]);
      expect(r.rejected).toEqual([]);
      expect(r.delivered.sort()).toEqual([0, 1, 2, 3]);
      expect(r.down).toBeUndefined();
    }
    expect(received).toBe(40);
    expect(mostInFlight).toBeLessThanOrEqual(2);
    expect(slots.peak).toBe(2);
  });
});
