// Authentication (Node, pure apart from WebCrypto): credential matching rules.
import { describe, it, expect } from "vitest";
import { authenticate, allows, type AuthResult } from "../../src/routes/auth";
import { parseConfig } from "../../src/config/load";

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
