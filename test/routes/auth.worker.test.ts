// Authentication: bearer tokens (rotation), HTTP Basic as Falco sends it, HMAC signatures,
// dev mode, tenants in metadata.tenant_uid, per-token source scopes, and no secret in logs.
import { env } from "cloudflare:test";
import { describe, it, expect, vi, afterEach } from "vitest";
import { fixture } from "../support/fixtures";
import { readArchive, waitFor } from "../support/archive";
import { CaptureQueue, call, post, linesOf, gzip } from "./helpers";

const alert = fixture("falco/terminal-shell-in-container__falco-docs.json");
const tetragon = linesOf("tetragon");
const TOKEN_A = "tok-a-2f9c1e7d4b8a";
const TOKEN_A2 = "tok-a-rotated-91d3c55e";
const TOKEN_B = "tok-b-6e0b7f12aa43";
const FALCO_PASS = "p@ss:w0rd/é";

const config = {
  auth: {
    tokens: [
      { tenant: "team-a", token: { env: "TOK_A" } },
      { tenant: "team-a", token: { env: "TOK_A2" } },
      { tenant: "falco-only", token: { env: "TOK_B" }, sources: ["falco"] },
      { tenant: "edge-falco", basic: { username: "falco", password: { env: "FALCO_PASS" } } },
      { tenant: "unset", token: { env: "NOT_SET" } },
    ],
  },
};
const vars = { TOK_A: TOKEN_A, TOK_A2: TOKEN_A2, TOK_B: TOKEN_B, FALCO_PASS };

/** What libcurl sends for http://user:pass@host/ (userinfo percent-decoded, then base64 of user:pass as UTF-8). */
function falcoUrlAuth(url: string): string {
  const u = new URL(url);
  const pair = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  return "Basic " + btoa(String.fromCharCode(...new TextEncoder().encode(pair)));
}

async function send(headers: Record<string, string>, o: { path?: string; body?: BodyInit; dev?: boolean; cfg?: Record<string, unknown> } = {}) {
  const queue = new CaptureQueue();
  const r = await call(post(o.path ?? "/v1/events", o.body ?? alert, { "content-type": "application/json", ...headers }), { config: o.cfg ?? config, dev: o.dev ?? false, queue, vars });
  return { ...r, queue, tenants: queue.events().map((e) => (e.metadata as { tenant_uid?: string }).tenant_uid) };
}

async function hmacHex(secret: string, body: Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return [...new Uint8Array(await crypto.subtle.sign("HMAC", key, body))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("bearer tokens", () => {
  it("accepts each configured token and records its tenant; two tokens of one tenant are valid at once (rotation)", async () => {
    for (const t of [TOKEN_A, TOKEN_A2]) {
      const r = await send({ authorization: `Bearer ${t}` });
      expect(r.status).toBe(202);
      expect(r.tenants).toEqual(["team-a"]);
    }
  });

  it("answers 403 for a wrong token, 401 without credentials (with a challenge), 401 for an unknown scheme", async () => {
    const bad = await send({ authorization: `Bearer ${TOKEN_A}x` });
    expect(bad.status).toBe(403);
    expect(bad.body).toMatchObject({ accepted: 0, errors: [{ index: -1, reason: "invalid credentials" }] });
    expect(bad.queue.count()).toBe(0);
    const none = await send({});
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/Bearer.*Basic/);
    expect(none.body.errors[0]!.reason).toMatch(/missing credentials/);
    const odd = await send({ authorization: `Token ${TOKEN_A}` });
    expect(odd.status).toBe(401);
    expect(odd.body.errors[0]!.reason).toMatch(/unsupported Authorization scheme "token"/);
    // curl -H "Authorization: Bearer $TOKEN" with TOKEN unset
    const empty = await send({ authorization: "Bearer " });
    expect(empty.status).toBe(401);
    expect(empty.headers.get("www-authenticate")).toMatch(/Bearer.*Basic/);
    expect(empty.body.errors[0]!.reason).toMatch(/^the Bearer token is empty/);
  });

  it("a token whose secret is not set matches nothing", async () => {
    const r = await send({ authorization: "Bearer undefined" });
    expect(r.status).toBe(403);
  });

  it("a token limited to some sources: 403 on another source's route, per-record rejection when detected", async () => {
    const route = await send({ authorization: `Bearer ${TOKEN_B}` }, { path: "/v1/events/tetragon", body: tetragon.join("\n") });
    expect(route.status).toBe(403);
    expect(route.body.errors[0]!.reason).toMatch(/falco-only.*may not send tetragon/);
    const mixed = await send({ authorization: `Bearer ${TOKEN_B}`, "content-type": "application/x-ndjson" }, { body: `${alert.replace(/\n/g, " ")}\n${tetragon[0]}` });
    expect(mixed.status).toBe(202);
    expect(mixed.body.accepted).toBe(1);
    expect(mixed.body.errors).toEqual([{ index: 1, path: "line 2", source: "tetragon", reason: 'credentials of tenant "falco-only" may not send tetragon records' }]);
    expect(mixed.tenants).toEqual(["falco-only"]);
  });

  it("never logs a token", async () => {
    const logged: string[] = [];
    for (const m of ["log", "warn", "error", "info", "debug"] as const) vi.spyOn(console, m).mockImplementation((...a: unknown[]) => void logged.push(a.map(String).join(" ")));
    await send({ authorization: `Bearer ${TOKEN_A}` }, { body: "{not json" });
    await send({ authorization: `Bearer ${TOKEN_A}zz` });
    await send({ authorization: falcoUrlAuth(`http://falco:${encodeURIComponent(FALCO_PASS)}@h/`) }, { body: '{"hello":1}' });
    expect(logged.length).toBeGreaterThan(0); // the rejections and the unset secret were logged...
    const all = logged.join("\n");
    for (const secret of [TOKEN_A, TOKEN_A2, TOKEN_B, FALCO_PASS]) expect(all).not.toContain(secret); // ...without any secret
    expect(all).toContain("NOT_SET"); // the missing secret is named by its env variable
  });

  it("never puts a token in an answer body or header, whatever the Authorization header looks like", async () => {
    const wrong = `${TOKEN_A}0`;
    const headers = [`Bearer ${wrong}`, wrong, `${wrong} ${TOKEN_B}`, `Token ${TOKEN_A}`, `Basic ${TOKEN_A}`, falcoUrlAuth(`http://falco:${encodeURIComponent(FALCO_PASS)}x@h/`)];
    for (const h of headers) {
      const r = await send({ authorization: h });
      expect([401, 403], h).toContain(r.status);
      const answer = JSON.stringify(r.body) + [...r.headers].join("\n");
      for (const secret of [TOKEN_A, TOKEN_A2, TOKEN_B, FALCO_PASS, encodeURIComponent(FALCO_PASS)]) expect(answer, h).not.toContain(secret);
    }
    // a valid token with a bad body: the 400's reasons name the records, not the credential
    const bad = await send({ authorization: `Bearer ${TOKEN_A}` }, { body: `{"x": "${TOKEN_B}"` });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).not.toContain(TOKEN_A);
  });
});

describe("HTTP Basic (Falco http_output: http://user:pass@host/)", () => {
  it("accepts the credentials Falco's libcurl derives from the URL", async () => {
    const url = `http://falco:${encodeURIComponent(FALCO_PASS)}@tributary.example/`;
    const r = await send({ authorization: falcoUrlAuth(url) }, { path: "/" });
    expect(r.status).toBe(202);
    expect(r.tenants).toEqual(["edge-falco"]);
  });

  it("accepts a bearer token as the Basic password (any username)", async () => {
    const r = await send({ authorization: falcoUrlAuth(`http://x:${TOKEN_A}@h/`) });
    expect(r.status).toBe(202);
    expect(r.tenants).toEqual(["team-a"]);
  });

  it("answers 403 for a wrong password or user, 401 for malformed Basic", async () => {
    expect((await send({ authorization: falcoUrlAuth("http://falco:nope@h/") })).status).toBe(403);
    expect((await send({ authorization: falcoUrlAuth(`http://other:${encodeURIComponent(FALCO_PASS)}@h/`) })).status).toBe(403);
    expect((await send({ authorization: "Basic !!!" })).status).toBe(401);
  });
});

describe("HMAC signatures", () => {
  const cfg = { auth: { tokens: [], hmac: { secret: { env: "HMAC_SECRET" }, tenant: "signed-sender" } } };
  const secret = "hmac-secret-0c8d1f";
  async function signed(headers: Record<string, string>, body: Uint8Array) {
    const queue = new CaptureQueue();
    const r = await call(post("/v1/events", body, { "content-type": "application/json", ...headers }), { config: cfg, dev: false, queue, vars: { HMAC_SECRET: secret } });
    return { ...r, queue };
  }

  it("accepts a valid signature (sha256=<hex> and bare hex) over the body as sent, also when gzip", async () => {
    const plain = new TextEncoder().encode(alert);
    const ok = await signed({ "x-tributary-signature": `sha256=${await hmacHex(secret, plain)}` }, plain);
    expect(ok.status).toBe(202);
    expect((ok.queue.events()[0]!.metadata as { tenant_uid: string }).tenant_uid).toBe("signed-sender");
    const gz = await gzip(alert);
    const okGz = await signed({ "x-tributary-signature": await hmacHex(secret, gz), "content-encoding": "gzip" }, gz);
    expect(okGz.status).toBe(202);
  });

  it("answers 403 for a signature that does not match, 401 for a malformed one or none", async () => {
    const plain = new TextEncoder().encode(alert);
    const sig = await hmacHex(secret, plain);
    const tampered = await signed({ "x-tributary-signature": `sha256=${sig}` }, new TextEncoder().encode(alert + " "));
    expect(tampered.status).toBe(403);
    expect(tampered.body.errors[0]!.reason).toMatch(/does not match/);
    expect(tampered.queue.count()).toBe(0);
    expect((await signed({ "x-tributary-signature": "sha256=zz" }, plain)).status).toBe(401);
    expect((await signed({}, plain)).status).toBe(401);
  });
});

describe("HMAC signers as a list (several senders, rotation)", () => {
  const cfg = {
    auth: {
      hmac: [
        { tenant: "team-a", secret: { env: "A_OLD" } },
        { tenant: "team-a", secret: { env: "A_NEW" } },
        { tenant: "team-b", secret: { env: "B_KEY" }, header: "x-b-signature", sources: ["falco"] },
      ],
    },
  };
  const keys = { A_OLD: "a-old-7c1e90", A_NEW: "a-new-3f22b1", B_KEY: "b-key-5d04aa" };
  async function signed(path: string, text: string, header: string, secret: string) {
    const body = new TextEncoder().encode(text);
    const queue = new CaptureQueue();
    const r = await call(post(path, body, { "content-type": "application/json", [header]: `sha256=${await hmacHex(secret, body)}` }), { config: cfg, dev: false, queue, vars: keys });
    return { ...r, tenants: queue.events().map((e) => (e.metadata as { tenant_uid?: string }).tenant_uid) };
  }

  it("each sender's events get its own tenant_uid; the old and the new secret of a rotation are both accepted", async () => {
    for (const [header, secret, tenant] of [["x-tributary-signature", keys.A_OLD, "team-a"], ["x-tributary-signature", keys.A_NEW, "team-a"], ["x-b-signature", keys.B_KEY, "team-b"]] as const) {
      const r = await signed("/v1/events", alert, header, secret);
      expect(r.status).toBe(202);
      expect(r.tenants).toEqual([tenant]);
    }
  });

  it("a signer's sources restriction answers 403; a bad signature (another signer's secret) still 403 with the same reason", async () => {
    const route = await signed("/v1/events/tetragon", tetragon.join("\n"), "x-b-signature", keys.B_KEY);
    expect(route.status).toBe(403);
    expect(route.body.errors[0]!.reason).toMatch(/team-b.*may not send tetragon/);
    const wrong = await signed("/v1/events", alert, "x-b-signature", keys.A_NEW);
    expect(wrong.status).toBe(403);
    expect(wrong.body.errors[0]!.reason).toBe("HMAC signature does not match the body");
    expect(wrong.tenants).toEqual([]);
  });

  it("a malformed signature in one header does not refuse a valid one in another; when none verifies, 401 names each failure", async () => {
    const body = new TextEncoder().encode(alert);
    async function both(a: string, b: string) {
      const queue = new CaptureQueue();
      const r = await call(post("/v1/events", body, { "content-type": "application/json", "x-tributary-signature": a, "x-b-signature": b }), { config: cfg, dev: false, queue, vars: keys });
      return { ...r, tenants: queue.events().map((e) => (e.metadata as { tenant_uid?: string }).tenant_uid) };
    }
    const validA = `sha256=${await hmacHex(keys.A_NEW, body)}`;
    const validB = `sha256=${await hmacHex(keys.B_KEY, body)}`;
    const wrongA = `sha256=${await hmacHex("not-a-configured-key", body)}`;
    const goodA = await both(validA, "sha256=zz");
    expect(goodA.status).toBe(202);
    expect(goodA.tenants).toEqual(["team-a"]);
    const goodB = await both("garbage", validB);
    expect(goodB.status).toBe(202);
    expect(goodB.tenants).toEqual(["team-b"]);
    const none = await both(wrongA, "sha256=zz");
    expect(none.status).toBe(401);
    expect(none.body.errors[0]!.reason).toBe("malformed x-b-signature header: expected sha256=<64 hex digits>; x-tributary-signature: HMAC signature does not match the body");
    expect(none.tenants).toEqual([]);
    const bothBad = await both("garbage", "sha256=zz");
    expect(bothBad.status).toBe(401);
    expect(bothBad.body.errors[0]!.reason).toBe("malformed x-tributary-signature header: expected sha256=<64 hex digits>; malformed x-b-signature header: expected sha256=<64 hex digits>");
  });
});

describe("dev mode and defaults", () => {
  it("outside dev with nothing configured: 401 explaining how to configure tokens (never silently open)", async () => {
    const r = await send({}, { cfg: {} });
    expect(r.status).toBe(401);
    expect(r.body.errors[0]!.reason).toMatch(/no credentials are configured.*auth\.tokens.*tributary\.config\.json.*TRIBUTARY_CONFIG/);
  });

  it("a wrong token when no credentials are configured: 403 saying none are, and in dev that none are needed", async () => {
    const dev = await send({ authorization: "Bearer wrong" }, { cfg: {}, dev: true });
    expect(dev.status).toBe(403);
    expect(dev.body.errors[0]!.reason).toMatch(/^invalid credentials: no credentials are configured on this server; to use one, add auth\.tokens to tributary\.config\.json .*; in local development a request without Authorization is accepted$/);
    const basic = await send({ authorization: `Basic ${btoa("u:p")}` }, { cfg: {}, dev: true });
    expect(basic.body.errors[0]!.reason).toMatch(/no credentials are configured/);
    const prod = await send({ authorization: "Bearer wrong" }, { cfg: { auth: { required: false } } });
    expect(prod.status).toBe(403);
    expect(prod.body.errors[0]!.reason).toMatch(/no credentials are configured/);
    expect(prod.body.errors[0]!.reason).not.toMatch(/local development/);
  });

  it("in dev (TRIBUTARY_DEV=true) with no tokens: accepted as tenant dev; with tokens: still enforced", async () => {
    const open = await send({}, { cfg: {}, dev: true });
    expect(open.status).toBe(202);
    expect(open.tenants).toEqual(["dev"]);
    const enforced = await send({}, { dev: true });
    expect(enforced.status).toBe(401);
    const withToken = await send({ authorization: `Bearer ${TOKEN_A}` }, { dev: true });
    expect(withToken.tenants).toEqual(["team-a"]);
  });

  it("auth.required=false accepts requests without credentials but still refuses wrong ones", async () => {
    const cfg = { auth: { required: false, tokens: config.auth.tokens } };
    expect((await send({}, { cfg })).status).toBe(202);
    expect((await send({ authorization: "Bearer wrong" }, { cfg })).status).toBe(403);
  });

  it("the token's tenant reaches metadata.tenant_uid in the archive (real queue and consumer)", async () => {
    const marker = "tenant-roundtrip-check";
    const body = alert.replace("Terminal shell in container", marker);
    const r = await call(post("/v1/events", body, { "content-type": "application/json", authorization: `Bearer ${TOKEN_A}` }), { config, dev: false, vars });
    expect(r.status).toBe(202);
    const ev = await waitFor(async () => {
      const objs = await readArchive(env.ARCHIVE, "ocsf/class_uid=2004/");
      return objs.flatMap((o) => o.events).find((e) => JSON.stringify(e).includes(marker));
    });
    expect((ev.metadata as { tenant_uid: string }).tenant_uid).toBe("team-a");
  });
});

describe("ingest and operator credentials are separate (several tenants on one Tributary)", () => {
  const ADMIN = "admin-7c1d2e9f0a";
  const METRICS = "metrics-3b8e61d4c2";
  const cfg = { ...config, delivery: { adminToken: { env: "ADMIN_TOK" } }, metrics: { token: { env: "METRICS_TOK" }, tenantLabels: true } };
  const allVars = { ...vars, ADMIN_TOK: ADMIN, METRICS_TOK: METRICS };
  const request = (method: string, path: string, token: string, dev: boolean) =>
    call(new Request(`http://tributary${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, ...(method === "POST" ? { body: "{}" } : {}) }), { config: cfg, vars: allVars, dev });

  it("a tenant's ingest token opens no operator endpoint (dead letters, replay, spool, archive, backfill, metrics, test event)", async () => {
    const operator: [string, string, boolean][] = [
      ["GET", "/v1/dlq", false],
      ["GET", "/v1/dlq/object/dlq/x", false],
      ["POST", "/v1/dlq/replay", false],
      ["GET", "/v1/dlq/spool", false],
      ["GET", "/v1/dlq/staged", false],
      ["GET", "/v1/archive/list", true],
      ["GET", "/metrics", false],
      ["POST", "/v1/test", false],
      ["POST", "/v1/backfill", false],
    ];
    for (const [method, path, dev] of operator) {
      for (const token of [TOKEN_A, TOKEN_B]) {
        const r = await request(method, path, token, dev);
        expect([method, path, r.status], token).toEqual([method, path, 403]);
      }
      // the admin token (or, for /metrics, the metrics token) opens it
      const own = path === "/metrics" ? METRICS : ADMIN;
      const status = (await request(method, path, own, dev)).status;
      expect([401, 403, 503], `${path} ${status}`).not.toContain(status);
    }
  });

  it("the admin and metrics tokens are no ingest credentials", async () => {
    for (const t of [ADMIN, METRICS]) {
      const queue = new CaptureQueue();
      const r = await call(post("/v1/events", alert, { "content-type": "application/json", authorization: `Bearer ${t}` }), { config: cfg, vars: allVars, dev: false, queue });
      expect([r.status, r.body.errors[0]?.reason]).toEqual([403, "invalid credentials"]);
      expect(queue.events()).toEqual([]);
    }
  });

  it("an admin token with the value of an ingest token, Basic password or HMAC key keeps the admin endpoints closed (503 naming the credential), the others still work", async () => {
    const hmac = { header: "X-Signature", secret: { env: "HMAC_KEY" }, tenant: "signed" };
    for (const [clash, name] of [
      [TOKEN_B, "auth.tokens[2] (env TOK_B)"],
      ["hmac-key-5d0c9a", "auth.hmac (env HMAC_KEY)"],
      [FALCO_PASS, "auth.tokens[3].basic (env FALCO_PASS)"],
    ] as const) {
      const clashCfg = { ...cfg, auth: { ...config.auth, hmac } };
      const clashVars = { ...allVars, HMAC_KEY: "hmac-key-5d0c9a", ADMIN_TOK: clash };
      for (const [method, path] of [["GET", "/v1/dlq"], ["POST", "/v1/dlq/replay"], ["POST", "/v1/test"]] as const) {
        const r = await call(new Request(`http://tributary${path}`, { method, headers: { authorization: `Bearer ${clash}`, "content-type": "application/json" }, ...(method === "POST" ? { body: "{}" } : {}) }), { config: clashCfg, vars: clashVars, dev: false });
        expect([path, r.status], name).toEqual([path, 503]);
        expect(String(r.body.error)).toContain(`same value as the ingest credential ${name}`);
        expect(JSON.stringify(r.body)).not.toContain(clash);
      }
      // ingest with another tenant's token is unaffected
      const queue = new CaptureQueue();
      const ingest = await call(post("/v1/events", alert, { "content-type": "application/json", authorization: `Bearer ${TOKEN_A}` }), { config: clashCfg, vars: clashVars, dev: false, queue });
      expect(ingest.status).toBe(202);
    }
  });
});
