import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { webhook, type WebhookConfig } from "../../src/sinks/webhook";
import type { SinkContext, SinkRequest } from "../../src/sinks/types";
import { deliverToSink } from "../../src/deliver/deliver";
import { parseConfig } from "../../src/config/load";
import { testRoutes, type TestResponse } from "../../src/routes/test-event";
import { memoryDeps } from "../support/memory-delivery";
import { NOW, deliverAll, fixtureEvents, manyEvents, plain, send, startWebhook, uids, verifyStandardWebhook, type WebhookServer } from "../support/siem-servers";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const ctx: SinkContext = { env: { WEBHOOK_SECRET: SECRET }, now: NOW };
const events = fixtureEvents();

let hook: WebhookServer;
beforeEach(async () => {
  hook = await startWebhook({ secret: SECRET, now: () => Math.floor(NOW / 1000) });
});
afterEach(() => hook.close());

const config = (extra: Record<string, unknown> = {}): WebhookConfig => webhook.schema.parse({ url: `${hook.url}/hooks/ocsf`, secret: { env: "WEBHOOK_SECRET" }, ...extra });

async function sendOne(req: SinkRequest, cfg: WebhookConfig) {
  return webhook.classify(await send(webhook, req, cfg, ctx), req, cfg);
}

const storedEvents = (): Record<string, unknown>[] => hook.deliveries.flatMap((d) => d.payload.data.events);

describe("webhook sink (Standard Webhooks)", () => {
  it("delivers every fixture event in one signed batch the receiver verifies", async () => {
    const cfg = config();
    const reqs = await webhook.encode(events, cfg, ctx);
    expect(reqs).toHaveLength(1);
    const req = reqs[0]!;
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers["webhook-id"]).toMatch(/^msg_[0-9a-f]{28}$/);
    expect(req.headers["webhook-timestamp"]).toBe(String(Math.floor(NOW / 1000)));
    expect(req.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(verifyStandardWebhook(SECRET, req.headers["webhook-id"]!, req.headers["webhook-timestamp"]!, req.body as string, req.headers["webhook-signature"]!)).toBe(true);
    expect((await sendOne(req, cfg)).outcome).toEqual({ kind: "delivered" });
    expect(hook.deliveries).toHaveLength(1);
    const p = hook.deliveries[0]!.payload;
    expect(p.type).toBe("ocsf.events");
    expect(p.timestamp).toBe(new Date(Math.max(...events.map((e) => e.time))).toISOString());
    expect(p.data.events).toEqual(events.map(plain));
  });

  it("keeps webhook-id stable across retries while the timestamp and signature follow the attempt", async () => {
    const cfg = config();
    const [a] = await webhook.encode(events.slice(0, 3), cfg, ctx);
    const [b] = await webhook.encode(events.slice(0, 3), cfg, { ...ctx, now: NOW + 30_000 });
    const [c] = await webhook.encode(events.slice(1, 4), cfg, ctx);
    expect(b!.headers["webhook-id"]).toBe(a!.headers["webhook-id"]);
    expect(b!.headers["webhook-timestamp"]).toBe(String(Math.floor(NOW / 1000) + 30));
    expect(b!.headers["webhook-signature"]).not.toBe(a!.headers["webhook-signature"]);
    expect(c!.headers["webhook-id"]).not.toBe(a!.headers["webhook-id"]);
    // the receiver deduplicates on webhook-id: a resend after a lost answer is not stored twice
    await sendOne(a!, cfg);
    expect((await sendOne(b!, cfg)).outcome.kind).toBe("delivered");
    expect(hook.deliveries).toHaveLength(1);
    expect(hook.duplicates).toBe(1);
  });

  it("a bad signature, a wrong secret or a stale timestamp gets 401 and is rejected", async () => {
    const cfg = config();
    const [req] = await webhook.encode(events.slice(0, 2), cfg, ctx);
    const tampered = { ...req!, body: (req!.body as string).replace('"ocsf.events"', '"ocsf.evil"') };
    expect((await sendOne(tampered, cfg)).outcome).toMatchObject({ kind: "reject", reason: expect.stringContaining("HTTP 401: invalid signature") });
    const other = config({ secret: `whsec_${randomBytes(24).toString("base64")}` });
    const [wrong] = await webhook.encode(events.slice(0, 2), other, ctx);
    expect((await sendOne(wrong!, other)).outcome).toMatchObject({ kind: "reject", reason: expect.stringContaining("401") });
    const [stale] = await webhook.encode(events.slice(0, 2), cfg, { ...ctx, now: NOW - 3_600_000 });
    expect((await sendOne(stale!, cfg)).outcome).toMatchObject({ kind: "reject", reason: expect.stringContaining("tolerance") });
    expect(hook.deliveries).toHaveLength(0);
    // a literal bad secret is refused with the config; one from the environment fails at encode
    expect(() => config({ secret: "whsec_***not base64***" })).toThrow(/Standard Webhooks secret/);
    await expect(webhook.encode(events, config({ secret: { env: "BAD_SECRET" } }), { ...ctx, env: { BAD_SECRET: "whsec_***not base64***" } })).rejects.toThrow(/not whsec_ followed by base64/);
  });

  it("mode single sends one signed request per event", async () => {
    const cfg = config({ mode: "single" });
    const reqs = await webhook.encode(events.slice(0, 5), cfg, ctx);
    expect(reqs.map((r) => r.events)).toEqual([[0], [1], [2], [3], [4]]);
    for (const r of reqs) expect((await sendOne(r, cfg)).outcome.kind).toBe("delivered");
    expect(hook.deliveries.map((d) => d.payload.data.events.length)).toEqual([1, 1, 1, 1, 1]);
    expect(uids(storedEvents())).toEqual(uids(events.slice(0, 5)));
    expect(new Set(hook.deliveries.map((d) => d.id)).size).toBe(5);
  });

  it("splits batches under maxBytes", async () => {
    const many = manyEvents(300);
    const cfg = config({ maxBytes: 64_000 });
    const reqs = await webhook.encode(many, cfg, ctx);
    expect(reqs.length).toBeGreaterThan(5);
    for (const r of reqs) expect(Buffer.byteLength(r.body as string)).toBeLessThanOrEqual(64_000);
    const log = await deliverAll(webhook, many, cfg, ctx, 1);
    expect(log.delivered.size).toBe(300);
    expect(uids(storedEvents())).toEqual(uids(many));
  });

  it("classifies: 410 gone and 3xx rejected (not followed), 429/502/503/504 retried with Retry-After, 501 and 4xx rejected", async () => {
    const cfg = config();
    const [req] = await webhook.encode(events.slice(0, 1), cfg, ctx);
    hook.script.push(
      { status: 410, body: "gone" },
      { status: 301, headers: { location: `${hook.url}/moved` }, body: "" },
      { status: 429, headers: { "retry-after": "60" }, body: "" },
      { status: 502, body: "" },
      { status: 503, headers: { "retry-after": "2" }, body: "" },
      { status: 504, body: "" },
      { status: 501, body: "" },
      { status: 422, body: "unprocessable" },
    );
    expect((await sendOne(req!, cfg)).outcome).toMatchObject({ kind: "reject", reason: expect.stringContaining("endpoint gone") });
    expect((await sendOne(req!, cfg)).outcome).toMatchObject({ kind: "reject", reason: expect.stringContaining(`redirect to ${hook.url}/moved not followed`) });
    expect((await sendOne(req!, cfg)).outcome).toMatchObject({ kind: "retry", afterMs: 60_000 });
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("retry");
    expect((await sendOne(req!, cfg)).outcome).toMatchObject({ kind: "retry", afterMs: 2000 });
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("retry");
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("reject");
    expect((await sendOne(req!, cfg)).outcome).toMatchObject({ kind: "reject", reason: expect.stringContaining("422") });
    expect(hook.requests.map((r) => r.path)).not.toContain("/moved");
    expect(hook.deliveries).toHaveLength(0);
  });

  it("outage and recovery: 503s then 2xx; every event stored exactly once", async () => {
    for (let k = 0; k < 4; k++) hook.script.push({ status: 503, body: "" });
    const cfg = config({ maxEvents: 10 });
    const log = await deliverAll(webhook, events, cfg, ctx, 10);
    expect(log.pending).toEqual([]);
    expect(log.retries.length).toBeGreaterThan(0);
    const stored = uids(storedEvents());
    expect([...stored].sort()).toEqual(uids(events).sort());
    expect(new Set(stored).size).toBe(stored.length);
    expect(hook.duplicates).toBe(0);
  });
});

// A gone endpoint (Classification.gone, src/deliver/gone.ts): 410 (Standard Webhooks: the receiver wants no more
// webhooks) and 401/403 (the signature or credentials refused: every request is signed with the same secret). 404
// stays an ordinary reject. Through deliverToSink (in-memory R2 and DELIVERIES) against the receiver on 127.0.0.1,
// and POST /v1/test, which probes past the memory.
describe("webhook: a gone endpoint", () => {
  const replay = ", then replay: npm run dlq -- replay --sink <name>";

  it("classify: 410 and 401/403 are gone, naming the fix; 404, 400 and 422 stay ordinary rejects", async () => {
    const cfg = config();
    const [req] = await webhook.encode(events.slice(0, 1), cfg, ctx);
    hook.script.push({ status: 410, body: "gone" }, { status: 403, body: "forbidden" }, { status: 404, body: "no such route" }, { status: 400, body: "bad" });
    expect(await sendOne(req!, cfg)).toEqual({
      outcome: { kind: "reject", reason: `webhook HTTP 410: gone; endpoint gone: the receiver asks for no more webhooks (Standard Webhooks: disable the endpoint): point the sink's url at a live endpoint or remove the sink${replay}` },
      gone: true,
    });
    expect(await sendOne(req!, cfg)).toEqual({
      outcome: { kind: "reject", reason: `webhook HTTP 403: forbidden; the receiver refused the signature or credentials: set the signing secret it verifies with in WEBHOOK_SECRET${replay}` },
      gone: true,
    });
    expect(await sendOne(req!, cfg)).toEqual({ outcome: { kind: "reject", reason: "webhook HTTP 404: no such route" } });
    expect(await sendOne(req!, cfg)).toEqual({ outcome: { kind: "reject", reason: "webhook HTTP 400: bad" } });
    // the receiver's own 401 (a request signed with another secret); a literal secret and configured headers are named as such
    const other = webhook.schema.parse({ url: `${hook.url}/hooks/ocsf`, secret: `whsec_${randomBytes(32).toString("base64")}`, headers: { "x-team": "sec" } });
    const [wrong] = await webhook.encode(events.slice(0, 1), other, ctx);
    const c = await sendOne(wrong!, other);
    expect(c.gone).toBe(true);
    expect(c.outcome).toMatchObject({ kind: "reject", reason: `webhook HTTP 401: invalid signature; the receiver refused the signature or credentials: set the signing secret it verifies with in the sink's secret and the sink's headers${replay}` });
    expect(hook.deliveries).toHaveLength(0);
  });

  it("mode single answered 410: one request and one dead letter for the delivery; the next is not sent; a new secret or URL sends again", async () => {
    const env = { WEBHOOK_SECRET: SECRET };
    const sinkCfg = (url: string) => parseConfig({ sinks: { gone410: { type: "webhook", url, secret: { env: "WEBHOOK_SECRET" }, mode: "single" } } });
    const itemsOf = (n: number, tag: string) => events.slice(0, n).map((e) => ({ event: { ...e, metadata: { ...e.metadata, uid: `${tag}-${e.metadata.uid}` } }, line: "" })).map((it) => ({ ...it, line: JSON.stringify(it.event) }));
    const deadLetters = (map: Map<string, { body: string }>) => [...map].filter(([k]) => k.startsWith("dlq/")).map(([, o]) => JSON.parse(o.body) as { reason: string; count: number; response?: { status: number } });
    const n = 6;

    const one = memoryDeps(sinkCfg(`${hook.url}/hooks/ocsf`), env, NOW);
    hook.script.push({ status: 410, body: "endpoint disabled" });
    const first = await deliverToSink({ sink: "gone410", items: itemsOf(n, "a"), attempt: 1, firstAttemptAt: NOW }, one.deps);
    expect(first).toMatchObject({ requests: 1, delivered: 0, retried: 0, dead: n });
    expect(first.down?.gone).toBe(true);
    expect(first.deadLetters).toHaveLength(1);
    expect(first.deadReason).toMatch(/^webhook HTTP 410: endpoint disabled; endpoint gone: .* then replay: npm run dlq -- replay --sink gone410$/);
    expect(deadLetters(one.map)).toMatchObject([{ count: n, response: { status: 410 } }]);
    expect(hook.requests).toHaveLength(1);
    expect(one.sent).toEqual([]);

    // the next delivery: nothing sent, one dead letter saying so
    const two = memoryDeps(sinkCfg(`${hook.url}/hooks/ocsf`), env, NOW + 60_000);
    const next = await deliverToSink({ sink: "gone410", items: itemsOf(n, "b"), attempt: 1, firstAttemptAt: NOW }, two.deps);
    expect(next).toMatchObject({ requests: 0, dead: n });
    expect(next.deadLetters).toHaveLength(1);
    expect(next.deadReason).toMatch(/^not sent: webhook HTTP 410: endpoint disabled; endpoint gone: .*\(answered at .*; sends resume when the sink's config or a secret \(URL, token, key\) changes, or after .*\)$/);
    expect(hook.requests).toHaveLength(1);

    // a new signing secret: sent again (this receiver still verifies with the old one: its 401 is gone too, one request)
    const rotated = `whsec_${randomBytes(32).toString("base64")}`;
    const three = memoryDeps(sinkCfg(`${hook.url}/hooks/ocsf`), { WEBHOOK_SECRET: rotated }, NOW + 120_000);
    const resent = await deliverToSink({ sink: "gone410", items: itemsOf(n, "c"), attempt: 1, firstAttemptAt: NOW }, three.deps);
    expect(resent).toMatchObject({ requests: 1, dead: n });
    expect(resent.deadReason).toMatch(/^webhook HTTP 401: invalid signature; the receiver refused the signature or credentials: set the signing secret it verifies with in WEBHOOK_SECRET, then replay/);
    expect(hook.requests).toHaveLength(2);

    // a new URL (another receiver, the original secret): every event delivered, one request each
    const other = await startWebhook({ secret: SECRET, now: () => Math.floor(NOW / 1000) });
    try {
      const four = memoryDeps(sinkCfg(`${other.url}/hooks/ocsf`), env, NOW + 180_000);
      const moved = await deliverToSink({ sink: "gone410", items: itemsOf(n, "d"), attempt: 1, firstAttemptAt: NOW }, four.deps);
      expect(moved).toMatchObject({ requests: n, delivered: n, dead: 0 });
      expect(other.deliveries).toHaveLength(n);
    } finally {
      await other.close();
    }
    expect(hook.requests).toHaveLength(2);
  });

  it("POST /v1/test probes a webhook remembered as gone and reports the receiver's answer; delivered, deliveries resume", async () => {
    // the route signs with the real clock: a receiver on the real clock
    const live = await startWebhook({ secret: SECRET, now: () => Math.floor(Date.now() / 1000) });
    try {
      const raw = { auth: { tokens: [{ tenant: "ops", token: { env: "INGEST_TOKEN" } }] }, sinks: { probed: { type: "webhook", url: `${live.url}/hooks/ocsf`, secret: { env: "WEBHOOK_SECRET" }, mode: "single" } } };
      const env = { TRIBUTARY_CONFIG: JSON.stringify(raw), INGEST_TOKEN: "ops-token", WEBHOOK_SECRET: SECRET };
      const probe = async () => {
        const r = await testRoutes.request("/v1/test?priority=critical&sinks=probed", { method: "POST", headers: { authorization: "Bearer ops-token" } }, env);
        return { status: r.status, body: (await r.json()) as TestResponse };
      };
      const deliver = () => deliverToSink({ sink: "probed", items: [{ event: events[0]!, line: JSON.stringify(events[0]) }], attempt: 1, firstAttemptAt: Date.now() }, memoryDeps(parseConfig(raw), env, Date.now()).deps);

      live.script.push({ status: 410, body: "endpoint disabled" });
      expect(await deliver()).toMatchObject({ requests: 1, dead: 1 });
      expect(await deliver()).toMatchObject({ requests: 0, dead: 1 });
      live.script.push({ status: 410, body: "endpoint disabled" });
      const still = await probe();
      expect(still.status).toBe(502);
      expect(still.body.results.probed).toMatchObject({ outcome: "reject", status: 410, requests: 1 });
      expect(await deliver()).toMatchObject({ requests: 0, dead: 1 });
      // the receiver takes webhooks again: the probe is delivered and the memory dropped
      const fixed = await probe();
      expect(fixed.status).toBe(200);
      expect(fixed.body.results.probed).toMatchObject({ outcome: "delivered", requests: 1 });
      expect(await deliver()).toMatchObject({ requests: 1, delivered: 1, dead: 0 });
      expect(live.requests).toHaveLength(4);
      expect(live.deliveries).toHaveLength(2);
    } finally {
      await live.close();
    }
  });
});
