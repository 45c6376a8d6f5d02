// Reliability (issue 9): Elasticsearch bulk partial failures through the real delivery layer
// (deliverToSink: attempt, per-item settling, DELIVERIES retries with backoff, dead letters), against
// a fake Elasticsearch on 127.0.0.1 that fails chosen items: some throttled (429) twice, some 503
// once, some unmappable (400, permanent), and one whole request answered 429 with Retry-After.
// Retries are fed back the way the consumer does it (loadDelivery -> deliverToSink), round after
// round, bounded. Every event ends up indexed exactly once or dead-lettered with the sink's reason;
// an item the sink took is never sent again.
import { afterEach, describe, expect, it } from "vitest";
import { deliverToSink } from "../../src/deliver/deliver";
import { DLQ_PREFIX, type DeadLetter } from "../../src/deliver/dlq";
import type { Item } from "../../src/deliver/attempt";
import { parseConfig } from "../../src/config/load";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { manyEvents, startElasticsearch, type EsServer } from "../support/siem-servers";
import { memoryDeps, drainScheduled } from "../support/memory-delivery";

const API_KEY = "cmVsaWFiaWxpdHk6dGVzdA==";

let es: EsServer | undefined;
afterEach(async () => {
  await es?.close();
  es = undefined;
});

describe("Elasticsearch bulk partial failures through the delivery layer", () => {
  it("retries only the failed items (with backoff and Retry-After), dead-letters the permanent ones, indexes every other event once", async () => {
    const events: OcsfEvent[] = manyEvents(300);
    const uid = (i: number) => events[i]!.metadata.uid!;
    const throttled = new Set([3, 40, 41, 150, 299].map(uid)); // 429 on the first two tries
    const flaky = new Set([7, 77, 177, 277].map(uid)); // 503 on the first try
    const unmappable = new Set([12, 212].map(uid)); // 400 mapper_parsing_exception, always
    const seen = new Map<string, number>(); // items that reached the bulk handler, per _id
    es = await startElasticsearch({
      apiKey: API_KEY,
      itemFailure: (_src, _index, id) => {
        const n = (seen.get(id) ?? 0) + 1;
        seen.set(id, n);
        if (unmappable.has(id)) return { status: 400, type: "mapper_parsing_exception", reason: "failed to parse field [time] of type [date]" };
        if (throttled.has(id) && n <= 2) return { status: 429, type: "es_rejected_execution_exception", reason: "rejected execution of coordinating operation" };
        if (flaky.has(id) && n <= 1) return { status: 503, type: "unavailable_shards_exception", reason: "primary shard is not active" };
        return undefined;
      },
    });
    // the very first bulk request is refused whole: 429 with Retry-After 30
    es.script.push({ status: 429, headers: { "retry-after": "30", "content-type": "application/json" }, body: '{"error":{"type":"circuit_breaking_exception","reason":"[parent] Data too large"},"status":429}' });

    const cfg = parseConfig({
      sinks: { es: { type: "elasticsearch", url: es.url, auth: { apiKey: { env: "ES_API_KEY" } }, batch: { maxEvents: 50 } } },
      routes: [{ sinks: ["es"] }],
    });
    const t0 = Date.UTC(2027, 0, 15);
    const { deps, map, sent } = memoryDeps(cfg, { ES_API_KEY: API_KEY }, t0);
    const items: Item[] = events.map((event) => ({ event, line: JSON.stringify(event) }));

    // first delivery (what the EVENTS consumer does), then the DELIVERIES rounds (what consumeDeliveries does)
    const first = await deliverToSink({ sink: "es", items, attempt: 1, firstAttemptAt: t0 }, deps);
    expect(first.delivered).toBe(0); // the whole first request was refused, the sink is down: nothing else went out
    expect(first.retried).toBe(300);
    expect(Math.min(...sent.map((s) => s.delaySeconds ?? 0))).toBeGreaterThanOrEqual(30); // Retry-After for all of them
    const rounds = await drainScheduled(deps, sent);
    expect(sent).toEqual([]); // settled within the bound
    expect(rounds).toBe(3); // throttled items need two retries after the first full attempt

    // indexed: everything but the unmappable events, once each (the fake returns 409 on a second create)
    const indexed = es.docs().map((d) => d.id).sort();
    expect(indexed).toEqual(events.map((e) => e.metadata.uid!).filter((u) => !unmappable.has(u)).sort());
    // an item the sink took was never sent again; failed items exactly as often as they failed, plus one
    for (const e of events) {
      const u = e.metadata.uid!;
      expect(seen.get(u), u).toBe(throttled.has(u) ? 3 : flaky.has(u) ? 2 : 1);
    }
    // the permanent failures are dead letters with the sink's reason, not retried
    const dead = [...map.entries()].filter(([k]) => k.startsWith(`${DLQ_PREFIX}es/`)).map(([, o]) => JSON.parse(o.body) as DeadLetter);
    expect(dead.flatMap((d) => d.events.map((x) => x.metadata.uid!)).sort()).toEqual([...unmappable].sort());
    for (const d of dead) expect(d.reason).toMatch(/mapper_parsing_exception/);
    // nothing parked is left behind
    expect([...map.keys()].filter((k) => !k.startsWith(DLQ_PREFIX))).toEqual([]);
  });
});
