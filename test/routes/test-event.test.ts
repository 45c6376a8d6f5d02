// POST /v1/test against a Slack webhook this isolate remembers as gone (src/deliver/gone.ts): the test is the
// operator asking "does it work now?", so it probes Slack past the memory and reports the real answer; when
// the probe is delivered the memory is dropped and deliveries resume at once. The route runs in Node against
// the Slack fake on 127.0.0.1 (test/support/siem-servers.ts); deliveries go through attemptDelivery.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { testRoutes, type TestResponse } from "../../src/routes/test-event";
import { attemptDelivery, type Item } from "../../src/deliver/attempt";
import { resolveSinks } from "../../src/deliver/sinks";
import { parseConfig } from "../../src/config/load";
import { fixtureEvents, startSlack, type SlackServer } from "../support/siem-servers";

let hook: SlackServer;
beforeEach(async () => {
  hook = await startSlack();
});
afterEach(async () => {
  await hook.close();
});

// each test's fake listens on its own port: a new webhook URL, so no memory carries over between tests
const config = () => ({ auth: { tokens: [{ tenant: "ops", token: { env: "INGEST_TOKEN" } }] }, sinks: { chat: { type: "slack", url: hook.hookUrl } } });

/** POST /v1/test?priority=critical&sinks=chat (Critical: past Slack's minimum severity; Debug, the default, is not). */
async function probe(priority = "critical"): Promise<{ status: number; body: TestResponse }> {
  const env = { TRIBUTARY_CONFIG: JSON.stringify(config()), INGEST_TOKEN: "ops-token" };
  const r = await testRoutes.request(`/v1/test?priority=${priority}&sinks=chat`, { method: "POST", headers: { authorization: "Bearer ops-token" } }, env);
  return { status: r.status, body: (await r.json()) as TestResponse };
}

/** One delivery of two High alerts to the sink, as the queue consumer makes it. */
async function deliver() {
  const sink = resolveSinks(parseConfig(config())).get("chat")!;
  const items: Item[] = [0, 1].map((k) => {
    const event = { ...fixtureEvents()[0]!, severity_id: 4 };
    event.metadata = { ...event.metadata, uid: `gone-${k}` };
    return { event, line: JSON.stringify(event) };
  });
  return attemptDelivery(sink, items, { env: {}, now: Date.now() });
}

describe("POST /v1/test and a gone Slack webhook", () => {
  it("remembered gone: the test still posts to Slack (404 reported as it is), then a 200 clears the memory and deliveries send again", async () => {
    // a delivery meets 404 channel_not_found: the sink is remembered gone, the next delivery sends nothing
    hook.script.push({ status: 404, body: "channel_not_found" });
    const first = await deliver();
    expect(first.down?.gone).toBe(true);
    expect(first.requests).toBe(1);
    const held = await deliver();
    expect(held.requests).toBe(0);
    expect(held.rejected[0]!.reason).toMatch(/^not sent: Slack 404: channel_not_found/);
    expect(hook.requests).toHaveLength(1);

    // the channel is still gone: the test probes anyway and reports Slack's own answer, not "not sent"
    hook.script.push({ status: 404, body: "channel_not_found" });
    const still = await probe();
    expect(still.status).toBe(502);
    expect(still.body.results.chat).toMatchObject({ outcome: "reject", status: 404, requests: 1 });
    expect(still.body.results.chat!.reason).toMatch(/^Slack 404: channel_not_found; webhook revoked/);
    expect(hook.requests).toHaveLength(2);
    expect((await deliver()).requests).toBe(0); // still remembered

    // Slack down for a moment: the probe says so and the memory stays as it was
    hook.script.push({ status: 503, body: "service_unavailable" });
    expect((await probe()).body.results.chat).toMatchObject({ outcome: "retry", status: 503, requests: 1 });
    expect((await deliver()).requests).toBe(0);
    expect(hook.requests).toHaveLength(3);

    // the channel is back (same URL): the test is delivered, and so is the next delivery, at once
    const fixed = await probe();
    expect(fixed.status).toBe(200);
    expect(fixed.body.results.chat).toMatchObject({ outcome: "delivered", status: 200, requests: 1 });
    const resumed = await deliver();
    expect(resumed.requests).toBe(2);
    expect(resumed.delivered).toEqual([0, 1]);
    expect(resumed.rejected).toEqual([]);
    expect(hook.messages).toHaveLength(3); // the test alert and the two alerts, past the fake's checks
    expect(hook.requests).toHaveLength(6);
  });

  it("remembered gone and the test alert below minSeverityId: filtered, nothing probed, and the reason says the sink is still held back", async () => {
    hook.script.push({ status: 404, body: "channel_not_found" });
    expect((await deliver()).down?.gone).toBe(true);
    const debug = await probe("debug");
    expect(debug.body.results.chat).toMatchObject({ outcome: "filtered", requests: 0 });
    expect(debug.body.results.chat!.reason).toMatch(/try \?priority=Critical to probe it: nothing was sent, and this isolate still holds the sink's deliveries back as gone \(not sent: Slack 404: channel_not_found/);
    expect((await deliver()).requests).toBe(0); // the memory is as it was
    expect(hook.requests).toHaveLength(1);
    // a sink not remembered gone: the plain filtered reason
    expect((await probe("critical")).body.results.chat).toMatchObject({ outcome: "delivered", requests: 1 });
    expect((await probe("debug")).body.results.chat!.reason).toBe("the sink's own settings left the test event out (e.g. a minimum severity): try ?priority=Critical");
  });

  it("a test that finds the webhook gone is remembered like a delivery's answer: the next delivery sends nothing", async () => {
    hook.script.push({ status: 410, body: "channel_is_archived" });
    const r = await probe();
    expect(r.body.results.chat).toMatchObject({ outcome: "reject", status: 410, requests: 1 });
    const next = await deliver();
    expect(next.requests).toBe(0);
    expect(next.rejected[0]!.reason).toMatch(/^not sent: Slack 410: channel_is_archived/);
    expect(hook.requests).toHaveLength(1);
  });
});
