// POST /v1/test inside workerd: with the admin token the synthetic "Test rule" alert goes to every
// configured sink (fake Splunk HEC behind the fault-injecting gate) and the archive, whatever the routes
// say; with an ingest credential only to the sinks the routes give its tenant's alert (two tenants, each
// routed to its own Standard Webhooks sink on 127.0.0.1). The answer reports each sink's outcome, a
// failing sink included.
import { describe, expect, it, inject } from "vitest";
import { env } from "cloudflare:test";
import { call, post, keys } from "../routes/helpers";
import { gateControl } from "../support/gate-client";
import { webhookSink, hookRequests } from "../noise/helpers";
import { INGEST_NOT_ADMIN, type TestResponse } from "../../src/routes/test-event";

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
const adminVars = { ...vars, ADMIN_TOKEN: "admin-secret" };
const adminBearer = { authorization: "Bearer admin-secret" };
const withAdmin = <T extends object>(cfg: T) => ({ ...cfg, delivery: { adminToken: { env: "ADMIN_TOKEN" } } });

describe("POST /v1/test", () => {
  it("with the admin token, sends the test alert to every sink and the archive, and reports each outcome (502 when one fails)", async () => {
    const gate = inject("hecGate");
    await gateControl.script(gate, `down-${run}`, [{ status: 503, headers: { "retry-after": "30" }, body: '{"text":"Server is busy","code":9}' }]);
    const r = await call(post("/v1/test", null, adminBearer), { config: withAdmin(config(gate)), dev: false, vars: adminVars });
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
    // one tenant can send: its credential tests any sink, as Falcosidekick's /test, and is told the configured ones
    const unknownSink = await call(post("/v1/test?sinks=ok,nowhere", null, bearer), { config: cfg, dev: false, vars });
    expect(unknownSink.status).toBe(400);
    expect(JSON.stringify(unknownSink.body)).toContain('unknown sink \\"nowhere\\": configured sinks are archive, ok, bad, down, chat');
    const every = await call(post("/v1/test?sinks=archive,ok,bad", null, bearer), { config: cfg, dev: false, vars });
    expect(Object.keys((every.body as unknown as TestResponse).results)).toEqual(["archive", "ok", "bad"]); // "bad" is on no route of it
    // the admin is told the configured sinks
    const adminUnknown = await call(post("/v1/test?sinks=ok,nowhere", null, adminBearer), { config: withAdmin(cfg), dev: false, vars: adminVars });
    expect(adminUnknown.status).toBe(400);
    expect(JSON.stringify(adminUnknown.body)).toContain('unknown sink \\"nowhere\\": configured sinks are archive, ok, bad, down, chat');
    const badPriority = await call(post("/v1/test?priority=Loud", null, bearer), { config: cfg, dev: false, vars });
    expect(badPriority.status).toBe(400);
    expect(JSON.stringify(badPriority.body)).toContain("Debug");
    // a token limited to other sources may not send the (Falco) test alert
    const scoped = { ...cfg, auth: { tokens: [{ tenant: "k8s", token: { env: "INGEST_TOKEN" }, sources: ["k8s_audit"] }] } };
    expect((await call(post("/v1/test?sinks=archive", null, bearer), { config: scoped, dev: false, vars })).status).toBe(403);
  });

  it("with delivery.adminToken configured, takes only the admin token (ingest credentials are refused, in dev too)", async () => {
    const cfg = withAdmin(config(inject("hecGate")));
    for (const dev of [false, true]) {
      // a valid ingest token is told why (its holder knows it is valid); a wrong one learns nothing more
      const ingest = await call(post("/v1/test?sinks=archive", null, bearer), { config: cfg, dev, vars: adminVars });
      expect(ingest.status).toBe(403);
      expect(ingest.body).toEqual({ error: INGEST_NOT_ADMIN });
      const wrong = await call(post("/v1/test?sinks=archive", null, { authorization: "Bearer ops-token-2" }), { config: cfg, dev, vars: adminVars });
      expect(wrong.status).toBe(403);
      expect(wrong.body).toEqual({ error: "invalid admin token" });
      const none = await call(post("/v1/test?sinks=archive", null, {}), { config: cfg, dev, vars: adminVars });
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toContain("tributary-admin");
    }
    // only ingest BEARER tokens are told: a Basic password or an HMAC key sent as a bearer is not confirmed
    const withOthers = {
      ...cfg,
      auth: { ...cfg.auth, tokens: [...(cfg.auth?.tokens ?? []), { tenant: "edge", basic: { username: "falco", password: { env: "BASIC_PW" } } }], hmac: { secret: { env: "HMAC_KEY" }, tenant: "signed" } },
    };
    const otherVars = { ...adminVars, BASIC_PW: "basic-pw-91c2", HMAC_KEY: "hmac-key-77d0" };
    for (const secret of ["basic-pw-91c2", "hmac-key-77d0"]) {
      const r = await call(post("/v1/test?sinks=archive", null, { authorization: `Bearer ${secret}` }), { config: withOthers, dev: false, vars: otherVars });
      expect([secret, r.status, r.body]).toEqual([secret, 403, { error: "invalid admin token" }]);
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

  describe("two tenants, each routed to its own webhook sink", () => {
    const tenants = (admin: boolean) => ({
      auth: {
        tokens: [
          { tenant: "red", token: { env: "RED_TOKEN" } },
          { tenant: "blue", token: { env: "BLUE_TOKEN" } },
        ],
      },
      sinks: { redHook: webhookSink(`red-${run}`), blueHook: webhookSink(`blue-${run}`) },
      routes: [
        { match: { tenant: "red" }, sinks: ["redHook"] },
        { match: { tenant: "blue" }, sinks: ["blueHook"] },
      ],
      ...(admin ? { delivery: { adminToken: { env: "ADMIN_TOKEN" } } } : {}),
    });
    const twoVars = { RED_TOKEN: "red-token", BLUE_TOKEN: "blue-token", ADMIN_TOKEN: "admin-secret" };
    const as = (who: string) => ({ authorization: `Bearer ${who}` });
    const tenantsOf = async (key: string) => (await hookRequests(key)).flatMap((r) => r.events.map((e) => (e.metadata as { tenant_uid?: string }).tenant_uid));

    it("a tenant's test reaches only its own sinks, ?sinks= outside them is refused, the admin reaches all", async () => {
      const red = await call(post("/v1/test", null, as("red-token")), { config: tenants(false), dev: false, vars: twoVars });
      expect(red.status).toBe(200);
      const redBody = red.body as unknown as TestResponse;
      expect(redBody.routed).toEqual(["archive", "redHook"]);
      expect(Object.keys(redBody.results)).toEqual(["archive", "redHook"]);
      expect(redBody.results.redHook).toMatchObject({ outcome: "delivered", status: 204, requests: 1 });
      expect(await tenantsOf(`red-${run}`)).toEqual(["red"]);
      expect(await tenantsOf(`blue-${run}`)).toEqual([]);

      const blue = await call(post("/v1/test", null, as("blue-token")), { config: tenants(false), dev: false, vars: twoVars });
      expect(blue.status).toBe(200);
      expect(Object.keys((blue.body as unknown as TestResponse).results)).toEqual(["archive", "blueHook"]);
      expect(await tenantsOf(`blue-${run}`)).toEqual(["blue"]);
      expect(await tenantsOf(`red-${run}`)).toEqual(["red"]);

      // naming the other tenant's sink (alone or beside its own), or one that does not exist: 403, nothing sent,
      // and the answer lists only the caller's sinks
      for (const sinks of ["blueHook", "redHook,blueHook", "nowhere"]) {
        const refused = await call(post(`/v1/test?sinks=${sinks}`, null, as("red-token")), { config: tenants(false), dev: false, vars: twoVars });
        expect(refused.status).toBe(403);
        const error = (refused.body as unknown as { error: string }).error;
        expect(error).toContain(`tenant "red"'s test alert (archive, redHook;`);
        expect(error).toContain("delivery.adminToken");
        if (sinks === "nowhere") expect(error).not.toContain("blueHook");
      }
      expect(await tenantsOf(`red-${run}`)).toEqual(["red"]);
      expect(await tenantsOf(`blue-${run}`)).toEqual(["blue"]);
      // its own sink by name is fine
      const own = await call(post("/v1/test?sinks=redHook", null, as("red-token")), { config: tenants(false), dev: false, vars: twoVars });
      expect(own.status).toBe(200);
      expect(Object.keys((own.body as unknown as TestResponse).results)).toEqual(["redHook"]);
      expect(await tenantsOf(`red-${run}`)).toEqual(["red", "red"]);

      // the admin token tests every sink (the alert carries no tenant), and any ?sinks=
      const admin = await call(post("/v1/test", null, as("admin-secret")), { config: tenants(true), dev: false, vars: twoVars });
      expect(admin.status).toBe(200);
      const adminBody = admin.body as unknown as TestResponse;
      expect(adminBody.routed).toEqual(["archive"]);
      expect(Object.keys(adminBody.results)).toEqual(["archive", "redHook", "blueHook"]);
      expect(await tenantsOf(`red-${run}`)).toEqual(["red", "red", undefined]);
      expect(await tenantsOf(`blue-${run}`)).toEqual(["blue", undefined]);
      const adminBlue = await call(post("/v1/test?sinks=blueHook", null, as("admin-secret")), { config: tenants(true), dev: false, vars: twoVars });
      expect(adminBlue.status).toBe(200);
      expect(Object.keys((adminBlue.body as unknown as TestResponse).results)).toEqual(["blueHook"]);
      expect(await tenantsOf(`blue-${run}`)).toEqual(["blue", undefined, undefined]);
    });
  });
});
