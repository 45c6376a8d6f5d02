// One delivery attempt against protocol-faithful fake SIEMs on 127.0.0.1: batching, per-event
// outcomes (Splunk's partial success), events a driver leaves out, encode errors, network errors,
// timeouts of the default fetch send, and "once a request failed, the rest wait" (for the whole sink,
// or only for one scope of it: a Loki org).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { attemptDelivery, type Item } from "../../src/deliver/attempt";
import { resolveSinks, type ResolvedSink } from "../../src/deliver/sinks";
import type { SinkRequest } from "../../src/sinks/types";
import { Slots } from "../../src/deliver/slots";
import { parseConfig } from "../../src/config/load";
import { fixtureEvents, startLoki, startSplunkHec, startSlack, NOW, type LokiServer, type SplunkServer, type SlackServer } from "../support/siem-servers";

const TOKEN = "11111111-2222-4333-8444-555555555555";

function sink(cfg: Record<string, unknown>): ResolvedSink {
  return resolveSinks(parseConfig({ sinks: { s: cfg } })).get("s")!;
}

let items: Item[];
let hec: SplunkServer;
let slack: SlackServer;
let hung: Server;
let hungUrl: string;
beforeAll(async () => {
  items = fixtureEvents().map((event) => ({ event, line: JSON.stringify(event) }));
  hec = await startSplunkHec({ token: TOKEN, invalid: (e) => e.event.metadata !== undefined && (e.event.metadata as { uid?: string }).uid === items[7]!.event.metadata.uid });
  slack = await startSlack();
  // a server that reads the request and never answers
  hung = createServer((req) => req.resume());
  await new Promise<void>((r) => hung.listen(0, "127.0.0.1", r));
  hungUrl = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await hec.close();
  await slack.close();
  hung.closeAllConnections();
  await new Promise((r) => hung.close(r));
});

/** A loopback URL nothing listens on (a fresh port, closed again): sending to it is a network error. */
async function closedPortUrl(): Promise<string> {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise((r) => closed.close(r));
  return url;
}

const opts = { env: { TOKEN, HOOK: "" }, now: NOW };

describe("attemptDelivery", () => {
  it("batches by maxEvents and settles every event; Splunk's invalid event is rejected, the events after it retried", async () => {
    const s = sink({ type: "splunk_hec", url: hec.url, token: { env: "TOKEN" }, batch: { maxEvents: 5 } });
    const before = hec.requests.length;
    const r = await attemptDelivery(s, items, opts);
    const settled = [...r.delivered, ...r.retry.flatMap((g) => g.indices), ...r.rejected.flatMap((g) => g.indices)].sort((a, b) => a - b);
    expect(settled).toEqual(items.map((_, i) => i));
    // items 5..9 went in the second request: 5, 6 indexed, 7 rejected, 8, 9 retried (Splunk stops at the bad event)
    expect(r.rejected).toHaveLength(1);
    expect(r.rejected[0]!.indices).toEqual([7]);
    expect(r.rejected[0]!.response).toMatchObject({ status: 400 });
    expect(r.rejected[0]!.reason).toMatch(/code 6/);
    expect(r.retry).toHaveLength(1);
    expect(r.retry[0]!.indices).toEqual([8, 9]);
    expect(r.requests).toBe(Math.ceil(items.length / 5));
    expect(hec.requests.length - before).toBe(r.requests);
    const indexed = hec.indexed.map((x) => (x.envelope.event.metadata as { uid: string }).uid);
    for (const i of r.delivered) expect(indexed).toContain(items[i]!.event.metadata.uid);
  });

  it("settles events the driver leaves out without sending them (Slack below its threshold)", async () => {
    const s = sink({ type: "slack", url: slack.hookUrl, minSeverityId: 5 });
    const before = slack.messages.length;
    const r = await attemptDelivery(s, items, opts);
    const critical = items.filter((i) => i.event.severity_id >= 5).length;
    expect(critical).toBeGreaterThan(0);
    expect(r.delivered).toHaveLength(items.length);
    expect(r.requests).toBe(critical);
    expect(slack.messages.length - before).toBe(critical);
  });

  it("Slack is paced only by its 429: after a 429 the rest of the delivery is not sent but retried after Retry-After", async () => {
    const s = sink({ type: "slack", url: slack.hookUrl, minSeverityId: 1 });
    const batch = items.filter((i) => i.event.severity_id >= 1 && i.event.severity_id !== 99).slice(0, 6);
    expect(batch.length).toBe(6);
    const before = slack.messages.length;
    // Slack takes two messages, then rate-limits this webhook
    slack.script.push({ status: 200, body: "ok" }, { status: 200, body: "ok" }, { status: 429, headers: { "retry-after": "7" }, body: "rate_limited" });
    const r = await attemptDelivery(s, batch, opts);
    expect(r.requests).toBe(3); // one request per event, one after another, stopped by the 429
    expect(r.delivered).toEqual([0, 1]);
    expect(r.retry.flatMap((g) => g.indices).sort()).toEqual([2, 3, 4, 5]);
    expect(r.retry.every((g) => g.afterMs === 7000)).toBe(true);
    expect(slack.messages.length - before).toBe(0); // the scripted answers stood in for Slack
  });

  it("rejects the events when encode fails (a missing secret), naming the cause", async () => {
    const s = sink({ type: "splunk_hec", url: hec.url, token: { env: "NOT_SET" } });
    const r = await attemptDelivery(s, items.slice(0, 3), opts);
    expect(r.requests).toBe(0);
    expect(r.rejected).toEqual([{ indices: [0, 1, 2], reason: expect.stringMatching(/NOT_SET/) }]);
  });

  it("a network error is retried, and the rest of the attempt is not sent", async () => {
    const url = await closedPortUrl();
    const s = sink({ type: "splunk_hec", url, token: { env: "TOKEN" }, batch: { maxEvents: 4 } });
    const r = await attemptDelivery(s, items.slice(0, 12), opts);
    expect(r.requests).toBe(1);
    expect(r.delivered).toEqual([]);
    expect(r.retry.map((g) => g.indices)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
    expect(r.retry[0]!.reason).toMatch(/^network error/);
    expect(r.retry[1]!.reason).toMatch(/^not sent: network error/);
  });

  it("once the sink is down, its later batches are neither sent nor encoded, also while they wait for a slot", async () => {
    const url = await closedPortUrl();
    const base = sink({ type: "splunk_hec", url, token: { env: "TOKEN" }, batch: { maxEvents: 4 } });
    const encoded: number[] = [];
    const s: ResolvedSink = {
      ...base,
      driver: {
        ...base.driver,
        encode: (events, cfg, ctx, lines) => {
          encoded.push(events.length);
          return base.driver.encode(events, cfg, ctx, lines);
        },
      },
    };
    // one slot, held elsewhere when the attempt starts: each batch waits for it
    const slots = new Slots(1);
    const release = await slots.acquire();
    const attempt = attemptDelivery(s, items.slice(0, 12), { ...opts, slots });
    release();
    const r = await attempt;
    expect(encoded).toEqual([4]); // the first batch only
    expect(r.requests).toBe(1);
    expect(r.down?.reason).toMatch(/^network error/);
    expect(r.retry.map((g) => g.indices)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
    expect(r.retry.slice(1).every((g) => g.reason.startsWith("not sent: network error"))).toBe(true);
  });

  it("the default fetch send gives up after timeoutMs: a hung sink is a retry", async () => {
    const s = sink({ type: "splunk_hec", url: hungUrl, token: { env: "TOKEN" }, timeoutMs: 300 });
    const r = await attemptDelivery(s, items.slice(0, 2), opts);
    expect(r.retry).toEqual([{ indices: [0, 1], reason: expect.stringMatching(/^timeout/) }]);
  });

  it("a 503 with Retry-After becomes a retry carrying the delay", async () => {
    hec.script.push({ status: 503, headers: { "retry-after": "42", "content-type": "application/json" }, body: '{"text":"Server is busy","code":9}' });
    const s = sink({ type: "splunk_hec", url: hec.url, token: { env: "TOKEN" } });
    const r = await attemptDelivery(s, items.slice(0, 2), opts);
    expect(r.retry).toHaveLength(1);
    expect(r.retry[0]).toMatchObject({ indices: [0, 1], afterMs: 42_000, response: { status: 503, headers: { "retry-after": "42" } } });
  });

  it("after a 429 with Retry-After, the requests not sent carry the same delay, and the report says so", async () => {
    hec.script.push({ status: 429, headers: { "retry-after": "90", "content-type": "application/json" }, body: '{"text":"Server is busy","code":9}' });
    const s = sink({ type: "splunk_hec", url: hec.url, token: { env: "TOKEN" }, batch: { maxEvents: 2 } });
    const r = await attemptDelivery(s, items.slice(0, 6), opts);
    expect(r.requests).toBe(1);
    expect(r.down?.afterMs).toBe(90_000);
    expect(r.retry.map((g) => [g.indices, g.afterMs])).toEqual([
      [[0, 1], 90_000],
      [[2, 3], 90_000],
      [[4, 5], 90_000],
    ]);
    expect(r.retry[1]!.reason).toMatch(/^not sent: /);
  });

  describe("scoped requests (Loki orgs)", () => {
    let loki: LokiServer;
    const ORG_B_DOWN = { status: 503, headers: { "retry-after": "30", "content-type": "text/plain" }, body: "org team-b down\n" };
    const tenantOf = (i: number) => ["team-a", "team-b", "team-c"][i % 3]!;
    let tagged: Item[];
    beforeAll(async () => {
      loki = await startLoki({ requireTenant: true, down: (t) => (t === "team-b" ? ORG_B_DOWN : undefined) });
      tagged = items.slice(0, 18).map((it, i) => {
        const event = { ...it.event, metadata: { ...it.event.metadata, tenant_uid: tenantOf(i) } };
        return { event, line: JSON.stringify(event) };
      });
    });
    afterAll(() => loki.close());
    const uidsOf = (idx: number[]) => idx.map((i) => tagged[i]!.event.metadata.uid).sort();
    const byOrg = (org: string) => tagged.flatMap((_, i) => (tenantOf(i) === org ? [i] : []));

    it("a 503 from one org holds back only that org's later requests: the other orgs are delivered, the org is retried after its Retry-After", async () => {
      // two batches of 9 (3 events per org), 2 events per push: 2 requests per org and batch
      const s = sink({ type: "loki", url: loki.url, tenant: "{tenant}", maxEvents: 2, batch: { maxEvents: 9 } });
      const [sent, stored] = [loki.requests.length, loki.entries.length];
      const r = await attemptDelivery(s, tagged, opts);
      expect(r.down).toBeUndefined(); // the sink as a whole is not down
      expect(r.downScopes).toEqual({ "team-b": { reason: "Loki HTTP 503: org team-b down", afterMs: 30_000 } });
      expect(uidsOf(r.delivered)).toEqual(uidsOf([...byOrg("team-a"), ...byOrg("team-c")]));
      const newEntries = loki.entries.slice(stored);
      expect(newEntries.map((e) => JSON.parse(e.line).metadata.uid as string).sort()).toEqual(uidsOf(r.delivered));
      expect(newEntries.every((e) => e.tenant !== "team-b")).toBe(true);
      expect(r.rejected).toEqual([]);
      expect(r.retry.flatMap((g) => g.indices).sort((a, b) => a - b)).toEqual(byOrg("team-b"));
      expect(r.retry.every((g) => g.afterMs === 30_000)).toBe(true);
      expect(r.retry[0]!.reason).toBe("Loki HTTP 503: org team-b down");
      expect(r.retry.slice(1).every((g) => g.reason === "not sent: Loki HTTP 503: org team-b down")).toBe(true);
      // org a and c: 2 pushes per batch each; org b: one, the first
      const orgs = loki.requests.slice(sent).map((q) => q.headers["x-scope-orgid"]);
      expect(orgs.filter((o) => o === "team-b")).toEqual(["team-b"]);
      expect(orgs.filter((o) => o !== "team-b")).toHaveLength(8);
      expect(r.requests).toBe(orgs.length);
    });

    it("scopes found down earlier in the queue batch (downScopes) are not sent to; the other orgs are, and the report keeps them down", async () => {
      const s = sink({ type: "loki", url: loki.url, tenant: "{tenant}", maxEvents: 2, batch: { maxEvents: 9 } });
      const [sent, stored] = [loki.requests.length, loki.entries.length];
      const earlier = { reason: "Loki HTTP 503: org team-b down", afterMs: 30_000 };
      const r = await attemptDelivery(s, tagged, { ...opts, downScopes: { "team-b": earlier } });
      expect(r.down).toBeUndefined();
      expect(r.downScopes).toEqual({ "team-b": earlier });
      expect(loki.requests.slice(sent).map((q) => q.headers["x-scope-orgid"]).filter((o) => o === "team-b")).toEqual([]);
      expect(r.requests).toBe(loki.requests.length - sent);
      expect(uidsOf(r.delivered)).toEqual(uidsOf([...byOrg("team-a"), ...byOrg("team-c")]));
      expect(loki.entries.slice(stored).map((e) => JSON.parse(e.line).metadata.uid as string).sort()).toEqual(uidsOf(r.delivered));
      expect(r.retry.flatMap((g) => g.indices).sort((a, b) => a - b)).toEqual(byOrg("team-b"));
      expect(r.retry.every((g) => g.reason === "not sent: Loki HTTP 503: org team-b down" && g.afterMs === 30_000)).toBe(true);
      expect(r.rejected).toEqual([]);
    });

    it("a scope found down (earlier in the queue batch or in this attempt) is not encoded: its events come back bodiless", async () => {
      const s = sink({ type: "loki", url: loki.url, tenant: "{tenant}", maxEvents: 2, batch: { maxEvents: 9 } });
      const built: SinkRequest[] = [];
      const encode = s.driver.encode.bind(s.driver);
      const spied: ResolvedSink = { ...s, driver: { ...s.driver, encode: async (...a: Parameters<typeof encode>) => { const out = await encode(...a); built.push(...out); return out; } } };
      const earlier = { reason: "Loki HTTP 503: org team-b down", afterMs: 30_000 };
      const r = await attemptDelivery(spied, tagged, { ...opts, downScopes: { "team-b": earlier } });
      const teamB = built.filter((q) => q.scope === "team-b");
      expect(teamB.length).toBeGreaterThan(0);
      expect(teamB.every((q) => q.body === "")).toBe(true);
      expect(teamB.flatMap((q) => q.events).length).toBe(byOrg("team-b").length);
      expect(built.filter((q) => q.scope !== "team-b").every((q) => q.body !== "")).toBe(true);
      expect(r.retry.flatMap((g) => g.indices).sort((a, b) => a - b)).toEqual(byOrg("team-b"));
    });

    it("a network error is the whole sink's, scoped or not: nothing more is sent", async () => {
      const s = sink({ type: "loki", url: await closedPortUrl(), tenant: "{tenant}", maxEvents: 2 });
      const r = await attemptDelivery(s, tagged, opts);
      expect(r.requests).toBe(1);
      expect(r.down?.reason).toMatch(/^network error/);
      expect(r.downScopes).toBeUndefined();
      expect(r.retry.flatMap((g) => g.indices)).toHaveLength(tagged.length);
    });

    it("a fixed tenant is one destination: its 503 makes the sink down, as for any unscoped sink", async () => {
      const s = sink({ type: "loki", url: loki.url, tenant: "team-b", maxEvents: 2 });
      const sent = loki.requests.length;
      const r = await attemptDelivery(s, tagged.slice(0, 6), opts);
      expect([r.requests, loki.requests.length - sent]).toEqual([1, 1]);
      expect(r.down).toEqual({ reason: "Loki HTTP 503: org team-b down", afterMs: 30_000 });
      expect(r.downScopes).toBeUndefined();
      expect(r.delivered).toEqual([]);
    });
  });
});
