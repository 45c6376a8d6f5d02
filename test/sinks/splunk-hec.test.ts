import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { splunkHec, type SplunkHecConfig } from "../../src/sinks/splunk-hec";
import type { SinkContext, SinkRequest } from "../../src/sinks/types";
import { NOW, deliverAll, fixtureEvents, manyEvents, plain, send, splitConcatenated, startSplunkHec, uids, type SplunkServer } from "../support/siem-servers";

const TOKEN = "11111111-2222-3333-4444-555555555555";
const ctx: SinkContext = { env: { HEC_TOKEN: TOKEN }, now: NOW };
const events = fixtureEvents();

let hec: SplunkServer;
beforeEach(async () => {
  hec = await startSplunkHec({ token: TOKEN });
});
afterEach(() => hec.close());

const config = (extra: Record<string, unknown> = {}): SplunkHecConfig => splunkHec.schema.parse({ url: hec.url, token: { env: "HEC_TOKEN" }, ...extra });

async function sendOne(req: SinkRequest, cfg: SplunkHecConfig) {
  return splunkHec.classify(await send(splunkHec, req, cfg, ctx), req, cfg);
}

describe("splunk_hec sink", () => {
  it("indexes every fixture event once, in HEC envelopes", async () => {
    expect(events.length).toBeGreaterThan(10);
    const cfg = config({ index: "security", fields: { cluster: "prod" } });
    const reqs = await splunkHec.encode(events, cfg, ctx);
    expect(reqs).toHaveLength(1);
    const req = reqs[0]!;
    expect(req.url).toBe(`${hec.url}/services/collector/event`);
    expect(req.headers.authorization).toBe(`Splunk ${TOKEN}`);
    expect(req.headers["x-splunk-request-channel"]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect((await sendOne(req, cfg)).outcome).toEqual({ kind: "delivered" });

    expect(hec.indexed.map((x) => x.envelope.event)).toEqual(events.map(plain));
    events.forEach((e, k) => {
      const env = hec.indexed[k]!.envelope;
      expect(env.time).toBe(e.time / 1000);
      expect(env.sourcetype).toBe(`ocsf:${e.class_uid}`);
      expect(env.source).toBe(e.metadata.product.name.toLowerCase());
      expect(env.index).toBe("security");
      expect(env.fields).toEqual({ cluster: "prod" });
      const host = (e.device as { hostname?: string } | undefined)?.hostname;
      if (host) expect(env.host).toBe(host);
      else expect(env).not.toHaveProperty("host");
    });
    expect(new Set(hec.indexed.map((x) => x.channel))).toEqual(new Set([req.headers["x-splunk-request-channel"]]));
  });

  it("keeps the channel stable per sink and honours configured sourcetype/source templates", async () => {
    const cfg = config({ sourcetype: "tributary:ocsf", source: "tributary:{product}" });
    const a = await splunkHec.encode(events.slice(0, 2), cfg, ctx);
    const b = await splunkHec.encode(events.slice(2, 4), cfg, { ...ctx, now: NOW + 60_000 });
    expect(a[0]!.headers["x-splunk-request-channel"]).toBe(b[0]!.headers["x-splunk-request-channel"]);
    await sendOne(a[0]!, cfg);
    expect(hec.indexed.map((x) => x.envelope.sourcetype)).toEqual(["tributary:ocsf", "tributary:ocsf"]);
    expect(hec.indexed[0]!.envelope.source).toBe(`tributary:${events[0]!.metadata.product.name.toLowerCase()}`);
  });

  it("sends gzip bodies that decode to concatenated envelopes", async () => {
    const cfg = config({ compression: "gzip" });
    const [req] = await splunkHec.encode(events, cfg, ctx);
    expect(req!.headers["content-encoding"]).toBe("gzip");
    const text = strFromU8(gunzipSync(req!.body as Uint8Array));
    expect(splitConcatenated(text).values).toHaveLength(events.length);
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("delivered");
    expect(uids(hec.indexed.map((x) => x.envelope.event))).toEqual(uids(events));
  });

  it("splits large batches into requests under maxBytes and maxEvents", async () => {
    const many = manyEvents(600);
    const cfg = config({ maxBytes: 100_000, maxEvents: 250 });
    const reqs = await splunkHec.encode(many, cfg, ctx);
    expect(reqs.length).toBeGreaterThan(3);
    for (const r of reqs) {
      expect(Buffer.byteLength(r.body as string)).toBeLessThanOrEqual(100_000);
      expect(r.events.length).toBeLessThanOrEqual(250);
    }
    expect(reqs.flatMap((r) => r.events)).toEqual(many.map((_, i) => i));
    await hec.close();
    hec = await startSplunkHec({ token: TOKEN, maxContentLength: 100_000 });
    const log = await deliverAll(splunkHec, many, config({ maxBytes: 100_000, maxEvents: 250 }), ctx, 1);
    expect(log.delivered.size).toBe(600);
    expect(uids(hec.indexed.map((x) => x.envelope.event))).toEqual(uids(many));
  });

  it("retries 429 with Retry-After, 503 busy and 500; rejects 501", async () => {
    const cfg = config();
    const [req] = await splunkHec.encode(events.slice(0, 3), cfg, ctx);
    hec.script.push(
      { status: 429, headers: { "retry-after": "7" }, body: "" },
      { status: 503, body: JSON.stringify({ text: "Server is busy", code: 9 }) },
      { status: 500, body: JSON.stringify({ text: "Internal server error", code: 8 }) },
      { status: 501, body: "Not Implemented" },
    );
    expect((await sendOne(req!, cfg)).outcome).toMatchObject({ kind: "retry", afterMs: 7000 });
    expect((await sendOne(req!, cfg)).outcome).toMatchObject({ kind: "retry", reason: "Splunk HEC 503 (code 9): Server is busy" });
    expect((await sendOne(req!, cfg)).outcome).toMatchObject({ kind: "retry", reason: "Splunk HEC 500 (code 8): Internal server error" });
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("reject");
    expect(hec.indexed).toHaveLength(0);
  });

  it("rejects bad tokens and bad requests with Splunk's text and code; a refused token marks the sink gone, naming the fix", async () => {
    const replay = ", then replay: npm run dlq -- replay --sink <name>";
    const bad = config({ token: "not-the-token" });
    const [req] = await splunkHec.encode(events.slice(0, 1), bad, ctx);
    expect(await sendOne(req!, bad)).toEqual({ outcome: { kind: "reject", reason: `Splunk HEC 403 (code 4): Invalid token; the HEC token was removed or was never this Splunk's: set a new token in the sink's token${replay}` }, gone: true });
    const cfg = config();
    const [ok] = await splunkHec.encode(events.slice(0, 1), cfg, ctx);
    const noAuth = { ...ok!, headers: { ...ok!.headers, authorization: "" } };
    expect(await sendOne(noAuth, cfg)).toEqual({
      outcome: { kind: "reject", reason: `Splunk HEC 401 (code 2): Token is required; no HEC token reached Splunk (a proxy dropping the Authorization header?): check the sink's url and headers, and HEC_TOKEN${replay}` },
      gone: true,
    });
    hec.script.push(
      { status: 403, body: JSON.stringify({ text: "Token disabled", code: 1 }) },
      { status: 401, body: JSON.stringify({ text: "Invalid authorization", code: 3 }) },
      { status: 403, body: JSON.stringify({ text: "Invalid token", code: 4 }) },
      { status: 403, body: "<html>forbidden by the load balancer</html>" },
      { status: 400, body: JSON.stringify({ text: "Incorrect index", code: 7, "invalid-event-number": 1 }) },
      { status: 400, body: JSON.stringify({ text: "ACK is disabled", code: 14 }) },
    );
    expect(await sendOne(ok!, cfg)).toEqual({
      outcome: { kind: "reject", reason: `Splunk HEC 403 (code 1): Token disabled; the HEC token is disabled in Splunk: enable it again (Settings > Data inputs > HTTP Event Collector) or set a new token in HEC_TOKEN${replay}` },
      gone: true,
    });
    expect(await sendOne(ok!, cfg)).toMatchObject({ outcome: { kind: "reject", reason: expect.stringContaining('(code 3): Invalid authorization; Splunk did not take the Authorization header: HEC_TOKEN must hold the bare token') }, gone: true });
    expect(await sendOne(ok!, cfg)).toEqual({ outcome: { kind: "reject", reason: `Splunk HEC 403 (code 4): Invalid token; the HEC token was removed or was never this Splunk's: set a new token in HEC_TOKEN${replay}` }, gone: true });
    // no HEC code (not Splunk's answer) and the other 4xx codes: ordinary rejects
    expect(await sendOne(ok!, cfg)).toEqual({ outcome: { kind: "reject", reason: "Splunk HEC 403: <html>forbidden by the load balancer</html>" } });
    expect(await sendOne(ok!, cfg)).toEqual({ outcome: { kind: "reject", reason: "Splunk HEC 400 (code 7): Incorrect index" } });
    expect(await sendOne(ok!, cfg)).toEqual({ outcome: { kind: "reject", reason: "Splunk HEC 400 (code 14): ACK is disabled" } });
    expect(() => splunkHec.encode(events, config({ token: { env: "MISSING" } }), ctx)).toThrow(/splunk_hec: token is not set/);
  });

  it("settles invalid-event-number per event: before delivered, the bad one rejected, the rest retried", async () => {
    const bad = events[3]!.metadata.uid;
    await hec.close();
    hec = await startSplunkHec({ token: TOKEN, invalid: (env) => (env.event.metadata as { uid: string }).uid === bad });
    const cfg = config();
    const batch = events.slice(0, 8);
    const [req] = await splunkHec.encode(batch, cfg, ctx);
    const c = await sendOne(req!, cfg);
    expect(c.outcome.kind).toBe("retry");
    expect([0, 1, 2].map((i) => c.perEvent?.get(i)?.kind)).toEqual(["delivered", "delivered", "delivered"]);
    expect(c.perEvent?.get(3)).toMatchObject({ kind: "reject", reason: expect.stringContaining("code 6") });
    expect(c.perEvent?.has(4)).toBe(false);
    expect(uids(hec.indexed.map((x) => x.envelope.event))).toEqual(uids(batch.slice(0, 3)));

    // the bounded resend loop ends with every good event indexed once and the bad one rejected
    hec.indexed.length = 0;
    const log = await deliverAll(splunkHec, batch, cfg, ctx, 5);
    expect([...log.rejected.keys()]).toEqual([3]);
    expect(log.delivered.size).toBe(7);
    expect(uids(hec.indexed.map((x) => x.envelope.event)).sort()).toEqual(uids(batch.filter((_, i) => i !== 3)).sort());
  });

  for (const [code, text, blank] of [
    [12, "Event field is required", (env: Record<string, unknown>) => ({ time: env.time })],
    [13, "Event field cannot be blank", (env: Record<string, unknown>) => ({ ...env, event: "" })],
  ] as const) {
    it(`settles HEC code ${code} (${text}) with invalid-event-number per event, like code 6`, async () => {
      const cfg = config();
      const batch = events.slice(0, 6);
      const [req] = await splunkHec.encode(batch, cfg, ctx);
      // the envelope of event 2 reaches the (faithful) fake HEC without its event / with a blank one
      const envs = splitConcatenated(req!.body as string).values as Record<string, unknown>[];
      envs[2] = blank(envs[2]!);
      const c = await sendOne({ ...req!, body: envs.map((e) => JSON.stringify(e)).join("") }, cfg);
      expect(c.outcome.kind).toBe("retry");
      expect([0, 1].map((i) => c.perEvent?.get(i)?.kind)).toEqual(["delivered", "delivered"]);
      expect(c.perEvent?.get(2)).toMatchObject({ kind: "reject", reason: expect.stringContaining(`code ${code}`) });
      expect([3, 4, 5].some((i) => c.perEvent?.has(i))).toBe(false);
      // Splunk indexed the two before it: they are not sent again, the tail is
      expect(uids(hec.indexed.map((x) => x.envelope.event))).toEqual(uids(batch.slice(0, 2)));
    });
  }

  it("outage and recovery: 503 for a while, then every event indexed exactly once", async () => {
    const cfg = config({ maxEvents: 10 });
    for (let k = 0; k < 5; k++) hec.script.push({ status: 503, body: JSON.stringify({ text: "Server is busy", code: 9 }) });
    const log = await deliverAll(splunkHec, events, cfg, ctx, 10);
    expect(log.pending).toEqual([]);
    expect(log.retries.length).toBeGreaterThan(0);
    expect(log.delivered.size).toBe(events.length);
    const stored = uids(hec.indexed.map((x) => x.envelope.event));
    expect(stored.sort()).toEqual(uids(events).sort());
    expect(new Set(stored).size).toBe(stored.length);
  });
});
