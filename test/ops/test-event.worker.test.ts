// POST /v1/test inside workerd: the synthetic "Test rule" alert goes to every configured sink (fake
// Splunk HEC behind the fault-injecting gate) and the archive, whatever the routes say; the answer
// reports each sink's outcome, a failing sink included.
import { describe, expect, it, inject } from "vitest";
import { env } from "cloudflare:test";
import { call, post, keys } from "../routes/helpers";
import { gateControl } from "../support/gate-client";
import type { TestResponse } from "../../src/routes/test-event";

const HEC_TOKEN = "00000000-0000-4000-8000-00000000cafe"; // the fake HEC's (test/support/s3rver.ts)
const run = Math.random().toString(36).slice(2, 8);

function config(gate: string) {
  return {
    auth: { tokens: [{ tenant: "ops", token: { env: "INGEST_TOKEN" } }] },
    sinks: {
      ok: { type: "splunk_hec", url: `${gate}/ok-${run}`, token: { env: "HEC_TOKEN" } },
      bad: { type: "splunk_hec", url: `${gate}/bad-${run}`, token: "wrong-token" },
      down: { type: "splunk_hec", url: `${gate}/down-${run}`, token: { env: "HEC_TOKEN" } },
      chat: { type: "slack", url: `${gate}/chat-${run}/services/T/B/X` },
    },
    routes: [{ match: { source: "falco", severity_at_least: "high" }, sinks: ["chat"] }],
    default_sinks: ["ok"],
  };
}

const vars = { INGEST_TOKEN: "ops-token", HEC_TOKEN };
const bearer = { authorization: "Bearer ops-token" };

describe("POST /v1/test", () => {
  it("sends the test alert to every sink and the archive, and reports each outcome (502 when one fails)", async () => {
    const gate = inject("hecGate");
    await gateControl.script(gate, `down-${run}`, [{ status: 503, headers: { "retry-after": "30" }, body: '{"text":"Server is busy","code":9}' }]);
    const r = await call(post("/v1/test", null, bearer), { config: config(gate), dev: false, vars });
    expect(r.status).toBe(502);
    const body = r.body as unknown as TestResponse;
    expect(body.ok).toBe(false);
    expect(body.event).toMatchObject({ class_uid: 2004, severity_id: 1, severity: "Informational" });
    expect(body.routed).toEqual(["archive", "ok"]); // what the routes would do: only the default sink
    expect(Object.keys(body.results)).toEqual(["archive", "ok", "bad", "down", "chat"]);
    expect(body.results.archive).toMatchObject({ outcome: "delivered" });
    expect(body.results.ok).toMatchObject({ outcome: "delivered", status: 200, requests: 1 });
    expect(body.results.bad).toMatchObject({ outcome: "reject", status: 403, requests: 1 });
    expect(body.results.bad!.reason).toMatch(/Invalid token/);
    expect(body.results.down).toMatchObject({ outcome: "retry", status: 503, requests: 1 });
    expect(body.results.chat).toMatchObject({ outcome: "filtered", requests: 0 });
    expect(body.results.chat!.reason).toMatch(/priority=Critical/);

    // the HEC really got the event; the archive copy is under test/, not among the real events
    const log = (await gateControl.state(gate, `ok-${run}`)).log;
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ method: "POST", action: "forwarded", status: 200 });
    expect(log[0]!.body).toContain('"Test rule"');
    const archived = await keys(env.ARCHIVE, "test/class_uid=2004/");
    expect(archived.length).toBeGreaterThanOrEqual(1);
  });

  it("?priority raises the test alert past a sink's own filter; ?sinks tests some sinks only", async () => {
    const gate = inject("hecGate");
    await gateControl.script(gate, `chat-${run}`, [{ status: 200, body: "ok" }]);
    const r = await call(post("/v1/test?priority=critical&sinks=chat", null, bearer), { config: config(gate), dev: false, vars });
    expect(r.status).toBe(200);
    const body = r.body as unknown as TestResponse;
    expect(body).toMatchObject({ ok: true, event: { severity_id: 5 }, routed: ["archive", "chat"] });
    expect(body.results).toEqual({ chat: expect.objectContaining({ outcome: "delivered", status: 200, requests: 1 }) });
    const sent = (await gateControl.state(gate, `chat-${run}`)).log;
    expect(sent[sent.length - 1]).toMatchObject({ action: "scripted", method: "POST", path: "/services/T/B/X" });
  });

  it("without delivery.adminToken, authenticates like ingest and names bad parameters", async () => {
    const cfg = config(inject("hecGate"));
    const none = await call(post("/v1/test", null, {}), { config: cfg, dev: false, vars });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect((await call(post("/v1/test", null, { authorization: "Bearer nope" }), { config: cfg, dev: false, vars })).status).toBe(403);
    const unknownSink = await call(post("/v1/test?sinks=ok,nowhere", null, bearer), { config: cfg, dev: false, vars });
    expect(unknownSink.status).toBe(400);
    expect(JSON.stringify(unknownSink.body)).toContain('unknown sink \\"nowhere\\"');
    const badPriority = await call(post("/v1/test?priority=Loud", null, bearer), { config: cfg, dev: false, vars });
    expect(badPriority.status).toBe(400);
    expect(JSON.stringify(badPriority.body)).toContain("Debug");
    // a token limited to other sources may not send the (Falco) test alert
    const scoped = { ...cfg, auth: { tokens: [{ tenant: "k8s", token: { env: "INGEST_TOKEN" }, sources: ["k8s_audit"] }] } };
    expect((await call(post("/v1/test?sinks=archive", null, bearer), { config: scoped, dev: false, vars })).status).toBe(403);
  });

  it("with delivery.adminToken configured, takes only the admin token (ingest credentials are refused, in dev too)", async () => {
    const cfg = { ...config(inject("hecGate")), delivery: { adminToken: { env: "ADMIN_TOKEN" } } };
    const adminVars = { ...vars, ADMIN_TOKEN: "admin-secret" };
    for (const dev of [false, true]) {
      const ingest = await call(post("/v1/test?sinks=archive", null, bearer), { config: cfg, dev, vars: adminVars });
      expect(ingest.status).toBe(403);
      expect(JSON.stringify(ingest.body)).toContain("invalid admin token");
      const none = await call(post("/v1/test?sinks=archive", null, {}), { config: cfg, dev, vars: adminVars });
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toContain("tributary-admin");
    }
    const admin = await call(post("/v1/test?sinks=archive", null, { authorization: "Bearer admin-secret" }), { config: cfg, dev: false, vars: adminVars });
    expect(admin.status).toBe(200);
    expect(admin.body).toMatchObject({ ok: true, results: { archive: { outcome: "delivered" } } });
    // configured but the secret is not set: closed, not open
    const unset = await call(post("/v1/test?sinks=archive", null, { authorization: "Bearer admin-secret" }), { config: cfg, dev: false, vars });
    expect(unset.status).toBe(503);
  });

  it("with only the archive configured (local development), answers 200", async () => {
    const r = await call(post("/v1/test", null, {}), {});
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, results: { archive: { outcome: "delivered" } } });
  });
});
