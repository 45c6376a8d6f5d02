// The dead-letter store end to end inside workerd: a sink rejects events (403), they land in the DLQ
// with the response; GET /v1/dlq lists them, /v1/dlq/object shows one, POST /v1/dlq/replay sends
// them back through DELIVERIES once the sink is fixed, and every event arrives exactly once.
import { env } from "cloudflare:test";
import { describe, it, expect, inject } from "vitest";
import { writeDeadLetter, type DeadLetter, type DeadLetterInfo } from "../../src/deliver/dlq";
import { freshBucket, readEvents, uidOfPlain } from "../support/s3-read";
import { gateControl } from "../support/gate-client";
import { uniqueFixtureEvents, eventsMessages, stubDeliveries, runBatch, drainDeliveries, callWorker, EVENTS_QUEUE } from "../support/delivery";

const s3Endpoint = inject("s3Endpoint");
const s3Gate = inject("s3Gate");

const denied = { status: 403, headers: { "content-type": "application/xml" }, body: "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>" };

/** An Elasticsearch sink's dead letters to write: a fresh sink name, three events, the record's fixed fields, a 200 bulk answer. */
function esDeadLetters(prefix: string) {
  const sink = `${prefix}${Date.now().toString(36)}`;
  const base = { sink, type: "elasticsearch", first_attempt_at: new Date(0).toISOString() };
  return { sink, events: uniqueFixtureEvents().slice(0, 3), base, ok: { status: 200, headers: {}, body: '{"errors":true,"items":[]}' } };
}

describe("GET /v1/dlq: a bulk item's own status", () => {
  it("a dead letter of an item refused in a 200 bulk answer lists the item's status beside the answer's", async () => {
    const { sink, events, base, ok } = esDeadLetters("es");
    const now = Date.UTC(2027, 0, 15);
    await writeDeadLetter(env.ARCHIVE, { ...base, attempts: 1, reason: "item 400: mapper_parsing_exception: failed to parse field [time]", response: ok, events: [events[0]!] }, now);
    await writeDeadLetter(env.ARCHIVE, { ...base, attempts: 3, reason: "gave up after 3 attempts: item 429: es_rejected_execution_exception: queue full", response: ok, events: [events[1]!] }, now);
    await writeDeadLetter(env.ARCHIVE, { ...base, attempts: 1, reason: "Elasticsearch 400: parsing_exception: item 400: not an item", response: { ...ok, status: 400 }, events: [events[2]!] }, now);
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify({}) } as unknown as Env;
    const list = (await (await callWorker(e, `/v1/dlq?sink=${sink}`)).json()) as { dead: DeadLetterInfo[] };
    const byReason = Object.fromEntries(list.dead.map((d) => [d.reason.split(":")[0], [d.status, d.itemStatus]]));
    expect(byReason).toEqual({ "item 400": [200, 400], "gave up after 3 attempts": [200, 429], "Elasticsearch 400": [400, undefined] });
  });
});

describe("GET /v1/dlq: a bulk item's status is stored with the dead letter", () => {
  it("written as a field and R2 metadata, listed from there first; records written before it are read from their reason", async () => {
    const { sink, events, base, ok } = esDeadLetters("esf");
    const now = Date.UTC(2027, 0, 16);
    // from the reason, at write time; given by the writer (the reason need not name it); none
    const fromReason = await writeDeadLetter(env.ARCHIVE, { ...base, attempts: 1, reason: "item 400: mapper_parsing_exception: failed to parse field [time]", response: ok, events: [events[0]!] }, now);
    const given = await writeDeadLetter(env.ARCHIVE, { ...base, attempts: 2, reason: "refused by the bulk answer", response: ok, item_status: 413, events: [events[1]!] }, now);
    const none = await writeDeadLetter(env.ARCHIVE, { ...base, attempts: 1, reason: "bulk response has no item for this event", response: ok, events: [events[2]!] }, now);
    expect((await env.ARCHIVE.head(fromReason))?.customMetadata).toMatchObject({ status: "200", item_status: "400" });
    expect(((await (await env.ARCHIVE.get(fromReason))!.json()) as DeadLetter).item_status).toBe(400);
    expect((await env.ARCHIVE.head(given))?.customMetadata).toMatchObject({ item_status: "413" });
    expect((await env.ARCHIVE.head(none))?.customMetadata).toMatchObject({ item_status: "" });
    expect(((await (await env.ARCHIVE.get(none))!.json()) as DeadLetter).item_status).toBeUndefined();
    // the stored field is read first: metadata that disagrees with the reason wins, and "" means none
    const meta = (m: Record<string, string>) => ({ customMetadata: { sink, count: "1", attempts: "1", ...m } });
    const day = `dlq/${sink}/20270116`;
    await env.ARCHIVE.put(`${day}/stored-503.json`, "{}", meta({ status: "200", item_status: "503", reason: "item 400: stale text" }));
    await env.ARCHIVE.put(`${day}/stored-none.json`, "{}", meta({ status: "200", item_status: "", reason: "item 400: stale text" }));
    // written before the field: no item_status key, so the reason is read (as before)
    await env.ARCHIVE.put(`${day}/old-400.json`, "{}", meta({ status: "200", reason: "item 400: mapper_parsing_exception: failed" }));
    await env.ARCHIVE.put(`${day}/old-429.json`, "{}", meta({ status: "200", reason: "gave up after 3 attempts: item 429: es_rejected_execution_exception" }));
    await env.ARCHIVE.put(`${day}/old-http.json`, "{}", meta({ status: "400", reason: "Elasticsearch 400: parsing_exception: item 400: not an item" }));
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify({}) } as unknown as Env;
    const list = (await (await callWorker(e, `/v1/dlq?sink=${sink}`)).json()) as { dead: DeadLetterInfo[] };
    const byKey = Object.fromEntries(list.dead.map((d) => [d.key, [d.status, d.itemStatus]]));
    expect(byKey).toEqual({
      [fromReason]: [200, 400],
      [given]: [200, 413],
      [none]: [200, undefined],
      [`${day}/stored-503.json`]: [200, 503],
      [`${day}/stored-none.json`]: [200, undefined],
      [`${day}/old-400.json`]: [200, 400],
      [`${day}/old-429.json`]: [200, 429],
      [`${day}/old-http.json`]: [400, undefined],
    });
  });
});

describe("npm run dlq: list, show, replay", () => {
  it("dead letters are listed with their response, replayed to the fixed sink, and removed", async () => {
    const bucket = await freshBucket(s3Endpoint, "replay");
    const sink = `replay${Date.now().toString(36)}`;
    const cfg = {
      sinks: { [sink]: { type: "s3", bucket, endpoint: s3Gate, forcePathStyle: true, accessKeyId: "S3RVER", secretAccessKey: { env: "S3_SECRET" } } },
      routes: [{ match: { source: ["falco", "k8s_audit"] }, sinks: [sink] }],
    };
    const deliveries = stubDeliveries();
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: deliveries, S3_SECRET: "S3RVER" } as unknown as Env;
    const events = uniqueFixtureEvents().filter((x) => ["Falco", "Kubernetes"].includes(x.metadata.product.name));
    await gateControl.script(s3Gate, bucket, Array.from({ length: 50 }, () => denied));
    await runBatch(EVENTS_QUEUE, eventsMessages(cfg, events), e);
    expect(deliveries.sent).toEqual([]);

    const list = (await (await callWorker(e, `/v1/dlq?sink=${sink}`)).json()) as { dead: DeadLetterInfo[]; events: number };
    expect(list.events).toBe(events.length);
    for (const d of list.dead) expect(d).toMatchObject({ sink, attempts: 1, status: 403, reason: expect.stringMatching(/AccessDenied/) });

    const one = (await (await callWorker(e, `/v1/dlq/object/${encodeURIComponent(list.dead[0]!.key)}`)).json()) as DeadLetter;
    expect(one.response).toMatchObject({ status: 403, body: "AccessDenied: Access Denied" });
    expect(one.events).toHaveLength(list.dead[0]!.count);

    // the sink is fixed (the gate's script is cleared): replay
    await fetch(`${s3Gate}/__gate/${bucket}`, { method: "DELETE" });
    const rep = await callWorker(e, "/v1/dlq/replay", { method: "POST", body: JSON.stringify({ sink }) });
    expect(rep.status).toBe(200);
    const replay = (await rep.json()) as { replayed: { key: string }[]; failed: unknown[]; events: number };
    expect(replay).toMatchObject({ failed: [], events: events.length });
    expect(deliveries.sent.every((c) => c.body.attempt === 1 && c.body.sink === sink && c.delaySeconds === 0)).toBe(true);
    expect(((await (await callWorker(e, `/v1/dlq?sink=${sink}`)).json()) as { dead: unknown[] }).dead).toEqual([]);

    await drainDeliveries(deliveries, e);
    const stored = (await readEvents(s3Endpoint, bucket, events.length)).events.map(uidOfPlain).sort();
    expect(stored).toEqual(events.map((x) => x.metadata.uid!).sort());
  });

  it("replay says when dead letters are left beyond its limit (more), and not once the last call took the rest", async () => {
    const { sink, events, base, ok } = esDeadLetters("more");
    const cfg = { sinks: { [sink]: { type: "elasticsearch", url: "http://127.0.0.1:9" } } };
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg), DELIVERIES: stubDeliveries() } as unknown as Env;
    for (const ev of events) await writeDeadLetter(env.ARCHIVE, { ...base, attempts: 1, reason: "item 400: bad", response: ok, events: [ev] }, Date.UTC(2027, 0, 17));
    const replay = async (body: object) => (await (await callWorker(e, "/v1/dlq/replay", { method: "POST", body: JSON.stringify({ sink, ...body }) })).json()) as { replayed: unknown[]; more?: boolean };
    const first = await replay({ limit: 2 });
    expect([first.replayed.length, first.more]).toEqual([2, true]);
    const last = await replay({ limit: 1 });
    expect([last.replayed.length, last.more]).toEqual([1, undefined]);
    expect(await replay({})).toEqual({ replayed: [], failed: [], events: 0 });
  });

  it("list ?tenant= of a tenant no ingest credential has (a typo) adds a note naming the config's tenants", async () => {
    const cfg = { auth: { tokens: [{ tenant: "team-a", token: "tok-a-51c0" }], hmac: [{ tenant: "team-c", secret: "hmac-c-9f3d" }] } };
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(cfg) } as unknown as Env;
    const noteFor = async (tenant: string) => ((await (await callWorker(e, `/v1/dlq?tenant=${tenant}`)).json()) as { note?: string }).note;
    expect(await noteFor("team_c")).toBe('no ingest credential of the config has tenant "team_c" (tenants: team-a, team-c); a removed tenant\'s events are still found');
    expect([await noteFor("team-a"), await noteFor("team-c")]).toEqual([undefined, undefined]);
  });

  it("replay refuses records of a sink that is no longer configured, and bad bodies", async () => {
    const sink = `gone${Date.now().toString(36)}`;
    const e0 = { ...env, TRIBUTARY_CONFIG: "{}", DELIVERIES: stubDeliveries() } as unknown as Env;
    const events = uniqueFixtureEvents(["falco"]).slice(0, 2);
    await runBatch(EVENTS_QUEUE, [{ v: 1, sinks: [sink], count: 2, ndjson: events.map((x) => JSON.stringify(x)).join("\n") }], e0);
    const rep = await callWorker(e0, "/v1/dlq/replay", { method: "POST", body: JSON.stringify({ sink }) });
    expect(rep.status).toBe(502);
    const body = (await rep.json()) as { failed: { error: string }[] };
    expect(body.failed[0]!.error).toMatch(/is not configured/);
    expect((await callWorker(e0, "/v1/dlq/replay", { method: "POST", body: '{"keys": ["nope"]}' })).status).toBe(400);
    expect((await callWorker(e0, "/v1/dlq/replay", { method: "POST", body: "{" })).status).toBe(400);
  });

  it("outside development the endpoints need delivery.adminToken", async () => {
    const open = { ...env, TRIBUTARY_DEV: "false", TRIBUTARY_CONFIG: "{}" } as unknown as Env;
    expect((await callWorker(open, "/v1/dlq")).status).toBe(403);
    const guarded = { ...env, TRIBUTARY_DEV: "false", TRIBUTARY_CONFIG: JSON.stringify({ delivery: { adminToken: { env: "ADMIN" } } }), ADMIN: "s3cret-admin" } as unknown as Env;
    expect((await callWorker(guarded, "/v1/dlq")).status).toBe(401);
    expect((await callWorker(guarded, "/v1/dlq", { headers: { authorization: "Bearer wrong" } })).status).toBe(403);
    const ok = await callWorker(guarded, "/v1/dlq", { headers: { authorization: "Bearer s3cret-admin" } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ dead: expect.any(Array) });
  });

  it("in local development a configured delivery.adminToken is enforced too; without one the endpoints stay open", async () => {
    const admin = JSON.stringify({ delivery: { adminToken: { env: "ADMIN" } } });
    const dev = { ...env, TRIBUTARY_DEV: "true", TRIBUTARY_CONFIG: admin, ADMIN: "s3cret-admin" } as unknown as Env;
    for (const path of ["/v1/dlq", "/v1/dlq/object/dlq%2Fx%2F20260101%2Fnone.json"]) {
      expect((await callWorker(dev, path)).status, path).toBe(401);
      const wrong = await callWorker(dev, path, { headers: { authorization: "Bearer wrong" } });
      expect(wrong.status, path).toBe(403);
      expect(await wrong.text()).not.toContain('"dead"');
    }
    expect((await callWorker(dev, "/v1/dlq/replay", { method: "POST", body: "{}", headers: { authorization: "Bearer wrong" } })).status).toBe(403);
    expect((await callWorker(dev, "/v1/dlq", { headers: { authorization: "Bearer s3cret-admin" } })).status).toBe(200);
    // configured, but the secret is not set: closed (503 names the secret), not open
    const unset = { ...env, TRIBUTARY_DEV: "true", TRIBUTARY_CONFIG: admin } as unknown as Env;
    const u = await callWorker(unset, "/v1/dlq");
    expect(u.status).toBe(503);
    expect(((await u.json()) as { error: string }).error).toContain("ADMIN");
    const open = { ...env, TRIBUTARY_DEV: "true", TRIBUTARY_CONFIG: "{}" } as unknown as Env;
    expect((await callWorker(open, "/v1/dlq")).status).toBe(200);
  });
});

describe("npm run dlq -- replay while the sink still fails (the replay race)", () => {
  // a sink that dead-letters every send without the network: its token's secret is not set
  const failing = (sink: string) => ({ sinks: { [sink]: { type: "splunk_hec", url: "http://127.0.0.1:9/hec", token: { env: "HEC_TOKEN_UNSET" } } } });
  type Listed = { dead: DeadLetterInfo[]; events: number };
  type Replayed = { replayed: { key: string }[]; failed: { key: string; error: string }[] };

  it("the consumer dead-letters the replayed events again before the replay's delete: the new dead letter stays", async () => {
    const sink = `race${Date.now().toString(36)}`;
    const events = uniqueFixtureEvents(["falco"]).slice(0, 3);
    const key = await writeDeadLetter(env.ARCHIVE, { sink, type: "splunk_hec", attempts: 1, first_attempt_at: new Date(0).toISOString(), reason: "first failure", events }, Date.now());
    // the queue hands each replayed message to the consumer before send() returns: the interleaving that lost them
    const consumed: string[] = [];
    const deliveries = {
      sent: [] as unknown[],
      async send(body: unknown) {
        consumed.push(...(await runBatch("tributary-deliveries", [body], e)).acked);
      },
    };
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(failing(sink)), DELIVERIES: deliveries } as unknown as Env;
    const rep = (await (await callWorker(e, "/v1/dlq/replay", { method: "POST", body: JSON.stringify({ sink }) })).json()) as Replayed;
    expect([rep.replayed.map((r) => r.key), rep.failed, consumed.length]).toEqual([[key], [], 1]);
    const list = (await (await callWorker(e, `/v1/dlq?sink=${sink}`)).json()) as Listed;
    expect(list.dead.map((d) => [d.key, d.count, d.reason])).toEqual([[key, 3, expect.stringContaining("HEC_TOKEN_UNSET")]]);
    const rec = (await (await callWorker(e, `/v1/dlq/object/${encodeURIComponent(key)}`)).json()) as DeadLetter;
    expect(rec.events.map((x) => x.metadata.uid).sort()).toEqual(events.map((x) => x.metadata.uid).sort());
  });

  it("a replay that could not send keeps the dead letter aside (listed as replaying), and replaying that sends it and removes it", async () => {
    const sink = `aside${Date.now().toString(36)}`;
    const events = uniqueFixtureEvents(["falco"]).slice(3, 5);
    const key = await writeDeadLetter(env.ARCHIVE, { sink, type: "splunk_hec", attempts: 1, first_attempt_at: new Date(0).toISOString(), reason: "first failure", events }, Date.now());
    const deliveries = stubDeliveries();
    deliveries.fail = true;
    const e = { ...env, TRIBUTARY_CONFIG: JSON.stringify(failing(sink)), DELIVERIES: deliveries } as unknown as Env;
    const rep = await callWorker(e, "/v1/dlq/replay", { method: "POST", body: JSON.stringify({ sink }) });
    expect(rep.status).toBe(502);
    const pending = key.replace(/\.json$/, ".replaying.json");
    expect(((await rep.json()) as Replayed).failed).toEqual([{ key, error: `Queue send failed: Too Many Requests; the dead letter is kept as ${pending}` }]);
    const list = (await (await callWorker(e, `/v1/dlq?sink=${sink}`)).json()) as Listed;
    expect(list.dead.map((d) => [d.key, d.sink, d.count, d.reason, typeof d.replaying])).toEqual([[pending, sink, 2, "first failure", "string"]]);
    deliveries.fail = false;
    const again = (await (await callWorker(e, "/v1/dlq/replay", { method: "POST", body: JSON.stringify({ sink }) })).json()) as Replayed;
    expect([again.replayed.map((r) => r.key), again.failed]).toEqual([[pending], []]);
    expect(deliveries.sent.map((c) => c.body.count)).toEqual([2]);
    expect(((await (await callWorker(e, `/v1/dlq?sink=${sink}`)).json()) as Listed).dead).toEqual([]);
  });
});
