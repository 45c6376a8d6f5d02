// The Sentinel sink inside workerd, through the queue consumer: the token request (form body, fetch to the fake
// Entra ID on 127.0.0.1), gzip by the runtime's CompressionStream, the ingestion POST and the 401 path, against
// the fakes of ./sentinel-setup.ts. DELIVERIES is a stub producer.
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { uniqueFixtureEvents, eventsMessages, stubDeliveries, runBatch, EVENTS_QUEUE } from "../support/delivery";
import type { SentinelFakeState } from "./sentinel-setup";

const fake = inject("sentinelFake");
const control = inject("sentinelControl");

async function state(revoke = false): Promise<SentinelFakeState> {
  return (await (await fetch(`${control}/${revoke ? "revoke" : ""}`, revoke ? { method: "POST" } : {})).json()) as SentinelFakeState;
}

let events: OcsfEvent[];
beforeAll(() => {
  events = uniqueFixtureEvents();
});

describe("sentinel sink in workerd", () => {
  it("delivers a queue batch: one token, gzip requests under maxBytes, each event once with TimeGenerated; a revoked token is replaced at once", async () => {
    const run = `s${Date.now().toString(36)}`;
    const tagged = events.map((e) => ({ ...e, metadata: { ...e.metadata, uid: `${run}-${e.metadata.uid}` } }));
    const sink = `sentinel-${run}`;
    const cfg = {
      sinks: {
        [sink]: {
          type: "sentinel",
          endpoint: inject("sentinelIngest"),
          authorityHost: inject("sentinelEntra"),
          dcrImmutableId: fake.dcr,
          stream: fake.stream,
          tenantId: fake.tenant,
          clientId: fake.clientId,
          clientSecret: { env: "AZURE_CLIENT_SECRET" },
          maxBytes: 30_000,
        },
      },
      routes: [{ sinks: [sink] }],
    };
    const deliveries = stubDeliveries();
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries, AZURE_CLIENT_SECRET: fake.secret } as unknown as Env;
    const before = await state();
    const res = await runBatch(EVENTS_QUEUE, eventsMessages(cfg, tagged.slice(0, 40)), e);
    expect(res.retried).toEqual([]);
    expect(deliveries.sent).toEqual([]);
    const after = await state();
    expect(after.tokens - before.tokens).toBe(1);
    const sent = after.requests.slice(before.requests.length);
    expect(sent.length).toBeGreaterThan(1);
    for (const r of sent) {
      expect(r.gzip).toBe(true);
      expect(r.bytes).toBeLessThanOrEqual(30_000);
    }
    const mine = (s: SentinelFakeState) => s.records.filter((r) => String((r.metadata as { uid?: unknown }).uid).startsWith(`${run}-`));
    const stored = mine(after);
    expect(stored.map((r) => (r.metadata as { uid: string }).uid).sort()).toEqual(tagged.slice(0, 40).map((x) => x.metadata.uid!).sort());
    for (const r of stored) expect(typeof r.TimeGenerated).toBe("string");

    // the service stops taking the cached token: the next delivery gets a new one and is delivered in the same attempt
    await state(true);
    const again = await runBatch(EVENTS_QUEUE, eventsMessages(cfg, tagged.slice(40, 45)), e);
    expect(again.retried).toEqual([]);
    expect(deliveries.sent).toEqual([]);
    const last = await state();
    expect(last.tokens - after.tokens).toBe(1);
    expect(mine(last)).toHaveLength(45);
    expect((await env.ARCHIVE.list({ prefix: `dlq/${sink}/` })).objects).toEqual([]);
  });
});
