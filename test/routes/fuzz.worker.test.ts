// Property: whatever the body, headers and route, the handler answers with JSON, never throws and
// never answers 5xx; a 2xx always means at least one record was accepted, and the counts add up.
import { it, expect } from "vitest";
import fc from "fast-check";
import { gzipSync, zlibSync, deflateSync } from "fflate";
import { CaptureQueue, call, linesOf } from "./helpers";

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
      expect(r.status).toBeLessThan(500);
      expect(r.body.accepted, JSON.stringify(r.body)).not.toBe(-1); // the answer is JSON
      if (r.status === 202) {
        expect(r.body.accepted).toBeGreaterThan(0);
        expect(queue.count()).toBe(r.body.accepted);
      } else if (r.status !== 404) {
        expect(r.body.accepted).toBe(0);
        expect(queue.count()).toBe(0);
        expect(r.body.errors.length).toBeGreaterThan(0);
      }
      if (r.status === 202 || r.status === 400) {
        const listed = r.body.errors.length + ((r.body.errors_omitted as number | undefined) ?? 0);
        if (r.body.errors[0]?.index !== -1) expect(listed).toBe(r.body.rejected);
      }
    }),
    { numRuns: 400, endOnFailure: true },
  );
  expect(runs).toBe(400);
  // the runs reached every layer: accepted batches, per-record and request-level rejections
  for (const s of [202, 400, 413, 415]) expect(statuses.get(s) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(0);
});
