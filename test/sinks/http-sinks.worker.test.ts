// The HTTP sink encoders inside workerd: WebCrypto HMAC (Standard Webhooks test vector), btoa,
// fflate gzip. The protocol round trips against fake servers run in Node (test/sinks/*.test.ts).
import { describe, expect, it } from "vitest";
import { gunzipSync, strFromU8 } from "fflate";
import { importWebhookKey, signWebhook, webhook } from "../../src/sinks/webhook";
import { splunkHec } from "../../src/sinks/splunk-hec";
import { elasticsearch } from "../../src/sinks/elasticsearch";
import { datadog } from "../../src/sinks/datadog";
import { loki } from "../../src/sinks/loki";
import { otlpLogs } from "../../src/sinks/otlp";
import { slack } from "../../src/sinks/slack";
import type { SinkContext, SinkDriver } from "../../src/sinks/types";
import { fixture } from "../support/fixtures";
import { frame } from "../../src/routes/decode";
import { runPipeline } from "../../src/pipeline";

const NOW = Date.UTC(2027, 0, 15, 12, 0, 0);
const framed = frame(fixture("falco/terminal-shell-in-container__falco-docs.json"), "application/json");
const events = runPipeline(framed.values, framed.paths, framed.textLines, { ctx: { ocsfVersion: "1.3.0", receivedAt: NOW } }).events.map((r) => r.event);
const ctx: SinkContext = { env: { SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }, now: NOW };

describe("HTTP sink encoders in workerd", () => {
  it("signs the Standard Webhooks test vector with WebCrypto", async () => {
    const key = await importWebhookKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    expect(await signWebhook(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("encodes a signed webhook that WebCrypto verifies", async () => {
    const [req] = await webhook.encode(events, webhook.schema.parse({ url: "https://example.invalid/hook", secret: { env: "SECRET" } }), ctx);
    const key = await importWebhookKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    const sig = Uint8Array.from(atob(req!.headers["webhook-signature"]!.slice(3)), (c) => c.charCodeAt(0));
    const signed = new TextEncoder().encode(`${req!.headers["webhook-id"]}.${req!.headers["webhook-timestamp"]}.${req!.body as string}`);
    expect(await crypto.subtle.verify("HMAC", key, sig, signed)).toBe(true);
  });

  it("gzips Splunk, Elasticsearch, Datadog, Loki and OTLP bodies", async () => {
    const cases: [SinkDriver<unknown>, unknown][] = [
      [splunkHec, { url: "https://splunk.invalid:8088", token: "t", compression: "gzip" }],
      [elasticsearch, { url: "https://es.invalid", auth: { username: "u", password: "pä" }, compression: "gzip" }],
      [datadog, { apiKey: "k" }],
      [loki, { url: "https://loki.invalid" }],
      [otlpLogs, { endpoint: "https://otlp.invalid:4318" }],
    ];
    for (const [driver, raw] of cases) {
      const reqs = await driver.encode(events, driver.schema.parse(raw), ctx);
      expect(reqs).toHaveLength(1);
      expect(reqs[0]!.headers["content-encoding"]).toBe("gzip");
      expect(strFromU8(gunzipSync(reqs[0]!.body as Uint8Array))).toContain(events[0]!.metadata.uid!);
    }
    const [msg] = await slack.encode(events, slack.schema.parse({ url: "https://hooks.slack.invalid/services/x" }), ctx);
    expect(JSON.parse(msg!.body as string).blocks.length).toBeGreaterThan(1);
  });
});
