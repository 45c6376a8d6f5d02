import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { slack, slackDigest, slackMessage, type SlackConfig } from "../../src/sinks/slack";
import { unsentOutcomes, type SinkContext, type SinkRequest } from "../../src/sinks/types";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fieldAt } from "../../src/sinks/batch";
import { attemptDelivery } from "../../src/deliver/attempt";
import { deliverToSink } from "../../src/deliver/deliver";
import { GONE_MS } from "../../src/deliver/gone";
import type { DeliveryMessage } from "../../src/deliver/retry";
import { drainScheduled, memoryDeps } from "../support/memory-delivery";
import { resolveSinks } from "../../src/deliver/sinks";
import { parseConfig } from "../../src/config/load";
import { NOW, deliverAll, fixtureEvents, send, startSlack, type SlackServer } from "../support/siem-servers";

const events = fixtureEvents();
const high = events.filter((e) => e.severity_id >= 4 && e.severity_id !== 99);

let hook: SlackServer;
let ctx: SinkContext;
beforeEach(async () => {
  hook = await startSlack();
  ctx = { env: { SLACK_WEBHOOK_URL: hook.hookUrl }, now: NOW };
});
afterEach(() => hook.close());

const config = (extra: Record<string, unknown> = {}): SlackConfig => slack.schema.parse({ url: { env: "SLACK_WEBHOOK_URL" }, ...extra });

async function sendOne(req: SinkRequest, cfg: SlackConfig) {
  return slack.classify(await send(slack, req, cfg, ctx), req, cfg);
}

/** All text of a message (fallback text and every block), for content checks. */
function allText(m: { text?: string; blocks?: Record<string, unknown>[] }): string {
  return JSON.stringify(m);
}

describe("slack sink", () => {
  it("sends one readable message per High+ event; the rest count as delivered without a request", async () => {
    expect(high.length).toBeGreaterThan(0);
    expect(high.length).toBeLessThan(events.length);
    const cfg = config();
    const reqs = await slack.encode(events, cfg, ctx);
    expect(reqs).toHaveLength(high.length);
    for (const r of reqs) {
      expect(r.events).toHaveLength(1);
      expect(r.url).toBe(hook.hookUrl);
    }
    const unsent = unsentOutcomes(slack, events, reqs, cfg, ctx);
    expect(unsent.size).toBe(events.length - high.length);
    for (const o of unsent.values()) expect(o).toEqual({ kind: "delivered" });

    const log = await deliverAll(slack, events, cfg, ctx, 1);
    expect(log.delivered.size).toBe(events.length);
    expect(hook.messages).toHaveLength(high.length);
    high.forEach((e, k) => {
      const m = hook.messages[k]!;
      const title = ((e.finding_info as { title?: string } | undefined)?.title ?? e.type_name)!;
      expect((m.blocks![0]!.text as { text: string }).text).toBe(`${e.severity}: ${title}`.slice(0, 150));
      expect(m.text).toContain(e.severity!);
      expect(allText(m)).toContain(e.metadata.uid!);
      expect(allText(m)).toContain(new Date(e.time).toISOString());
    });
  });

  it("shows host, container, pod, process and user of a Falco finding", async () => {
    const shell = events.find((e) => (e.finding_info as { title?: string } | undefined)?.title === "Terminal shell in container" && (e.device as { hostname?: string })?.hostname === "falco-xczjd");
    expect(shell).toBeDefined();
    const m = slackMessage(shell!);
    const fields = (m.blocks[2] as { fields: { text: string }[] }).fields.map((f) => f.text);
    expect(fields).toContain("*Severity*\nCritical");
    expect(fields).toContain("*Host*\nfalco-xczjd");
    expect(fields).toContain("*Container*\nee97d9c4186f (docker.io/library/alpine)");
    expect(fields).toContain("*Pod*\ndefault/kubecon");
    expect(fields).toContain("*Process*\n`sh -c clear; (bash || ash || sh)`");
    expect(fields).toContain("*User*\nroot");
    expect(m.text).toBe(":red_circle: Critical: Terminal shell in container on falco-xczjd");
  });

  it("names the cluster (k8s.cluster label) and the tenant; a burst with every field stays within Slack's 10 fields", async () => {
    const shell = events.find((e) => (e.finding_info as { title?: string } | undefined)?.title === "Terminal shell in container");
    const e: OcsfEvent = {
      ...shell!,
      metadata: { ...shell!.metadata, tenant_uid: "prod", labels: ["k8s.cluster:prod-eu-1", "k8s.namespace:default"] },
      src_endpoint: { ip: "10.0.0.7" },
      cloud: { provider: "AWS", region: "eu-west-1", account: { uid: "123456789012" } },
      resources: [{ type: "Pod", name: "kubecon", namespace: "default" }, { type: "Deployment", name: "web", namespace: "default" }],
      count: 3,
      start_time: shell!.time,
      end_time: shell!.time + 1000,
    };
    const m = slackMessage(e);
    const fields = (m.blocks[2] as { fields: { text: string }[] }).fields.map((f) => f.text);
    expect(fields).toContain("*Cluster*\nprod-eu-1");
    // 12 fields present: the last two (Resource, Account) give way, Occurrences stays
    expect(fields).toHaveLength(10);
    expect(fields).toContain("*Occurrences*\n3");
    expect(JSON.stringify(m.blocks.at(-1))).toContain("tenant prod");
    expect(slackMessage(shell!).blocks.some((b) => JSON.stringify(b).includes("*Cluster*"))).toBe(false);
    // the fake applies Slack's Block Kit limits (10 fields per section among them)
    const cfg = config();
    const [req] = await slack.encode([e], cfg, ctx);
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("delivered");
  });

  it("an API event (CloudTrail, Kubernetes audit) names the caller, the resource and the account", () => {
    const text = (e: OcsfEvent | undefined) => (slackMessage(e!).blocks.at(-2) as { fields: { text: string }[] }).fields.map((f) => f.text);
    const bucket = events.find((e) => fieldAt(e, "api.operation") === "CreateBucket");
    expect(text(bucket)).toEqual(expect.arrayContaining(["*User*\narn:aws:iam::123456789012:root", "*Account*\n123456789012 (us-east-1)"]));
    const ns = events.find((e) => e.metadata.product.name === "Kubernetes" && fieldAt(e, "resources.0.type") === "namespaces" && fieldAt(e, "resources.0.name") === "foo");
    expect(text(ns)).toEqual(expect.arrayContaining(["*User*\nsystem:anonymous", "*Resource*\nnamespaces foo"]));
  });

  it("a folded burst (noise control) shows its count and time span", () => {
    const shell = events.find((e) => (e.finding_info as { title?: string } | undefined)?.title === "Terminal shell in container");
    expect(shell).toBeDefined();
    const folded: OcsfEvent = { ...shell!, count: 10000, start_time: shell!.time, end_time: shell!.time + 60_000 };
    const m = slackMessage(folded);
    expect(m.text).toMatch(/\(×10,000\)$/);
    const fields = (m.blocks[2] as { fields: { text: string }[] }).fields.map((f) => f.text);
    expect(fields).toContain("*Occurrences*\n10,000");
    expect(fields).toContain(`*Time*\n${new Date(shell!.time).toISOString()} – ${new Date(shell!.time + 60_000).toISOString()}`);
    expect(slackMessage(shell!).text).not.toContain("×");
  });

  it("a throttle summary of several hosts lists them as its host", () => {
    const shell = events.find((e) => (e.finding_info as { title?: string } | undefined)?.title === "Terminal shell in container");
    const { device: _one, ...rest } = shell!;
    const summary: OcsfEvent = { ...rest, count: 9, unmapped: { tributary_noise: { kind: "throttle", hosts: ["node-a", "node-b"] } } };
    const m = slackMessage(summary);
    expect((m.blocks[2] as { fields: { text: string }[] }).fields.map((f) => f.text)).toContain("*Host*\nnode-a, node-b");
    expect(m.text).toContain("on node-a, node-b (×9)");
    // its pod, container and process are one held-back event's: an example, not the burst's
    const fields = (m.blocks[2] as { fields: { text: string }[] }).fields.map((f) => f.text.split("\n")[0]);
    expect(fields).toEqual(expect.arrayContaining(["*Container, e.g.*", "*Process, e.g.*", "*User, e.g.*"]));
    expect(fields).not.toContain("*Container*");
    expect((slackMessage(shell!).blocks[2] as { fields: { text: string }[] }).fields.map((f) => f.text.split("\n")[0])).toContain("*Container*");
  });

  it("minSeverityId lowers the threshold; every message passes Slack's Block Kit limits", async () => {
    // digestAfter 0: one message per event, so that every event's message is checked
    const cfg = config({ minSeverityId: 1, digestAfter: 0 });
    const log = await deliverAll(slack, events, cfg, ctx, 1);
    expect(log.rejected.size).toBe(0);
    expect(log.delivered.size).toBe(events.length);
    expect(hook.messages).toHaveLength(events.filter((e) => e.severity_id >= 1 && e.severity_id !== 99).length);
    // long text is cut to Slack's limits, and mrkdwn control characters are escaped
    const long: OcsfEvent = { ...high[0]!, finding_info: { title: "<script>&".repeat(100), desc: "d".repeat(5000) } };
    const [req] = await slack.encode([long], cfg, ctx);
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("delivered");
    expect(hook.messages.at(-1)!.text).toContain("&lt;script&gt;&amp;");
  });

  it("rejects Slack's error strings; retries 429 (Retry-After) and 5xx", async () => {
    const cfg = config();
    const [req] = await slack.encode(high.slice(0, 1), cfg, ctx);
    const wrongCtx = { ...ctx, env: { SLACK_WEBHOOK_URL: `${hook.url}/services/T00000000/B00000000/wrong` } };
    const [wrong] = await slack.encode(high.slice(0, 1), cfg, wrongCtx);
    const gone = "; webhook revoked or channel archived/deleted: set a new SLACK_WEBHOOK_URL (a new incoming webhook), then replay: npm run dlq -- replay --sink <name>";
    expect(await sendOne(wrong!, cfg)).toEqual({ outcome: { kind: "reject", reason: `Slack 403: invalid_token${gone}` }, gone: true });
    // a message Slack cannot read is that message's fault, not the webhook's
    expect(await sendOne({ ...req!, body: "{not json" }, cfg)).toEqual({ outcome: { kind: "reject", reason: "Slack 400: invalid_payload" } });
    hook.script.push(
      { status: 404, body: "channel_not_found" },
      { status: 410, body: "channel_is_archived" },
      { status: 403, body: "action_prohibited" },
      { status: 429, headers: { "retry-after": "30" }, body: "rate_limited" },
      { status: 500, body: "" },
      { status: 503, body: "" },
    );
    expect(await sendOne(req!, cfg)).toEqual({ outcome: { kind: "reject", reason: `Slack 404: channel_not_found${gone}` }, gone: true });
    expect(await sendOne(req!, cfg)).toEqual({ outcome: { kind: "reject", reason: `Slack 410: channel_is_archived${gone}` }, gone: true });
    expect(await sendOne(req!, cfg)).toEqual({ outcome: { kind: "reject", reason: `Slack 403: action_prohibited${gone}` }, gone: true });
    expect((await sendOne(req!, cfg)).outcome).toEqual({ kind: "retry", afterMs: 30_000, reason: "Slack 429: rate_limited" });
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("retry");
    expect((await sendOne(req!, cfg)).outcome.kind).toBe("retry");
    expect(hook.messages).toHaveLength(0);
    expect(() => slack.encode(events, cfg, { ...ctx, env: {} })).toThrow(/slack: url is not set/);
  });

  it("outage and recovery: 429/503 then ok; every High+ event posted exactly once", async () => {
    hook.script.push({ status: 429, headers: { "retry-after": "1" }, body: "rate_limited" }, { status: 503, body: "" }, { status: 503, body: "" });
    const cfg = config();
    const log = await deliverAll(slack, events, cfg, ctx, 10);
    expect(log.pending).toEqual([]);
    expect(log.retries).toHaveLength(3);
    const posted = hook.messages.map((m) => high.findIndex((e) => allText(m).includes(e.metadata.uid!)));
    expect([...posted].sort((a, b) => a - b)).toEqual(high.map((_, i) => i));
  });
});

// Slack digest: a delivery batch with more than digestAfter sendable events sends the first digestAfter as
// usual and ONE digest message for the rest, whose request carries all their indexes (so its outcome settles
// them together). Messages go to the Slack fake on 127.0.0.1, which applies Block Kit's limits; the last
// cases go through the delivery layer's attemptDelivery.
const shellAlert = events.find((e) => (e.finding_info as { title?: string } | undefined)?.title === "Terminal shell in container")!;
const T0 = Date.UTC(2027, 0, 15, 11, 0, 0);

/**
 * A burst of n Critical alerts across 40 pods (hosts node-0..39, namespaces ns-0..2, cluster prod), one a
 * second from T0: the first 240 of one rule, the rest of 12 other rules; `low` Low-severity events between them.
 */
function burst(n: number, low = 0): OcsfEvent[] {
  const out: OcsfEvent[] = [];
  for (let k = 0; k < n; k++) {
    const title = k < 240 ? "Terminal shell in container" : `Other rule ${k % 12}`;
    out.push({
      ...shellAlert,
      time: T0 + k * 1000,
      device: { hostname: `node-${k % 40}` },
      finding_info: { ...(shellAlert.finding_info as object), title },
      metadata: { ...shellAlert.metadata, uid: `u-${k}`, labels: ["k8s.cluster:prod", `k8s.namespace:ns-${k % 3}`] },
    });
    if (k < low) out.push({ ...shellAlert, severity_id: 2, severity: "Low", metadata: { ...shellAlert.metadata, uid: `low-${k}` } });
  }
  return out;
}

type Message = { text: string; blocks: { type: string; text?: { text: string }; fields?: { text: string }[]; elements?: { text: string }[] }[] };
const texts = (m: Message): string[] => m.blocks.flatMap((b) => [b.text?.text, ...(b.fields ?? []).map((f) => f.text), ...(b.elements ?? []).map((e) => e.text)]).filter((t): t is string => t !== undefined);

describe("slack digest", () => {
  it("a batch of 300 alerts is digestAfter messages and one digest; every index in exactly one request", async () => {
    const events = burst(300, 10); // 310 events: 300 Critical, 10 Low between the first ones
    const cfg = config();
    expect(cfg.digestAfter).toBe(5);
    const reqs = await slack.encode(events, cfg, ctx);
    expect(reqs).toHaveLength(6);
    const critical = events.flatMap((e, i) => (e.severity_id === 5 ? [i] : []));
    expect(reqs.slice(0, 5).map((r) => r.events)).toEqual(critical.slice(0, 5).map((i) => [i]));
    expect(reqs[5]!.events).toEqual(critical.slice(5));
    // each first five is the usual message
    reqs.slice(0, 5).forEach((r) => expect(r.body).toBe(JSON.stringify(slackMessage(events[r.events[0]!]!))));
    const carried = reqs.flatMap((r) => r.events);
    expect(new Set(carried).size).toBe(carried.length);
    // the Low events are in no request and count as delivered
    const unsent = unsentOutcomes(slack, events, reqs, cfg, ctx);
    expect([...unsent.keys()].sort((a, b) => a - b)).toEqual(events.flatMap((e, i) => (e.severity_id === 2 ? [i] : [])));
    expect([...unsent.values()].every((o) => o.kind === "delivered")).toBe(true);
    expect(carried.length + unsent.size).toBe(events.length);

    const log = await deliverAll(slack, events, cfg, ctx, 1);
    expect(log.delivered.size).toBe(events.length);
    expect(log.requests).toBe(6);
    expect(hook.messages).toHaveLength(6); // the fake checked Block Kit's limits for each
  });

  it("the digest names count, span, rules, severities, clusters, namespaces, hosts and some uids, within Slack's limits", () => {
    const rest = burst(300).slice(5);
    const m = slackDigest(rest, 5) as Message;
    expect(m.blocks.length).toBeLessThanOrEqual(50);
    expect(m.blocks[0]).toEqual({ type: "header", text: { type: "plain_text", text: "Digest: 295 more alerts, 13 rules", emoji: true } });
    expect(m.text).toBe(":red_circle: Digest: 295 more alerts, Terminal shell in container ×235 and 12 more rules");
    const all = texts(m);
    expect(all[1]).toBe(`*295 more alerts* in this delivery, after the 5 posted one by one.\n*Span* ${new Date(T0 + 5000).toISOString()} – ${new Date(T0 + 299_000).toISOString()}`);
    // 13 rules: the top 10 by count, then the rest in one line
    const rules = all[2]!.split("\n");
    expect(rules[0]).toBe("*By rule*");
    expect(rules[1]).toBe("• Terminal shell in container ×235");
    expect(rules).toHaveLength(12);
    expect(rules[11]).toBe("_and 3 more (×15)_");
    const fields = m.blocks[3]!.fields!.map((f) => f.text);
    expect(fields).toHaveLength(4);
    expect(fields[0]).toBe("*Severity*\n• Critical ×295");
    expect(fields[1]).toBe("*Clusters*\n• prod ×295");
    expect(fields[2]).toBe("*Namespaces*\n• ns-2 ×99\n• ns-0 ×98\n• ns-1 ×98"); // k = 5..299: ns-(k % 3)
    const hosts = fields[3]!.split("\n");
    expect(hosts).toHaveLength(7); // title, top 5, the rest
    expect(hosts[1]).toMatch(/^• node-\d+ ×8$/);
    expect(hosts[6]).toBe("_and 35 more (×255)_");
    expect(m.blocks[4]!.text!.text).toBe("*Some uids* (metadata.uid)\n`u-5`, `u-6`, `u-7`, `u-8`, `u-9` and 290 more");
    // where the full events are in production (the archive's ocsf/ objects, the SIEM sinks), no dev-only tool named
    expect(all.at(-1)).toBe("Every one of these events is in the archive R2 bucket (ARCHIVE binding, objects under ocsf/class_uid=C/event_day=YYYYMMDD/) and in every SIEM sink its route sends to: search there by the uids above (metadata.uid), or by rule and span.");
    for (const b of m.blocks) expect((b.fields ?? []).length).toBeLessThanOrEqual(10);
    for (const t of all.slice(1)) expect(t.length).toBeLessThanOrEqual(3000);
  });

  it("hostile and huge values are escaped and cut: the fake accepts the digest", async () => {
    const hostile = "<!channel> <http://x|y> &amp; \u202Egnp.exe";
    const events = burst(300).map((e, k) => ({
      ...e,
      severity: k % 2 ? "Critical" : "High",
      severity_id: k % 2 ? 5 : 4,
      device: { hostname: `${hostile}-${"h".repeat(3000)}-${k}` },
      finding_info: { title: `${hostile} ${"r".repeat(5000)} ${k}` },
      metadata: { ...e.metadata, uid: `${hostile}\`${k}`, labels: [`k8s.cluster:${hostile}`, `k8s.namespace:${"n".repeat(4000)}${k}`] },
    }));
    const cfg = config();
    const reqs = await slack.encode(events, cfg, ctx);
    expect(reqs).toHaveLength(6);
    const m = JSON.parse(reqs[5]!.body as string) as Message;
    const mrkdwnTexts = [m.text, ...texts(m)];
    for (const t of mrkdwnTexts) {
      expect(t).not.toMatch(/[<>\u202E]/);
      expect(t.length).toBeLessThanOrEqual(3000);
    }
    expect(m.blocks[0]!.text!.text.length).toBeLessThanOrEqual(150);
    expect(texts(m).join("\n")).toContain("[U+202E]");
    // severities in severity order, not by count
    expect(m.blocks[3]!.fields![0]!.text).toBe("*Severity*\n• Critical ×148\n• High ×147");
    const log = await deliverAll(slack, events, cfg, ctx, 1);
    expect(log.rejected.size).toBe(0);
    expect(log.delivered.size).toBe(300);
  });

  it("noise summaries count as one event each; their occurrences are added up", () => {
    const rest = burst(4).map((e, k) => (k < 2 ? { ...e, count: 1000, start_time: e.time - 60_000, end_time: e.time } : e));
    const m = slackDigest(rest, 5) as Message;
    expect(m.blocks[0]!.text!.text).toBe("Digest: 4 more alerts, Terminal shell in container");
    expect(texts(m)[1]).toBe(`*4 more alerts* (2,002 occurrences with the folded bursts) in this delivery, after the 5 posted one by one.\n*Span* ${new Date(T0 - 60_000).toISOString()} – ${new Date(T0 + 3000).toISOString()}`);
  });

  it("digestAfter 0 sends one message per event; batches at or one over the threshold are unchanged", async () => {
    const events = burst(300);
    const one = await slack.encode(events, config({ digestAfter: 0 }), ctx);
    expect(one.map((r) => r.events)).toEqual(events.map((_, i) => [i]));
    for (const n of [1, 5, 6]) {
      const reqs = await slack.encode(events.slice(0, n), config(), ctx);
      // 6: the one left over after the first 5 goes out as itself, not as a digest of one
      expect(reqs.map((r) => r.body)).toEqual(events.slice(0, n).map((e) => JSON.stringify(slackMessage(e))));
    }
    const seven = await slack.encode(events.slice(0, 7), config(), ctx);
    expect(seven.map((r) => r.events)).toEqual([[0], [1], [2], [3], [4], [5, 6]]);
    const two = await slack.encode(events.slice(0, 7), config({ digestAfter: 2 }), ctx);
    expect(two.map((r) => r.events)).toEqual([[0], [1], [2, 3, 4, 5, 6]]);
    expect(() => config({ digestAfter: -1 })).toThrow();
  });

  it("through the delivery layer: the digest's 429 retries all its events together; its 200 delivers them", async () => {
    const s = resolveSinks(parseConfig({ sinks: { s: { type: "slack", url: hook.hookUrl, batch: { maxEvents: 500 } } } })).get("s")!;
    const items = burst(300).map((event) => ({ event, line: JSON.stringify(event) }));
    hook.script.push(...Array.from({ length: 5 }, () => ({ status: 200, body: "ok" })), { status: 429, headers: { "retry-after": "3" }, body: "rate_limited" });
    const r = await attemptDelivery(s, items, { env: {}, now: NOW });
    expect(r.requests).toBe(6);
    expect(r.delivered).toEqual([0, 1, 2, 3, 4]);
    expect(r.retry).toHaveLength(1);
    expect(r.retry[0]!.indices).toEqual(items.slice(5).map((_, k) => k + 5));
    expect(r.retry[0]!.afterMs).toBe(3000);
    // the retry group keeps the digest's tag: its retry is the same one digest
    expect(r.retry[0]!.retryAs).toBe("digest:5");
    const again = await attemptDelivery(s, items.slice(5), { env: {}, now: NOW, retryOf: r.retry[0]!.retryAs! });
    expect(again.requests).toBe(1);
    expect(again.delivered).toHaveLength(295);
    expect(hook.requests).toHaveLength(7); // 5 alerts, the digest answered 429, the same digest again
    expect(hook.messages.at(-1)!.text).toContain("Digest: 295 more alerts");
    expect(JSON.stringify(hook.messages.at(-1))).toContain("after the 5 posted one by one");
    // the same events without the tag (a DLQ replay) are a new batch: 5 messages and a digest
    const replay = await slack.encode(items.slice(5).map((i) => i.event), config(), ctx);
    expect(replay.map((q) => q.events.length)).toEqual([1, 1, 1, 1, 1, 290]);
    // Slack's default batch (50 events): a 300-alert delivery is 6 batches of 5 messages and a digest each
    const def = resolveSinks(parseConfig({ sinks: { s: { type: "slack", url: hook.hookUrl } } })).get("s")!;
    expect(def.batch.maxEvents).toBe(50);
    const before = hook.messages.length;
    const d = await attemptDelivery(def, items, { env: {}, now: NOW });
    expect(d.delivered).toHaveLength(300);
    expect(hook.messages.length - before).toBe(36);
  });

  /** Every message posted to Slack, in order (those answered 429 too): each alert's uid, or "digest N" for a digest of N alerts. */
  const received = (): string[] => hook.requests.map((r) => /Digest: (\d+) more alerts/.exec(r.text)?.[1] ?? /uid (u-\d+)/.exec(r.text)![1]!).map((x) => (/^\d+$/.test(x) ? `digest ${x}` : x));

  /** A 300-alert delivery to sink "s" through deliverToSink, then its retries as the consumer runs them. */
  async function deliverBurst(): Promise<{ first: Awaited<ReturnType<typeof deliverToSink>>; scheduled: DeliveryMessage[] }> {
    const cfg = parseConfig({ sinks: { s: { type: "slack", url: hook.hookUrl, batch: { maxEvents: 500 } } } });
    const { deps, sent } = memoryDeps(cfg, {}, NOW);
    const items = burst(300).map((event) => ({ event, line: JSON.stringify(event) }));
    const first = await deliverToSink({ sink: "s", items, attempt: 1, firstAttemptAt: NOW }, deps);
    const scheduled = sent.map((x) => x.body);
    expect(await drainScheduled(deps, sent)).toBe(1);
    return { first, scheduled };
  }

  it("delivery path: the digest's 429 is retried through DELIVERIES as the same one digest; Slack gets 5 alerts and one digest", async () => {
    hook.script.push(...Array.from({ length: 5 }, () => ({ status: 200, body: "ok" })), { status: 429, headers: { "retry-after": "3" }, body: "rate_limited" });
    const { first, scheduled } = await deliverBurst();
    expect(first).toMatchObject({ delivered: 5, retried: 295, dead: 0, requests: 6 });
    expect(scheduled.map((m) => [m.count, m.retry_of])).toEqual([[295, "digest:5"]]);
    // the digest twice: answered 429, then accepted; no alert posted on its own twice
    expect(received()).toEqual(["u-0", "u-1", "u-2", "u-3", "u-4", "digest 295", "digest 295"]);
    // the retried digest went past the script to the fake's handler, which checked Block Kit's limits
    expect(hook.messages).toHaveLength(1);
  });

  it("delivery path: a single message's 429 holds back the rest; each keeps its shape (3 alerts singly, one digest), none posted twice", async () => {
    hook.script.push({ status: 200, body: "ok" }, { status: 200, body: "ok" }, { status: 429, headers: { "retry-after": "1" }, body: "rate_limited" });
    const { first, scheduled } = await deliverBurst();
    expect(first).toMatchObject({ delivered: 2, retried: 298, dead: 0, requests: 3 });
    // one retry per request: the 429'd alert, the two alerts not sent, the digest not sent (tagged)
    expect(scheduled.map((m) => [m.count, m.retry_of])).toEqual([[1, undefined], [1, undefined], [1, undefined], [295, "digest:5"]]);
    // u-2 twice (answered 429, then accepted); the rest once each, in their shape
    expect(received()).toEqual(["u-0", "u-1", "u-2", "u-2", "u-3", "u-4", "digest 295"]);
    expect(hook.messages).toHaveLength(4); // the retries, past the script: Block Kit checked
  });
});

// A gone webhook (revoked, its channel deleted or archived, posting prohibited: 403/404/410): the delivery that
// meets it sends nothing more and dead-letters the rest of its batch in one dead letter naming the fix; later
// deliveries are dead-lettered unsent until the URL changes or GONE_MS passes (src/deliver/gone.ts). Through
// deliverToSink with an in-memory R2 and DELIVERIES, against the Slack fake.
describe("slack: a gone webhook", () => {
  const fix = /^Slack (404: channel_not_found|410: channel_is_archived); webhook revoked or channel archived\/deleted: set a new SLACK_WEBHOOK_URL \(a new incoming webhook\), then replay: npm run dlq -- replay --sink s$/; // the sink's name filled in by the delivery layer
  const sinkCfg = (maxEvents: number) => parseConfig({ sinks: { s: { type: "slack", url: { env: "SLACK_WEBHOOK_URL" }, batch: { maxEvents } } } });
  const itemsOf = (events: OcsfEvent[]) => events.map((event) => ({ event, line: JSON.stringify(event) }));
  const deadLetters = (map: Map<string, { body: string }>) => [...map].filter(([k]) => k.startsWith("dlq/")).map(([, o]) => JSON.parse(o.body) as { reason: string; count: number; response?: { status: number } });

  it("404 channel_not_found mid-batch: the rest of the batch is one dead letter naming the fix, nothing more is posted; the next delivery is dead-lettered unsent", async () => {
    const { deps, map, sent } = memoryDeps(sinkCfg(20), { SLACK_WEBHOOK_URL: hook.hookUrl }, NOW);
    hook.script.push({ status: 200, body: "ok" }, { status: 200, body: "ok" }, { status: 404, body: "channel_not_found" });
    // 310 events in 16 batches of 20: 300 Critical (5 messages and a digest per batch), 10 Low (not for Slack)
    const first = await deliverToSink({ sink: "s", items: itemsOf(burst(300, 10)), attempt: 1, firstAttemptAt: NOW }, deps);
    expect(first).toMatchObject({ requests: 3, delivered: 12, retried: 0, dead: 298 });
    expect(first.down?.gone).toBe(true);
    expect(first.deadLetters).toHaveLength(1);
    expect(first.deadReason).toMatch(fix);
    expect(deadLetters(map)).toMatchObject([{ count: 298, response: { status: 404 } }]);
    expect(hook.requests).toHaveLength(3);
    expect(sent).toEqual([]);

    const next = await deliverToSink({ sink: "s", items: itemsOf(burst(40, 10).map((e) => ({ ...e, metadata: { ...e.metadata, uid: `n-${e.metadata.uid}` } }))), attempt: 1, firstAttemptAt: NOW }, deps);
    expect(next).toMatchObject({ requests: 0, delivered: 10, retried: 0, dead: 40 });
    expect(next.deadLetters).toHaveLength(1);
    expect(next.deadReason).toMatch(/^not sent: Slack 404: channel_not_found; webhook revoked .* \(answered at 2027-01-15T12:00:00\.000Z; sends resume when the sink's config or a secret \(URL, token, key\) changes, or after 2027-01-15T12:10:00\.000Z\)$/);
    expect(hook.requests).toHaveLength(3);
  });

  it("410 channel_is_archived: the same URL is tried again only after GONE_MS; a new webhook URL at once", async () => {
    const one = itemsOf(burst(1));
    const at = (t: number, url = hook.hookUrl) => memoryDeps(sinkCfg(50), { SLACK_WEBHOOK_URL: url }, t).deps;
    hook.script.push({ status: 410, body: "channel_is_archived" }, { status: 410, body: "channel_is_archived" });
    const r = await deliverToSink({ sink: "s", items: one, attempt: 1, firstAttemptAt: NOW }, at(NOW));
    expect(r).toMatchObject({ requests: 1, dead: 1 });
    expect(r.deadReason).toMatch(fix);
    expect(await deliverToSink({ sink: "s", items: one, attempt: 1, firstAttemptAt: NOW }, at(NOW + GONE_MS - 1))).toMatchObject({ requests: 0, dead: 1 });
    expect(await deliverToSink({ sink: "s", items: one, attempt: 1, firstAttemptAt: NOW }, at(NOW + GONE_MS))).toMatchObject({ requests: 1, dead: 1 });
    expect(hook.requests).toHaveLength(2);
    // the secret changed: a new webhook
    const other = await startSlack();
    try {
      expect(await deliverToSink({ sink: "s", items: one, attempt: 1, firstAttemptAt: NOW }, at(NOW + GONE_MS + 1, other.hookUrl))).toMatchObject({ requests: 1, delivered: 1, dead: 0 });
      expect(other.messages).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  it("retries in DELIVERIES: the first to meet the 404 is dead-lettered, the later ones unsent: one dead letter per delivery, two requests in all", async () => {
    const { deps, map, sent } = memoryDeps(sinkCfg(500), { SLACK_WEBHOOK_URL: hook.hookUrl }, NOW);
    hook.script.push({ status: 429, headers: { "retry-after": "1" }, body: "rate_limited" });
    const first = await deliverToSink({ sink: "s", items: itemsOf(burst(300)), attempt: 1, firstAttemptAt: NOW }, deps);
    expect(first).toMatchObject({ requests: 1, retried: 300 });
    expect(sent).toHaveLength(6); // the 5 alerts and the digest, each its own retry
    hook.script.push({ status: 404, body: "no_service" });
    expect(await drainScheduled(deps, sent)).toBe(1);
    expect(hook.requests).toHaveLength(2);
    const dead = deadLetters(map);
    expect(dead.map((d) => d.count)).toEqual([1, 1, 1, 1, 1, 295]);
    expect(dead.filter((d) => d.response?.status === 404)).toHaveLength(1);
    expect(dead.every((d) => /(^|not sent: )Slack 404: no_service; webhook revoked/.test(d.reason))).toBe(true);
    // the consumer's later messages of the queue batch come with the sink's `down` (DeliverJob.skip): gone, they are dead-lettered, not retried
    const goneSkip = await deliverToSink({ sink: "s", items: itemsOf(burst(2)), attempt: 2, firstAttemptAt: NOW, skip: { reason: "Slack 404: no_service", gone: true } }, deps);
    expect(goneSkip).toMatchObject({ requests: 0, retried: 0, dead: 2 });
    expect(hook.requests).toHaveLength(2);
  });
});
