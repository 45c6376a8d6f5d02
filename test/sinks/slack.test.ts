import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { slack, slackMessage, type SlackConfig } from "../../src/sinks/slack";
import { unsentOutcomes, type SinkContext, type SinkRequest } from "../../src/sinks/types";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { fieldAt } from "../../src/sinks/batch";
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
    const cfg = config({ minSeverityId: 1 });
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
    expect((await sendOne(wrong!, cfg)).outcome).toEqual({ kind: "reject", reason: "Slack 403: invalid_token" });
    expect((await sendOne({ ...req!, body: "{not json" }, cfg)).outcome).toEqual({ kind: "reject", reason: "Slack 400: invalid_payload" });
    hook.script.push(
      { status: 404, body: "channel_not_found" },
      { status: 410, body: "channel_is_archived" },
      { status: 403, body: "action_prohibited" },
      { status: 429, headers: { "retry-after": "30" }, body: "rate_limited" },
      { status: 500, body: "" },
      { status: 503, body: "" },
    );
    const gone = "; the webhook's channel is gone: set a new webhook URL, then replay (npm run dlq -- replay --sink <name>)";
    expect((await sendOne(req!, cfg)).outcome).toEqual({ kind: "reject", reason: `Slack 404: channel_not_found${gone}` });
    expect((await sendOne(req!, cfg)).outcome).toEqual({ kind: "reject", reason: `Slack 410: channel_is_archived${gone}` });
    expect((await sendOne(req!, cfg)).outcome).toEqual({ kind: "reject", reason: "Slack 403: action_prohibited" });
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
