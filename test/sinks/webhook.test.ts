import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { webhook, type WebhookConfig } from "../../src/sinks/webhook";
import type { SinkContext, SinkRequest } from "../../src/sinks/types";
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
