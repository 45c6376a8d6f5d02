// POST /v1/backfill inside workerd: archive objects of several days, classes and tenants in the real R2
// binding (written as the consumer writes them), sent to a Standard Webhooks sink on 127.0.0.1 (the
// recording gate of test/noise/webhook-setup.ts) through DELIVERIES and the consumer: exactly the matching
// events arrive, once; the cursor pages resume exactly; a corrupt object is skipped and named.
import { env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { archiveLine, buildArchiveObjects, writeArchive } from "../../src/deliver/archive";
import { backfillPage, type BackfillResult } from "../../src/deliver/backfill";
import { resolveSinks } from "../../src/deliver/sinks";
import { parseConfig } from "../../src/config/load";
import { sourceOf } from "../../src/route/fields";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { uniqueFixtureEvents, stubDeliveries, drainDeliveries, callWorker } from "../support/delivery";
import { hookRequests, webhookSink } from "../noise/helpers";

const DAY = 86_400_000;
const TENANTS = ["team-a", "team-b", undefined];

/**
 * The fixture events spread over three event days from `firstDay` (ms, UTC midnight) and three tenants (one
 * without), each with a uid of this test's own; written one object per event (many small objects: several
 * pages), except the first 6, which share an object per class and day.
 */
async function archived(tag: string, firstDay: number): Promise<OcsfEvent[]> {
  const events = uniqueFixtureEvents().map((e, i) => {
    const tenant = TENANTS[i % 3];
    const time = firstDay + (i % 3) * DAY + i * 1000;
    // received when it happened (a receipt time days before `time` would file it under the receipt's day)
    const metadata = { ...e.metadata, uid: `${tag}-${i}`, logged_time: time, ...(tenant ? { tenant_uid: tenant } : {}) };
    if (!tenant) delete (metadata as { tenant_uid?: string }).tenant_uid;
    return { ...e, metadata, time } as OcsfEvent;
  });
  const lines = events.map((e) => archiveLine(JSON.stringify(e)));
  await writeArchive(env.ARCHIVE, buildArchiveObjects(lines.slice(0, 6), `${tag}-shared`));
  for (let i = 6; i < lines.length; i++) await writeArchive(env.ARCHIVE, buildArchiveObjects([lines[i]!], `${tag}-${i}`));
  return events;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const uids = (events: readonly OcsfEvent[]) => events.map((e) => e.metadata.uid!).sort();

function setup(tag: string) {
  const key = `${tag}-${Date.now().toString(36)}`;
  const cfg = { sinks: { siem: webhookSink(key) }, routes: [] };
  const deliveries = stubDeliveries();
  const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries } as unknown as Env;
  return { key, cfg, deliveries, e };
}

const backfill = (e: Env, body: unknown) => callWorker(e, "/v1/backfill", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** Calls until the answer has no cursor (at most `max` calls); every answer. */
async function pages(e: Env, body: Record<string, unknown>, max = 50): Promise<BackfillResult[]> {
  const out: BackfillResult[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < max; i++) {
    const res = await backfill(e, { ...body, ...(cursor ? { cursor } : {}) });
    expect(res.status).toBe(200);
    const r = (await res.json()) as BackfillResult;
    out.push(r);
    cursor = r.cursor;
    if (!cursor) return out;
  }
  throw new Error(`no end after ${max} pages`);
}

/** The uids the webhook receiver stored (204, signature verified), each time it stored one. */
async function received(key: string): Promise<string[]> {
  const reqs = await hookRequests(key);
  return reqs.filter((r) => r.status === 204).flatMap((r) => r.events.map((x) => (x.metadata as { uid: string }).uid)).sort();
}

describe("POST /v1/backfill: archived events to a named sink", () => {
  it("sends exactly the events of the day range, once, through DELIVERIES at attempt 1; pages with the cursor until done", async () => {
    const first = Date.UTC(2031, 2, 1);
    const events = await archived("bf-all", first);
    const { key, deliveries, e } = setup("bf-all");
    const r = await pages(e, { sink: "siem", from: day(first), to: day(first + DAY) });
    expect(r.length).toBeGreaterThan(1); // more objects than one page reads
    const inRange = events.filter((x) => x.time < first + 2 * DAY);
    const sum = (f: (p: BackfillResult) => number) => r.reduce((a, p) => a + f(p), 0);
    expect([sum((p) => p.events.read), sum((p) => p.events.matched), sum((p) => p.events.sent)]).toEqual([inRange.length, inRange.length, inRange.length]);
    expect(r.flatMap((p) => p.skipped)).toEqual([]);
    expect(deliveries.sent.every((c) => c.body.sink === "siem" && c.body.attempt === 1 && c.delaySeconds === 0 && c.body.reason.startsWith("backfill of ocsf/"))).toBe(true);
    await drainDeliveries(deliveries, e);
    expect(await received(key)).toEqual(uids(inRange));
  });

  it("filters: class_uid (by prefix), tenant (metadata.tenant_uid) and source (as routing reads it)", async () => {
    const first = Date.UTC(2031, 3, 1);
    const events = await archived("bf-filter", first);
    const falco = events.find((x) => sourceOf(x) === "falco")!;
    const { key, deliveries, e } = setup("bf-filter");
    const r = await pages(e, { sink: "siem", from: day(first), to: day(first + 2 * DAY), class_uid: falco.class_uid, tenant: "team-a", source: ["falco", "tetragon"] });
    const want = events.filter((x) => x.class_uid === falco.class_uid && x.metadata.tenant_uid === "team-a" && ["falco", "tetragon"].includes(sourceOf(x) ?? ""));
    expect(want.length).toBeGreaterThan(0);
    expect(want.length).toBeLessThan(events.filter((x) => x.class_uid === falco.class_uid).length);
    expect(r.reduce((a, p) => a + p.events.read, 0)).toBe(events.filter((x) => x.class_uid === falco.class_uid).length);
    expect(r.reduce((a, p) => a + p.events.sent, 0)).toBe(want.length);
    await drainDeliveries(deliveries, e);
    expect(await received(key)).toEqual(uids(want));
  });

  it("resuming with each cursor sends what one long run sends, in the same order", async () => {
    const first = Date.UTC(2031, 4, 1);
    await archived("bf-resume", first);
    const { e, deliveries, cfg } = setup("bf-resume");
    const body = { sink: "siem", from: day(first), to: day(first + 2 * DAY), tenant: "team-b" };
    const r = await pages(e, body);
    expect(r.length).toBeGreaterThan(2);
    const paged = deliveries.sent.splice(0).map((c) => c.body.reason);
    // one long run: the same walk with a budget that never stops it
    const sink = resolveSinks(parseConfig(cfg)).get("siem")!;
    const q = { from: body.from.replaceAll("-", ""), to: body.to.replaceAll("-", ""), tenant: "team-b" };
    const long = await backfillPage({ archive: env.ARCHIVE, deliveries, now: () => 0 }, sink, q, { objects: 10_000, bytes: Infinity, ms: Infinity, lists: 1000 });
    expect(long.cursor).toBeUndefined();
    expect(deliveries.sent.map((c) => c.body.reason)).toEqual(paged);
    expect(long.events.sent).toBe(r.reduce((a, p) => a + p.events.sent, 0));
    expect(long.objects).toBe(r.reduce((a, p) => a + p.objects, 0));
  });

  it("a cursor sent with another sink, range or filter is refused (400 naming what differs) and sends nothing; with its own it goes on", async () => {
    const first = Date.UTC(2031, 7, 1);
    await archived("bf-bound", first);
    const { deliveries, e } = setup("bf-bound");
    const e2 = { ...e, TRIBUTARY_CONFIG: JSON.stringify({ sinks: { siem: webhookSink("bf-bound-a"), other: webhookSink("bf-bound-b") }, routes: [] }) } as unknown as Env;
    const body = { sink: "siem", from: day(first), to: day(first + DAY), tenant: "team-a" };
    const res = await backfill(e2, body);
    const { cursor } = (await res.json()) as BackfillResult;
    expect(cursor).toMatch(/^ocsf\/class_uid=\d+\/event_day=\d{8}\/\w+\.ndjson\.gz@[\w-]+$/);
    deliveries.sent.length = 0;
    const refusal = async (changed: Record<string, unknown>) => {
      const r = await backfill(e2, { ...body, cursor, ...changed });
      return [r.status, ((await r.json()) as { error: string }).error];
    };
    const hint = "; resume with the sink, range and filters of the call that answered it, or send no cursor to start over";
    expect(await refusal({ sink: "other" })).toEqual([400, `cursor: it belongs to another backfill: sink "siem" (this call: "other")${hint}`]);
    expect(await refusal({ tenant: "team-b" })).toEqual([400, `cursor: it belongs to another backfill: tenant "team-a" (this call: "team-b")${hint}`]);
    expect(await refusal({ to: day(first + 2 * DAY), source: "falco" })).toEqual([
      400,
      `cursor: it belongs to another backfill: to "${day(first + DAY)}" (this call: "${day(first + 2 * DAY)}"), source none (this call: ["falco"])${hint}`,
    ]);
    expect(await refusal({ cursor: cursor!.split("@")[0] })).toEqual([400, expect.stringMatching(/^cursor: not a cursor of a backfill answer/)]);
    expect(deliveries.sent).toEqual([]);
    expect((await backfill(e2, { ...body, cursor })).status).toBe(200);
    expect(deliveries.sent.length).toBeGreaterThan(0);
  });

  it("a corrupt object is skipped and named, a bad line counted; the others are sent", async () => {
    const first = Date.UTC(2031, 5, 1);
    const events = await archived("bf-corrupt", first);
    const cls = events[0]!.class_uid;
    const dir = `ocsf/class_uid=${cls}/event_day=${day(first).replaceAll("-", "")}`;
    await env.ARCHIVE.put(`${dir}/0-corrupt.ndjson.gz`, new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]));
    const good = { ...events[0]!, metadata: { ...events[0]!.metadata, uid: "bf-corrupt-line" } };
    const text = `${JSON.stringify(good)}\n{"cut": \n`;
    const gz = new Uint8Array(await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
    await env.ARCHIVE.put(`${dir}/1-badline.ndjson.gz`, gz);
    const { key, deliveries, e } = setup("bf-corrupt");
    const r = await pages(e, { sink: "siem", from: day(first), to: day(first), class_uid: cls });
    const skipped = r.flatMap((p) => p.skipped);
    expect(skipped.map((s) => s.key)).toEqual([`${dir}/0-corrupt.ndjson.gz`, `${dir}/1-badline.ndjson.gz`]);
    expect(skipped[0]!.reason).toMatch(/^not gzip NDJSON: /);
    expect(skipped[1]!.reason).toBe("1 line is not a JSON event (the object's other lines were read)");
    await drainDeliveries(deliveries, e);
    const want = events.filter((x) => x.class_uid === cls && x.time < first + DAY);
    expect(await received(key)).toEqual([...uids(want), "bf-corrupt-line"].sort());
  });

  it("the queue refusing answers 503 with Retry-After and the cursor before the object; the retry goes on from there", async () => {
    const first = Date.UTC(2031, 6, 1);
    const events = await archived("bf-queue", first);
    const { deliveries, e } = setup("bf-queue");
    const body = { sink: "siem", from: day(first), to: day(first) };
    deliveries.fail = true;
    const res = await backfill(e, body);
    expect([res.status, res.headers.get("retry-after")]).toEqual([503, "10"]);
    const refused = (await res.json()) as BackfillResult;
    expect(refused).toMatchObject({ objects: 0, events: { sent: 0 }, error: expect.stringMatching(/Too Many Requests/) });
    deliveries.fail = false;
    const r = await pages(e, { ...body, ...(refused.cursor ? { cursor: refused.cursor } : {}) });
    const sent = deliveries.sent.flatMap((c) => (c.body.ndjson ?? "").split("\n").map((l) => (JSON.parse(l) as OcsfEvent).metadata.uid!));
    expect(sent.sort()).toEqual(uids(events.filter((x) => x.time < first + DAY)));
    expect(r.at(-1)!.cursor).toBeUndefined();
  });
});

describe("POST /v1/backfill: refusals", () => {
  const { e } = setup("bf-refuse");
  const error = async (body: unknown) => {
    const res = await backfill(e, body);
    return [res.status, ((await res.json()) as { error: string }).error];
  };

  it("400: a sink that is not configured (naming those that are), the archive itself, a range over 31 days or backwards, a bad day or field", async () => {
    expect(await error({ sink: "nope", from: "2031-01-01", to: "2031-01-02" })).toEqual([400, 'sink: "nope" is not configured (configured: siem)']);
    expect(await error({ sink: "archive", from: "2031-01-01", to: "2031-01-02" })).toEqual([400, expect.stringMatching(/^sink: "archive" is the archive itself/)]);
    expect(await error({ sink: "siem", from: "2031-01-01", to: "2031-02-02" })).toEqual([400, "from 2031-01-01 to 2031-02-02 is 32 days: at most 31 per backfill (run one per month)"]);
    expect((await error({ sink: "siem", from: "2031-01-01", to: "2031-02-01" }))[0]).toBe(200);
    expect(await error({ sink: "siem", from: "2031-01-02", to: "2031-01-01" })).toEqual([400, "to (2031-01-01) is before from (2031-01-02)"]);
    expect(await error({ sink: "siem", from: "2031-02-30", to: "2031-03-01" })).toEqual([400, "from: expected an event day yyyy-mm-dd"]);
    expect(await error({ sink: "siem", from: "2031-01-01" })).toEqual([400, expect.stringMatching(/^to: /)]);
    expect(await error({ sink: "siem", from: "2031-01-01", to: "2031-01-01", source: "Falco" })).toEqual([400, expect.stringMatching(/^source: /)]);
    expect(await error({ sink: "siem", from: "2031-01-01", to: "2031-01-01", cursor: "dlq/x" })).toEqual([400, expect.stringMatching(/^cursor: /)]);
    expect(await error({ sink: "siem", from: "2031-01-01", to: "2031-01-01", extra: 1 })).toEqual([400, expect.stringMatching(/extra/)]);
  });

  it("a tenant no ingest credential has (a typo) gets a note naming the config's tenants; a configured one none", async () => {
    const cfg = { sinks: { siem: webhookSink("bf-note") }, auth: { tokens: [{ tenant: "team-a", token: "tok-a-51c0" }, { tenant: "team-b", token: "tok-b-77e2" }] } };
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: stubDeliveries() } as unknown as Env;
    const noteFor = async (tenant: string) => ((await (await backfill(e, { sink: "siem", from: "2031-01-01", to: "2031-01-01", tenant })).json()) as { note?: string }).note;
    expect(await noteFor("team_a")).toBe('no ingest credential of the config has tenant "team_a" (tenants: team-a, team-b); a removed tenant\'s events are still found');
    expect(await noteFor("team-a")).toBeUndefined();
  });

  it("admin only, in production too: no token 401, an ingest token 403, the admin token 200; no admin token configured: 403", async () => {
    const cfg = {
      sinks: { siem: webhookSink("bf-auth") },
      auth: { tokens: [{ tenant: "team-a", token: { env: "INGEST_TOK" } }] },
      delivery: { adminToken: { env: "ADMIN_TOK" } },
    };
    const prod = { ...env, TRIBUTARY_DEV: "false", TRIBUTARY_CONFIG: JSON.stringify(cfg), INGEST_TOK: "ingest-4b1c9e", ADMIN_TOK: "admin-8d2f0a", DELIVERIES: stubDeliveries() } as unknown as Env;
    const body = JSON.stringify({ sink: "siem", from: "2031-01-01", to: "2031-01-01" });
    const as = (token?: string) => callWorker(prod, "/v1/backfill", { method: "POST", body, headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) } });
    expect((await as()).status).toBe(401);
    expect((await as("ingest-4b1c9e")).status).toBe(403);
    expect((await as("admin-8d2f0a")).status).toBe(200);
    const open = { ...env, TRIBUTARY_DEV: "false", TRIBUTARY_CONFIG: JSON.stringify({ sinks: cfg.sinks }) } as unknown as Env;
    const closed = await callWorker(open, "/v1/backfill", { method: "POST", body });
    expect(closed.status).toBe(403);
    expect(((await closed.json()) as { error: string }).error).toMatch(/needs delivery\.adminToken/);
  });
});
