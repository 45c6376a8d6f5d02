// A tenant's view of the dead letters: GET /v1/dlq?tenant= lists the dead letters holding events of that tenant
// (metadata.tenant_uid), from the `tenants` R2 metadata written with each record, else from the record itself.
import { env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { writeDeadLetter, type DeadLetterInfo } from "../../src/deliver/dlq";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { uniqueFixtureEvents, callWorker } from "../support/delivery";

interface Listing {
  tenant?: string;
  dead: DeadLetterInfo[];
  records: number;
  events: number;
  more?: boolean;
  unchecked?: number;
  error?: string;
}

const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify({}) } as unknown as Env;
const list = async (query: string) => {
  const res = await callWorker(e, `/v1/dlq?${query}`);
  return { status: res.status, body: (await res.json()) as Listing };
};

/** Fixture events filed under tenants: the i-th event gets tenants[i] (undefined: no tenant_uid). */
function ofTenants(events: OcsfEvent[], tenants: (string | undefined)[]): OcsfEvent[] {
  return tenants.map((t, i) => {
    const { tenant_uid: _none, ...metadata } = events[i]!.metadata;
    return { ...events[i]!, metadata: t === undefined ? metadata : { ...metadata, tenant_uid: t } };
  });
}

describe("GET /v1/dlq?tenant=", () => {
  it("lists only dead letters holding the tenant's events, counts its events, and stores the counts with each record", async () => {
    const sink = `tn${Date.now().toString(36)}`;
    const base = { sink, type: "webhook", attempts: 1, first_attempt_at: new Date(0).toISOString(), reason: "webhook HTTP 400: bad" };
    const now = Date.UTC(2027, 0, 20);
    const ev = uniqueFixtureEvents().slice(0, 8);
    const onlyA = await writeDeadLetter(env.ARCHIVE, { ...base, events: ofTenants(ev.slice(0, 2), ["team-a", "team-a"]) }, now);
    const mixed = await writeDeadLetter(env.ARCHIVE, { ...base, events: ofTenants(ev.slice(2, 5), ["team-b", "team-a", undefined]) }, now);
    const onlyB = await writeDeadLetter(env.ARCHIVE, { ...base, events: ofTenants(ev.slice(5, 6), ["team-b"]) }, now);
    // a "constructor" tenant is a name like any other (no prototype member is read as a count)
    const odd = await writeDeadLetter(env.ARCHIVE, { ...base, events: ofTenants(ev.slice(6, 7), ["constructor"]) }, now);
    expect((await env.ARCHIVE.head(mixed))?.customMetadata?.tenants).toBe(JSON.stringify([["team-b", 1], ["team-a", 1]]));
    // written before the metadata was stored: read from the record's events
    const old = `dlq/${sink}/20270120/old-record.json`;
    const oldRecord = { v: 1, ...base, dead_at: new Date(now).toISOString(), count: 1, events: ofTenants(ev.slice(7, 8), ["team-a"]) };
    await env.ARCHIVE.put(old, JSON.stringify(oldRecord), { customMetadata: { sink, count: "1", attempts: "1", status: "400", reason: base.reason } });

    const a = await list(`tenant=team-a&sink=${sink}`);
    expect(a.status).toBe(200);
    expect(a.body.dead.map((d) => d.key).sort()).toEqual([onlyA, mixed, old].sort());
    expect(a.body).toMatchObject({ tenant: "team-a", records: 3, events: 4, more: false });
    expect(a.body.dead.find((d) => d.key === mixed)?.tenants).toEqual({ "team-b": 1, "team-a": 1 });
    expect(a.body.dead.find((d) => d.key === old)?.tenants).toEqual({ "team-a": 1 });

    const b = await list(`tenant=team-b&sink=${sink}`);
    expect(b.body.dead.map((d) => d.key).sort()).toEqual([mixed, onlyB].sort());
    expect(b.body.events).toBe(2);
    const c = await list(`tenant=constructor&sink=${sink}`);
    expect(c.body.dead.map((d) => d.key)).toEqual([odd]);
    expect((await list(`tenant=toString&sink=${sink}`)).body).toMatchObject({ dead: [], records: 0, events: 0 });

    // limit: the first of them, and `more` says the listing stopped there
    const first = await list(`tenant=team-a&sink=${sink}&limit=1`);
    expect(first.body).toMatchObject({ records: 1, more: true });

    // without ?tenant= everything is listed, as before
    expect((await list(`sink=${sink}`)).body.records).toBe(5);
  });

  it("queue dead letters are not listed by tenant: 400 naming why", async () => {
    const r = await list("tenant=team-a&sink=queue:events");
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/queue dead letters \(queue:events\) are not listed by tenant/);
  });
});
