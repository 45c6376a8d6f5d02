// A sink's projection through the delivery layer (deliverToSink / attemptDelivery), against the Splunk HEC fake on
// 127.0.0.1: the lean sink's bodies lack the excluded fields while its dead letters and retries keep whole events
// (a retry is projected again when sent); a sink without projection sends byte-identical bodies to the driver's own
// encode of the items; batch.maxBytes counts the projected lines; POST /v1/test goes through the projection and says so.
// (A buffered storage sink's staging and compaction: projection-buffer.worker.test.ts.)
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { parseConfig } from "../../src/config/load";
import { deliverToSink } from "../../src/deliver/deliver";
import { attemptDelivery, type Item } from "../../src/deliver/attempt";
import { resolveSinks } from "../../src/deliver/sinks";
import { loadDelivery } from "../../src/deliver/retry";
import type { DeadLetter } from "../../src/deliver/dlq";
import { utf8Length } from "../../src/sinks/batch";
import { projectItems } from "../../src/sinks/project";
import { fixtureEvents, startSplunkHec, NOW, type SplunkServer } from "../support/siem-servers";
import { memoryDeps, drainScheduled } from "../support/memory-delivery";
import { testRoutes, type TestResponse } from "../../src/routes/test-event";

const TOKEN = "11111111-2222-4333-8444-555555555555";
const REJECT_UID = "projection-test-reject-me";
const LEAN = ["unmapped", "raw_data", "observables", "evidences.process.environment"];

let hec: SplunkServer;
let items: Item[];
beforeAll(async () => {
  hec = await startSplunkHec({ token: TOKEN, invalid: (e) => (e.event.metadata as { uid?: string } | undefined)?.uid === REJECT_UID });
  // events that carry unmapped (the field a SIEM billed by volume is spared)
  items = fixtureEvents()
    .filter((e) => e.unmapped !== undefined && Object.keys(e.unmapped).length > 0)
    .slice(0, 8)
    .map((event) => ({ event, line: JSON.stringify(event) }));
});
afterAll(async () => {
  await hec.close();
});

function config(batch: Record<string, number> = {}) {
  const hecSink = { type: "splunk_hec", url: hec.url, token: { env: "TOKEN" }, batch };
  return parseConfig({ sinks: { lean: { ...hecSink, projection: { exclude: LEAN } }, full: hecSink } });
}

/** The OCSF events of the requests received from index `from` on. */
const eventsSince = (from: number): Record<string, unknown>[] => hec.indexed.slice(from).map((x) => x.envelope.event);

describe("projection in the delivery layer", () => {
  it("the fixture events used carry unmapped", () => {
    expect(items.length).toBeGreaterThanOrEqual(4);
  });

  it("a projected sink's bodies lack the excluded fields; a sink without projection gets whole events", async () => {
    const { deps } = memoryDeps(config(), { TOKEN }, NOW);
    const at = hec.indexed.length;
    const lean = await deliverToSink({ sink: "lean", items, attempt: 1, firstAttemptAt: NOW }, deps);
    expect(lean).toMatchObject({ delivered: items.length, dead: 0, retried: 0 });
    const sent = eventsSince(at);
    expect(sent.map((e) => (e.metadata as { uid: string }).uid)).toEqual(items.map((it) => it.event.metadata.uid));
    for (const e of sent) for (const k of ["unmapped", "raw_data", "observables"]) expect(e).not.toHaveProperty(k);
    // everything else is there as it was
    const { unmapped: _u, raw_data: _r, observables: _o, ...rest } = items[0]!.event;
    expect(sent[0]).toEqual(JSON.parse(JSON.stringify(rest)));

    const mid = hec.indexed.length;
    await deliverToSink({ sink: "full", items, attempt: 1, firstAttemptAt: NOW }, deps);
    expect(eventsSince(mid)).toEqual(items.map((it) => JSON.parse(it.line)));
    // the items were not changed by the projection
    for (const it of items) expect(JSON.stringify(it.event)).toBe(it.line);
  });

  it("a sink without projection sends byte for byte what its driver encodes of the items", async () => {
    const sink = resolveSinks(config()).get("full")!;
    const ctx = { env: { TOKEN }, now: NOW };
    const expected = await sink.driver.encode(items.map((it) => it.event), sink.config, ctx, items.map((it) => it.line));
    const from = hec.requests.length;
    const r = await attemptDelivery(sink, items, ctx);
    expect(r.delivered).toHaveLength(items.length);
    const bodies = hec.requests.slice(from).map((q) => Buffer.from(q.raw).toString("utf8"));
    expect(bodies).toEqual(expected.map((q) => (typeof q.body === "string" ? q.body : Buffer.from(q.body).toString("utf8"))));
  });

  it("dead letters and retries keep the whole event; the retry is projected again when sent", async () => {
    const { deps, map, sent } = memoryDeps(config(), { TOKEN }, NOW);
    const bad: Item = (() => {
      const event = { ...items[1]!.event, metadata: { ...items[1]!.event.metadata, uid: REJECT_UID } };
      return { event, line: JSON.stringify(event) };
    })();
    const batch = [items[0]!, bad, items[2]!, items[3]!];
    const at = hec.indexed.length;
    // Splunk indexes up to the invalid event and stops: the bad one is dead-lettered, the two after it retried
    const r = await deliverToSink({ sink: "lean", items: batch, attempt: 1, firstAttemptAt: NOW }, deps);
    expect(r).toMatchObject({ delivered: 1, dead: 1, retried: 2 });
    const letters = [...map.entries()].filter(([k]) => k.startsWith("dlq/")).map(([, o]) => JSON.parse(o.body) as DeadLetter);
    expect(letters).toHaveLength(1);
    expect(letters[0]!.events).toEqual([JSON.parse(bad.line)]);
    expect(letters[0]!.events[0]).toHaveProperty("unmapped");
    // the retry carries the whole events
    expect(sent).toHaveLength(1);
    const text = await loadDelivery(deps.archive, sent[0]!.body);
    expect(text!.split("\n").filter(Boolean).map((l) => JSON.parse(l) as unknown)).toEqual([JSON.parse(items[2]!.line), JSON.parse(items[3]!.line)]);
    // delivered on the retry round, projected again
    expect(await drainScheduled(deps, sent)).toBe(1);
    const all = eventsSince(at);
    expect(all.map((e) => (e.metadata as { uid: string }).uid)).toEqual([items[0], items[2], items[3]].map((it) => it!.event.metadata.uid));
    for (const e of all) expect(e).not.toHaveProperty("unmapped");
  });

  it("batch.maxBytes counts what is sent: projected events that fit one request go in one, whole ones would not", async () => {
    const lean = resolveSinks(config()).get("lean")!;
    const projected = projectItems(lean.project!, items);
    const maxBytes = projected.reduce((n, it) => n + utf8Length(it.line) + 1, 0);
    expect(items.reduce((n, it) => n + utf8Length(it.line) + 1, 0)).toBeGreaterThan(maxBytes);
    const cfg = config({ maxBytes });
    const ctx = { env: { TOKEN }, now: NOW };
    const leanReport = await attemptDelivery(resolveSinks(cfg).get("lean")!, items, ctx);
    expect(leanReport).toMatchObject({ requests: 1 });
    expect(leanReport.delivered).toHaveLength(items.length);
    const fullReport = await attemptDelivery(resolveSinks(cfg).get("full")!, items, ctx);
    expect(fullReport.requests).toBeGreaterThan(1);
    expect(fullReport.delivered).toHaveLength(items.length);
  });

  it("POST /v1/test sends the test alert through the projection and names it in the sink's result", async () => {
    const hecSink = { type: "splunk_hec", url: hec.url, token: { env: "TOKEN" } };
    const cfg = { sinks: { lean: { ...hecSink, projection: { exclude: ["unmapped", "raw_data"] } }, full: hecSink }, delivery: { adminToken: { env: "ADMIN" } } };
    const env = { TRIBUTARY_CONFIG: JSON.stringify(cfg), TOKEN, ADMIN: "admin-token-for-the-projection-test" };
    const at = hec.indexed.length;
    const r = await testRoutes.request("/v1/test?sinks=lean,full", { method: "POST", headers: { authorization: `Bearer ${env.ADMIN}` } }, env);
    const body = (await r.json()) as TestResponse;
    expect(body.results.lean).toMatchObject({ outcome: "delivered", projection: "every field but unmapped, raw_data" });
    expect(body.results.full).toMatchObject({ outcome: "delivered" });
    expect(body.results.full).not.toHaveProperty("projection");
    const got = eventsSince(at);
    expect(got).toHaveLength(2);
    // the Falco test alert's output_fields land in unmapped: the lean copy has none, the full one has them
    expect(got.filter((e) => "unmapped" in e)).toHaveLength(1);
  });
});
