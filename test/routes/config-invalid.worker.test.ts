// Requests while the deployed config is invalid (docs/operate.md, "An invalid config"): ingest, /metrics,
// /v1/test and /v1/dlq answer 503 with Retry-After and a body naming the fields at fault (never what the
// config holds there) with the request id; /healthz stays 200. In workerd, through the Worker's fetch.
import { env } from "cloudflare:test";
import { describe, it, expect } from "vitest";
import { callWorker } from "../support/delivery";
import { CONFIG_RETRY_AFTER_S } from "../../src/config/load";

/** A fresh env (configFor keeps one config per env object) with this TRIBUTARY_CONFIG text. */
const deploy = (config: string) => ({ ...env, TRIBUTARY_CONFIG: config, TRIBUTARY_DEV: "true" }) as unknown as Env;

// two faults: a sink type that does not exist, and a route's severity whose message would quote the value
const SECRETISH = "hunter2-not-a-severity";
const BAD = JSON.stringify({
  sinks: { siem: { type: "splunk_hek", url: "https://hec.example/services/collector", token: "literal-token-value" } },
  routes: [{ match: { severity_at_least: SECRETISH }, sinks: ["siem"] }],
});

async function answer(e: Env, path: string, init?: RequestInit) {
  const res = await callWorker(e, path, init);
  return { status: res.status, retryAfter: res.headers.get("retry-after"), header: res.headers.get("x-request-id"), text: await res.text() };
}

describe("an invalid config", () => {
  it("ingest answers 503 with Retry-After, the fields at fault and the request id; nothing of the config's values", async () => {
    const e = deploy(BAD);
    const a = await answer(e, "/v1/events", { method: "POST", headers: { "content-type": "application/json", "x-request-id": "req-config-1" }, body: "{}" });
    expect([a.status, a.retryAfter, a.header]).toEqual([503, String(CONFIG_RETRY_AFTER_S), "req-config-1"]);
    expect(JSON.parse(a.text)).toEqual({ error: "the server's config is invalid: sinks.siem.type, routes.0.match.severity_at_least (see its error log)", requestId: "req-config-1" });
    for (const value of [SECRETISH, "splunk_hek", "literal-token-value"]) expect(a.text).not.toContain(value);
  });

  it("/metrics, /v1/test and /v1/dlq answer the same 503; /healthz stays 200", async () => {
    const e = deploy(BAD);
    for (const [path, method] of [["/metrics", "GET"], ["/v1/test", "POST"], ["/v1/dlq", "GET"]] as const) {
      const a = await answer(e, path, { method, headers: { "x-request-id": `req-${method}` } });
      expect([path, a.status, a.retryAfter]).toEqual([path, 503, "60"]);
      expect(JSON.parse(a.text)).toMatchObject({ error: expect.stringMatching(/^the server's config is invalid: sinks\.siem\.type, /), requestId: `req-${method}` });
    }
    const h = await answer(e, "/healthz");
    expect([h.status, JSON.parse(h.text)]).toEqual([200, { status: "ok" }]);
  });

  it("a TRIBUTARY_CONFIG that is not JSON is named as such, without quoting it", async () => {
    const a = await answer(deploy('{"sinks": {"x": "secret-in-broken-json"'), "/v1/events", { method: "POST", body: "{}" });
    expect([a.status, a.retryAfter]).toEqual([503, "60"]);
    const body = JSON.parse(a.text) as { error: string; requestId: string };
    expect(body.error).toBe("the server's config is invalid: (not valid JSON) (see its error log)");
    expect(body.requestId).toBe(a.header);
    expect(a.text).not.toContain("secret-in-broken-json");
  });
});
