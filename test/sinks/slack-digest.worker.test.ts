// The Slack digest inside workerd, through the delivery layer's attemptDelivery and a real HTTP request per
// message: 300 Critical alerts of one batch are 5 messages and one digest (the fault-injecting gate on
// 127.0.0.1 answers for Slack). The digest's 429 retries all 295 events it stands for together, tagged as a
// digest (OutcomeGroup.retryAs); the retry given that tag posts them as the same one digest.
import { describe, expect, it, inject } from "vitest";
import { attemptDelivery, type Item } from "../../src/deliver/attempt";
import { resolveSinks } from "../../src/deliver/sinks";
import { parseConfig } from "../../src/config/load";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";
import { fixture } from "../support/fixtures";
import { gateControl } from "../support/gate-client";

const NOW = Date.UTC(2027, 0, 15, 12, 0, 0);
const run = Math.random().toString(36).slice(2, 8);
const framed = frame(fixture("falco/terminal-shell-in-container__falco-docs.json"), "application/json");
const shell = runPipeline(framed.values, framed.paths, framed.textLines, { ctx: { ocsfVersion: "1.3.0", receivedAt: NOW } }).events[0]!.event;
const items: Item[] = Array.from({ length: 300 }, (_, k) => {
  const event = { ...shell, time: NOW - 300_000 + k * 1000, device: { hostname: `node-${k % 40}` }, metadata: { ...shell.metadata, uid: `w-${k}` } };
  return { event, line: JSON.stringify(event) };
});

describe("slack digest in workerd", () => {
  it("300 alerts: 5 messages and a digest; the digest's 429 retries its 295 events together, the retry is one digest", async () => {
    expect(shell.severity_id).toBeGreaterThanOrEqual(4);
    const gate = inject("hecGate");
    const key = `slack-${run}`;
    const sink = resolveSinks(parseConfig({ sinks: { chat: { type: "slack", url: `${gate}/${key}/services/T/B/X`, batch: { maxEvents: 500 } } } })).get("chat")!;
    const ok = { status: 200, body: "ok" };
    await gateControl.script(gate, key, [ok, ok, ok, ok, ok, { status: 429, headers: { "retry-after": "3" }, body: "rate_limited" }]);
    const first = await attemptDelivery(sink, items, { env: {}, now: NOW });
    expect(first.requests).toBe(6);
    expect(first.delivered).toEqual([0, 1, 2, 3, 4]);
    expect(first.rejected).toEqual([]);
    expect(first.retry).toHaveLength(1);
    expect(first.retry[0]!.indices).toEqual(items.slice(5).map((_, k) => k + 5));
    expect(first.retry[0]!.afterMs).toBe(3000);
    expect(first.retry[0]!.retryAs).toBe("digest:5");

    await gateControl.script(gate, key, [ok]);
    const retried = first.retry[0]!.indices.map((i) => items[i]!);
    const second = await attemptDelivery(sink, retried, { env: {}, now: NOW + 3000, retryOf: first.retry[0]!.retryAs! });
    expect(second.requests).toBe(1);
    expect(second.delivered).toHaveLength(295);
    expect(second.retry).toEqual([]);
    const log = (await gateControl.state(gate, key)).log;
    expect(log).toHaveLength(7);
    expect(log.every((l) => l.method === "POST" && l.action === "scripted" && l.path === "/services/T/B/X")).toBe(true);
  });
});
