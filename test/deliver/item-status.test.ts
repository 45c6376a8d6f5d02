// A bulk item's own status reaches its dead letter from the sink's classification (Outcome.itemStatus
// -> OutcomeGroup.itemStatus -> writeDeadLetter's item_status), not read back from the reason text:
// deliverToSink against a fake Elasticsearch on 127.0.0.1 that refuses chosen items in a 200 answer.
// The "could not schedule a retry" reason does not begin with "item <status>:", so only the carried
// status can name it there.
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load";
import { attemptDelivery, type Item } from "../../src/deliver/attempt";
import { deliverToSink } from "../../src/deliver/deliver";
import { DLQ_PREFIX, type DeadLetter } from "../../src/deliver/dlq";
import { resolveSinks } from "../../src/deliver/sinks";
import { manyEvents, startElasticsearch, type EsServer } from "../support/siem-servers";
import { memoryDeps } from "../support/memory-delivery";

let es: EsServer | undefined;
afterEach(async () => {
  await es?.close();
  es = undefined;
});

const NOW = Date.UTC(2027, 0, 15);

/** Six events; the fake refuses #1 with 400 (mapping) and #4 with 429 (throttled), accepts the rest. */
async function setUp(maxAttempts: number) {
  const events = manyEvents(6);
  const refused = new Map([
    [events[1]!.metadata.uid!, { status: 400, type: "mapper_parsing_exception", reason: "failed to parse field [time]" }],
    [events[4]!.metadata.uid!, { status: 429, type: "es_rejected_execution_exception", reason: "queue full" }],
  ]);
  es = await startElasticsearch({ itemFailure: (_src, _index, id) => refused.get(id) });
  const cfg = parseConfig({ sinks: { es: { type: "elasticsearch", url: es.url, retry: { maxAttempts } } }, routes: [{ sinks: ["es"] }] });
  const items: Item[] = events.map((event) => ({ event, line: JSON.stringify(event) }));
  return { cfg, items, uid: (i: number) => events[i]!.metadata.uid! };
}

/** The dead letters in the memory bucket, by their one event's uid: [item_status, attempts, reason's start]. */
function deadByUid(map: Map<string, { body: string; customMetadata?: Record<string, string> }>) {
  const out: Record<string, [number | undefined, string | undefined, string]> = {};
  for (const [k, o] of map) {
    if (!k.startsWith(DLQ_PREFIX)) continue;
    const d = JSON.parse(o.body) as DeadLetter;
    for (const e of d.events) out[e.metadata.uid!] = [d.item_status, o.customMetadata?.item_status, d.reason.split(":")[0]!];
  }
  return out;
}

describe("a bulk item's status is carried from the sink's classification to its dead letter", () => {
  it("attemptDelivery's groups carry each refused item's status", async () => {
    const { cfg, items, uid } = await setUp(3);
    const report = await attemptDelivery(resolveSinks(cfg).get("es")!, items, { env: {}, now: NOW });
    expect(report.delivered.sort()).toEqual([0, 2, 3, 5]);
    expect(report.rejected.map((g) => [g.indices, g.itemStatus, g.response?.status])).toEqual([[[1], 400, 200]]);
    expect(report.retry.map((g) => [g.indices, g.itemStatus, g.response?.status])).toEqual([[[4], 429, 200]]);
    expect(uid(1)).not.toBe(uid(4));
  });

  it("rejected and given-up items are dead-lettered with item_status (field and metadata)", async () => {
    const { cfg, items, uid } = await setUp(1);
    const { deps, map } = memoryDeps(cfg, {}, NOW);
    const r = await deliverToSink({ sink: "es", items, attempt: 1, firstAttemptAt: NOW }, deps);
    expect([r.delivered, r.dead, r.retried]).toEqual([4, 2, 0]);
    expect(deadByUid(map)).toEqual({
      [uid(1)]: [400, "400", "item 400"],
      [uid(4)]: [429, "429", "gave up after 1 attempt"],
    });
  });

  it("an item whose retry could not be scheduled keeps its status, which its reason does not begin with", async () => {
    const { cfg, items, uid } = await setUp(3);
    const { deps, map } = memoryDeps(cfg, {}, NOW);
    deps.deliveries = {
      async send() {
        throw new Error("queue refused");
      },
    };
    const r = await deliverToSink({ sink: "es", items, attempt: 1, firstAttemptAt: NOW }, deps);
    expect([r.delivered, r.dead, r.retried]).toEqual([4, 2, 0]);
    expect(deadByUid(map)).toEqual({
      [uid(1)]: [400, "400", "item 400"],
      [uid(4)]: [429, "429", "could not schedule a retry (queue refused); last failure"],
    });
  });
});
