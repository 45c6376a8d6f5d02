// One Loki org down must not hold back the other orgs of a multi-tenant Loki sink (tenant "{tenant}"):
// the queue consumer inside workerd delivers to the fake Loki on 127.0.0.1 (./loki-orgs-setup.ts), with
// one org answering 503 for its first pushes. DELIVERIES is a stub producer fed back to the consumer.
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it, vi } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { uniqueFixtureEvents, eventsMessages, stubDeliveries, runBatch, drainDeliveries, EVENTS_QUEUE, DELIVERIES_QUEUE } from "../support/delivery";
import type { DeliveryMessage } from "../../src/deliver/retry";
import type { LokiOrgState } from "./loki-orgs-setup";

const lokiUrl = inject("lokiOrgs");
const control = inject("lokiOrgsControl");

async function org(name: string, down?: number): Promise<LokiOrgState> {
  const res = await fetch(`${control}/${encodeURIComponent(name)}`, down === undefined ? {} : { method: "POST", body: JSON.stringify({ down }) });
  return (await res.json()) as LokiOrgState;
}
/** The "delivery" log lines (JSON; info and warn) for `sink` that `run` writes. */
async function deliveryLines(sink: string, run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const logged: string[] = [];
  const spies = (["log", "warn"] as const).map((m) => vi.spyOn(console, m).mockImplementation((l: unknown) => void logged.push(String(l))));
  try {
    await run();
  } finally {
    for (const s of spies) s.mockRestore();
  }
  return logged.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "delivery" && l.sink === sink);
}
const uidsOf = (lines: string[]) => lines.map((l) => (JSON.parse(l) as OcsfEvent).metadata.uid!).sort();

let events: OcsfEvent[];
beforeAll(() => {
  events = uniqueFixtureEvents();
});

describe("Loki sink with a tenant template: one org down", () => {
  it("the other orgs' events are delivered in the first attempt, the down org's once it is back; nothing is dead-lettered", async () => {
    const run = `r${Date.now().toString(36)}`;
    const orgs = ["a", "b", "c"].map((t) => `${run}-team-${t}`);
    const tagged = events.map((e, i) => ({ ...e, metadata: { ...e.metadata, tenant_uid: orgs[i % 3]! } }));
    const uidsFor = (o: string) => tagged.filter((e) => e.metadata.tenant_uid === o).map((e) => e.metadata.uid!).sort();
    const [a, b, c] = orgs as [string, string, string];
    expect(uidsFor(b).length).toBeGreaterThan(10);

    const sink = `loki-${run}`;
    const cfg = { sinks: { [sink]: { type: "loki", url: lokiUrl, tenant: "{tenant}", maxEvents: 4, batch: { maxEvents: 15 }, retry: { maxAttempts: 4 } } }, routes: [{ sinks: [sink] }] };
    const deliveries = stubDeliveries();
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries } as unknown as Env;
    await org(b, 2); // org b answers its next two pushes 503

    const res = await runBatch(EVENTS_QUEUE, eventsMessages(cfg, tagged), e);
    expect(res.retried).toEqual([]);
    // first attempt: orgs a and c have every event; org b refused one push, and nothing more was sent to it
    expect(uidsOf((await org(a)).lines)).toEqual(uidsFor(a));
    expect(uidsOf((await org(c)).lines)).toEqual(uidsFor(c));
    expect(await org(b)).toEqual({ refused: 1, pushes: 1, lines: [] });
    // only org b's events were scheduled again, after the Retry-After it gave (20 s)
    const retried = deliveries.sent.flatMap((m) => m.body.ndjson!.split("\n").map((l) => JSON.parse(l) as OcsfEvent));
    expect(retried.map((x) => x.metadata.uid!).sort()).toEqual(uidsFor(b));
    for (const m of deliveries.sent) {
      expect(m.body.attempt).toBe(2);
      expect(m.body.reason).toMatch(/Loki HTTP 503: org .*-team-b down/);
      expect(m.delaySeconds).toBeGreaterThanOrEqual(20);
    }

    await drainDeliveries(deliveries, e);
    const back = await org(b);
    expect(back.refused).toBe(2);
    expect(uidsOf(back.lines)).toEqual(uidsFor(b)); // each event once
    expect(uidsOf((await org(a)).lines)).toEqual(uidsFor(a)); // nothing sent twice
    expect(uidsOf((await org(c)).lines)).toEqual(uidsFor(c));
    expect((await env.ARCHIVE.list({ prefix: `dlq/${sink}/` })).objects).toEqual([]);
  });

  it("the delivery log line names the down org, why and for how long; the sink itself is not down", async () => {
    const run = `l${Date.now().toString(36)}`;
    const [a, b] = ["a", "b"].map((t) => `${run}-team-${t}`) as [string, string];
    const tagged = events.slice(0, 8).map((e, i) => ({ ...e, metadata: { ...e.metadata, tenant_uid: i % 2 ? b : a } }));
    const sink = `loki-${run}`;
    const cfg = { sinks: { [sink]: { type: "loki", url: lokiUrl, tenant: "{tenant}", maxEvents: 2, retry: { maxAttempts: 4 } } }, routes: [{ sinks: [sink] }] };
    const deliveries = stubDeliveries();
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries } as unknown as Env;
    await org(b, 1);

    const lines = await deliveryLines(sink, () => runBatch(EVENTS_QUEUE, eventsMessages(cfg, tagged), e));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "warn", queue: "events", delivered: 4, retried: 4, dead: 0, downScopes: [{ scope: b, reason: `Loki HTTP 503: org ${b} down`, afterMs: 20_000 }] });
    expect(lines[0]).not.toHaveProperty("down");
    expect((await org(b)).pushes).toBe(1);

    // the retry finds the org back: its line has no down scope
    const retried = await deliveryLines(sink, () => drainDeliveries(deliveries, e));
    expect(retried.map((l) => [l.level, l.delivered, l.downScopes])).toEqual([
      ["info", 2, undefined],
      ["info", 2, undefined],
    ]);
    expect(uidsOf((await org(b)).lines)).toEqual(tagged.filter((x) => x.metadata.tenant_uid === b).map((x) => x.metadata.uid!).sort());
  });

  it("in a DELIVERIES batch, once an org answers 503 the sink's later messages send the other orgs' events and reschedule that org's unsent", async () => {
    const run = `d${Date.now().toString(36)}`;
    const [a, b] = ["a", "b"].map((t) => `${run}-team-${t}`) as [string, string];
    const tagged = events.slice(0, 8).map((e, i) => ({ ...e, metadata: { ...e.metadata, tenant_uid: i % 2 ? b : a } }));
    const uidsFor = (o: string) => tagged.filter((x) => x.metadata.tenant_uid === o).map((x) => x.metadata.uid!).sort();
    const sink = `loki-${run}`;
    const cfg = { sinks: { [sink]: { type: "loki", url: lokiUrl, tenant: "{tenant}", retry: { maxAttempts: 4 } } }, routes: [{ sinks: [sink] }] };
    const deliveries = stubDeliveries();
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries } as unknown as Env;
    // two retries of the sink, each with two events of each org
    const message = (part: typeof tagged): DeliveryMessage => ({ v: 1, kind: "delivery", sink, attempt: 2, first_attempt_at: Date.now(), reason: "earlier", count: part.length, ndjson: part.map((x) => JSON.stringify(x)).join("\n") });
    await org(b, 1); // org b answers its next push 503

    const lines = await deliveryLines(sink, () => runBatch(DELIVERIES_QUEUE, [message(tagged.slice(0, 4)), message(tagged.slice(4))], e));
    // org b was pushed to once (the first message's 503), org a by both messages
    expect(await org(b)).toMatchObject({ refused: 1, pushes: 1, lines: [] });
    expect(uidsOf((await org(a)).lines)).toEqual(uidsFor(a));
    expect(lines.map((l) => [l.delivered, l.retried, l.requests])).toEqual([
      [2, 2, 2],
      [2, 2, 1],
    ]);
    expect(lines[1]!.downScopes).toEqual([{ scope: b, reason: `Loki HTTP 503: org ${b} down`, afterMs: 20_000 }]);
    expect(deliveries.sent.map((m) => [m.body.attempt, m.body.reason])).toEqual([
      [3, `Loki HTTP 503: org ${b} down`],
      [3, `not sent: Loki HTTP 503: org ${b} down`],
    ]);
    expect(deliveries.sent.every((m) => (m.delaySeconds ?? 0) >= 20)).toBe(true);

    await drainDeliveries(deliveries, e);
    expect(uidsOf((await org(b)).lines)).toEqual(uidsFor(b));
    expect(uidsOf((await org(a)).lines)).toEqual(uidsFor(a)); // nothing sent twice
    expect((await env.ARCHIVE.list({ prefix: `dlq/${sink}/` })).objects).toEqual([]);
  });
});
