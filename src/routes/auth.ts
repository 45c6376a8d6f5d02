// Ingest authentication: per-source bearer tokens (several at once, for rotation), HTTP Basic
// (Falco's http_output only takes user:pass in the URL), and optional HMAC-SHA256 signatures (one signer or a list) of
// the body. Each credential maps to a tenant (metadata.tenant_uid) and optionally to the sources
// it may send.
//
// Secrets are compared as SHA-256 digests in constant time, and never logged: logs name the env
// variable a missing secret should come from, never a value.
import { credentialRows, hmacEntries, type Config } from "../config/schema";
import { resolveSecret } from "../config/load";
import type { SourceKind } from "../normalize/ocsf";
import { log } from "../ops/log";

export interface Principal {
  /** Tenant recorded in metadata.tenant_uid (undefined when auth is switched off). */
  tenant?: string;
  /** Sources this credential may send (undefined: all). */
  sources?: SourceKind[];
  method: "bearer" | "basic" | "hmac" | "dev" | "none";
}

export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; status: 401 | 403; reason: string }
  /** The request carries an HMAC signature: call `verify` with the raw body bytes. */
  | { ok: "body"; verify: (body: Uint8Array) => Promise<AuthResult> };

interface Entry {
  tenant: string;
  sources?: SourceKind[];
  /** Set when the same secret is configured for several tenants: the credential is refused. */
  shared?: true;
  /** Which configured credential, for the usage log: "auth.tokens[1] (env TOKEN_A_NEXT)". */
  credential: string;
  /** Requests since the last usage log line of this credential (in this isolate), and when that was. */
  usage: { loggedAt: number; requests: number };
}

/** At most one "ingest credential in use" line per credential and isolate this often. */
export const USE_LOG_MS = 10 * 60_000;

function entryOf(tenant: string, sources: SourceKind[] | undefined, credential: string): Entry {
  return { tenant, sources, credential, usage: { loggedAt: -Infinity, requests: 0 } };
}

/**
 * Logs that a credential was used, at most once per USE_LOG_MS per credential and isolate, with the requests
 * since its previous line: during a rotation, the old token is unused once no line names it.
 */
function noteUse(e: Entry, method: Principal["method"]): void {
  e.usage.requests++;
  const now = Date.now();
  if (now - e.usage.loggedAt < USE_LOG_MS) return;
  log("info", "ingest credential in use", { tenant: e.tenant, which: e.credential, method, requests: e.usage.requests });
  e.usage = { loggedAt: now, requests: 0 };
}

interface Credentials {
  bearer: Keyed[];
  /** Digest of "username:password". */
  basic: Keyed[];
  /** Every configured HMAC signer (auth.hmac, one or a list), in config order. */
  hmac: Signer[];
  /** Something is configured (even if a secret is missing): then auth is enforced, dev or not. */
  configured: boolean;
}

interface Signer {
  /** Lower-case header name the signature comes in. */
  header: string;
  /** Unset when the secret is missing; `keyed.entry` is read at use, as refuseShared may replace it. */
  verifier?: { key: CryptoKey; keyed: Keyed };
}

interface Keyed {
  digest: Uint8Array;
  entry: Entry;
  /** Where the secret comes from, for logs ("env TOKEN_A"). */
  from: string;
}

const enc = new TextEncoder();

export async function sha256(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(s)));
}

/**
 * Constant-time equality of two byte strings: every byte of both is read and XOR-ed into one accumulator,
 * with no early exit, so the time does not depend on where they differ. Different lengths are unequal at
 * once (the length is not secret here: callers compare SHA-256 digests, always 32 bytes).
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Compares two secrets through their SHA-256 digests, without an early exit. */
export async function sameSecret(given: string, want: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256(given), sha256(want)]);
  return constantTimeEqual(a, b);
}

function secretName(ref: unknown): string {
  return typeof ref === "object" && ref !== null && "env" in ref ? `env ${String((ref as { env: string }).env)}` : "a literal value";
}

async function build(cfg: Config, env: Record<string, unknown>): Promise<Credentials> {
  const creds: Credentials = { bearer: [], basic: [], hmac: [], configured: cfg.auth.tokens.length > 0 || cfg.auth.hmac !== undefined };
  const missing: string[] = [];
  for (const [i, t] of cfg.auth.tokens.entries()) {
    if (t.token !== undefined) {
      const entry = entryOf(t.tenant, t.sources, `auth.tokens[${i}] (${secretName(t.token)})`);
      const v = resolveSecret(t.token, env);
      if (v === undefined) missing.push(`token of tenant ${t.tenant} (Authorization: Bearer), ${secretName(t.token)}`);
      else creds.bearer.push({ digest: await sha256(v), entry, from: secretName(t.token) });
    }
    if (t.basic !== undefined) {
      const v = resolveSecret(t.basic.password, env);
      const entry = entryOf(t.tenant, t.sources, `auth.tokens[${i}].basic (${secretName(t.basic.password)})`);
      if (v === undefined) missing.push(`password (HTTP Basic) of tenant ${t.tenant}, ${secretName(t.basic.password)}`);
      else creds.basic.push({ digest: await sha256(`${t.basic.username}:${v}`), entry, from: secretName(t.basic.password) });
    }
  }
  const signers: Keyed[] = [];
  for (const h of hmacEntries(cfg.auth)) {
    const v = resolveSecret(h.secret, env);
    const signer: Signer = { header: h.header.toLowerCase() };
    creds.hmac.push(signer);
    if (v === undefined) {
      missing.push(`HMAC key of tenant ${h.tenant} (${h.at}), ${secretName(h.secret)}`);
      continue;
    }
    const keyed: Keyed = { digest: await sha256(v), entry: entryOf(h.tenant, h.sources, `${h.at} (${secretName(h.secret)})`), from: secretName(h.secret) };
    signer.verifier = { key: await crypto.subtle.importKey("raw", enc.encode(v), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]), keyed };
    signers.push(keyed);
  }
  if (missing.length) log("error", "auth secrets not set; those credentials cannot match", { missing });
  refuseShared(creds.bearer);
  refuseShared(creds.basic);
  refuseShared(signers);
  return creds;
}

/**
 * One secret configured for two tenants (a value pasted into the wrong Worker secret) would file one team's
 * events under the other's tenant, routes and sinks. Such a credential is refused for all of them and logged
 * by the names of its secrets; the same secret twice for one tenant (rotation) is fine.
 */
function refuseShared(list: Keyed[]): void {
  const byDigest = new Map<string, Keyed[]>();
  for (const k of list) {
    const hex = Array.from(k.digest, (b) => b.toString(16).padStart(2, "0")).join("");
    byDigest.set(hex, [...(byDigest.get(hex) ?? []), k]);
  }
  for (const same of byDigest.values()) {
    const tenants = [...new Set(same.map((k) => k.entry.tenant))];
    if (tenants.length < 2) continue;
    for (const k of same) k.entry = { ...k.entry, shared: true };
    log("error", "one credential is configured for several tenants; it is refused until their secrets differ", { tenants, secrets: same.map((k) => k.from) });
  }
}

// Built once per env object (i.e. per isolate in production), like the config.
const cache = new WeakMap<object, { cfg: Config; creds: Promise<Credentials> }>();
function credentialsFor(cfg: Config, env: object): Promise<Credentials> {
  let c = cache.get(env);
  if (!c || c.cfg !== cfg) {
    c = { cfg, creds: build(cfg, env as Record<string, unknown>) };
    cache.set(env, c);
  }
  return c.creds;
}

/** Finds the entry whose digest matches, comparing against every entry (no early exit). */
function match(list: Keyed[], digest: Uint8Array): Entry | undefined {
  let found: Entry | undefined;
  for (const x of list) if (constantTimeEqual(x.digest, digest) && found === undefined) found = x.entry;
  return found;
}

function ok(entry: Entry, method: Principal["method"]): AuthResult {
  if (entry.shared) return { ok: false, status: 403, reason: "invalid credentials: this credential is configured for more than one tenant, so it is refused (the server's error log names the secrets)" };
  noteUse(entry, method);
  return { ok: true, principal: { tenant: entry.tenant, sources: entry.sources, method } };
}

/** Authorization schemes other than Bearer/Basic that a sender may try (IANA registry and common ones). */
const KNOWN_SCHEMES = new Set(["digest", "negotiate", "ntlm", "hoba", "mutual", "oauth", "scram-sha-1", "scram-sha-256", "vapid", "token", "apikey", "aws4-hmac-sha256"]);

const FORBIDDEN: AuthResult = { ok: false, status: 403, reason: "invalid credentials" };

/** Where a config goes, for hints (docs/config.md: TRIBUTARY_CONFIG holds at most 5 KB). */
export const WHERE = "tributary.config.json (or a small TRIBUTARY_CONFIG, which wins when set; see docs/config.md)";

/** A wrong credential when none are configured: say so (in local development, none are needed). */
function unconfigured(dev: boolean): AuthResult {
  const hint = dev ? "; in local development a request without Authorization is accepted" : "";
  return { ok: false, status: 403, reason: `invalid credentials: no credentials are configured on this server; to use one, add auth.tokens to ${WHERE}${hint}` };
}

function decodeBasic(b64: string): { user: string; pass: string } | undefined {
  try {
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
    const s = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
    const i = s.indexOf(":");
    return i < 0 ? undefined : { user: s.slice(0, i), pass: s.slice(i + 1) };
  } catch {
    return undefined;
  }
}

/** Hex ("sha256=<hex>" as GitHub sends it, or bare) or base64 signature -> bytes. */
function signatureBytes(v: string): Uint8Array | undefined {
  const s = v.trim().replace(/^sha256=/i, "");
  if (/^[0-9a-f]{64}$/i.test(s)) return Uint8Array.from(s.match(/../g)!, (h) => parseInt(h, 16));
  try {
    const bin = atob(s);
    return bin.length === 32 ? Uint8Array.from(bin, (ch) => ch.charCodeAt(0)) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Authenticates a request from its headers. Rules:
 * - `Authorization: Bearer <token>`: a configured token -> its tenant, else 403;
 * - `Authorization: Basic ...`: configured username/password, or any username with a bearer token as
 *   the password (handy for Falco's URL credentials), else 403;
 * - no Authorization but the HMAC header: verified against the body (`ok: "body"`);
 * - nothing: accepted when auth.required is false, or in local dev (TRIBUTARY_DEV=true) with no
 *   credentials configured (tenant "dev"); otherwise 401.
 */
export async function authenticate(headers: Headers, cfg: Config, env: { TRIBUTARY_DEV?: string }): Promise<AuthResult> {
  const creds = await credentialsFor(cfg, env);
  const refused = (): AuthResult => (creds.configured ? FORBIDDEN : unconfigured(env.TRIBUTARY_DEV === "true"));
  const authz = headers.get("authorization");
  if (authz !== null && authz.trim() !== "") {
    const m = /^\s*(\S+)(?:\s+(.*?))?\s*$/.exec(authz);
    const scheme = m?.[1]?.toLowerCase();
    // "Bearer " or "Basic " with nothing after it (HTTP drops the trailing space): a token variable left empty
    if ((scheme === "bearer" || scheme === "basic") && !m![2]) {
      const what = scheme === "bearer" ? "the Bearer token is empty: send Authorization: Bearer <token>" : "the Basic credentials are empty: expected base64 of user:password";
      return { ok: false, status: 401, reason: `${what} (is the variable that holds it set?)` };
    }
    if (scheme === "bearer") {
      const e = match(creds.bearer, await sha256(m![2]!));
      return e ? ok(e, "bearer") : refused();
    }
    if (scheme === "basic") {
      const up = decodeBasic(m![2]!);
      if (!up) return { ok: false, status: 401, reason: "malformed Basic credentials: expected base64 of user:password" };
      const [pair, pass] = await Promise.all([sha256(`${up.user}:${up.pass}`), sha256(up.pass)]);
      const e = match(creds.basic, pair);
      const t = match(creds.bearer, pass);
      if (e) return ok(e, "basic");
      return t ? ok(t, "basic") : refused();
    }
    // the scheme is echoed only when it is a known one: a bare token (no scheme) must never reach the answer
    const named = scheme !== undefined && KNOWN_SCHEMES.has(scheme) ? ` "${scheme}"` : "";
    return { ok: false, status: 401, reason: `unsupported Authorization scheme${named}: use Bearer or Basic` };
  }
  const signed = creds.hmac.map((h) => ({ h, sig: headers.get(h.header) })).filter((x): x is { h: Signer; sig: string } => x.sig !== null);
  if (signed.length > 0) return hmacCheck(signed);
  if (!cfg.auth.required) return { ok: true, principal: { method: "none" } };
  if (env.TRIBUTARY_DEV === "true" && !creds.configured) return { ok: true, principal: { tenant: "dev", method: "dev" } };
  if (!creds.configured) {
    return {
      ok: false,
      status: 401,
      reason:
        `authentication is required and no credentials are configured on this server: add auth.tokens (bearer or basic, secrets as {"env": "NAME"}) or auth.hmac to ${WHERE}, or set auth.required to false (see docs/ingest.md)`,
    };
  }
  const hmacHint = creds.hmac.length ? `, or sign the body in ${[...new Set(creds.hmac.map((h) => h.header))].join(" or ")}` : "";
  return { ok: false, status: 401, reason: `missing credentials: send Authorization: Bearer <token> or HTTP Basic${hmacHint}` };
}

/**
 * The signers whose header the request carries. The body is verified against every signer with a key whose
 * header holds a well-formed signature (no early exit: the work per request does not depend on which
 * matches); the first in config order that verifies gives the principal, as a token entry does. A malformed
 * signature in one header does not refuse a request that another header signs validly: only when none
 * verifies is the request refused, 401 naming each header's failure when one was malformed, else 403.
 */
function hmacCheck(signed: { h: Signer; sig: string }[]): AuthResult {
  const checks: { key: CryptoKey; keyed: Keyed; bytes: Uint8Array; header: string }[] = [];
  const malformed = new Set<string>(); // headers
  const keyless = new Set<string>(); // headers of signers whose secret is not set
  for (const { h, sig } of signed) {
    const bytes = signatureBytes(sig);
    if (!bytes) malformed.add(h.header);
    else if (h.verifier) checks.push({ ...h.verifier, bytes, header: h.header });
    else keyless.add(h.header);
  }
  if (checks.length === 0 && malformed.size === 0) return { ok: false, status: 403, reason: "HMAC signatures are not accepted: the shared secret is not set on the server" };
  // some header is malformed and nothing verified: 401 with each header's failure
  const refuse = (mismatched: string[]): AuthResult => {
    const why = [...malformed].map((hd) => `malformed ${hd} header: expected sha256=<64 hex digits>`);
    for (const hd of keyless) if (!checks.some((c) => c.header === hd)) why.push(`${hd}: HMAC signatures are not accepted: the shared secret is not set on the server`);
    if (mismatched.length > 0) why.push(`${mismatched.join(", ")}: HMAC signature does not match the body`);
    return { ok: false, status: 401, reason: why.join("; ") };
  };
  if (checks.length === 0) return refuse([]);
  return {
    ok: "body",
    verify: async (body) => {
      const good = await Promise.all(checks.map((c) => crypto.subtle.verify("HMAC", c.key, c.bytes, body)));
      const i = good.indexOf(true);
      if (i >= 0) return ok(checks[i]!.keyed.entry, "hmac");
      if (malformed.size === 0) return { ok: false, status: 403, reason: "HMAC signature does not match the body" };
      return refuse([...new Set(checks.map((c) => c.header))]);
    },
  };
}

/**
 * The ingest credential (bearer token, HTTP Basic password or HMAC key) whose secret is `value`, named as the
 * usage log names it ("auth.tokens[1] (env TOKEN_A)"), or undefined. The admin endpoints refuse a token that is
 * also an ingest credential: every sender holding it could otherwise read and replay every tenant's dead letters.
 */
export async function ingestCredentialWithSecret(cfg: Config, env: object, value: string): Promise<string | undefined> {
  const creds = await credentialsFor(cfg, env);
  let found = match([...creds.bearer, ...creds.hmac.flatMap((h) => (h.verifier ? [h.verifier.keyed] : []))], await sha256(value));
  // a Basic entry's digest is of "username:password"
  for (const username of new Set(cfg.auth.tokens.flatMap((t) => (t.basic ? [t.basic.username] : []))))
    found ??= match(creds.basic, await sha256(`${username}:${value}`));
  return found?.credential;
}

/** Whether `value` is a configured ingest bearer token (only those: no Basic password nor HMAC key is confirmed). */
export async function isIngestBearerToken(cfg: Config, env: object, value: string): Promise<boolean> {
  const creds = await credentialsFor(cfg, env);
  return match(creds.bearer, await sha256(value)) !== undefined;
}

/**
 * The tenants an ingest request can be counted under (authenticate): each credential's, "none" when auth is not
 * required, "dev" in local development with no credential configured. Without repeats, in that order.
 */
export function ingestTenants(cfg: Config, env: { TRIBUTARY_DEV?: string }): string[] {
  const a = cfg.auth;
  const rows = credentialRows(a);
  return [...new Set([...rows.map((r) => r.tenant), ...(a.required ? [] : ["none"]), ...(env.TRIBUTARY_DEV === "true" && rows.length === 0 ? ["dev"] : [])])];
}

/** Whether a principal may send records of this source. */
export function allows(p: Principal, kind: SourceKind): boolean {
  return p.sources === undefined || p.sources.includes(kind);
}

export const CHALLENGE = 'Bearer realm="tributary", Basic realm="tributary", charset="UTF-8"';
