// Event times no Date holds (|time| > 8.64e15 ms, NaN: an archived, backfilled or replayed event can carry one):
// toISOString throws on them, and a throw in encode dead-letters the whole chunk, good events included. The
// Slack and webhook sinks send such an event (and its neighbours) to their fakes on 127.0.0.1.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { isoTime } from "../../src/sinks/batch";
import { slack, slackDigest, slackMessage } from "../../src/sinks/slack";
import { webhook } from "../../src/sinks/webhook";
import type { OcsfEvent } from "../../src/normalize/ocsf";
import { NOW, deliverAll, fixtureEvents, startSlack, startWebhook, type SlackServer, type WebhookServer } from "../support/siem-servers";

const FAR = [1e300, -1e300, NaN];
const GOOD = Date.UTC(2027, 0, 15, 11, 0, 0);
const shell = fixtureEvents().find((e) => (e.finding_info as { title?: string } | undefined)?.title === "Terminal shell in container")!;
const at = (time: number, k: number): OcsfEvent => ({ ...shell, time, metadata: { ...shell.metadata, uid: `t-${k}` } });
/** One good event, then one at each far-off time. */
const mixed = (): OcsfEvent[] => [at(GOOD, 0), ...FAR.map((t, k) => at(t, k + 1))];

describe("isoTime", () => {
  it("is ISO 8601 for a time a Date holds, undefined for any other", () => {
    expect(isoTime(GOOD)).toBe("2027-01-15T11:00:00.000Z");
    expect(isoTime(8.64e15)).toBe("+275760-09-13T00:00:00.000Z");
    for (const t of [...FAR, 8.64e15 + 1, Infinity]) expect(isoTime(t)).toBeUndefined();
  });
});

describe("slack with far-off times", () => {
  let hook: SlackServer;
  beforeEach(async () => {
    hook = await startSlack();
  });
  afterEach(() => hook.close());

  it("each event is posted, its time shown as sent; a folded burst's far-off span too", async () => {
    const events = mixed();
    const cfg = slack.schema.parse({ url: hook.hookUrl });
    const log = await deliverAll(slack, events, cfg, { env: {}, now: NOW }, 1);
    expect(log.delivered.size).toBe(4);
    expect(hook.messages).toHaveLength(4);
    const times = hook.messages.map((m) => JSON.stringify(m).match(/\*Time\*\\n([^"]*)"/)?.[1]);
    expect(times).toEqual(["2027-01-15T11:00:00.000Z", "1e+300 (not a date)", "-1e+300 (not a date)", "NaN (not a date)"]);
    const folded = slackMessage({ ...at(GOOD, 9), count: 3, start_time: -1e300, end_time: GOOD });
    expect(JSON.stringify(folded)).toContain("-1e+300 (not a date) – 2027-01-15T11:00:00.000Z");
  });

  it("a digest's span leaves the far-off times out", () => {
    const span = (events: OcsfEvent[]) => ((slackDigest(events, 5).blocks[1] as { text: { text: string } }).text.text.split("\n")[1]);
    expect(span(mixed())).toBe("*Span* 2027-01-15T11:00:00.000Z – 2027-01-15T11:00:00.000Z");
    expect(span(mixed().slice(1))).toBe("*Span* no valid event time");
  });
});

describe("webhook with far-off times", () => {
  const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
  let hook: WebhookServer;
  beforeEach(async () => {
    hook = await startWebhook({ secret: SECRET, now: () => Math.floor(NOW / 1000) });
  });
  afterEach(() => hook.close());

  it("the batch is sent with the newest valid time as its timestamp (1970 when there is none)", async () => {
    const cfg = webhook.schema.parse({ url: `${hook.url}/hooks`, secret: SECRET });
    const log = await deliverAll(webhook, mixed(), cfg, { env: {}, now: NOW }, 1);
    expect(log.delivered.size).toBe(4);
    expect(hook.deliveries).toHaveLength(1);
    expect(hook.deliveries[0]!.payload.timestamp).toBe("2027-01-15T11:00:00.000Z");
    expect(hook.deliveries[0]!.payload.data.events.map((e) => e.time)).toEqual([GOOD, 1e300, -1e300, null]);
    // single mode: each far-off event on its own
    const single = webhook.schema.parse({ url: `${hook.url}/hooks`, secret: SECRET, mode: "single" });
    const reqs = await webhook.encode(mixed().slice(1), single, { env: {}, now: NOW });
    expect(reqs.map((r) => (JSON.parse(r.body as string) as { timestamp: string }).timestamp)).toEqual(FAR.map(() => "1970-01-01T00:00:00.000Z"));
  });
});
