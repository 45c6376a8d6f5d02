// Property: whatever the body, headers and route, the handler answers with JSON, never throws and
// never answers 5xx; a 2xx always means at least one record was accepted, and the counts add up.
import { it, expect } from "vitest";
import fc from "fast-check";
import { gzipSync, zlibSync, deflateSync } from "fflate";
import { CaptureQueue, call, linesOf, type Answer } from "./helpers";

const real = [...linesOf("falco"), ...linesOf("tetragon"), ...linesOf("k8s-audit"), ...linesOf("cloudtrail").slice(0, 10)];
const enc = new TextEncoder();

/** An in-memory bucket, so hundreds of runs do not fill the local R2 with quarantine objects. */
function memoryBucket(): R2Bucket {
  const m = new Map<string, string>();
  return {
    put: async (k: string, v: string) => void m.set(k, v),
    get: async (k: string) => (m.has(k) ? { text: async () => m.get(k)! } : null),
  } as unknown as R2Bucket;
}

const realLine = fc.constantFrom(...real);
/** A real record, cut somewhere or with a byte flipped. */
const damaged = fc.tuple(realLine, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([l, at, b]) => {
  const bytes = enc.encode(l);
  const i = at % Math.max(1, bytes.length);
  return at % 2 === 0 ? bytes.slice(0, i) : Uint8Array.from(bytes, (x, j) => (j === i ? b : x));
});
const jsonText = fc.json({ depthSize: "medium" });
const bodies: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 3000 }),
  fc.string({ unit: "grapheme", maxLength: 500 }).map((s) => enc.encode(s)),
  jsonText.map((s) => enc.encode(s)),
  fc.array(jsonText, { maxLength: 20 }).map((a) => enc.encode(a.join("\n"))),
  fc.array(fc.oneof(realLine, jsonText), { minLength: 1, maxLength: 20 }).map((a) => enc.encode(a.join("\n"))),
  fc.array(realLine, { minLength: 1, maxLength: 10 }).map((a) => enc.encode(`[${a.join(",")}]`)),
  fc.array(damaged, { minLength: 1, maxLength: 5 }).map((parts) => {
    const out: number[] = [];
    for (const p of parts) out.push(...p, 10);
    return Uint8Array.from(out);
  }),
  fc.integer({ min: 1, max: 3000 }).map((n) => enc.encode("[".repeat(n) + "]".repeat(n % 7 === 0 ? 0 : n))),
);
const contentTypes = fc.constantFrom(
  undefined,
  "application/json",
  "application/json; charset=utf-8",
  "application/x-ndjson",
  "application/jsonl",
  "application/json-seq",
  "text/plain",
  "application/octet-stream",
  "application/gzip",
  "application/cloudevents+json",
  "application/xml",
  "multipart/form-data; boundary=x",
  "application/vnd.unknown; x=\"y\"",
  ";;;",
);
const encodings = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.constantFrom("gzip", "deflate") },
  { weight: 2, arbitrary: fc.constantFrom("identity", "x-gzip", "br", "gzip, gzip", "deflate, gzip", "gzip;q=1", "") },
);
const paths = fc.constantFrom("/", "/v1/events", "/v1/events/falco", "/v1/events/tetragon", "/v1/events/k8s-audit", "/v1/events/cloudtrail", "/v1/events/nope");
const auths = fc.oneof(
  { weight: 8, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom("Bearer x", "Basic Zm9vOmJhcg==", "Basic ###", "Digest abc", "", "Bearer ") },
);
/** How the body bytes relate to the Content-Encoding: really encoded, or sent as is (lying header). */
const honesty = fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });

function encode(body: Uint8Array, coding: string | undefined, honest: boolean): Uint8Array {
  if (!honest || !coding) return body;
  let out = body;
  for (const c of coding.split(",").map((s) => s.trim())) {
    if (c === "gzip" || c === "x-gzip") out = gzipSync(out);
    else if (c === "deflate") out = out.length % 2 ? zlibSync(out) : deflateSync(out);
  }
  return out;
}

/** The checks every answer passes: JSON, never 5xx, 2xx only with accepted records that are all on the queue. */
function checkAnswer(r: Answer, queue: CaptureQueue): void {
  expect(r.status).toBeLessThan(500);
  expect(r.body.accepted, JSON.stringify(r.body)).not.toBe(-1); // the answer is JSON
  if (r.status === 202) {
    expect(r.body.accepted).toBeGreaterThan(0);
    expect(queue.count()).toBe(r.body.accepted);
  } else if (r.status === 200) {
    // a well-formed body holding only empty containers: nothing queued, nothing wrong
    expect(r.body).toMatchObject({ accepted: 0, rejected: 0, errors: [] });
    expect(queue.count()).toBe(0);
  } else if (r.status !== 404) {
    expect(r.body.accepted).toBe(0);
    expect(queue.count()).toBe(0);
    expect(r.body.errors.length).toBeGreaterThan(0);
  }
  if (r.status === 202 || r.status === 400) {
    const listed = r.body.errors.length + ((r.body.errors_omitted as number | undefined) ?? 0);
    if (r.body.errors[0]?.index !== -1) expect(listed).toBe(r.body.rejected);
  }
}

it("random bodies, types, encodings, routes and credentials never crash the handler nor produce a 5xx", async () => {
  let runs = 0;
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(bodies, contentTypes, encodings, paths, auths, honesty, fc.boolean(), async (body, ct, coding, path, auth, honest, tight) => {
      runs++;
      const headers: Record<string, string> = {};
      if (ct !== undefined) headers["content-type"] = ct;
      if (coding !== undefined) headers["content-encoding"] = coding;
      if (auth !== undefined) headers.authorization = auth;
      const req = new Request(`http://tributary${path}`, { method: "POST", body: encode(body, coding, honest), headers });
      const queue = new CaptureQueue();
      // half the runs with tight limits, so the limit paths are exercised too
      const config = tight ? { limits: { maxRecords: 3, maxRecordBytes: 300, maxDepth: 4, maxBodyBytes: 2000, maxDecompressedBytes: 4000, maxReportedErrors: 2 } } : undefined;
      const r = await call(req, { queue, archive: memoryBucket(), config });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      checkAnswer(r, queue);
    }),
    { numRuns: 400, endOnFailure: true },
  );
  expect(runs).toBe(400);
  // the runs reached every layer: accepted batches, per-record and request-level rejections
  for (const s of [202, 400, 413, 415]) expect(statuses.get(s) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(0);
});

// The same property with credentials configured (dev off): bearer tokens (one limited to Falco), HTTP Basic
// and an HMAC signature, each sent valid or invalid. Never a 5xx; never a 2xx without valid credentials.
const TOKENS = { TOK_A: "fz-tok-a-8c1d2e3f", TOK_FALCO: "fz-tok-falco-5a6b7c", FZ_PASS: "fz:p@ss/é", FZ_HMAC: "fz-hmac-secret-0d9e" };
const authConfig = {
  auth: {
    tokens: [
      { tenant: "fz-a", token: { env: "TOK_A" } },
      { tenant: "fz-falco", token: { env: "TOK_FALCO" }, sources: ["falco"] },
      { tenant: "fz-basic", basic: { username: "falco", password: { env: "FZ_PASS" } } },
    ],
    hmac: { header: "x-tributary-signature", secret: { env: "FZ_HMAC" }, tenant: "fz-hmac" },
  },
};
const basic = (user: string, pass: string) => "Basic " + btoa(String.fromCharCode(...enc.encode(`${user}:${pass}`)));
async function hmacHex(secret: string, body: Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return [...new Uint8Array(await crypto.subtle.sign("HMAC", key, body))].map((b) => b.toString(16).padStart(2, "0")).join("");
}
type Cred = { valid: boolean; tenant?: string; headers: (body: Uint8Array) => Promise<Record<string, string>> };
const creds = fc.constantFrom<Cred>(
  { valid: true, tenant: "fz-a", headers: async () => ({ authorization: `Bearer ${TOKENS.TOK_A}` }) },
  { valid: true, tenant: "fz-falco", headers: async () => ({ authorization: `Bearer ${TOKENS.TOK_FALCO}` }) },
  { valid: true, tenant: "fz-basic", headers: async () => ({ authorization: basic("falco", TOKENS.FZ_PASS) }) },
  { valid: true, tenant: "fz-a", headers: async () => ({ authorization: basic("anyone", TOKENS.TOK_A) }) },
  { valid: true, tenant: "fz-hmac", headers: async (b) => ({ "x-tributary-signature": `sha256=${await hmacHex(TOKENS.FZ_HMAC, b)}` }) },
  { valid: false, headers: async () => ({}) },
  { valid: false, headers: async () => ({ authorization: `Bearer ${TOKENS.TOK_A}x` }) },
  { valid: false, headers: async () => ({ authorization: `Bearer ${TOKENS.FZ_HMAC}` }) },
  { valid: false, headers: async () => ({ authorization: basic("falco", "wrong") }) },
  { valid: false, headers: async () => ({ authorization: "Basic ###" }) },
  { valid: false, headers: async () => ({ authorization: "Digest abc" }) },
  { valid: false, headers: async (b) => ({ "x-tributary-signature": `sha256=${await hmacHex("not-the-secret", b)}` }) },
  { valid: false, headers: async () => ({ "x-tributary-signature": "sha256=zz" }) },
);

it("with tokens, Basic and HMAC configured: random requests with valid and invalid credentials never give a 5xx, nor a 2xx without valid credentials", async () => {
  let runs = 0;
  const statuses = { valid: new Map<number, number>(), invalid: new Map<number, number>() };
  await fc.assert(
    fc.asyncProperty(bodies, contentTypes, encodings, paths, creds, honesty, async (body, ct, coding, path, cred, honest) => {
      runs++;
      const bytes = encode(body, coding, honest);
      const headers: Record<string, string> = await cred.headers(bytes);
      if (ct !== undefined) headers["content-type"] = ct;
      if (coding !== undefined) headers["content-encoding"] = coding;
      const queue = new CaptureQueue();
      const r = await call(new Request(`http://tributary${path}`, { method: "POST", body: bytes, headers }), { queue, archive: memoryBucket(), config: authConfig, dev: false, vars: TOKENS });
      const seen = cred.valid ? statuses.valid : statuses.invalid;
      seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
      checkAnswer(r, queue);
      if (!cred.valid) {
        expect(r.status, JSON.stringify(r.body)).toBeGreaterThanOrEqual(400);
        expect(queue.count()).toBe(0);
        // headers are checked before the body is read: a bad bearer/Basic credential is refused first; a bad
        // HMAC signature can only be checked on the body, after Content-Type/Encoding/Length (413/415 first)
        if (r.status !== 404 && headers["x-tributary-signature"] === undefined) expect([401, 403]).toContain(r.status);
      } else if (r.status === 202) {
        expect(new Set(queue.events().map((e) => (e.metadata as { tenant_uid?: string }).tenant_uid))).toEqual(new Set([cred.tenant]));
        if (cred.tenant === "fz-falco") expect(new Set(queue.events().map((e) => (e.metadata as { product: { name: string } }).product.name))).toEqual(new Set(["Falco"]));
      }
    }),
    { numRuns: 250, endOnFailure: true },
  );
  expect(runs).toBe(250);
  // valid credentials reached the records; invalid ones were refused both ways
  expect(statuses.valid.get(202) ?? 0, JSON.stringify([...statuses.valid])).toBeGreaterThan(0);
  for (const s of [401, 403]) expect(statuses.invalid.get(s) ?? 0, JSON.stringify([...statuses.invalid])).toBeGreaterThan(0);
});
