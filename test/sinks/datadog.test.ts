import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { datadog, type DatadogConfig } from "../../src/sinks/datadog";
import { unsentOutcomes, type SinkContext, type SinkRequest } from "../../src/sinks/types";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { NOW, deliverAll, fixtureEvents, manyEvents, plain, send, startDatadog, uids, type DatadogServer } from "../support/siem-servers";

const KEY = "0123456789abcdef0123456789abcdef";
const ctx: SinkContext = { env: { DD_API_KEY: KEY }, now: NOW };
const events = fixtureEvents();

let dd: DatadogServer;
beforeEach(async () => {
  dd = await startDatadog({ apiKey: KEY });
});
afterEach(() => dd.close());

const config = (extra: Record<string, unknown> = {}): DatadogConfig => datadog.schema.parse({ url: dd.url, apiKey: { env: "DD_API_KEY" }, ...extra });

async function sendOne(req: SinkRequest, cfg: DatadogConfig) {
  return datadog.classify(await send(datadog, req, cfg, ctx), req, cfg);
}

/** The OCSF event a stored Datadog log carries (message JSON or the ocsf attribute). */
const ocsfOf = (entry: Record<string, unknown>): unknown => (typeof entry.ocsf === "object" ? entry.ocsf : JSON.parse(entry.message as string));

describe("datadog_logs sink", () => {
  it("posts every fixture event as a gzip JSON array with the API key; message is the OCSF JSON", async () => {
    const cfg = config({ tags: ["env:test"] });
    const reqs = await datadog.encode(events, cfg, ctx);
    expect(reqs).toHaveLength(1);
    const req = reqs[0]!;
    expect(req.url).toBe(`${dd.url}/api/v2/logs`);
    expect(req.headers["dd-api-key"]).toBe(KEY);
    expect(req.headers["content-encoding"]).toBe("gzip");
    expect(JSON.parse(strFromU8(gunzipSync(req.body as Uint8Array)))).toHaveLength(events.length);
    expect((await sendOne(req, cfg)).outcome).toEqual({ kind: "delivered" });

    expect(dd.logs.map((l) => ocsfOf(l.entry))).toEqual(events.map(plain));
    events.forEach((e, k) => {
      const entry = dd.logs[k]!.entry;
      expect(dd.logs[k]!.truncated).toBe(false);
      expect(entry.ddsource).toBe("tributary");
      expect(entry.service).toBe("tributary");
      // the fixtures' times are long before NOW (or ahead of it): late, so no timestamp (Datadog stamps them on intake)
      const late = NOW - e.time > 17 * 3_600_000 || e.time - NOW > 3_600_000;
      expect(entry.ddtags).toBe(`class_uid:${e.class_uid},severity:${e.severity!.toLowerCase()},env:test${late ? ",tributary_late:true" : ""}`);
      expect(entry.timestamp).toBe(late ? undefined : e.time);
      const host = (e.device as { hostname?: string } | undefined)?.hostname;
      if (host) expect(entry.hostname).toBe(host);
    });
    expect(dd.logs.find((l) => (ocsfOf(l.entry) as OcsfEvent).severity_id === 5)?.entry.status).toBe("critical");
  });

  it("an event older than lateAfterMs at delivery goes without timestamp and tagged tributary_late:true, so Datadog (18 h rule) keeps it", async () => {
    await dd.close();
    dd = await startDatadog({ apiKey: KEY, now: () => NOW });
    const at = (e: OcsfEvent, ageMs: number): OcsfEvent => ({ ...e, time: NOW - ageMs, metadata: { ...e.metadata, uid: `${e.metadata.uid}-${ageMs}` } });
    const hour = 3_600_000;
    const batch = [at(events[0]!, hour), at(events[1]!, 16.9 * hour), at(events[2]!, 17 * hour + 1), at(events[3]!, 3 * 24 * hour)];
    const log = await deliverAll(datadog, batch, config({ compression: "none" }), ctx, 2);
    expect(log.delivered.size).toBe(4);
    expect(dd.dropped).toEqual([]);
    const stored = dd.logs.map((l) => l.entry);
    expect(stored.map((x) => x.timestamp)).toEqual([batch[0]!.time, batch[1]!.time, undefined, undefined]);
    expect(stored.map((x) => String(x.ddtags).endsWith(",tributary_late:true"))).toEqual([false, false, true, true]);
    expect(stored.map((x) => (ocsfOf(x) as OcsfEvent).time)).toEqual(batch.map((e) => e.time));
    // configurable; and the fake drops what the real intake would: a timestamp over 18 h old
    const [req] = await datadog.encode(batch, config({ compression: "none", lateAfterMs: 2 * hour }), ctx);
    expect((JSON.parse(req!.body as string) as { timestamp?: number }[]).map((x) => x.timestamp)).toEqual([batch[0]!.time, undefined, undefined, undefined]);
    const old = JSON.stringify([{ message: "x", timestamp: NOW - 19 * hour }]);
    expect((await send(datadog, { ...req!, events: [0], body: old }, config(), ctx)).status).toBe(202);
    expect(dd.dropped).toHaveLength(1);
    expect(() => config({ lateAfterMs: 19 * hour })).toThrow();
  });

  it("an event more than aheadAfterMs in the future (a sensor clock in 2038, 9999) goes without timestamp, tagged tributary_late:true: Datadog takes 2 h ahead", async () => {
    const hour = 3_600_000;
    const at = (e: OcsfEvent, time: number): OcsfEvent => ({ ...e, time, metadata: { ...e.metadata, uid: `${e.metadata.uid}-${time}` } });
    const batch = [at(events[0]!, NOW + 0.5 * hour), at(events[1]!, NOW + hour), at(events[2]!, NOW + hour + 1), at(events[3]!, Date.UTC(2038, 0, 19)), at(events[4]!, Date.UTC(9999, 11, 31)), at(events[5]!, Number.NaN)];
    const [req] = await datadog.encode(batch, config({ compression: "none" }), ctx);
    const sent = JSON.parse(req!.body as string) as { timestamp?: number; ddtags: string }[];
    expect(sent.map((x) => x.timestamp)).toEqual([batch[0]!.time, batch[1]!.time, undefined, undefined, undefined, undefined]);
    expect(sent.map((x) => x.ddtags.endsWith(",tributary_late:true"))).toEqual([false, false, true, true, true, true]);
    const [req2] = await datadog.encode(batch, config({ compression: "none", aheadAfterMs: 2 * hour }), ctx);
    expect((JSON.parse(req2!.body as string) as { timestamp?: number }[]).map((x) => x.timestamp)).toEqual([batch[0]!.time, batch[1]!.time, batch[2]!.time, undefined, undefined, undefined]);
    expect(() => config({ aheadAfterMs: 3 * hour })).toThrow();
  });

  it("messageFormat attributes: the event under `ocsf`, a readable message, templated ddsource", async () => {
    const cfg = config({ messageFormat: "attributes", ddsource: "{product}", service: "ocsf-{class_uid}", compression: "none" });
    const [req] = await datadog.encode(events.slice(0, 4), cfg, ctx);
    expect(typeof req!.body).toBe("string");
    await sendOne(req!, cfg);
    expect(dd.logs.map((l) => l.entry.ocsf)).toEqual(events.slice(0, 4).map(plain));
    expect(dd.logs[0]!.entry.ddsource).toBe(events[0]!.metadata.product.name.toLowerCase());
    expect(dd.logs[0]!.entry.service).toBe(`ocsf-${events[0]!.class_uid}`);
    expect(typeof dd.logs[0]!.entry.message).toBe("string");
  });

  it("splits at 1000 entries and at maxBytes; the server's limits accept every request", async () => {
    const many = manyEvents(2300);
    const cfg = config();
    const reqs = await datadog.encode(many, cfg, ctx);
    expect(reqs.map((r) => r.events.length)).toEqual([1000, 1000, 300]);
    const small = config({ maxBytes: 300_000 });
    const smallReqs = await datadog.encode(many.slice(0, 400), small, ctx);
    expect(smallReqs.length).toBeGreaterThan(2);
    for (const r of smallReqs) expect(Buffer.byteLength(strFromU8(gunzipSync(r.body as Uint8Array)))).toBeLessThanOrEqual(300_000);
    const log = await deliverAll(datadog, many, cfg, ctx, 1);
    expect(log.delivered.size).toBe(2300);
    expect(uids(dd.logs.map((l) => ocsfOf(l.entry)))).toEqual(uids(many));
    expect(() => datadog.schema.parse({ apiKey: "k", maxEvents: 1001 })).toThrow();
  });

  it("rejects a log over 1 MB instead of sending it truncated; the rest of the batch is sent", async () => {
    const huge: OcsfEvent = { ...events[0]!, metadata: { ...events[0]!.metadata, uid: "huge" }, raw_data: "x".repeat(1_100_000) };
    const batch = [events[1]!, huge, events[2]!];
    const cfg = config();
    const reqs = await datadog.encode(batch, cfg, ctx);
    expect(reqs.flatMap((r) => r.events)).toEqual([0, 2]);
    const unsent = unsentOutcomes(datadog, batch, reqs, cfg, ctx);
    expect(unsent.get(1)).toMatchObject({ kind: "reject", reason: expect.stringMatching(/log entry is \d+ bytes, over the 1000000-byte limit/) });
    const log = await deliverAll(datadog, batch, cfg, ctx, 1);
    expect([...log.rejected.keys()]).toEqual([1]);
    expect(uids(dd.logs.map((l) => ocsfOf(l.entry)))).toEqual(uids([events[1]!, events[2]!]));
    expect(dd.logs.every((l) => !l.truncated)).toBe(true);
  });

  it("rejects 400/401/403/413; retries 408, 429 (Retry-After) and 5xx", async () => {
    const cfg = config();
    const [req] = await datadog.encode(events.slice(0, 2), cfg, ctx);
    const wrong = config({ apiKey: "wrong" });
    const [bad] = await datadog.encode(events.slice(0, 2), wrong, ctx);
    // a refused key marks the sink gone (src/deliver/gone.ts), naming where the key is set
    const refused = await sendOne(bad!, wrong);
    expect(refused.gone).toBe(true);
    expect(refused.outcome).toEqual({
      kind: "reject",
      reason: expect.stringMatching(/^Datadog HTTP 403: .*; Datadog refused the API key \(revoked, mistyped, an application key, or a key of another site than http:\/\/127\.0\.0\.1:\d+\): set a valid API key in the sink's apiKey \(Organization Settings > API Keys\), then replay: npm run dlq -- replay --sink <name>$/),
    });
    const missing = await sendOne({ ...req!, headers: { ...req!.headers, "dd-api-key": "" } }, cfg);
    expect(missing).toMatchObject({ outcome: { kind: "reject", reason: expect.stringMatching(/^Datadog HTTP 401: .*set a valid API key in DD_API_KEY /) }, gone: true });
    dd.script.push(
      { status: 413, body: '{"errors":[{"status":"413","title":"Payload Too Large"}]}' },
      { status: 400, body: '{"errors":[{"status":"400","title":"Bad Request"}]}' },
      { status: 408, body: "" },
      { status: 429, headers: { "retry-after": "12" }, body: "" },
      { status: 500, body: "" },
      { status: 503, body: "" },
    );
    // 413 and 400: this request's fault, not the sink's
    expect(await sendOne(req!, cfg)).toEqual({ outcome: { kind: "reject", reason: expect.stringContaining("Datadog HTTP 413") } });
    expect(await sendOne(req!, cfg)).toEqual({ outcome: { kind: "reject", reason: expect.stringContaining("Datadog HTTP 400") } });
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("retry");
    expect((await sendOne(req!, cfg)).outcome).toMatchObject({ kind: "retry", afterMs: 12_000 });
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("retry");
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("retry");
    expect(dd.logs).toHaveLength(0);
  });

  it("outage and recovery: 503s and a 429, then every event stored exactly once", async () => {
    dd.script.push({ status: 503, body: "" }, { status: 429, headers: { "retry-after": "1" }, body: "" }, { status: 503, body: "" });
    const cfg = config({ maxEvents: 25 });
    const log = await deliverAll(datadog, events, cfg, ctx, 10);
    expect(log.pending).toEqual([]);
    expect(log.retries.some((r) => r.kind === "retry" && r.afterMs === 1000)).toBe(true);
    const stored = uids(dd.logs.map((l) => ocsfOf(l.entry)));
    expect(stored.sort()).toEqual(uids(events).sort());
    expect(new Set(stored).size).toBe(stored.length);
  });
});
