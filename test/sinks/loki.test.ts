import { afterEach, describe, expect, it } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { entryTime, loki, PARTIAL_NOTE, type LokiConfig } from "../../src/sinks/loki";
import { unsentOutcomes, type SinkContext, type SinkRequest } from "../../src/sinks/types";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { NOW, deliverAll, fixtureEvents, manyEvents, plain, send, startLoki, uids, type LokiOptions, type LokiServer } from "../support/siem-servers";

const ctx: SinkContext = { env: { LOKI_TOKEN: "glc_token" }, now: NOW };
const events = fixtureEvents();

let server: LokiServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});
async function start(opts: LokiOptions = {}): Promise<LokiServer> {
  server = await startLoki(opts);
  return server;
}
const config = (url: string, extra: Record<string, unknown> = {}): LokiConfig => loki.schema.parse({ url, ...extra });

async function sendOne(req: SinkRequest, cfg: LokiConfig) {
  return loki.classify(await send(loki, req, cfg, ctx), req, cfg);
}

interface PushBody {
  streams: { stream: Record<string, string>; values: [string, string][] }[];
}

describe("loki sink", () => {
  it("pushes every fixture event as a JSON line in low-cardinality streams (gzip, tenant, basic auth)", async () => {
    const s = await start({ requireTenant: true, basic: { username: "123456", password: "glc_token" } });
    const cfg = config(s.url, { tenant: "team-a", auth: { username: "123456", password: { env: "LOKI_TOKEN" } } });
    const reqs = await loki.encode(events, cfg, ctx);
    expect(reqs).toHaveLength(1);
    const req = reqs[0]!;
    expect(req.url).toBe(`${s.url}/loki/api/v1/push`);
    expect(req.headers["x-scope-orgid"]).toBe("team-a");
    expect(req.headers["content-encoding"]).toBe("gzip");
    const body = JSON.parse(strFromU8(gunzipSync(req.body as Uint8Array))) as PushBody;
    for (const st of body.streams) {
      expect(Object.keys(st.stream).sort()).toEqual(["class_uid", "job", "severity", "source"]);
      const ts = st.values.map((v) => BigInt(v[0]));
      expect(ts).toEqual([...ts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    expect(new Set(body.streams.map((st) => JSON.stringify(st.stream))).size).toBe(body.streams.length);
    expect((await sendOne(req, cfg)).outcome).toEqual({ kind: "delivered" });

    expect(s.entries).toHaveLength(events.length);
    for (const e of events) {
      const entry = s.entries.find((x) => (JSON.parse(x.line) as OcsfEvent).metadata.uid === e.metadata.uid)!;
      expect(JSON.parse(entry.line)).toEqual(plain(e));
      expect(entry.ts).toBe(`${entryTime(e.time, NOW, cfg)}000000`); // the fixtures are older than NOW - lateAfterMs: NOW
      expect(entry.tenant).toBe("team-a");
      expect(entry.labels).toEqual({ class_uid: String(e.class_uid), job: "tributary", severity: e.severity, source: e.metadata.log_name });
    }
  });

  it("a tenant template sends each Tributary tenant's events to its own Loki org: requests split by the expanded X-Scope-OrgID", async () => {
    const s = await start({ requireTenant: true });
    const tenantOf = (i: number) => (i % 3 === 2 ? undefined : ["Team A", "b"][i % 3]);
    const tagged = events.map((e, i): OcsfEvent => {
      const { tenant_uid: _, ...metadata } = e.metadata;
      const t = tenantOf(i);
      return { ...e, metadata: t === undefined ? metadata : { ...metadata, tenant_uid: t } };
    });
    const cfg = config(s.url, { tenant: "tributary-{tenant}", maxEvents: 2 });
    const reqs = await loki.encode(tagged, cfg, ctx);
    const orgOf = (i: number) => `tributary-${tenantOf(i) === undefined ? "none" : tenantOf(i)!.replace(" ", "_")}`;
    // every request holds one org's events only, and every event is in one request
    for (const r of reqs) expect(new Set(r.events.map(orgOf))).toEqual(new Set([r.headers["x-scope-orgid"]]));
    expect(reqs.flatMap((r) => r.events).sort((a, b) => a - b)).toEqual(tagged.map((_, i) => i));
    expect(new Set(reqs.map((r) => r.headers["x-scope-orgid"]))).toEqual(new Set(["tributary-Team_A", "tributary-b", "tributary-none"]));
    for (const r of reqs) expect((await sendOne(r, cfg)).outcome).toEqual({ kind: "delivered" });
    expect(s.entries).toHaveLength(tagged.length);
    for (const [i, e] of tagged.entries()) expect(s.entries.find((x) => (JSON.parse(x.line) as OcsfEvent).metadata.uid === e.metadata.uid)!.tenant).toBe(orgOf(i));
    // a fixed tenant is one org, as before; a template with an unknown placeholder is refused
    expect(new Set((await loki.encode(tagged, config(s.url, { tenant: "team-a" }), ctx)).map((r) => r.headers["x-scope-orgid"]))).toEqual(new Set(["team-a"]));
    expect(() => config(s.url, { tenant: "{org}" })).toThrow(/unknown placeholder/);
  });

  it("an org already down in the attempt (SinkContext.scopeDown) is not encoded: its events come back in one bodiless request of its scope", async () => {
    const s = await start({ requireTenant: true });
    let serialized = 0; // JSON.stringify of a team-b event (each encoded line is one)
    const tagged = events.map((e, i): OcsfEvent => {
      const t = i % 2 ? "b" : "a";
      const x = { ...e, metadata: { ...e.metadata, tenant_uid: t } };
      if (t === "a") return x;
      return Object.defineProperty(x, "toJSON", { value: () => (serialized++, { ...x, toJSON: undefined }), enumerable: false });
    });
    const bIdx = tagged.flatMap((e, i) => (e.metadata.tenant_uid === "b" ? [i] : []));
    const cfg = config(s.url, { tenant: "org-{tenant}", maxEvents: 2 });
    const asked: string[] = [];
    const reqs = await loki.encode(tagged, cfg, { ...ctx, scopeDown: (scope) => (asked.push(scope), scope === "org-b") });
    expect(serialized).toBe(0);
    expect(new Set(asked)).toEqual(new Set(["org-a", "org-b"]));
    const held = reqs.filter((r) => r.scope === "org-b");
    expect(held).toEqual([{ events: bIdx, url: `${s.url}/loki/api/v1/push`, method: "POST", headers: expect.objectContaining({ "x-scope-orgid": "org-b" }), body: "", scope: "org-b" }]);
    // every event is in a request (none taken for unsent), org a's as without a down org
    expect(unsentOutcomes(loki, tagged, reqs, cfg, ctx).size).toBe(0);
    const up = await loki.encode(tagged, cfg, ctx);
    expect(serialized).toBe(bIdx.length); // without scopeDown every line is built
    expect(reqs.filter((r) => r.scope === "org-a")).toEqual(up.filter((r) => r.scope === "org-a"));
    expect(up.filter((r) => r.scope === "org-b").length).toBeGreaterThan(1);
    // a fixed tenant has no scope to be down: encoded in full whatever scopeDown says
    const fixed = await loki.encode(tagged, config(s.url, { tenant: "org-b", maxEvents: 2 }), { ...ctx, scopeDown: () => true });
    expect(fixed.every((r) => r.scope === undefined && r.body.length > 0)).toBe(true);
  });

  it("uses configured labels and omits labels whose field is missing", async () => {
    const s = await start();
    const cfg = config(s.url, { labels: { product: "metadata.product.name", host: "device.hostname" }, staticLabels: { env: "test" }, compression: "none" });
    await sendOne((await loki.encode(events, cfg, ctx))[0]!, cfg);
    for (const e of events) {
      const entry = s.entries.find((x) => (JSON.parse(x.line) as OcsfEvent).metadata.uid === e.metadata.uid)!;
      const host = (e.device as { hostname?: string } | undefined)?.hostname;
      expect(entry.labels).toEqual({ env: "test", product: e.metadata.product.name, ...(host ? { host } : {}) });
    }
    expect(() => loki.schema.parse({ url: s.url, labels: { "bad-name": "class_uid" } })).toThrow(/Loki label name/);
  });

  it("sorts values by time within a stream, so a Loki that refuses out-of-order entries takes them", async () => {
    const s = await start({ orderedWrites: true });
    // lateAfterMs: keep the fixtures' own (old) times as entry timestamps, to see their order
    const cfg = config(s.url, { labels: {}, staticLabels: { job: "tributary" }, lateAfterMs: 1e15 });
    const shuffled = [...events].reverse();
    const [req] = await loki.encode(shuffled, cfg, ctx);
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("delivered");
    expect(s.entries).toHaveLength(events.length);
    // an older entry pushed later is refused by that Loki: a 400, rejected (not retried)
    const older: OcsfEvent = { ...events[0]!, time: 1000, metadata: { ...events[0]!.metadata, uid: "older" } };
    const [late] = await loki.encode([older], cfg, ctx);
    expect((await sendOne(late!, cfg)).outcome).toMatchObject({ kind: "reject", reason: expect.stringContaining("entry out of order") });
  });

  it("rejects a line over max_line_size without sending it; sends the others", async () => {
    const s = await start({ maxLineSize: 256_000 });
    const big: OcsfEvent = { ...events[0]!, metadata: { ...events[0]!.metadata, uid: "big" }, raw_data: "y".repeat(300_000) };
    const batch = [events[1]!, big, events[2]!];
    const cfg = config(s.url);
    const reqs = await loki.encode(batch, cfg, ctx);
    expect(reqs.flatMap((r) => r.events).sort()).toEqual([0, 2]);
    expect(unsentOutcomes(loki, batch, reqs, cfg, ctx).get(1)).toMatchObject({ kind: "reject", reason: expect.stringContaining("over Loki's max_line_size of 256000") });
    const log = await deliverAll(loki, batch, cfg, ctx, 1);
    expect([...log.rejected.keys()]).toEqual([1]);
    expect(s.entries.map((x) => (JSON.parse(x.line) as OcsfEvent).metadata.uid).sort()).toEqual(uids([events[1]!, events[2]!]).sort());
    // the fake enforces the same limit: a too-long line sent anyway is a 400 naming it
    const [forced] = await loki.encode([big], config(s.url, { maxLineBytes: 1_000_000 }), ctx);
    expect((await sendOne(forced!, cfg)).outcome).toMatchObject({ kind: "reject", reason: expect.stringContaining("Max entry size '256000' bytes exceeded") });
  });

  it("splits into requests under maxBytes", async () => {
    const s = await start();
    const many = manyEvents(400);
    const cfg = config(s.url, { maxBytes: 150_000, compression: "none" });
    const reqs = await loki.encode(many, cfg, ctx);
    expect(reqs.length).toBeGreaterThan(3);
    for (const r of reqs) expect(Buffer.byteLength(r.body as string)).toBeLessThanOrEqual(150_000);
    const log = await deliverAll(loki, many, cfg, ctx, 1);
    expect(log.delivered.size).toBe(400);
    expect(s.entries.map((x) => (JSON.parse(x.line) as OcsfEvent).metadata.uid).sort()).toEqual(uids(many).sort());
  });

  it("retries 429 (Retry-After) and 5xx, rejects 501, 400 and 401", async () => {
    const s = await start({ requireTenant: true });
    const cfg = config(s.url, { tenant: "t" });
    const [req] = await loki.encode(events.slice(0, 2), cfg, ctx);
    s.script.push(
      { status: 429, headers: { "retry-after": "5" }, body: "Ingestion rate limit exceeded for user t" },
      { status: 500, body: "rpc error" },
      { status: 503, body: "" },
      { status: 501, body: "" },
    );
    expect((await sendOne(req!, cfg)).outcome).toMatchObject({ kind: "retry", afterMs: 5000, reason: expect.stringContaining("Ingestion rate limit") });
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("retry");
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("retry");
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("reject");
    const noTenant = config(s.url);
    const [anon] = await loki.encode(events.slice(0, 2), noTenant, ctx);
    // auth_enabled and no X-Scope-OrgID: every push meets it until the config changes (src/deliver/gone.ts)
    expect(await sendOne(anon!, noTenant)).toEqual({
      outcome: { kind: "reject", reason: "Loki HTTP 401: no org id; Loki runs multi-tenant and the push named no org: set the sink's tenant (X-Scope-OrgID), then replay: npm run dlq -- replay --sink <name>" },
      gone: true,
    });
    expect((await sendOne({ ...req!, headers: { ...req!.headers, "content-type": "application/x-protobuf" } }, cfg)).outcome.kind).toBe("reject");
    expect(s.entries).toHaveLength(0);
  });

  it("401/403 of an unscoped push mark the sink gone, naming the credentials; a scoped org's (a {tenant} template) stays that org's reject", async () => {
    const s = await start({ basic: { username: "123456", password: "glc_token" } });
    const good = config(s.url, { auth: { username: "123456", password: { env: "LOKI_TOKEN" } } });
    const wrong = config(s.url, { auth: { username: "123456", password: "revoked" } });
    const none = config(s.url);
    const [bad] = await loki.encode(events.slice(0, 2), wrong, ctx);
    expect(await sendOne(bad!, wrong)).toEqual({
      outcome: {
        kind: "reject",
        reason: "Loki HTTP 401: unauthorized; Loki refused the credentials of 123456 (Grafana Cloud: an access policy token revoked, expired or without logs:write): set a new password in the sink's auth.password, then replay: npm run dlq -- replay --sink <name>",
      },
      gone: true,
    });
    const [anon] = await loki.encode(events.slice(0, 2), none, ctx);
    expect(await sendOne(anon!, none)).toMatchObject({ outcome: { reason: expect.stringContaining("Loki (or its gateway) asks for credentials: set the sink's auth (username and password)") }, gone: true });
    const [req] = await loki.encode(events.slice(0, 2), good, ctx);
    s.script.push({ status: 403, body: "forbidden" });
    expect(await sendOne(req!, good)).toMatchObject({ outcome: { reason: expect.stringContaining("set a new password in LOKI_TOKEN, then replay") }, gone: true });
    // a tenant template: each org is its own destination (SinkRequest.scope), so one org's 401 does not mark the sink
    const perOrg = config(s.url, { tenant: "{tenant}", auth: { username: "123456", password: "revoked" } });
    const scoped = await loki.encode(events.slice(0, 2), perOrg, ctx);
    expect(scoped[0]!.scope).toBeDefined();
    expect(await sendOne(scoped[0]!, perOrg)).toEqual({ outcome: { kind: "reject", reason: "Loki HTTP 401: unauthorized" } });
    expect(s.entries).toHaveLength(0);
    expect((await sendOne(req!, good)).outcome).toEqual({ kind: "delivered" });
  });

  it("a 400 for out-of-order entries rejects the whole request and says Loki kept the others (replay may duplicate)", async () => {
    const s = await start({ orderedWrites: true });
    const cfg = config(s.url, { labels: {}, staticLabels: { job: "t" }, compression: "none", lateAfterMs: 1e15 });
    const batch = events.slice(0, 4).map((e, k) => ({ ...e, time: 1_700_000_000_000 + k * 1000 }));
    // the stream already holds a newer entry than events 0 and 1
    const [first] = await loki.encode([{ ...batch[0]!, time: 1_700_000_001_500 }], cfg, ctx);
    expect((await sendOne(first!, cfg)).outcome.kind).toBe("delivered");
    const [req] = await loki.encode(batch, cfg, ctx);
    const c = await sendOne(req!, cfg);
    expect(c.outcome).toMatchObject({ kind: "reject", reason: expect.stringContaining("entry out of order") });
    expect(c.outcome.kind === "reject" && c.outcome.reason).toContain(PARTIAL_NOTE);
    expect(c.perEvent).toBeUndefined();
    // as the note says: Loki kept the valid entries of the rejected push (events 2 and 3)
    expect(s.entries.slice(1).map((x) => (JSON.parse(x.line) as { time: number }).time)).toEqual([batch[2]!.time, batch[3]!.time]);
    // other 400s (bad labels, protobuf parse errors) carry no such note
    const bad = await sendOne({ ...req!, headers: { ...req!.headers, "content-type": "application/x-protobuf" } }, cfg);
    expect(bad.outcome.kind === "reject" && bad.outcome.reason).not.toContain(PARTIAL_NOTE);
  });

  it("an event older than lateAfterMs or ahead by more than aheadAfterMs gets the delivery time as its entry timestamp: a 5-day-late batch with a 9999 clock among on-time events is stored whole", async () => {
    const s = await start({ orderedWrites: true });
    const cfg = config(s.url, { labels: {}, staticLabels: { job: "t" }, compression: "none" });
    const min = 60_000;
    // the stream already holds an entry at NOW: Loki refuses anything behind it ("entry out of order"; real Loki: over 1 h behind)
    const [first] = await loki.encode([{ ...events[0]!, time: NOW }], cfg, ctx);
    expect((await sendOne(first!, cfg)).outcome.kind).toBe("delivered");
    const times = [NOW + 1, NOW - 5 * 86_400_000, NOW - 50 * min - 1, Date.UTC(9999, 11, 31), NOW + 5 * min + 1, -1000, Number.NaN];
    const batch = times.map((time, k) => ({ ...events[k + 1]!, time, metadata: { ...events[k + 1]!.metadata, uid: `t${k}` } }));
    expect(batch.map((e) => entryTime(e.time, NOW, cfg))).toEqual([NOW + 1, NOW, NOW, NOW, NOW, NOW, NOW]);
    expect(entryTime(NOW - 50 * min, NOW, cfg)).toBe(NOW - 50 * min);
    expect(entryTime(NOW + 5 * min, NOW, cfg)).toBe(NOW + 5 * min);
    const log = await deliverAll(loki, batch, cfg, ctx, 2);
    expect([log.delivered.size, log.rejected.size]).toEqual([batch.length, 0]);
    // each line keeps the event's own time
    expect(s.entries.slice(1).map((x) => (JSON.parse(x.line) as { time: number | null }).time).sort()).toEqual(batch.map((e) => (Number.isNaN(e.time) ? null : e.time)).sort());
    // with the old times kept as timestamps, the same Loki refuses the push: the whole request was dead-lettered
    const [kept] = await loki.encode(batch, config(s.url, { labels: {}, staticLabels: { job: "t" }, compression: "none", lateAfterMs: 1e15, aheadAfterMs: 1e15 }), ctx);
    expect((await sendOne(kept!, cfg)).outcome).toMatchObject({ kind: "reject", reason: expect.stringContaining("entry out of order") });
  });

  it("outage and recovery: 503s then 204; every event stored exactly once", async () => {
    const s = await start();
    for (let k = 0; k < 3; k++) s.script.push({ status: 503, body: "" });
    const cfg = config(s.url, { maxEvents: 20 });
    const log = await deliverAll(loki, events, cfg, ctx, 10);
    expect(log.pending).toEqual([]);
    expect(log.retries.length).toBeGreaterThan(0);
    const stored = s.entries.map((x) => (JSON.parse(x.line) as OcsfEvent).metadata.uid!);
    expect([...stored].sort()).toEqual(uids(events).sort());
    expect(new Set(stored).size).toBe(stored.length);
  });
});
