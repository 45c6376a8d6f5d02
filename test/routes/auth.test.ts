// Authentication (Node, pure apart from WebCrypto): credential matching rules.
import { describe, it, expect, vi } from "vitest";
import { authenticate, allows, constantTimeEqual, type AuthResult } from "../../src/routes/auth";
import { parseConfig } from "../../src/config/load";
import { multiTenant } from "../../src/config/schema";
import { contextData } from "../../src/enrich/context";

const basic = (user: string, pass: string) => "Basic " + Buffer.from(`${user}:${pass}`, "utf8").toString("base64");
const tenant = (r: AuthResult) => (r.ok === true ? r.principal.tenant : `${r.ok === false ? r.status : "body"}`);

describe("authenticate", () => {
  const cfg = parseConfig({
    auth: {
      tokens: [
        { tenant: "a", token: "literal-token-a" },
        { tenant: "b", token: { env: "TOKEN_B" }, sources: ["tetragon"] },
        { tenant: "falco", basic: { username: "fälco", password: { env: "PASS" } } },
      ],
    },
  });
  const env = { TOKEN_B: "token-b", PASS: "p:a:s:s" };
  const auth = (h: Record<string, string>, e: Record<string, string> = env) => authenticate(new Headers(h), cfg, e);

  it("matches bearer tokens (literal or from env) and their scope", async () => {
    expect(tenant(await auth({ authorization: "Bearer literal-token-a" }))).toBe("a");
    const b = await auth({ authorization: "bearer   token-b " });
    expect(tenant(b)).toBe("b");
    expect(b.ok === true && allows(b.principal, "tetragon") && !allows(b.principal, "falco")).toBe(true);
    expect(tenant(await auth({ authorization: "Bearer token-" }))).toBe("403");
    expect(tenant(await auth({ authorization: "Bearer " }))).toBe("401");
  });

  it("matches Basic with a password holding colons and a UTF-8 username; a bearer token works as a Basic password", async () => {
    expect(tenant(await auth({ authorization: basic("fälco", "p:a:s:s") }))).toBe("falco");
    expect(tenant(await auth({ authorization: basic("falco", "p:a:s:s") }))).toBe("403");
    expect(tenant(await auth({ authorization: basic("anyone", "token-b") }))).toBe("b");
    expect(tenant(await auth({ authorization: "Basic bm9jb2xvbg==" }))).toBe("401"); // "nocolon"
  });

  it("without credentials: 401 outside dev, also in dev once something is configured", async () => {
    expect(tenant(await auth({}))).toBe("401");
    expect(tenant(await auth({}, { ...env, TRIBUTARY_DEV: "true" }))).toBe("401");
    expect(tenant(await authenticate(new Headers(), parseConfig({}), { TRIBUTARY_DEV: "true" }))).toBe("dev");
    const none = await authenticate(new Headers(), parseConfig({}), {});
    expect(none.ok === false && none.reason).toMatch(/no credentials are configured/);
    const open = await authenticate(new Headers(), parseConfig({ auth: { required: false } }), {});
    expect(open.ok === true && open.principal).toEqual({ method: "none" });
  });

  it("verifies HMAC-SHA256 signatures in hex or base64 against the body bytes", async () => {
    const c = parseConfig({ auth: { hmac: { secret: "s3cret", header: "X-Sig" } } });
    const body = new TextEncoder().encode('{"rule":"x"}');
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode("s3cret"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, body));
    for (const sig of [`sha256=${Buffer.from(mac).toString("hex")}`, Buffer.from(mac).toString("hex").toUpperCase(), Buffer.from(mac).toString("base64")]) {
      const r = await authenticate(new Headers({ "x-sig": sig }), c, {});
      expect(r.ok).toBe("body");
      if (r.ok !== "body") continue;
      expect(tenant(await r.verify(body))).toBe("hmac");
      expect(tenant(await r.verify(new TextEncoder().encode('{"rule":"y"}')))).toBe("403");
    }
    expect(tenant(await authenticate(new Headers({ "x-sig": "sha256=12" }), c, {}))).toBe("401");
  });

  it("rejects a token entry without credentials at config load", () => {
    expect(() => parseConfig({ auth: { tokens: [{ tenant: "x" }] } })).toThrow(/needs `token` \(bearer\) or `basic`/);
  });
});

describe("constantTimeEqual", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);

  it("equal byte strings are equal; a difference at the first or last byte, or another length, is not", () => {
    expect(constantTimeEqual(bytes("tok-a-2f9c1e7d4b8a"), bytes("tok-a-2f9c1e7d4b8a"))).toBe(true);
    expect(constantTimeEqual(bytes("Xok-a-2f9c1e7d4b8a"), bytes("tok-a-2f9c1e7d4b8a"))).toBe(false);
    expect(constantTimeEqual(bytes("tok-a-2f9c1e7d4b8X"), bytes("tok-a-2f9c1e7d4b8a"))).toBe(false);
    expect(constantTimeEqual(bytes("tok-a-2f9c1e7d4b8"), bytes("tok-a-2f9c1e7d4b8a"))).toBe(false);
    expect(constantTimeEqual(bytes("tok-a-2f9c1e7d4b8a"), bytes("tok-a-2f9c1e7d4b8a!"))).toBe(false);
    // one bit apart
    expect(constantTimeEqual(Uint8Array.of(0, 0, 1), Uint8Array.of(0, 0, 0))).toBe(false);
  });

  it("empty strings: equal to each other, not to anything else", () => {
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    expect(constantTimeEqual(new Uint8Array(0), Uint8Array.of(0))).toBe(false);
  });

  it("non-ASCII (UTF-8) strings compare by their bytes", () => {
    expect(constantTimeEqual(bytes("tök€n-ünïcode"), bytes("tök€n-ünïcode"))).toBe(true);
    // "é" precomposed vs "e" + combining accent: the same on screen, not the same bytes
    expect(constantTimeEqual(bytes("caf\u00e9"), bytes("cafe\u0301"))).toBe(false);
    expect(constantTimeEqual(bytes("tök€n"), bytes("tök€m"))).toBe(false);
  });

  it("reads every byte of both inputs whatever differs (no early exit)", () => {
    // a counting proxy around each input: the number of byte reads must be the same for a match, a
    // difference at the first byte and one at the last
    const reads = (a: Uint8Array, b: Uint8Array) => {
      let n = 0;
      const counting = (t: Uint8Array) =>
        new Proxy(t, {
          get(target, k) {
            if (typeof k === "string" && /^\d+$/.test(k)) n++;
            const v = (target as unknown as Record<string | symbol, unknown>)[k];
            return typeof v === "function" ? (v as (...x: unknown[]) => unknown).bind(target) : v;
          },
        });
      const equal = constantTimeEqual(counting(a), counting(b));
      return { equal, n };
    };
    const digest = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    const first = digest.slice();
    first[0] = 255;
    const last = digest.slice();
    last[31] = 255;
    const all = digest.map((x) => 255 - x);
    expect(reads(digest, digest.slice())).toEqual({ equal: true, n: 64 });
    expect(reads(first, digest)).toEqual({ equal: false, n: 64 });
    expect(reads(last, digest)).toEqual({ equal: false, n: 64 });
    expect(reads(all, digest)).toEqual({ equal: false, n: 64 });
  });
});

describe("bearer tokens through authenticate (compared as SHA-256 digests)", () => {
  const TOKEN = "tok-5e1f0c9a77d2";
  const cfg = parseConfig({ auth: { tokens: [{ tenant: "t", token: TOKEN }, { tenant: "latin1", token: "tök-ñ" }] } });
  const auth = (authorization: string) => authenticate(new Headers({ authorization }), cfg, {});
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "x" ? "y" : "x") + s.slice(i + 1);

  it("the same token matches; one differing at the first or last character, shorter or longer does not", async () => {
    expect(tenant(await auth(`Bearer ${TOKEN}`))).toBe("t");
    expect(tenant(await auth(`Bearer ${flip(TOKEN, 0)}`))).toBe("403");
    expect(tenant(await auth(`Bearer ${flip(TOKEN, TOKEN.length - 1)}`))).toBe("403");
    expect(tenant(await auth(`Bearer ${TOKEN.slice(0, -1)}`))).toBe("403");
    expect(tenant(await auth(`Bearer ${TOKEN}0`))).toBe("403");
  });

  it("empty: a token cannot be configured empty, and an empty bearer value is refused", async () => {
    expect(() => parseConfig({ auth: { tokens: [{ tenant: "x", token: "" }] } })).toThrow();
    const empty = parseConfig({ auth: { tokens: [{ tenant: "x", token: { env: "EMPTY" } }] } });
    const emptyEnv = { TRIBUTARY_DEV: "false", EMPTY: "" };
    const errors: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    try {
      expect(tenant(await authenticate(new Headers({ authorization: "Bearer x" }), empty, emptyEnv))).toBe("403");
    } finally {
      spy.mockRestore();
    }
    // the log names what is missing in words the log scrubber leaves alone (not "bearer [redacted]")
    expect(errors.map((l) => (JSON.parse(l) as { missing?: string[] }).missing)).toEqual([["token of tenant x (Authorization: Bearer), env EMPTY"]]);
    expect(tenant(await auth("Bearer "))).toBe("401");
    // said as such, not as an unsupported scheme (HTTP drops the trailing space, leaving "Bearer")
    for (const h of ["Bearer ", "bearer", " Bearer  \t", "Bearer\t"]) {
      const r = await auth(h);
      expect(r.ok === false && [r.status, r.reason], JSON.stringify(h)).toEqual([401, "the Bearer token is empty: send Authorization: Bearer <token> (is the variable that holds it set?)"]);
    }
    const basicEmpty = await auth("Basic ");
    expect(basicEmpty.ok === false && [basicEmpty.status, basicEmpty.reason]).toEqual([401, "the Basic credentials are empty: expected base64 of user:password (is the variable that holds it set?)"]);
  });

  it("non-ASCII: a Latin-1 header value matches the same configured token and nothing close to it", async () => {
    expect(tenant(await auth("Bearer tök-ñ"))).toBe("latin1");
    expect(tenant(await auth("Bearer tok-n"))).toBe("403");
    expect(tenant(await auth("Bearer tök-ñ\u00ff"))).toBe("403");
  });

  it("no answer reason ever contains the token sent or a configured one", async () => {
    const sent = [`Bearer ${flip(TOKEN, 3)}`, TOKEN, `${TOKEN} ${TOKEN}`, `Token ${TOKEN}`, `Basic ${TOKEN}`, basic("u", TOKEN + "x"), `Bearer`];
    for (const h of sent) {
      const r = await auth(h);
      expect(r.ok, h).toBe(false);
      const reason = r.ok === false ? r.reason : "";
      expect(reason, h).not.toContain(TOKEN);
      expect(reason, h).not.toContain(TOKEN.slice(4));
      expect(reason, h).not.toContain("tök-ñ");
    }
    // a bare token (no scheme) is not echoed as a scheme; a known scheme is named
    const bare = await auth(TOKEN);
    expect(bare.ok === false && bare.reason).toBe("unsupported Authorization scheme: use Bearer or Basic");
    const odd = await auth(`Digest ${TOKEN}`);
    expect(odd.ok === false && odd.reason).toBe('unsupported Authorization scheme "digest": use Bearer or Basic');
  });
});

describe("auth.tokens[].sources", () => {
  it("an empty list is refused (the token could send nothing, and every answer said 'allowed: '); left out, all sources", () => {
    expect(() => parseConfig({ auth: { tokens: [{ tenant: "a", token: "t", sources: [] }] } })).toThrow(
      "auth.tokens.0.sources: an empty list lets the token send nothing: name the sources it may send, or leave `sources` out for all",
    );
    expect(parseConfig({ auth: { tokens: [{ tenant: "a", token: "t" }] } }).auth.tokens[0]!.sources).toBeUndefined();
  });
});

describe("auth.tokens[].cluster", () => {
  it("a tenant's tokens may not name different clusters (the cluster is looked up by tenant); the same one, or none, is fine", () => {
    const tokens = (...cs: (string | undefined)[]) => ({ auth: { tokens: cs.map((cluster, i) => ({ tenant: "team-a", token: `t${i}`, cluster })) } });
    expect(() => parseConfig(tokens("eu-1", undefined, "eu-2"))).toThrow(
      'auth.tokens.2.cluster: tenant "team-a" already has cluster "eu-1" (auth.tokens.0): the cluster label is looked up by tenant, so give each cluster its own tenant (e.g. "team-a-eu-2")',
    );
    // rotation: the new token repeats the cluster or leaves it out
    expect(parseConfig(tokens("eu-1", "eu-1", undefined)).auth.tokens.map((t) => t.cluster)).toEqual(["eu-1", "eu-1", undefined]);
    // two tenants, two clusters
    const two = parseConfig({ auth: { tokens: [{ tenant: "a", token: "x", cluster: "c1" }, { tenant: "b", token: "y", cluster: "c2" }] } });
    expect(two.auth.tokens.map((t) => `${t.tenant}:${t.cluster}`)).toEqual(["a:c1", "b:c2"]);
  });
});

describe("one secret configured for two tenants", () => {
  it("is refused for both and logged by its secrets' names, never its value; the same secret twice for one tenant is fine", async () => {
    const cfg = parseConfig({
      auth: {
        tokens: [
          { tenant: "team-a", token: { env: "TOKEN_A" } },
          { tenant: "team-a", token: { env: "TOKEN_A_NEXT" } },
          { tenant: "team-b", token: { env: "TOKEN_B" } },
          { tenant: "falco-a", basic: { username: "falco", password: { env: "PW_A" } } },
          { tenant: "falco-b", basic: { username: "falco", password: { env: "PW_B" } } },
        ],
      },
    });
    // TOKEN_B was set to team A's value by mistake; both Falco passwords are the same
    const env: Record<string, string> = { TOKEN_A: "tok-a", TOKEN_A_NEXT: "tok-a", TOKEN_B: "tok-a", PW_A: "pw", PW_B: "pw" };
    const errors: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    try {
      for (const h of ["Bearer tok-a", basic("x", "tok-a"), basic("falco", "pw")]) {
        const r = await authenticate(new Headers({ authorization: h }), cfg, env);
        expect(r.ok === false && [r.status, r.reason], h).toEqual([403, "invalid credentials: this credential is configured for more than one tenant, so it is refused (the server's error log names the secrets)"]);
      }
    } finally {
      spy.mockRestore();
    }
    const shared = errors.map((l) => JSON.parse(l) as { msg: string; tenants: string[]; secrets: string[] }).filter((l) => l.msg.startsWith("one credential"));
    expect(shared.map((l) => [l.tenants, l.secrets])).toEqual([
      [["team-a", "team-b"], ["env TOKEN_A", "env TOKEN_A_NEXT", "env TOKEN_B"]],
      [["falco-a", "falco-b"], ["env PW_A", "env PW_B"]],
    ]);
    expect(errors.join("\n")).not.toContain("tok-a");
    // fixed: team B gets its own value; rotation within team A (two equal secrets) keeps working
    const fixed: Record<string, string> = { ...env, TOKEN_B: "tok-b", PW_B: "pw-b" };
    const as = async (h: string) => tenant(await authenticate(new Headers({ authorization: h }), cfg, fixed));
    expect([await as("Bearer tok-a"), await as("Bearer tok-b"), await as(basic("falco", "pw")), await as(basic("falco", "pw-b"))]).toEqual(["team-a", "team-b", "falco-a", "falco-b"]);
  });
});

describe("usage log (rotation: is the old token still used?)", () => {
  it("one 'ingest credential in use' line per credential every 10 minutes, naming which one and the requests since the last line", async () => {
    const cfg = parseConfig({
      auth: {
        tokens: [
          { tenant: "team-a", token: { env: "TOKEN_A" } },
          { tenant: "team-a", token: { env: "TOKEN_A_NEXT" } },
          { tenant: "falco", basic: { username: "falco", password: "literal-pw" } },
        ],
        hmac: { secret: { env: "H" }, tenant: "relay" },
      },
    });
    const env: Record<string, string> = { TOKEN_A: "tok-old", TOKEN_A_NEXT: "tok-new", H: "hmac-key" };
    const lines: { msg: string; tenant: string; which: string; method: string; requests: number }[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(JSON.parse(line)));
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(new Date("2026-12-01T10:00:00Z"));
      const send = async (authorization: string) => expect(tenant(await authenticate(new Headers({ authorization }), cfg, env))).not.toMatch(/^\d/);
      await send("Bearer tok-old");
      await send("Bearer tok-old");
      await send("Bearer tok-new");
      await send(basic("falco", "literal-pw"));
      const body = new TextEncoder().encode("{}");
      const key = await crypto.subtle.importKey("raw", new TextEncoder().encode("hmac-key"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const sig = Buffer.from(await crypto.subtle.sign("HMAC", key, body)).toString("hex");
      const pending = await authenticate(new Headers({ "x-tributary-signature": `sha256=${sig}` }), cfg, env);
      expect(pending.ok === "body" && tenant(await pending.verify(body))).toBe("relay");
      vi.setSystemTime(new Date("2026-12-01T10:10:00Z"));
      await send("Bearer tok-old");
    } finally {
      vi.useRealTimers();
      spy.mockRestore();
    }
    expect(lines.filter((l) => l.msg === "ingest credential in use").map((l) => [l.tenant, l.which, l.method, l.requests])).toEqual([
      ["team-a", "auth.tokens[0] (env TOKEN_A)", "bearer", 1],
      ["team-a", "auth.tokens[1] (env TOKEN_A_NEXT)", "bearer", 1],
      ["falco", "auth.tokens[2].basic (a literal value)", "basic", 1],
      ["relay", "auth.hmac (env H)", "hmac", 1],
      // ten minutes later: the second request of 10:00 and this one
      ["team-a", "auth.tokens[0] (env TOKEN_A)", "bearer", 2],
    ]);
    expect(JSON.stringify(lines)).not.toMatch(/tok-old|tok-new|literal-pw|hmac-key/);
  });
});

describe("auth.hmac as a list of signers", () => {
  const enc = new TextEncoder();
  const body = enc.encode('{"rule":"x"}');
  const sign = async (secret: string, b: Uint8Array = body) => {
    const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return `sha256=${Buffer.from(await crypto.subtle.sign("HMAC", key, b)).toString("hex")}`;
  };
  const cfg = parseConfig({
    auth: {
      hmac: [
        { tenant: "team-a", secret: { env: "A_OLD" }, cluster: "eu-1" },
        { tenant: "team-a", secret: { env: "A_NEW" } },
        { tenant: "team-b", secret: { env: "B" }, header: "X-B-Sig", sources: ["tetragon"] },
      ],
    },
  });
  const env = { A_OLD: "a-old-secret", A_NEW: "a-new-secret", B: "b-secret" };
  const verify = async (h: Record<string, string>, e: Record<string, string> = env, c = cfg, b = body) => {
    const r = await authenticate(new Headers(h), c, e);
    return r.ok === "body" ? r.verify(b) : r;
  };

  it("each sender gets its own tenant, and both secrets of a rotation are accepted", async () => {
    expect(tenant(await verify({ "x-tributary-signature": await sign("a-old-secret") }))).toBe("team-a");
    const a = await verify({ "x-tributary-signature": await sign("a-new-secret") });
    expect(a.ok === true && a.principal).toEqual({ tenant: "team-a", sources: undefined, method: "hmac" });
    const b = await verify({ "x-b-sig": await sign("b-secret") });
    expect(b.ok === true && b.principal).toEqual({ tenant: "team-b", sources: ["tetragon"], method: "hmac" });
    expect(b.ok === true && allows(b.principal, "tetragon") && !allows(b.principal, "falco")).toBe(true);
  });

  it("a bad signature is 403 with the same reason; another signer's secret in the wrong header is refused", async () => {
    const bad = await verify({ "x-tributary-signature": await sign("a-new-secret", enc.encode("other")) });
    expect(bad).toEqual({ ok: false, status: 403, reason: "HMAC signature does not match the body" });
    expect(await verify({ "x-tributary-signature": await sign("b-secret") })).toEqual(bad);
    expect(tenant(await verify({ "x-b-sig": "sha256=12" }))).toBe("401");
    // one secret missing: the others still verify
    expect(tenant(await verify({ "x-b-sig": await sign("b-secret") }, { B: "b-secret" }))).toBe("team-b");
    expect(tenant(await verify({ "x-tributary-signature": await sign("a-old-secret") }, { B: "b-secret" }))).toBe("403");
  });

  it("one secret for two tenants is refused; multiTenant, the cluster rule and errors name the entry", async () => {
    const shared = parseConfig({ auth: { hmac: [{ tenant: "x", secret: "same" }, { tenant: "y", secret: "same" }] } });
    const r = await verify({ "x-tributary-signature": await sign("same") }, {}, shared);
    expect(r.ok === false && r.reason).toMatch(/configured for more than one tenant/);
    expect(multiTenant(cfg.auth)).toBe(true);
    expect(multiTenant(parseConfig({ auth: { hmac: [{ tenant: "a", secret: "1" }, { tenant: "a", secret: "2" }] } }).auth)).toBe(false);
    expect(contextData(cfg).clusters.get("team-a")).toBe("eu-1");
    expect(() => parseConfig({ auth: { tokens: [{ tenant: "t", token: "x", cluster: "c1" }], hmac: [{ tenant: "t", secret: "s", cluster: "c2" }] } })).toThrow(
      'auth.hmac.0.cluster: tenant "t" already has cluster "c1" (auth.tokens.0)',
    );
    expect(() => parseConfig({ auth: { hmac: [{ tenant: "t", secret: "1", cluster: "c1" }, { tenant: "t", secret: "2", cluster: "c2" }] } })).toThrow(
      'auth.hmac.1.cluster: tenant "t" already has cluster "c1" (auth.hmac.0)',
    );
    expect(() => parseConfig({ auth: { tokens: [{ tenant: "hmac", token: "x", cluster: "c1" }], hmac: { secret: "s", cluster: "c2" } } })).toThrow(
      'auth.hmac.cluster: tenant "hmac" already has cluster "c1" (auth.tokens.0)',
    );
    expect(() => parseConfig({ auth: { hmac: [{ tenant: "a", secret: "1" }, { tenant: "b" }] } })).toThrow("auth.hmac.1.secret");
    expect(() => parseConfig({ auth: { hmac: { tenant: "a" } } })).toThrow("auth.hmac.secret");
    expect(() => parseConfig({ auth: { hmac: [] } })).toThrow("auth.hmac: an empty list accepts no signature");
    expect(() => parseConfig({ auth: { hmac: Array.from({ length: 17 }, (_, i) => ({ tenant: "a", secret: `s${i}` })) } })).toThrow("auth.hmac: at most 16 entries");
    // a header name Headers.get refuses (it would fail every request), or Authorization, is refused at load
    expect(() => parseConfig({ auth: { hmac: { secret: "s", header: "x sig" } } })).toThrow("auth.hmac.header: an HTTP header name");
    expect(() => parseConfig({ auth: { hmac: [{ tenant: "a", secret: "s", header: "Authorization" }] } })).toThrow("auth.hmac.0.header: not Authorization");
    expect(parseConfig({ auth: { hmac: { secret: "s", header: "X-Hub-Signature-256" } } }).auth.hmac).toMatchObject({ header: "X-Hub-Signature-256" });
    expect(parseConfig({}).auth.hmac).toBeUndefined();
    expect(parseConfig({ auth: { hmac: { secret: "s" } } }).auth.hmac).toEqual({ header: "x-tributary-signature", secret: "s", tenant: "hmac" });
  });
});
